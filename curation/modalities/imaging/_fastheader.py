"""Header-only DICOM reading: a hand-written fast path and pydicom as the fallback.

Why hand-written: pydicom's ``dcmread`` parses every header element (~256 in a CT file) at about
550 files/s even with ``stop_before_pixels`` (~750 with ``specific_tags``), while a plain read of
the same files runs at ~12,500 files/s (see /work/shared/FIELD-NOTES.md). A PACS export of
100,000 files would take minutes per pass. Most files are explicit VR little endian with file
meta, so :func:`read_fast` walks only the first KiBs of such a file, unpacks the element headers
and decodes just the ~40 elements in :data:`FIELDS`, plus every identifier at any sequence depth
(:data:`ID_TAGS` and every PN element, for the cohort's identifier registry): it hops over element
headers up to the pixel data, steps into sequences (defined and undefined length) and seeks over
values it does not need (vendor blobs) instead of reading them. Whatever it is not sure about
(implicit VR, big endian, deflate, no file meta, odd VRs, non-ASCII text in a non-text VR,
undefined lengths outside sequences, a UN element pydicom would read as a name or a sequence)
makes it return ``None`` and :func:`read_header` falls back to pydicom. A test checks that both
paths agree field by field, identifiers included, on every file of the corpus.

This module stays free of heavy imports at import time: worker processes import it first.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Callable
from typing import IO, Any

# name -> (tag, kind). kind: text | pn | float | int | floats
FIELDS: dict[str, tuple[int, str]] = {
    "SpecificCharacterSet": (0x00080005, "text"),
    "ImageType": (0x00080008, "text"),
    "SOPClassUID": (0x00080016, "text"),
    "SOPInstanceUID": (0x00080018, "text"),
    "StudyDate": (0x00080020, "text"),
    "SeriesDate": (0x00080021, "text"),
    "AcquisitionDate": (0x00080022, "text"),
    "Modality": (0x00080060, "text"),
    "Manufacturer": (0x00080070, "text"),
    "ManufacturerModelName": (0x00081090, "text"),
    "PatientName": (0x00100010, "pn"),
    "PatientID": (0x00100020, "text"),
    "PatientBirthDate": (0x00100030, "text"),
    "PatientSex": (0x00100040, "text"),
    "PatientAge": (0x00101010, "text"),
    "SmokingStatus": (0x001021A0, "text"),
    "ContrastBolusAgent": (0x00180010, "text"),
    "BodyPartExamined": (0x00180015, "text"),
    "SliceThickness": (0x00180050, "float"),
    "KVP": (0x00180060, "float"),
    "GantryDetectorTilt": (0x00181120, "float"),
    "ExposureTime": (0x00181150, "float"),
    "XRayTubeCurrent": (0x00181151, "float"),
    "Exposure": (0x00181152, "float"),
    "ConvolutionKernel": (0x00181210, "text"),
    "CTDIvol": (0x00189345, "float"),
    "StudyInstanceUID": (0x0020000D, "text"),
    "SeriesInstanceUID": (0x0020000E, "text"),
    "SeriesNumber": (0x00200011, "int"),
    "InstanceNumber": (0x00200013, "int"),
    "ImagePositionPatient": (0x00200032, "floats"),
    "ImageOrientationPatient": (0x00200037, "floats"),
    "SamplesPerPixel": (0x00280002, "int"),
    "PhotometricInterpretation": (0x00280004, "text"),
    "NumberOfFrames": (0x00280008, "int"),
    "Rows": (0x00280010, "int"),
    "Columns": (0x00280011, "int"),
    "PixelSpacing": (0x00280030, "floats"),
    "BitsAllocated": (0x00280100, "int"),
    "PixelRepresentation": (0x00280103, "int"),
    "BurnedInAnnotation": (0x00280301, "text"),
    "WindowCenter": (0x00281050, "float"),
    "WindowWidth": (0x00281051, "float"),
    "RescaleIntercept": (0x00281052, "float"),
    "RescaleSlope": (0x00281053, "float"),
}
BY_TAG = {tag: (name, kind) for name, (tag, kind) in FIELDS.items()}
PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})  # where pydicom's stop_before_pixels stops

# Identifier elements, collected at every sequence depth for the cohort's identifier registry, with
# their registry kind (curation.deid.registry.Kind values). Every other PN element is a staff name
# (physicians, operators, observers, content creators); see :func:`id_kind`.
ID_TAGS: dict[int, str] = {
    0x00080050: "accession",  # AccessionNumber
    0x00080092: "address",  # ReferringPhysicianAddress
    0x00080094: "phone",  # ReferringPhysicianTelephoneNumbers
    0x00100010: "name",  # PatientName
    0x00100020: "mrn",  # PatientID (nested: a second patient ID, other_patient_id)
    0x00100030: "birth_date",  # PatientBirthDate
    0x00101000: "other_patient_id",  # OtherPatientIDs
    0x00101001: "name",  # OtherPatientNames
    0x00101005: "name",  # PatientBirthName
    0x00101040: "address",  # PatientAddress
    0x00101060: "name",  # PatientMotherBirthName
    0x00101090: "other_patient_id",  # MedicalRecordLocator
    0x00102154: "phone",  # PatientTelephoneNumbers
    0x00200010: "other",  # StudyID
    0x00380010: "admission_number",  # AdmissionID
    0x00400009: "other",  # ScheduledProcedureStepID
    0x00400253: "other",  # PerformedProcedureStepID
    0x00401001: "other",  # RequestedProcedureID
    0x00401102: "address",  # PersonAddress
    0x00401103: "phone",  # PersonTelephoneNumbers
}
IDENTIFIERS = "_identifiers"  # key of the sorted ((kind, value), ...) pairs in a parsed header
_CHARSET: Any = "charset"  # the identifier kind slot of (0008,0005) in WANT: it sets the charsets
# tag -> (field name or "", field kind, identifier kind or None): one lookup per wanted element
WANT: dict[int, tuple[str, str, str | None]] = {
    **{tag: ("", "", kind) for tag, kind in ID_TAGS.items()},
    **{tag: (name, kind, ID_TAGS.get(tag)) for name, (tag, kind) in FIELDS.items()},
    FIELDS["SpecificCharacterSet"][0]: ("SpecificCharacterSet", "text", _CHARSET),
}
_CHARSET_PENDING: Any = object()  # (0008,0005) not reached yet
LAST_FIELD = max(BY_TAG)


def _tail_id_tags() -> dict[bytes, frozenset[bytes]]:
    """Identifier tags past the last field as little-endian bytes, by their first byte."""
    out: dict[bytes, set[bytes]] = {}
    for t in ID_TAGS:
        if t > LAST_FIELD:
            tag = struct.pack("<HH", t >> 16, t & 0xFFFF)
            out.setdefault(tag[:1], set()).add(tag)
    return {k: frozenset(v) for k, v in out.items()}


_TAIL_ID_TAGS = _tail_id_tags()

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

FIRST_READ = 16 * 1024  # a CT header is typically 2-8 KiB
MAX_HEADER_BYTES = 1 << 20  # never read more than 1 MiB of header: bounds memory per file

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_SHORT_VRS_BUT_PN = _SHORT_VRS - {b"PN"}
_TEXT_VRS = frozenset({b"SH", b"LO", b"ST", b"LT", b"UC", b"UT", b"PN"})  # decoded with the charset
_NUMERIC_BIN = {b"US": "<H", b"SS": "<h", b"UL": "<I", b"SL": "<i", b"FL": "<f", b"FD": "<d"}
_BINARY = {vr: (struct.Struct(fmt), struct.calcsize(fmt)) for vr, fmt in _NUMERIC_BIN.items()}
_ELEM = struct.Struct("<HH2sH")
_U32 = struct.Struct("<I")
_ITEM_HDR = struct.Struct("<HHI")
UNDEFINED = 0xFFFFFFFF


class Unsure(Exception):
    """The fast path cannot vouch for this file: use pydicom."""


class NeedMore(Exception):
    """The header goes past the bytes read so far."""


class Quarantined(Exception):
    """The file is set aside; ``reason`` is the quarantine reason code.

    ``identifiers`` holds the ``(kind, value)`` pairs read before the file proved unusable: a
    truncated file still names its patient, and the registry must know it.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.identifiers: tuple[tuple[str, str], ...] = ()


def _value(raw: bytes, vr: bytes, kind: str, charsets: list[str] | None) -> Any:
    """Decode one element value into the normalized form shared with :func:`from_dataset`."""
    binary = _BINARY.get(vr)
    if binary is not None:
        st, size = binary
        if len(raw) == size:  # one value: the common case (Rows, Columns, BitsAllocated...)
            return _numeric(st.unpack(raw), kind)
        if not raw or len(raw) % size:
            return None if not raw else _unsure()
        return _numeric([v[0] for v in st.iter_unpack(raw)], kind)
    if raw.isascii():
        text = raw.decode("ascii")
        if "\\" not in text:  # single value: the common case, without the general split
            text = text.strip(" \x00")
            if not text:
                return None
            if kind == "text" or kind == "pn":
                return text
            try:
                v = float(text)
            except ValueError:
                return None
            if kind == "float":
                return v
            return (int(v) if v.is_integer() else None) if kind == "int" else _numeric([v], kind)
    elif vr in _TEXT_VRS:
        text = _decode_text(raw, vr, charsets)
    else:
        raise Unsure
    return normalize_text(text, kind)


def _unsure() -> Any:
    raise Unsure


def _decode_text(raw: bytes, vr: bytes, charsets: list[str] | None) -> str:
    from pydicom.charset import convert_encodings, decode_bytes

    if charsets is _CHARSET_PENDING:
        charsets = None  # an indexed field is past (0008,0005): the file has none
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's charset warnings quote raw values
        encodings = convert_encodings(charsets)
        if vr == b"PN":
            from pydicom.valuerep import PersonName

            return str(PersonName(raw, encodings))
        return decode_bytes(raw, encodings, {0x5C})


def normalize_text(text: str, kind: str) -> Any:
    """Text of a DICOM value -> the normalized value of a field of this kind."""
    parts = [p.strip(" \x00") for p in text.split("\\")]
    if kind in ("text", "pn"):
        out = "\\".join(parts) if kind == "text" else text.strip(" \x00")
        return out or None
    nums: list[float] = []
    for p in parts:
        if not p:
            continue
        try:
            nums.append(float(p))
        except ValueError:
            return None
    return _numeric(nums, kind)


def _numeric(vals: list[Any] | tuple[Any, ...], kind: str) -> Any:
    if not vals:
        return None
    if kind == "floats":
        return [float(v) for v in vals]
    if kind == "int":
        v = float(vals[0])
        return int(v) if v.is_integer() else None  # not NaN, not infinite, no fraction
    if kind == "float":
        return float(vals[0])
    return "\\".join(str(v) for v in vals)


# --- identifiers -------------------------------------------------------------------------------

def id_kind(tag: int, is_pn: bool, nested: bool) -> str | None:
    """Registry kind of an element's values, or None when it holds no identifier.

    Decided from the tag and whether the element is a person name (PN) only, so that the fast
    path and :func:`from_dataset` classify every element the same way.
    """
    kind = ID_TAGS.get(tag)
    if kind is not None:
        return "other_patient_id" if nested and kind == "mrn" else kind
    return "staff_name" if is_pn else None


def _id_values(raw: bytes, vr: bytes, charsets: Any) -> list[str]:
    """The values of a text element, decoded as pydicom's ``convert_PN`` / ``convert_text`` do."""
    if raw.isascii():
        text = raw.decode("ascii")
        if "\\" not in text:  # one value: the common case
            text = text.strip(" \x00")
            return [text] if text else []
    elif vr in _TEXT_VRS and charsets is not _CHARSET_PENDING:
        from pydicom.charset import decode_bytes
        from pydicom.valuerep import TEXT_VR_DELIMS

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's charset warnings quote raw values
            text = decode_bytes(raw.rstrip(b"\x00 "), _encodings(charsets), TEXT_VR_DELIMS)
    else:
        raise Unsure  # non-ASCII in a non-text VR, or a charset that is not known yet here
    return [v for v in (x.strip(" \x00") for x in text.split("\\")) if v]


def _encodings(charsets: list[str] | None) -> list[str]:
    from pydicom.charset import convert_encodings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_encodings(charsets)


def _charsets(raw: bytes) -> list[str] | None:
    if not raw.isascii():
        raise Unsure
    value = normalize_text(raw.decode("ascii"), "text")
    return value.split("\\") if value else None


def _un_matters(tag: int, length: int, creators: dict[int, bytes] | None) -> bool:
    """Whether pydicom would read an element written with VR UN as a person name, a sequence or
    an identifier (it replaces UN by the VR its dictionaries know): then pydicom must decide."""
    from pydicom.datadict import dictionary_VR, private_dictionary_VR

    if tag in ID_TAGS:
        return True
    try:
        if tag >> 16 & 1:
            creator = (creators or {}).get((tag & 0xFFFF0000) | (tag >> 8 & 0xFF))
            if creator is None or not (tag & 0xFF00):
                return False
            vr = private_dictionary_VR(tag, creator.decode("latin-1").rstrip("\x00 "))
        elif length < 0xFFFF:
            vr = dictionary_VR(tag)
        else:
            return False
    except KeyError:
        return False
    return vr in ("PN", "SQ")


def _walk_items(buf: bytes, pos: int, limit: int | None, ids: list[tuple[str, str]], charsets: Any) -> int:
    """Collect identifiers from the items of a sequence value starting at ``pos``; return the
    position after it. ``limit`` ends a defined-length value; None means a delimiter ends it.
    Raises NeedMore when the value runs past ``buf``."""
    end = len(buf)
    while True:
        if limit is not None and pos >= limit:
            if pos > limit:
                raise Unsure  # items overrun the sequence's declared length
            return pos
        if pos + 8 > end:
            raise NeedMore
        g, e, length = _ITEM_HDR.unpack_from(buf, pos)
        pos += 8
        if g != 0xFFFE:
            raise Unsure
        if e == 0xE0DD:  # sequence delimiter
            if limit is not None:
                raise Unsure
            return pos
        if e != 0xE000:
            raise Unsure
        item_end = None if length == UNDEFINED else pos + length
        if item_end is not None and limit is not None and item_end > limit:
            raise Unsure
        pos = _walk_item(buf, pos, item_end, ids, charsets)


def _walk_item(buf: bytes, pos: int, item_end: int | None, ids: list[tuple[str, str]], charsets: Any) -> int:
    """Collect identifiers from one sequence item (a nested dataset); return the position after it.

    The same decisions as :func:`id_kind` (nested), inlined: most items hold only references and codes.
    """
    end = len(buf)
    creators: dict[int, bytes] | None = None
    unpack, short_vrs, id_tags = _ELEM.unpack_from, _SHORT_VRS_BUT_PN, ID_TAGS
    stop = end if item_end is None else item_end
    while True:
        if pos >= stop:
            if item_end is None:
                raise NeedMore
            if pos > item_end:
                raise Unsure
            return pos
        if pos + 8 > end:
            raise NeedMore
        g, e, vr, length = unpack(buf, pos)
        if vr in short_vrs:
            start = pos + 8
            if g & 1:
                if e > 0xFF:  # a private value (not a creator)
                    pos = start + length
                    continue
                kind = None
            else:
                kind = id_tags.get((g << 16) | e)
                if kind is None and not (g == 0x0008 and e == 0x0005):
                    pos = start + length
                    continue
        elif vr == b"PN":
            start = pos + 8
            kind = id_tags.get((g << 16) | e, "staff_name")
        elif g == 0xFFFE:
            if e == 0xE00D and item_end is None:  # item delimiter
                return pos + 8
            raise Unsure
        elif vr in _LONG_VRS:
            if pos + 12 > end:
                raise NeedMore
            (length,) = _U32.unpack_from(buf, pos + 8)
            start = pos + 12
            if vr == b"SQ":
                pos = _walk_items(buf, start, None if length == UNDEFINED else start + length, ids, charsets)
                continue
            if length == UNDEFINED:
                raise Unsure
            tag = (g << 16) | e
            if vr == b"UN" and _un_matters(tag, length, creators):
                raise Unsure
            kind = id_tags.get(tag)
            if kind is None and not (g & 1 and e <= 0xFF):
                pos = start + length
                continue
        else:
            raise Unsure
        nxt = start + length
        if nxt > end:
            raise NeedMore
        raw = buf[start:nxt]
        pos = nxt
        if kind is None:
            if g & 1:  # a private creator: its name decides the VR of UN elements
                creators = creators if creators is not None else {}
                creators[(g << 16) | e] = raw
            else:  # (0008,0005) of the item
                charsets = _charsets(raw)
            continue
        if kind == "mrn":
            kind = "other_patient_id"  # a nested PatientID: OtherPatientIDsSequence and the like
        ids += [(kind, v) for v in _id_values(raw, vr, charsets)]


# --- the top-level walk -------------------------------------------------------------------------

def _read(fh: IO[bytes], n: int) -> bytes:
    """``n`` bytes, fewer only at the end of the file (an unbuffered file may return less per call)."""
    data = fh.read(n)
    if 0 < len(data) < n:
        parts = [data]
        got = len(data)
        while got < n:
            more = fh.read(n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


class _Header:
    """One file's header, read through a window that only moves forward.

    ``buf`` holds the file's bytes ``[base, base + len(buf))``. Skipped values (private blocks,
    vendor headers) are stepped over with a seek, never read; the values we decode and the
    sequences we walk must fit in one window of at most :data:`MAX_HEADER_BYTES`.
    """

    __slots__ = ("base", "buf", "fh", "ids", "size")

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self.fh = fh
        self.size = size
        self.buf = _read(fh, FIRST_READ)
        self.base = 0
        self.ids: list[tuple[str, str]] = []

    def window(self, pos: int, need: int) -> int:
        """Make the file's bytes ``[pos, pos + need)`` (fewer at the end of the file) available
        in ``buf``; return ``pos`` relative to ``buf``."""
        buf, base = self.buf, self.base
        end = base + len(buf)
        if base <= pos and pos + need <= end:
            return pos - base
        if need > MAX_HEADER_BYTES:
            raise Unsure  # a value or sequence larger than the bound: pydicom decides
        stop = min(self.size, pos + max(need, FIRST_READ))
        if base <= pos <= end:  # keep what is already read, read on from the file position
            self.buf = buf[pos - base:] + (_read(self.fh, stop - end) if stop > end else b"")
        else:
            self.fh.seek(pos)  # skip over values nobody needs without reading them
            self.buf = _read(self.fh, stop - pos)
        self.base = pos
        return 0

    def sequence(self, start: int, length: int, charsets: Any) -> int:
        """Walk a top-level sequence value at file position ``start``; return the position after it."""
        if length != UNDEFINED:
            if start + length > self.size:
                raise Quarantined("truncated", "a sequence runs past the end of the file")
            if length == 0:
                return start
            rel = self.window(start, length)
            try:
                _walk_items(self.buf, rel, rel + length, self.ids, charsets)
            except NeedMore:
                raise Unsure from None  # an item runs past its sequence
            return start + length
        need = 12  # first within the bytes already read: most sequences are a few items long
        while True:
            rel = self.window(start, need)
            try:
                return self.base + _walk_items(self.buf, rel, None, self.ids, charsets)
            except NeedMore:
                if self.base + len(self.buf) >= self.size:
                    raise Quarantined("truncated", "file ends inside a sequence") from None
                need = max(FIRST_READ, 2 * (len(self.buf) - rel))

    def meta(self, out: dict[str, Any]) -> int:
        """Parse the file meta group (explicit VR little endian); return the position after it."""
        size = self.size
        pos = 132
        buf, base = self.buf, self.base
        while True:
            if pos + 12 > size:
                raise Quarantined("truncated", "file ends inside the file meta group")
            if pos + 12 > base + len(buf):
                self.window(pos, 12)
                buf, base = self.buf, self.base
            g, e, vr, slen = _ELEM.unpack_from(buf, pos - base)
            if g != 0x0002:
                return pos
            if vr in _LONG_VRS:
                (length,) = _U32.unpack_from(buf, pos - base + 8)
                start = pos + 12
            elif vr in _SHORT_VRS:
                length, start = slen, pos + 8
            else:
                raise Unsure
            if length == UNDEFINED:
                raise Unsure
            if start + length > size:
                raise Quarantined("truncated", "file ends inside the file meta group")
            if e == 0x0010 or e == 0x0002:
                if start + length > base + len(buf):
                    self.window(start, length)
                    buf, base = self.buf, self.base
                value = buf[start - base:start - base + length].decode("ascii", "replace").strip(" \x00")
                out["TransferSyntaxUID" if e == 0x0010 else "MediaStorageSOPClassUID"] = value
            pos = start + length

    def parse(self) -> dict[str, Any]:
        """The wanted fields and every identifier of the header; raises Unsure, Quarantined."""
        if len(self.buf) < 132 or self.buf[128:132] != b"DICM":
            raise Unsure  # no preamble: maybe a raw dataset without meta; pydicom decides
        out: dict[str, Any] = {}
        pos = self.meta(out)
        ts = out.get("TransferSyntaxUID")
        if not ts:
            raise Unsure  # pydicom decides between missing_meta and a usable file
        if ts == IMPLICIT_LE or ts == BIG_ENDIAN or ts in DEFLATED or not ts.startswith("1.2.840.10008.1.2."):
            raise Unsure  # not explicit VR little endian, or a private / unknown syntax: pydicom classifies it
        try:
            self._dataset(pos, out)
        except Quarantined as q:
            q.identifiers = tuple(sorted(set(self.ids)))
            raise
        if self.ids:
            out[IDENTIFIERS] = tuple(sorted(set(self.ids)))
        return out

    def _dataset(self, pos: int, out: dict[str, Any]) -> None:
        size, ids = self.size, self.ids
        charsets: Any = _CHARSET_PENDING
        creators: dict[int, bytes] | None = None
        # the hot loop (~250 elements per CT file, most of them skipped): locals, short VRs first,
        # private values skipped before any lookup, the window moved only when it runs out
        unpack, u32, long_vrs, want = _ELEM.unpack_from, _U32.unpack_from, _LONG_VRS, WANT
        pn = b"PN"
        short_vrs = _SHORT_VRS_BUT_PN
        tail_group = LAST_FIELD >> 16  # where the rest of the header may be checked in one go
        buf, base = self.buf, self.base
        rel, end = pos - base, len(buf)
        while True:
            if rel + 12 > end:
                at = base + rel
                if at + 8 > size:
                    if at == size:
                        return  # a dataset without pixel data that ends cleanly
                    if at > size:
                        raise Quarantined("truncated", "an element runs past the end of the file")
                    raise Quarantined("truncated", "file ends inside an element header")
                rel = self.window(at, 12)
                buf, base, end = self.buf, self.base, len(self.buf)
            g, e, vr, length = unpack(buf, rel)
            if g >= tail_group and ((g << 16) | e) > LAST_FIELD:
                tail_group = 0x10000  # once
                if self._plain_tail(rel, out):
                    return
            if vr in short_vrs:  # short VRs but PN
                if g & 1:
                    if e > 0xFF:  # a private value (not a creator)
                        rel += 8 + length
                        continue
                    field = None
                else:
                    field = want.get((g << 16) | e)
                    if field is None:
                        rel += 8 + length
                        continue
                start = rel + 8
            elif vr == pn:  # a person name, wherever it is
                start = rel + 8
                field = None if g & 1 else want.get((g << 16) | e)
            elif vr in long_vrs:
                if g >= 0x7FE0 and ((g << 16) | e) in _PIXEL_TAGS:
                    if e == 0x0010:
                        self._pixels(base + rel, vr, out)
                    return  # pydicom's stop_before_pixels stops here too
                if rel + 12 > end:
                    raise Quarantined("truncated", "file ends inside an element header")
                (length,) = u32(buf, rel + 8)
                start = rel + 12
                tag = (g << 16) | e
                if vr == b"SQ":
                    if charsets is _CHARSET_PENDING and tag > 0x00080005:
                        charsets = None  # past (0008,0005) without one: the default repertoire
                    # a sequence before (0008,0005) (DICOMDIR records) has no known charset yet
                    at = self.sequence(base + start, length, charsets)
                    buf, base, end = self.buf, self.base, len(self.buf)
                    rel = at - base
                    continue
                if length == UNDEFINED:
                    raise Unsure
                if vr == b"UN" and _un_matters(tag, length, creators):
                    raise Unsure
                field = None if g & 1 else want.get(tag)
                if field is None and not (g & 1 and e <= 0xFF):
                    rel = start + length
                    continue
            else:
                raise Unsure  # implicit VR inside an explicit file, or garbage: let pydicom judge
            # an element to decode: a wanted field, an identifier, a person name or a private creator
            nxt = start + length
            if nxt > end:
                if base + nxt > size:
                    raise Quarantined("truncated", f"element ({g:04X},{e:04X}) runs past the end of the file")
                start = self.window(base + start, length)
                buf, base, end = self.buf, self.base, len(self.buf)
                nxt = start + length
            raw = buf[start:nxt]
            rel = nxt
            if field is not None:
                name, kind, idk = field
                if name:
                    value = _value(raw, vr, kind, charsets)
                    if value is not None:
                        out[name] = value
                if idk is None and vr != pn:
                    continue  # an indexed field only: the common case
                if idk is _CHARSET:
                    charsets = value.split("\\") if value else None
                    continue
            if charsets is _CHARSET_PENDING and g >= 0x0008:
                charsets = None  # past (0008,0005) without one: the default repertoire
            if field is not None:
                idk = idk or "staff_name"
                ids += [(idk, v) for v in _id_values(raw, vr, charsets)]
            elif vr == pn:
                ids += [("staff_name", v) for v in _id_values(raw, vr, charsets)]
            else:
                creators = creators if creators is not None else {}
                creators[(g << 16) | e] = raw

    def _plain_tail(self, rel: int, out: dict[str, Any]) -> bool:
        """Whether the rest of the header, from ``buf[rel]`` to uncompressed pixel data that ends
        the file, can hold no identifier: then it need not be walked element by element.

        Past the last indexed field only identifiers matter. When the bytes up to the pixel data
        element contain no VR a name or a sequence is written with (PN, SQ, and UN, which pydicom
        may read as either) and no tag of :data:`ID_TAGS`, no element there holds one. A match
        anywhere (inside a value, say) only means the walk goes on. The pixel data element itself
        is found where an intact file has it, as long as the image needs (a cut transfer fails).
        """
        need = _native_pixel_bytes(out)
        if not need:
            return False  # compressed or colour: the walk finds the pixel data and checks its items
        at = self.size - need - 12
        stop = at - self.base
        if stop < rel or stop + 12 > len(self.buf):
            return False  # the header goes on past the window (a large vendor block): walk it
        head = self.buf[stop:stop + 12]
        if head[:4] != b"\xe0\x7f\x10\x00" or head[4:6] not in (b"OW", b"OB") or _U32.unpack_from(head, 8)[0] != need:
            return False  # not where an intact file has it: the walk decides
        buf = self.buf
        # one-byte searches (memchr) for the rarer byte of each pattern, then a look at its neighbour:
        # a tenth of the time of searching for the two- and four-byte patterns themselves
        for byte, before in ((b"N", (0x50, 0x55)), (b"Q", (0x53,))):  # PN, UN; SQ
            i = buf.find(byte, rel + 1, stop)
            while i >= 0:
                if buf[i - 1] in before:
                    return False
                i = buf.find(byte, i + 1, stop)
        for group, tags in _TAIL_ID_TAGS.items():
            i = buf.find(group, rel, stop)
            while i >= 0:
                if buf[i:i + 4] in tags:
                    return False
                i = buf.find(group, i + 1, stop)
        return True

    def _pixels(self, pos: int, vr: bytes, out: dict[str, Any]) -> None:
        """A pixel data element with a defined length must fit in the file (catches cut transfers);
        encapsulated (undefined-length) pixel data is followed item by item to its delimiter."""
        if vr not in _LONG_VRS:
            return
        if pos + 12 > self.size:
            raise Quarantined("truncated", "file ends inside the pixel data element header")
        rel = self.window(pos, 12)
        (length,) = _U32.unpack_from(self.buf, rel + 8)
        if length != UNDEFINED and pos + 12 + length > self.size:
            raise Quarantined("truncated", f"pixel data declares {length} bytes, file has {self.size - pos - 12}")
        if length == UNDEFINED:
            check_encapsulated(self.fh, pos + 12, self.size)


MAX_ITEMS = 100_000


def _native_pixel_bytes(out: dict[str, Any]) -> int:
    """Bytes of an uncompressed grayscale pixel matrix (0 when compressed, colour or unknown)."""
    if out.get("TransferSyntaxUID") != EXPLICIT_LE or out.get("PhotometricInterpretation") not in (
            "MONOCHROME1", "MONOCHROME2"):
        return 0
    need = 1
    for k in ("Rows", "Columns", "BitsAllocated"):
        need *= int(out.get(k) or 0)
    return need // 8 * int(out.get("SamplesPerPixel") or 1) * int(out.get("NumberOfFrames") or 1)


def check_encapsulated(fh: IO[bytes], pos: int, file_size: int) -> None:
    """Hop over the items of encapsulated pixel data (8-byte reads, no pixel bytes) to its
    delimiter: a transfer cut inside compressed pixels has no delimiter and an item past the end."""
    for _ in range(MAX_ITEMS):
        if pos + 8 > file_size:
            raise Quarantined("truncated", "encapsulated pixel data ends without its sequence delimiter")
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            raise Quarantined("truncated", "encapsulated pixel data ends without its sequence delimiter")
        g, e, length = _ITEM_HDR.unpack(head)
        if (g, e) == (0xFFFE, 0xE0DD):
            return
        if (g, e) != (0xFFFE, 0xE000) or length == UNDEFINED:
            raise Quarantined("unreadable", "encapsulated pixel data has a malformed item")
        pos += 8 + length
        if pos > file_size:
            raise Quarantined("truncated", "a compressed frame runs past the end of the file")


def read_fast(fh: IO[bytes], file_size: int) -> dict[str, Any] | None:
    """Fast path over an open binary file; None when pydicom must decide."""
    try:
        return _Header(fh, file_size).parse()
    except (Unsure, NeedMore):
        return None


# --- pydicom fallback -------------------------------------------------------------------------

def from_dataset(ds: Any) -> dict[str, Any]:
    """Normalized FIELDS of a pydicom Dataset (the reference the fast path is tested against)."""
    out: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if ts:
        out["TransferSyntaxUID"] = str(ts)
    msc = getattr(meta, "MediaStorageSOPClassUID", None) if meta is not None else None
    if msc:
        out["MediaStorageSOPClassUID"] = str(msc).strip(" \x00")
    for name, (tag, kind) in FIELDS.items():
        try:
            if tag not in ds:
                continue
            value = ds[tag].value
        except Exception:  # noqa: BLE001 - a value pydicom cannot convert is treated as absent
            continue
        v = _normalize_pydicom(value, kind)
        if v is not None:
            out[name] = v
    ids: list[tuple[str, str]] = []
    _ids_from_dataset(ds, ids, nested=False)
    if ids:
        out[IDENTIFIERS] = tuple(sorted(set(ids)))
    return out


def _ids_from_dataset(ds: Any, ids: list[tuple[str, str]], *, nested: bool) -> None:
    """Identifiers of a pydicom Dataset at every sequence depth (the reference for the fast path).

    Only elements that can hold one are converted (identifier tags, PN, sequences), so that an
    implicit VR file does not pay for converting every element.
    """
    from pydicom.multival import MultiValue

    for tag in list(ds.keys()):
        try:
            raw = ds.get_item(tag, keep_deferred=True)  # no conversion, no deferred read yet
            if int(tag) not in ID_TAGS and _pydicom_vr(ds, tag, raw.VR) not in ("SQ", "PN"):
                continue  # neither a person name, nor a sequence, nor an identifier tag
            elem = ds[tag]
            vr, value = elem.VR, elem.value
        except Exception:  # noqa: BLE001 - a value pydicom cannot convert is treated as absent
            continue
        if vr == "SQ":
            for item in value or ():
                _ids_from_dataset(item, ids, nested=True)
            continue
        kind = id_kind(int(tag), vr == "PN", nested)
        if kind is None or value is None:
            continue
        for v in value if isinstance(value, MultiValue | list | tuple) else [value]:
            if v is None or isinstance(v, bytes):
                continue
            text = str(v).strip(" \x00")
            if text:
                ids.append((kind, text))


def _pydicom_vr(ds: Any, tag: Any, vr: str | None) -> str | None:
    """The VR pydicom gives a raw element: as written, else (implicit VR, or UN) what its public or
    private dictionary says (pydicom.hooks.raw_element_vr)."""
    if vr is not None and vr != "UN":
        return vr
    from pydicom.datadict import DicomDictionary, dictionary_VR, private_dictionary_VR

    try:
        if not tag.is_private:
            entry = DicomDictionary.get(tag)  # the plain lookup first: dictionary_VR is ten times slower
            return entry[0] if entry is not None else dictionary_VR(tag)
        if tag.is_private_creator or not (tag.element & 0xFF00):
            return "LO"
        creator = ds.get((tag.group << 16) | (tag.element >> 8))
        return private_dictionary_VR(tag, creator.value) if creator is not None and creator.value else vr
    except (KeyError, TypeError, ValueError):
        return vr


def _normalize_pydicom(value: Any, kind: str) -> Any:
    from pydicom.multival import MultiValue

    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, bytes):
        return None
    if kind == "pn":
        return str(value).strip(" \x00") or None
    seq = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    if kind == "text":
        return normalize_text("\\".join(str(v) for v in seq), kind)
    nums = []
    for v in seq:
        if v is None or v == "":
            continue
        try:
            nums.append(float(v))
        except (TypeError, ValueError):
            return None
    return _numeric(nums, kind)


def read_pydicom(fh: IO[bytes], file_size: int) -> dict[str, Any]:
    """pydicom header read (no pixels, large values deferred) with quarantine classification."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warnings quote raw (identifying) values
        start = fh.tell()
        has_meta = True
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=64 * 1024)
        except InvalidDicomError:
            has_meta = False
            fh.seek(start)
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=64 * 1024, force=True)
            except Exception as exc:  # noqa: BLE001 - anything pydicom throws means "not DICOM"
                raise Quarantined("not_dicom", type(exc).__name__) from None
            if not _looks_like_dataset(ds):
                raise Quarantined("not_dicom", "no DICOM preamble and no dataset elements") from None
        except (EOFError, struct.error) as exc:
            raise Quarantined("truncated", type(exc).__name__) from None
        out = from_dataset(ds)
        try:
            if not has_meta or not out.get("TransferSyntaxUID"):
                # usable elements but no (complete) Part 10 file meta: cannot be trusted or re-exported
                raise Quarantined("missing_meta", "no file meta information or no TransferSyntaxUID")
            ts = UID(out["TransferSyntaxUID"])
            if not ts.is_transfer_syntax:
                raise Quarantined("unsupported_transfer_syntax", "transfer syntax UID is not a known transfer syntax")
            _check_pixel_after(fh, ts, file_size)
        except Quarantined as q:
            q.identifiers = out.get(IDENTIFIERS, ())
            raise
    return out


def _looks_like_dataset(ds: Any) -> bool:
    try:
        return any(k in ds for k in (0x00080016, 0x00080018, 0x0020000E, 0x00100020, 0x00080060))
    except Exception:  # noqa: BLE001
        return False


def _check_pixel_after(fh: IO[bytes], ts: Any, file_size: int) -> None:
    """pydicom stops (rewound) at the pixel data element: check its length fits in the file."""
    pos = fh.tell()
    head = fh.read(12)
    if len(head) < 8:
        return
    little = ts.is_little_endian
    g, e = struct.unpack("<HH" if little else ">HH", head[:4])
    if (g, e) != (0x7FE0, 0x0010):
        return
    if ts.is_implicit_VR:
        (length,) = struct.unpack("<I" if little else ">I", head[4:8])
        start = pos + 8
    elif head[4:6] in _LONG_VRS and len(head) == 12:
        (length,) = struct.unpack("<I" if little else ">I", head[8:12])
        start = pos + 12
    else:
        return
    if length != UNDEFINED and start + length > file_size:
        raise Quarantined("truncated", f"pixel data declares {length} bytes, file has {file_size - start}")
    if length == UNDEFINED and little and not ts.is_implicit_VR:
        check_encapsulated(fh, start, file_size)


def read_header(opener: Callable[[], IO[bytes]], file_size: int, *, fast: bool = True) -> tuple[dict[str, Any], str]:
    """Header of one file: (fields, path taken: "fast" | "pydicom"). Raises Quarantined.

    ``opener`` may return an unbuffered file (the fast path reads in large windows); pydicom,
    which reads element by element, then gets a buffered view of it.
    """
    with opener() as fh:
        if file_size == 0:
            raise Quarantined("not_dicom", "empty file")
        if fast:
            rec = read_fast(fh, file_size)
            if rec is not None:
                return rec, "fast"
        fh.seek(0)
        if isinstance(fh, io.RawIOBase):
            with io.BufferedReader(fh) as buffered:
                return read_pydicom(buffered, file_size), "pydicom"
        return read_pydicom(fh, file_size), "pydicom"


def file_opener(path: str) -> tuple[Callable[[], IO[bytes]], int]:
    return (lambda: open(path, "rb")), os.path.getsize(path)
