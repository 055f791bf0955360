"""The pydicom fallback of the header read, and the reference the fast path is tested against.

:func:`read_pydicom` reads a header with pydicom (no pixels, large values deferred) and classifies
what it cannot use for the quarantine; :func:`from_dataset` normalizes a Dataset to the same
fields and identifiers the fast path (:mod:`._fastheader`) returns.
"""

from __future__ import annotations

import struct
import warnings
from typing import IO, Any

from ._headercommon import (
    _LONG_VRS,
    FIELDS,
    ID_TAGS,
    IDENTIFIERS,
    UNDEFINED,
    Quarantined,
    _numeric,
    check_encapsulated,
    id_kind,
    normalize_text,
)


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
