"""The leak scan: every identifier, in every output file, in every form it could take.

Each file is read by its format: Parquet cells, column names and metadata (pyarrow); h5ad /
HDF5 names, attributes and string or integer datasets (h5py); DICOM elements with each PN
component group (pydicom) plus the raw header bytes; zip members; text files (notebooks, HTML,
JSON, CSV, logs) as bytes, in UTF-8 and GB18030 and as JSON ``\\uXXXX`` / HTML ``&#...;`` / URL
``%XX`` escapes;
file and folder names. Matching is one Aho-Corasick pass over bytes (ahocorasick-rs; else
pyahocorasick; else a compiled regex alternation).

A hit names the file and the field and the identifier's index in the list (its line number in
the identifiers file), never the identifier: the scan's own report must not leak.
"""

from __future__ import annotations

import bisect
import gzip
import io
import re
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MIN_LEN = 4
# In binary payloads (pixels, compressed streams) a 4-byte pattern matches by chance about once
# per 4 GB per identifier; only longer byte patterns are searched there.
MIN_BINARY_BYTES = 6
TEXT_SUFFIXES = {".ipynb", ".html", ".htm", ".json", ".csv", ".tsv", ".txt", ".log", ".md", ".yaml", ".yml",
                 ".xml", ".js", ".css", ".svg", ".vcf", ".maf", ".tex", ".rst", ".py", ".sha256", ".toml"}
H5_SUFFIXES = {".h5ad", ".h5", ".hdf5", ".h5mu", ".loom"}
ZIP_SUFFIXES = {".zip", ".xlsx", ".docx", ".pptx", ".odt", ".ods", ".whl"}
H5_BULK = ("X", "layers", "raw", "obsm", "varm", "obsp", "varp")
H5_INT_LIMIT = 1_000_000


@dataclass(frozen=True, order=True)
class LeakHit:
    """One identifier found in one place.

    Attributes
    ----------
    path
        Path of the file relative to the bundle root (posix); a path component that itself
        contains an identifier is shown as ``<redacted>``.
    location
        Where in the file: ``file name``, ``column 'x' row 3``, ``PatientName (ideographic)``,
        ``line 12 (gb18030)`` ...
    identifier
        1-based index of the identifier in the list given to the scan (its line number in the
        identifiers file).
    """

    path: str
    location: str
    identifier: int

    def __str__(self) -> str:
        return f"{self.path}: {self.location}: identifier #{self.identifier}"


def _is_cjk(text: str) -> bool:
    return any(ord(ch) > 0x2E7F for ch in text)


class _Automaton:
    """Multi-pattern byte search: ahocorasick-rs, else pyahocorasick, else a regex alternation."""

    def __init__(self, patterns: list[bytes], backend: str = "auto") -> None:
        self.pats = patterns
        self._rs: Any = None
        self._aho: Any = None
        self._regex: re.Pattern[bytes] | None = None
        if not patterns:
            return
        if backend in ("auto", "rs"):
            try:  # Rust, over bytes: ~10x pyahocorasick on large automata
                import ahocorasick_rs

                self._rs = ahocorasick_rs.BytesAhoCorasick(patterns)
                return
            except ImportError:
                pass
        if backend in ("auto", "rs", "pyahocorasick"):
            try:
                import ahocorasick

                aho = ahocorasick.Automaton()
                for pat in patterns:
                    aho.add_word(pat.decode("latin-1"), pat)  # latin-1: one char per byte
                aho.make_automaton()
                self._aho = aho
                return
            except ImportError:
                pass
        self._regex = re.compile(b"|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True)))

    def find(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """``(start, pattern)`` of every (overlapping) occurrence."""
        if self._rs is not None:
            for k, start, _ in self._rs.find_matches_as_indexes(data, overlapping=True):
                yield start, self.pats[k]
        elif self._aho is not None:
            for end, pat in self._aho.iter(data.decode("latin-1")):
                yield end - len(pat) + 1, pat
        elif self._regex is not None:
            for m in self._regex.finditer(data):
                yield m.start(), m.group()


class Matcher:
    """All byte forms of all identifiers, searched in one pass (two for non-UTF-8 bytes)."""

    def __init__(self, identifiers: Iterable[tuple[int, str]], *, backend: str = "auto") -> None:
        # Two automata: every form that bytes.lower() leaves comparable (ASCII, UTF-8, escapes) is
        # searched once in the lowered haystack (case-insensitive for ASCII letters; UTF-8
        # multi-byte sequences have no ASCII bytes, so lowering cannot change them); GB18030
        # forms, whose trail bytes can be ASCII letters, are searched in the original bytes.
        self.forms: dict[bytes, tuple[int, str]] = {}
        self.gb_forms: dict[bytes, tuple[int, str]] = {}
        for no, ident in identifiers:
            ident = ident.strip()
            if not ident or (len(ident) < MIN_LEN and not (_is_cjk(ident) and len(ident) >= 2)):
                continue
            self._add(ident, no)
        self._main = _Automaton(list(self.forms), backend)
        self._gb = _Automaton(list(self.gb_forms), backend)

    def _add(self, ident: str, no: int) -> None:
        if ident.isascii():
            self.forms.setdefault(ident.encode().lower(), (no, "ascii"))
            return
        self.forms.setdefault(ident.encode("utf-8").lower(), (no, "utf-8"))
        try:
            self.gb_forms.setdefault(ident.encode("gb18030"), (no, "gb18030"))
        except UnicodeEncodeError:
            pass
        # how JSON (plotly figures, ensure_ascii) and HTML escape non-ASCII text
        for form, text in (("json-escape", "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in ident)),
                           ("html-entity", "".join(c if c.isascii() else f"&#{ord(c)};" for c in ident)),
                           ("html-entity", "".join(c if c.isascii() else f"&#x{ord(c):x};" for c in ident)),
                           ("url-encoded", urllib.parse.quote(ident, safe=""))):
            self.forms.setdefault(text.encode().lower(), (no, form))

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def max_len(self) -> int:
        """Length in bytes of the longest pattern."""
        return max((len(p) for p in (*self.forms, *self.gb_forms)), default=1)

    def search(self, data: bytes, *, binary: bool = False, utf8_only: bool = False
               ) -> Iterator[tuple[int, int, str]]:
        """Yield ``(offset, identifier no, form)`` for every occurrence in ``data``.

        ASCII letters match case-insensitively. ``binary`` skips short byte patterns;
        ``utf8_only`` skips GB18030 forms (for text known to be valid UTF-8, where a GB18030
        byte pattern can only match by accident).
        """
        for off, _, no, form in self._search(data, binary=binary, utf8_only=utf8_only):
            yield off, no, form

    def _search(self, data: bytes, *, binary: bool = False, utf8_only: bool = False
                ) -> Iterator[tuple[int, int, int, str]]:
        if not self.forms or not data:
            return
        seen: set[tuple[int, int]] = set()
        passes = [(self._main, self.forms, data.lower())]
        if not utf8_only and self.gb_forms:
            passes.append((self._gb, self.gb_forms, data))
        for automaton, forms, hay in passes:
            for off, pat in automaton.find(hay):
                if binary and len(pat) < MIN_BINARY_BYTES:
                    continue
                no, form = forms[pat]
                if (off, no) not in seen:
                    seen.add((off, no))
                    yield off, off + len(pat), no, form

    def in_arrow(self, arr: Any) -> Iterator[tuple[int, int]]:
        """``(value index, identifier no)`` over a pyarrow string array, searched in its data
        buffer directly (no Python object per value); matches across two values are dropped."""
        import numpy as np
        import pyarrow as pa

        if not self.forms or len(arr) == 0:
            return
        if pa.types.is_string(arr.type):
            width: Any = np.int32
        elif pa.types.is_large_string(arr.type):
            width = np.int64
        else:
            msg = f"in_arrow needs a string array, not {arr.type}"
            raise TypeError(msg)
        _, obuf, dbuf = arr.buffers()
        offsets = np.frombuffer(obuf, dtype=width)[arr.offset: arr.offset + len(arr) + 1]
        if dbuf is None or offsets[-1] == offsets[0]:
            return
        data = dbuf.to_pybytes()[int(offsets[0]): int(offsets[-1])]
        rel = offsets - offsets[0]
        for off, end, no, _ in self._search(data, utf8_only=True):
            i = int(np.searchsorted(rel, off, side="right")) - 1
            if end <= rel[i + 1]:
                yield i, no

    def in_text(self, text: str) -> set[int]:
        """Identifier numbers found in a string."""
        return {no for _, no, _ in self.search(text.encode("utf-8", "surrogatepass"), utf8_only=True)}

    def in_values(self, values: list[str]) -> Iterator[tuple[int, int]]:
        """``(value index, identifier no)`` over many strings, searched as one buffer."""
        if not values or not self.forms:
            return
        starts, parts, pos = [], [], 0
        for v in values:
            b = v.encode("utf-8", "surrogatepass")
            starts.append(pos)
            parts.append(b)
            pos += len(b) + 1
        buf = b"\x00".join(parts)
        for off, no, _ in self.search(buf, utf8_only=True):
            yield bisect.bisect_right(starts, off) - 1, no


# --- per-format readers ---------------------------------------------------------------------

Src = bytes | Path  # a file on disk, or the bytes of a member of a zip / gzip file
CHUNK = 64 * 1024 * 1024


def _head(src: Src, n: int = 132) -> bytes:
    if isinstance(src, bytes):
        return src[:n]
    with open(src, "rb") as fh:
        return fh.read(n)


def _read(src: Src) -> bytes:
    return src if isinstance(src, bytes) else src.read_bytes()


def _handle(src: Src) -> Any:
    return io.BytesIO(src) if isinstance(src, bytes) else str(src)


def _binary(src: Src) -> Any:
    return io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")  # the caller closes it (`with`)


def _chunks(src: Src, overlap: int) -> Iterator[tuple[bytes, bool]]:
    """``(chunk, is_last)``; each chunk starts with the last ``overlap`` bytes of the previous."""
    if isinstance(src, bytes) or src.stat().st_size <= CHUNK:
        yield _read(src), True
        return
    with open(src, "rb") as fh:
        tail = b""
        while True:
            block = fh.read(CHUNK)
            last = len(block) < CHUNK
            chunk = tail + block
            yield chunk, last
            if last:
                return
            tail = chunk[len(chunk) - min(overlap, len(chunk)):] if overlap else b""


def _valid_utf8(chunk: bytes) -> bool:
    """Whether a chunk is UTF-8, allowing a character cut at either end by chunking."""
    lead = 0
    while lead < 3 and lead < len(chunk) and 0x80 <= chunk[lead] <= 0xBF:
        lead += 1
    try:
        chunk[lead:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.start >= len(chunk) - lead - 3
    return True


class _Scan:
    def __init__(self, root: Path, matcher: Matcher) -> None:
        self.root = root
        self.m = matcher
        self.hits: set[LeakHit] = set()
        self._paths: dict[str, str] = {}

    def safe(self, name: str) -> str:
        return "<redacted>" if self.m.in_text(name) else name

    def safe_path(self, rel: str) -> str:
        if rel not in self._paths:
            self._paths[rel] = "/".join(self.safe(p) for p in PurePosixPath(rel).parts)
        return self._paths[rel]

    def hit(self, rel: str, location: str, no: int) -> None:
        self.hits.add(LeakHit(self.safe_path(rel), location, no))

    def name(self, rel: str, *, folder: bool) -> None:
        """The last component of ``rel`` (parents are visited on their own)."""
        for no in self.m.in_text(PurePosixPath(rel).name):
            self.hit(rel, "folder name" if folder else "file name", no)

    # dispatch
    def file(self, rel: str, src: Src, *, name: str | None = None) -> None:
        """Scan one file's contents; ``name`` (default ``rel``) decides its format by suffix."""
        name = name or rel
        suffix = PurePosixPath(name).suffix.lower()
        try:
            head = _head(src)
            if suffix == ".parquet" or head[:4] == b"PAR1":
                self.parquet(rel, src)
            elif suffix in H5_SUFFIXES or head[:8] == b"\x89HDF\r\n\x1a\n":
                self.hdf5(rel, src)
            elif suffix == ".dcm" or head[128:132] == b"DICM":
                self.dicom(rel, src)
            elif suffix in ZIP_SUFFIXES or head[:4] == b"PK\x03\x04":
                self.zipped(rel, src)
            elif suffix == ".gz":  # BGZF (.vcf.gz) is multi-member gzip: decompress reads it all
                self.file(rel, gzip.decompress(_read(src)), name=name[:-3])
            else:
                self.bytes_(rel, src, name=name)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is still scanned as bytes
            # fail closed: a file whose fields could not be read is not known to be clean
            self.hits.add(LeakHit(self.safe_path(rel), f"unreadable as {suffix or 'its format'} "
                                  f"({type(exc).__name__}); only its raw bytes were searched", 0))
            try:
                self.bytes_(rel, src, name=name)
            except OSError:
                pass  # not even readable as bytes: already reported above

    def bytes_(self, rel: str, src: Src, *, where: str = "", name: str | None = None, header: bool = False
               ) -> None:
        """Raw bytes, in chunks that overlap by the longest pattern (files of any size).

        ``header``: a DICOM header (a few KB of mostly text between binary lengths), searched
        with every pattern, short GB18030 names included; locations are byte offsets.
        """
        suffix = PurePosixPath(name or rel).suffix.lower()
        overlap = max(self.m.max_len - 1, 0)
        seen: set[tuple[int, int]] = set()
        base = lines_before = 0
        for chunk, last in _chunks(src, overlap):
            utf8 = _valid_utf8(chunk)
            texty = suffix in TEXT_SUFFIXES or utf8 or b"\x00" not in chunk[:8192]
            for off, no, form in self.m.search(chunk, binary=not (texty or header), utf8_only=utf8):
                if (base + off, no) in seen:
                    continue
                seen.add((base + off, no))
                line = lines_before + chunk.count(b"\n", 0, off) + 1
                loc = f"line {line}" if texty else f"byte {base + off}"
                self.hit(rel, f"{where}{loc} ({form})", no)
            if not last:
                keep = min(overlap, len(chunk))
                lines_before += chunk.count(b"\n", 0, len(chunk) - keep)
                base += len(chunk) - keep

    def parquet(self, rel: str, src: Src) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(_handle(src))
        meta = pf.schema_arrow.metadata or {}
        for k, v in meta.items():
            for no in self.m.in_text(k.decode("utf-8", "replace")) | self.m.in_text(v.decode("utf-8", "replace")):
                self.hit(rel, "schema metadata", no)
            for _, no, form in self.m.search(v):
                self.hit(rel, f"schema metadata ({form})", no)
        table = pf.read()
        for j, name in enumerate(table.column_names):
            for no in self.m.in_text(name):
                self.hit(rel, f"column name #{j + 1}", no)
            col = table.column(j)
            label = f"column {self.safe(name)!r}"
            try:
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                    t = col.type
                    if pa.types.is_floating(t) or pa.types.is_temporal(t) or pa.types.is_boolean(t):
                        continue  # a float, date or flag cannot spell a name or an ID
                    col = col.cast(pa.string())
                uniq_arr = pc.unique(col)
                if isinstance(uniq_arr, pa.ChunkedArray):
                    uniq_arr = uniq_arr.combine_chunks()
                found = dict.fromkeys(self.m.in_arrow(uniq_arr))
                uniq = uniq_arr.to_pylist() if found else []
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
                uniq = sorted({str(v) for v in col.to_pylist() if v is not None})
                found = dict.fromkeys(self.m.in_values([str(u) for u in uniq]))
            values: list[Any] = []
            for i, no in found:
                values = values or col.to_pylist()
                row = next((r for r, v in enumerate(values) if v is not None and str(v) == str(uniq[i])), -1)
                self.hit(rel, f"{label} row {row}", no)

    def hdf5(self, rel: str, src: Src) -> None:
        import h5py
        import numpy as np

        def strings(value: Any) -> list[str]:
            arr = np.asarray(value)
            if arr.dtype.kind in "SO":
                return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel()]
            if arr.dtype.kind == "U":
                return [str(v) for v in arr.ravel()]
            if arr.dtype.kind in "iu" and arr.size <= H5_INT_LIMIT:
                return [str(v) for v in np.unique(arr)]
            return []

        def raw_bytes(value: Any) -> list[bytes]:
            arr = np.asarray(value)
            if arr.dtype.kind == "S":
                return [bytes(v) for v in arr.ravel()]
            if arr.dtype.kind == "O":
                return [v for v in arr.ravel() if isinstance(v, bytes)]
            return []

        with h5py.File(_handle(src), "r") as f:

            def visit(name: str, obj: Any) -> None:
                label = "/".join(self.safe(p) for p in name.split("/"))
                for no in self.m.in_text(name.rsplit("/", 1)[-1]):
                    self.hit(rel, f"HDF5 name {label}", no)
                for key, val in obj.attrs.items():
                    vals = [key, *strings(val)]
                    for _, no in self.m.in_values(vals):
                        self.hit(rel, f"{label} attribute {self.safe(key)!r}", no)
                    for b in raw_bytes(val):
                        for _, no, form in self.m.search(b):
                            self.hit(rel, f"{label} attribute {self.safe(key)!r} ({form})", no)
                if isinstance(obj, h5py.Dataset):
                    top = name.split("/", 1)[0]
                    if top in H5_BULK and obj.dtype.kind not in "SOU":
                        return
                    value = obj[()]
                    for i, no in self.m.in_values(strings(value)):
                        self.hit(rel, f"{label} value {i}", no)
                    for b in raw_bytes(value):
                        for _, no, form in self.m.search(b):
                            self.hit(rel, f"{label} ({form})", no)

            visit("", f)
            f.visititems(visit)

    def dicom(self, rel: str, src: Src) -> None:
        import warnings

        import pydicom

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warnings quote raw values
            with _binary(src) as fp:
                ds = pydicom.dcmread(fp, force=True, stop_before_pixels=True)
                header_end = fp.tell()
                fp.seek(0)
                header = fp.read(header_end)  # pixel data are not read: pixels are not text
            self.bytes_(rel, header, where="header ", header=True)
            strings: list[tuple[str, str]] = []
            self._dicom_items(rel, getattr(ds, "file_meta", None), "file_meta", strings)
            self._dicom_items(rel, ds, "", strings)
            # one search over all of the file's strings
            for i, no in self.m.in_values([v for _, v in strings]):
                self.hit(rel, strings[i][0], no)

    def _dicom_items(self, rel: str, ds: Any, prefix: str, strings: list[tuple[str, str]]) -> None:
        if ds is None:
            return
        for elem in ds:
            name = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
            where = f"{prefix}.{name}" if prefix else name
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value or []):
                    self._dicom_items(rel, item, f"{where}[{i}]", strings)
                continue
            value = elem.value
            values = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" \
                else [value]
            for v in values:
                if v is None:
                    continue
                if elem.VR == "PN":
                    self._pn(rel, where, v, strings)
                elif isinstance(v, bytes):
                    if elem.tag == 0x7FE00010:
                        continue
                    for _, no, form in self.m.search(v, binary=len(v) > 65536):
                        self.hit(rel, f"{where} ({form})", no)
                else:
                    strings.append((where, str(v)))

    def _pn(self, rel: str, where: str, value: Any, strings: list[tuple[str, str]]) -> None:
        groups = str(value).split("=")
        labels = ("alphabetic", "ideographic", "phonetic")
        strings.append((where, str(value)))
        for gi, group in enumerate(groups[:3]):
            loc = f"{where} ({labels[gi]})"
            for variant in (group, group.replace("^", " "), group.replace("^", ""), *group.split("^")):
                strings.append((loc, variant))
        original = getattr(value, "original_string", None)
        if isinstance(original, bytes):
            for _, no, form in self.m.search(original):
                self.hit(rel, f"{where} (encoded, {form})", no)

    def zipped(self, rel: str, src: Src) -> None:
        with zipfile.ZipFile(_handle(src)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                member = f"{rel}/{info.filename}"
                parts = PurePosixPath(info.filename).parts
                for k in range(len(parts)):
                    self.name(f"{rel}/{'/'.join(parts[:k + 1])}", folder=k < len(parts) - 1)
                self.file(member, zf.read(info))


def read_identifiers(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, identifier)`` for each non-empty line of an identifiers file (UTF-8)."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return [(i, s.strip()) for i, s in enumerate(lines, start=1) if s.strip()]


def scan_bundle(
    root: Path,
    identifiers: Iterable[str] | Iterable[tuple[int, str]],
    *,
    exclude: Iterable[Path] = (),
) -> list[LeakHit]:
    """Search every file under ``root`` (names and contents) for every identifier.

    Parameters
    ----------
    root
        The output bundle (or any folder).
    identifiers
        The identifiers (numbered 1, 2, ... in the hits), or ``(number, identifier)`` pairs as
        returned by :func:`read_identifiers`. Identifiers shorter than 4 characters are skipped
        (they would hit ordinary numbers), except 2-3 character CJK names.

    exclude
        Files not to scan (the identifiers file itself, when it sits inside ``root``).

    Returns
    -------
    Sorted hits; empty when the bundle is clean. A file that could not be read by its format
    (corrupt Parquet, say) is searched as raw bytes and also reported, with identifier 0: it is
    not known to be clean.
    """
    # a set has no order: sort it so that identifier numbers are stable between runs
    items = sorted(identifiers, key=str) if isinstance(identifiers, set | frozenset) else list(identifiers)
    numbered = [x if isinstance(x, tuple) else (i, str(x)) for i, x in enumerate(items, start=1)]
    matcher = Matcher(numbered)
    scan = _Scan(Path(root), matcher)
    if not matcher:
        return []
    skip = {Path(p).resolve() for p in exclude}
    for path in sorted(Path(root).rglob("*")):
        if path.resolve() in skip:
            continue
        rel = path.relative_to(root).as_posix()
        scan.name(rel, folder=path.is_dir())  # every entry's name, links and dangling links included
        if path.is_file():
            scan.file(rel, path)
    return sorted(scan.hits)
