"""Header-only DICOM reading: a hand-written fast path and pydicom as the fallback.

Why hand-written: pydicom's ``dcmread`` parses every header element (~256 in a CT file) at about
550 files/s even with ``stop_before_pixels`` (~750 with ``specific_tags``), while a plain read of
the same files runs at ~12,500 files/s (see /work/shared/FIELD-NOTES.md). A PACS export of
100,000 files would take minutes per pass. Most files are explicit VR little endian with file
meta, so :func:`read_fast` walks only the first KiBs of such a file, unpacks the element headers
and decodes just the ~40 elements in :data:`FIELDS`. Whatever it is not sure about (implicit VR,
big endian, deflate, no file meta, odd VRs, non-ASCII text in a non-text VR, undefined lengths
outside sequences) makes it return ``None`` and :func:`read_header` falls back to pydicom.
A test checks that both paths agree field by field on every file of the corpus.

This module stays free of heavy imports at import time: worker processes import it first.
"""

from __future__ import annotations

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
LAST_TAG = max(BY_TAG)
LAST_GROUP, LAST_ELEMENT = LAST_TAG >> 16, LAST_TAG & 0xFFFF
PIXEL_DATA = 0x7FE00010

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

FIRST_READ = 16 * 1024  # a CT header is typically 2-8 KiB
MAX_HEADER_BYTES = 1 << 20  # never read more than 1 MiB of header: bounds memory per file

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_TEXT_VRS = frozenset({b"SH", b"LO", b"ST", b"LT", b"UC", b"UT", b"PN"})  # decoded with the charset
_NUMERIC_BIN = {b"US": "<H", b"SS": "<h", b"UL": "<I", b"SL": "<i", b"FL": "<f", b"FD": "<d"}
_ELEM = struct.Struct("<HH2sH")
_U32 = struct.Struct("<I")
_ITEM_HDR = struct.Struct("<HHI")
UNDEFINED = 0xFFFFFFFF


class Unsure(Exception):
    """The fast path cannot vouch for this file: use pydicom."""


class NeedMore(Exception):
    """The header goes past the bytes read so far."""


class Quarantined(Exception):
    """The file is set aside; ``reason`` is the quarantine reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _value(raw: bytes, vr: bytes, kind: str, charsets: list[str] | None) -> Any:
    """Decode one element value into the normalized form shared with :func:`from_dataset`."""
    if vr in _NUMERIC_BIN:
        fmt = _NUMERIC_BIN[vr]
        size = struct.calcsize(fmt)
        if not raw or len(raw) % size:
            return None if not raw else _unsure()
        vals = [v[0] for v in struct.iter_unpack(fmt, raw)]
        return _numeric(vals, kind)
    if raw.isascii():
        text = raw.decode("ascii")
        if "\\" not in text:  # single value: the common case, without the general split
            text = text.strip(" \x00")
            if not text:
                return None
            if kind in ("text", "pn"):
                return text
            try:
                v = float(text)
            except ValueError:
                return None
            return _numeric([v], kind)
    elif vr in _TEXT_VRS:
        text = _decode_text(raw, vr, charsets)
    else:
        raise Unsure
    return normalize_text(text, kind)


def _unsure() -> Any:
    raise Unsure


def _decode_text(raw: bytes, vr: bytes, charsets: list[str] | None) -> str:
    from pydicom.charset import convert_encodings, decode_bytes

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


def _numeric(vals: list[Any], kind: str) -> Any:
    if not vals:
        return None
    if kind == "floats":
        return [float(v) for v in vals]
    if kind == "int":
        v = float(vals[0])
        return int(v) if v == int(v) else None
    if kind == "float":
        return float(vals[0])
    return "\\".join(str(v) for v in vals)


def _skip_undefined(buf: bytes, pos: int, end: int) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; return the position after
    its delimiter. Nested undefined-length sequences are walked; anything else odd is Unsure."""
    while True:
        if pos + 8 > end:
            raise NeedMore
        g, e, length = _ITEM_HDR.unpack_from(buf, pos)
        pos += 8
        if g != 0xFFFE:
            raise Unsure
        if e == 0xE0DD:  # sequence delimiter
            return pos
        if e != 0xE000:
            raise Unsure
        if length != UNDEFINED:
            pos += length
            continue
        # undefined-length item: walk its elements until the item delimiter
        while True:
            if pos + 8 > end:
                raise NeedMore
            g, e = struct.unpack_from("<HH", buf, pos)
            if g == 0xFFFE and e == 0xE00D:
                pos += 8
                break
            vr = buf[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > end:
                    raise NeedMore
                (length,) = _U32.unpack_from(buf, pos + 8)
                pos += 12
                if length == UNDEFINED:
                    if vr != b"SQ":
                        raise Unsure
                    pos = _skip_undefined(buf, pos, end)
                    continue
            elif vr in _SHORT_VRS:
                (length,) = struct.unpack_from("<H", buf, pos + 6)
                pos += 8
            else:
                raise Unsure
            pos += length


def parse_buffer(buf: bytes, file_size: int) -> dict[str, Any]:
    """Parse the header of a Part 10 file held (partly) in ``buf``.

    Raises NeedMore when the header runs past ``buf`` but not past the file, Unsure when pydicom
    must decide, and Quarantined for files that are certainly broken.
    """
    end = len(buf)
    complete = end >= file_size
    if end < 132 or buf[128:132] != b"DICM":
        raise Unsure  # no preamble: maybe a raw dataset without meta; pydicom decides
    pos = 132
    out: dict[str, Any] = {}
    ts = None
    # file meta: always explicit VR little endian
    while True:
        if pos + 8 > end:
            if complete:
                raise Quarantined("truncated", "file ends inside the file meta group")
            raise NeedMore
        g, e, vr, slen = _ELEM.unpack_from(buf, pos)
        if g != 0x0002:
            break
        if vr in _LONG_VRS:
            (length,) = _U32.unpack_from(buf, pos + 8)
            start = pos + 12
        elif vr in _SHORT_VRS:
            length, start = slen, pos + 8
        else:
            raise Unsure
        if length == UNDEFINED:
            raise Unsure
        if start + length > end:
            if complete:
                raise Quarantined("truncated", "file ends inside the file meta group")
            raise NeedMore
        if e == 0x0010:
            ts = buf[start:start + length].decode("ascii", "replace").strip(" \x00")
        elif e == 0x0002:
            out["MediaStorageSOPClassUID"] = buf[start:start + length].decode("ascii", "replace").strip(" \x00")
        pos = start + length
    if not ts:
        raise Unsure  # pydicom decides between missing_meta and a usable file
    out["TransferSyntaxUID"] = ts
    if ts == IMPLICIT_LE or ts == BIG_ENDIAN or ts in DEFLATED:
        raise Unsure
    if not ts.startswith("1.2.840.10008.1.2."):
        raise Unsure  # private or unknown transfer syntax: pydicom classifies it
    charsets: list[str] | None = None
    # the hot loop (~250 elements per CT file): locals, short VRs first, private groups skipped
    # before any lookup, and the past-the-end check only when the window runs out
    unpack, u32, long_vrs, short_vrs, by_tag = _ELEM.unpack_from, _U32.unpack_from, _LONG_VRS, _SHORT_VRS, BY_TAG
    while True:
        if pos + 12 > end:
            if pos + 8 > end or (end - pos >= 8 and buf[pos + 4:pos + 6] in long_vrs):
                if pos > file_size:
                    raise Quarantined("truncated", "an element runs past the end of the file")
                if complete:
                    if pos == end:
                        return out  # a dataset without pixel data that ends cleanly
                    raise Quarantined("truncated", "file ends inside an element header")
                raise NeedMore
        g, e, vr, length = unpack(buf, pos)
        if g > LAST_GROUP or (g == LAST_GROUP and e > LAST_ELEMENT):
            _after_last(buf, pos, file_size, out)
            return out
        if vr in short_vrs:
            start = pos + 8
        elif vr in long_vrs:
            (length,) = u32(buf, pos + 8)
            start = pos + 12
            if length == UNDEFINED:
                if vr != b"SQ":
                    raise Unsure
                try:
                    pos = _skip_undefined(buf, start, end)
                except NeedMore:
                    if complete:
                        raise Quarantined("truncated", "file ends inside a sequence") from None
                    raise
                continue
        else:
            raise Unsure  # implicit VR inside an explicit file, or garbage: let pydicom judge
        pos = start + length  # may pass the window: the next header read asks for more
        if g & 1:
            continue  # private group
        field = by_tag.get((g << 16) | e)
        if field is None:
            continue
        if pos > end:
            if pos > file_size:
                raise Quarantined("truncated", f"element ({g:04X},{e:04X}) runs past the end of the file")
            raise NeedMore
        name, kind = field
        value = _value(buf[start:pos], vr, kind, charsets)
        if name == "SpecificCharacterSet":
            charsets = value.split("\\") if value else None
        if value is not None:
            out[name] = value


def _after_last(buf: bytes, pos: int, file_size: int, out: dict[str, Any]) -> None:
    """Past the last wanted element: walk on (within the bytes already read, no decoding) to the
    pixel data element and check that its declared length fits in the file, so that a transfer
    cut inside the pixels is caught without reading them."""
    need = _native_pixel_bytes(out)
    if need:  # uncompressed: read_fast looks for the pixel element where an intact file has it
        if pos + need > file_size:
            raise Quarantined("truncated", f"the image needs {need} bytes of pixels, the file has "
                                           f"{file_size - pos} after its header")
        out[_NATIVE_CHECK] = (pos, need)
        return
    walk_to_pixels(buf, pos, file_size, out)


def walk_to_pixels(buf: bytes, pos: int, file_size: int, out: dict[str, Any]) -> None:
    """Hop over element headers (no decoding) to the pixel data element within ``buf``."""
    end = len(buf)
    while pos + 12 <= end:
        g, e, vr, slen = _ELEM.unpack_from(buf, pos)
        if (g << 16 | e) == PIXEL_DATA:
            _check_pixel_length(buf, pos, vr, file_size, out)
            return
        if vr in _LONG_VRS:
            (length,) = _U32.unpack_from(buf, pos + 8)
            if length == UNDEFINED:
                break
            pos += 12 + length
        elif vr in _SHORT_VRS:
            pos += 8 + slen
        else:
            break
        if pos > file_size:
            raise Quarantined("truncated", f"element ({g:04X},{e:04X}) runs past the end of the file")


def _native_pixel_bytes(out: dict[str, Any]) -> int:
    """Bytes of an uncompressed grayscale pixel matrix (0 when compressed, colour or unknown)."""
    if out.get("TransferSyntaxUID") != EXPLICIT_LE or out.get("PhotometricInterpretation") not in (
            "MONOCHROME1", "MONOCHROME2"):
        return 0
    need = 1
    for k in ("Rows", "Columns", "BitsAllocated"):
        need *= int(out.get(k) or 0)
    return need // 8 * int(out.get("SamplesPerPixel") or 1) * int(out.get("NumberOfFrames") or 1)


def _check_pixel_length(buf: bytes, pos: int, vr: bytes, file_size: int, out: dict[str, Any] | None = None) -> None:
    """A pixel data element with a defined length must fit in the file (catches cut transfers);
    for encapsulated (undefined-length) pixel data, remember where its items start."""
    if vr in _LONG_VRS and pos + 12 > len(buf) and len(buf) < file_size:
        raise NeedMore
    if vr in _LONG_VRS and pos + 12 <= len(buf):
        (length,) = _U32.unpack_from(buf, pos + 8)
        if length != UNDEFINED and pos + 12 + length > file_size:
            raise Quarantined("truncated", f"pixel data declares {length} bytes, file has {file_size - pos - 12}")
        if length == UNDEFINED and out is not None:
            out[_ENCAPSULATED_AT] = pos + 12


_ENCAPSULATED_AT = "_encapsulated_items_at"
_NATIVE_CHECK = "_native_pixels"
MAX_ITEMS = 100_000


def _pixels_end_the_file(fh: IO[bytes], need: int, file_size: int) -> bool:
    """One 12-byte read: is there a pixel data element of ``need`` bytes that ends the file?"""
    at = file_size - need - 12
    if at < 132:
        return False
    fh.seek(at)
    head = fh.read(12)
    return len(head) == 12 and head[:4] == b"\xe0\x7f\x10\x00" and head[4:6] in (b"OW", b"OB") \
        and _U32.unpack_from(head, 8)[0] == need


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
    want = FIRST_READ
    buf = fh.read(want)
    while True:
        try:
            out = parse_buffer(buf, file_size)
            at = out.pop(_ENCAPSULATED_AT, None)
            if at is not None:
                check_encapsulated(fh, at, file_size)
            native = out.pop(_NATIVE_CHECK, None)
            if native is not None and not _pixels_end_the_file(fh, native[1], file_size):
                walk_to_pixels(buf, native[0], file_size, out)  # unusual layout, or cut: look closer
                at = out.pop(_ENCAPSULATED_AT, None)
            return out
        except Unsure:
            return None
        except NeedMore:
            if len(buf) >= MAX_HEADER_BYTES or len(buf) >= file_size:
                return None
            more = fh.read(len(buf))  # double the window
            if not more:
                return None
            buf += more


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
    return out


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
        if not has_meta or not out.get("TransferSyntaxUID"):
            # usable elements but no (complete) Part 10 file meta: cannot be trusted or re-exported
            raise Quarantined("missing_meta", "no file meta information or no TransferSyntaxUID")
        ts = UID(out["TransferSyntaxUID"])
        if not ts.is_transfer_syntax:
            raise Quarantined("unsupported_transfer_syntax", "transfer syntax UID is not a known transfer syntax")
        _check_pixel_after(fh, ts, file_size)
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
    """Header of one file: (fields, path taken: "fast" | "pydicom"). Raises Quarantined."""
    if file_size == 0:
        raise Quarantined("not_dicom", "empty file")
    with opener() as fh:
        if fast:
            rec = read_fast(fh, file_size)
            if rec is not None:
                return rec, "fast"
            fh.seek(0)
        return read_pydicom(fh, file_size), "pydicom"


def file_opener(path: str) -> tuple[Callable[[], IO[bytes]], int]:
    return (lambda: open(path, "rb")), os.path.getsize(path)
