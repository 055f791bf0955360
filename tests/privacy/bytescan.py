"""An independent identifier search over a folder: plain bytes, not the project's leak scanner.

Every file is searched as raw bytes and, where a format hides text from a byte search, as the text
it decodes to: Parquet cells and metadata (pyarrow), HDF5 / h5ad datasets and attributes (h5py),
zip and xlsx members, gzip streams, DICOM element values at any depth (pydicom, each file's own
character set). Each identifier is searched in UTF-8, GB18030, UTF-16 (LE / BE) and as JSON
``\\uXXXX``, HTML ``&#...;`` and URL ``%XX`` escapes; file and folder names are searched too.
Latin letters match case-insensitively. The only boundary rule: an identifier made of digits is
not counted where a digit or a decimal point touches it (``0.1961030712`` is a float of a plotly
figure, not a birth date).

Findings name the path with every identifier in it replaced by ``<#n>`` and the identifier by
its index in the list, never by value.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import io
import json
import re
import urllib.parse
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # relative, identifiers redacted as <#n>
    where: str  # "name", "bytes", "parquet", "hdf5", "dicom", "zip:<member>", "gzip"
    index: int  # 0-based index in the identifier list

    def __str__(self) -> str:
        return f"{self.path} [{self.where}]: identifier #{self.index}"


def _variants(ident: str) -> list[bytes]:
    out = {
        ident.encode("utf-8"),
        ident.encode("gb18030"),
        json.dumps(ident)[1:-1].encode("ascii"),
        ident.encode("ascii", "xmlcharrefreplace"),
        "".join(f"&#x{ord(c):x};" if ord(c) > 127 else c for c in ident).encode("ascii"),
        urllib.parse.quote(ident).encode("ascii"),
        html.escape(ident).encode("utf-8"),
    }
    for enc in ("utf-16-le", "utf-16-be"):
        v = ident.encode(enc)
        # 单 is U+5355: "US" in UTF-16-LE. A short CJK name can spell printable ASCII that turns up by
        # chance in base64 images; such a variant is searched only when it is long enough not to
        if not (all(32 <= b < 127 for b in v) and len(v) < 8):
            out.add(v)
    return sorted(v.lower() for v in out if v)


class Searcher:
    """All variants of all identifiers in one Aho-Corasick automaton (overlapping matches)."""

    def __init__(self, identifiers: Sequence[str]) -> None:
        import ahocorasick_rs

        self.identifiers = list(identifiers)
        patterns: list[bytes] = []
        self._owner: list[tuple[int, bool]] = []  # per pattern: identifier index, numeric boundary rule
        for i, ident in enumerate(self.identifiers):
            plain = ident.encode("utf-8").lower()
            numeric = ident.isascii() and ident.isdigit()
            for v in _variants(ident):
                patterns.append(v)
                self._owner.append((i, numeric and v == plain))
        self._ac = ahocorasick_rs.BytesAhoCorasick(patterns)

    def find(self, data: bytes) -> set[int]:
        low = data.lower()
        found: set[int] = set()
        for k, start, end in self._ac.find_matches_as_indexes(low, overlapping=True):
            i, numeric = self._owner[k]
            if i in found:
                continue
            if numeric and (
                (
                    start
                    and low[start - 1] in _NUMERIC_NEIGHBOURS
                    and not (start >= 6 and _ESCAPE.match(low, start - 6, start))
                )
                or (end < len(low) and low[end] in _DIGITS)
            ):
                continue  # digits inside a longer number or a float (an escape such as \\u53f7 before them is no digit)
            found.add(i)
        return found

    def find_text(self, text: str) -> set[int]:
        return self.find(text.encode("utf-8"))


_DIGITS = frozenset(b"0123456789")
_ESCAPE = re.compile(rb"\\u[0-9a-f]{4}\Z")
_NUMERIC_NEIGHBOURS = frozenset(b"0123456789.")


def redact(rel: str, searcher: Searcher) -> str:
    """A path with every identifier in it replaced by its index."""
    out = rel
    for i, ident in sorted(enumerate(searcher.identifiers), key=lambda x: -len(x[1])):
        out = re.sub(re.escape(ident), f"<#{i}>", out, flags=re.IGNORECASE)
    return out


def _payloads(path: Path, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Decoded text a format hides from a byte search."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield "parquet", _parquet_text(data)
    elif suffix in (".h5ad", ".h5", ".h5mu", ".hdf5"):
        yield "hdf5", _h5_text(data)
    elif suffix == ".gz":
        with contextlib.suppress(OSError):
            yield "gzip", gzip.decompress(data)
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                member = zf.read(info)
                yield f"zip:{info.filename}", info.filename.encode("utf-8") + b"\n" + member
                for where, payload in _payloads(Path(info.filename), member):
                    yield f"zip:{info.filename}:{where}", payload
    if (len(data) > 132 and data[128:132] == b"DICM") or suffix == ".dcm" or path.name == "DICOMDIR":
        text = _dicom_text(data)
        if text:
            yield "dicom", text


def _parquet_text(data: bytes) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    parts = [str(table.schema.metadata or {}), *table.column_names]
    for col in table.columns:
        parts += [str(v) for v in col.to_pylist() if v is not None]
    return "\n".join(parts).encode("utf-8")


def _h5_text(data: bytes) -> bytes:
    import h5py
    import numpy as np

    parts: list[str] = []

    def text(value: object) -> None:
        arr = np.asarray(value)
        if arr.dtype.kind in "SOU":
            parts.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel())
        elif arr.dtype.kind in "iu" and arr.size <= 1_000_000:
            parts.extend(str(v) for v in arr.ravel())

    def visit(name: str, obj: object) -> None:
        parts.append(name)
        for k, v in obj.attrs.items():  # type: ignore[attr-defined]
            parts.append(str(k))
            text(v)
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "SOUiu" and obj.size <= 5_000_000:
            text(obj[()])

    with h5py.File(io.BytesIO(data), "r") as f:
        for k, v in f.attrs.items():
            parts.append(str(k))
            text(v)
        f.visititems(visit)
    return "\n".join(parts).encode("utf-8")


def _dicom_text(data: bytes) -> bytes:
    import pydicom
    from pydicom.errors import InvalidDicomError

    parts: list[str] = []

    def walk(ds: object) -> None:
        for elem in ds:  # type: ignore[attr-defined]
            if elem.VR == "SQ":
                for item in elem.value:
                    walk(item)
            elif elem.tag != 0x7FE00010:
                parts.append(str(elem.value))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about odd values: only the text matters here
            ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            walk(ds.file_meta)
            walk(ds)
    except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, AttributeError, EOFError):
        return b""
    return "\n".join(parts).encode("utf-8")


def scan(root: Path, identifiers: Sequence[str]) -> list[Finding]:
    """Every (path, place, identifier) found under ``root``; empty when clean."""
    searcher = Searcher(identifiers)
    out: set[Finding] = set()
    if not root.exists():
        return []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        shown = redact(rel, searcher)
        out |= {Finding(shown, "name", i) for i in searcher.find_text(path.name)}
        if not path.is_file():
            continue
        data = path.read_bytes()
        out |= {Finding(shown, "bytes", i) for i in searcher.find(data)}
        try:
            for where, payload in _payloads(path, data):
                out |= {Finding(shown, where, i) for i in searcher.find(payload)}
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, never skipped silently
            out.add(Finding(shown, f"unreadable ({type(exc).__name__})", -1))
    return sorted(out)
