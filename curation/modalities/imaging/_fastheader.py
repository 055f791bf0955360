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

The walk through sequences lives in :mod:`._fastitems`, the pydicom fallback in :mod:`._pydicomheader`,
what both share (fields, identifier tags, VRs, exceptions) in :mod:`._headercommon`; every name is
importable from here as before.

This module stays free of heavy imports at import time: worker processes import it first.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Callable
from typing import IO, Any

from ._fastitems import _CHARSET_PENDING, _id_values, _un_matters, _walk_items
from ._headercommon import (
    _BINARY,
    _ELEM,
    _LONG_VRS,
    _PIXEL_TAGS,
    _SHORT_VRS,
    _SHORT_VRS_BUT_PN,
    _TEXT_VRS,
    _U32,
    BIG_ENDIAN,
    BY_TAG,
    DEFLATED,
    EXPLICIT_LE,
    FIELDS,
    ID_TAGS,
    IDENTIFIERS,
    IMPLICIT_LE,
    MAX_ITEMS,
    PIXEL_DATA,
    UNDEFINED,
    NeedMore,
    Quarantined,
    Unsure,
    _numeric,
    check_encapsulated,
    id_kind,
    normalize_text,
)
from ._pydicomheader import from_dataset, read_pydicom

__all__ = [
    "BY_TAG",
    "FIELDS",
    "FIRST_READ",
    "IDENTIFIERS",
    "ID_TAGS",
    "MAX_HEADER_BYTES",
    "MAX_ITEMS",
    "PIXEL_DATA",
    "NeedMore",
    "Quarantined",
    "Unsure",
    "check_encapsulated",
    "file_opener",
    "from_dataset",
    "id_kind",
    "normalize_text",
    "read_fast",
    "read_header",
    "read_pydicom",
]

_CHARSET: Any = "charset"  # the identifier kind slot of (0008,0005) in WANT: it sets the charsets
# tag -> (field name or "", field kind, identifier kind or None): one lookup per wanted element
WANT: dict[int, tuple[str, str, str | None]] = {
    **{tag: ("", "", kind) for tag, kind in ID_TAGS.items()},
    **{tag: (name, kind, ID_TAGS.get(tag)) for name, (tag, kind) in FIELDS.items()},
    FIELDS["SpecificCharacterSet"][0]: ("SpecificCharacterSet", "text", _CHARSET),
}
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

FIRST_READ = 16 * 1024  # a CT header is typically 2-8 KiB
MAX_HEADER_BYTES = 1 << 20  # never read more than 1 MiB of header: bounds memory per file


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
            self.buf = buf[pos - base :] + (_read(self.fh, stop - end) if stop > end else b"")
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
                value = buf[start - base : start - base + length].decode("ascii", "replace").strip(" \x00")
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
        if ts in (IMPLICIT_LE, BIG_ENDIAN) or ts in DEFLATED or not ts.startswith("1.2.840.10008.1.2."):
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
        head = self.buf[stop : stop + 12]
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
                if buf[i : i + 4] in tags:
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


def _native_pixel_bytes(out: dict[str, Any]) -> int:
    """Bytes of an uncompressed grayscale pixel matrix (0 when compressed, colour or unknown)."""
    if out.get("TransferSyntaxUID") != EXPLICIT_LE or out.get("PhotometricInterpretation") not in (
        "MONOCHROME1",
        "MONOCHROME2",
    ):
        return 0
    need = 1
    for k in ("Rows", "Columns", "BitsAllocated"):
        need *= int(out.get(k) or 0)
    return need // 8 * int(out.get("SamplesPerPixel") or 1) * int(out.get("NumberOfFrames") or 1)


def read_fast(fh: IO[bytes], file_size: int) -> dict[str, Any] | None:
    """Fast path over an open binary file; None when pydicom must decide."""
    try:
        return _Header(fh, file_size).parse()
    except (Unsure, NeedMore):
        return None


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
