"""The fast path's walk through sequences: every identifier at any depth, without pydicom.

The decisions of :func:`~._headercommon.id_kind`, inlined for speed; whatever the walk is not sure
about raises :class:`~._headercommon.Unsure` and pydicom decides (see :mod:`._fastheader`).
"""

from __future__ import annotations

import warnings
from typing import Any

from ._headercommon import (
    _ELEM,
    _ITEM_HDR,
    _LONG_VRS,
    _SHORT_VRS_BUT_PN,
    _TEXT_VRS,
    _U32,
    ID_TAGS,
    UNDEFINED,
    NeedMore,
    Unsure,
    normalize_text,
)

_CHARSET_PENDING: Any = object()  # (0008,0005) not reached yet


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
