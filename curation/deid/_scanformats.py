"""The leak scan's readers: each output file searched by its format (Parquet, HDF5, DICOM, zip,
gzip, text and bytes in chunks, UTF-16 transcoded). See :mod:`curation.deid.scan`.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ._scanmatch import LOOK, LeakHit, Matcher

TEXT_SUFFIXES = {
    ".ipynb",
    ".html",
    ".htm",
    ".json",
    ".csv",
    ".tsv",
    ".txt",
    ".log",
    ".md",
    ".yaml",
    ".yml",
    ".xml",
    ".js",
    ".css",
    ".svg",
    ".vcf",
    ".maf",
    ".tex",
    ".rst",
    ".py",
    ".sha256",
    ".toml",
}
H5_SUFFIXES = {".h5ad", ".h5", ".hdf5", ".h5mu", ".loom"}
ZIP_SUFFIXES = {".zip", ".xlsx", ".docx", ".pptx", ".odt", ".ods", ".whl"}
H5_BULK = ("X", "layers", "raw", "obsm", "varm", "obsp", "varp")
H5_INT_LIMIT = 1_000_000
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
            tail = chunk[len(chunk) - min(overlap, len(chunk)) :] if overlap else b""


def _utf16_chunks(src: Src, encoding: str, overlap: int) -> Iterator[tuple[bytes, bool]]:
    """As :func:`_chunks`, for a UTF-16 file: its text transcoded to UTF-8."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    tail = b""
    with _binary(src) as fh:
        while True:
            block = fh.read(CHUNK)
            last = len(block) < CHUNK
            chunk = tail + decoder.decode(block, final=last).encode("utf-8", "surrogatepass")
            yield chunk, last
            if last:
                return
            tail = chunk[len(chunk) - min(overlap, len(chunk)) :] if overlap else b""


def utf16_encoding(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when bytes look like UTF-16 text (a BOM, or NUL bytes at
    every other position as ASCII text in UTF-16 has), else None."""
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return None  # UTF-32
    if head[:2] == b"\xff\xfe":
        return "utf-16-le"
    if head[:2] == b"\xfe\xff":
        return "utf-16-be"
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.4 * len(odd) and even.count(0) <= 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.4 * len(even) and odd.count(0) <= 0.05 * len(odd):
        return "utf-16-be"
    return None


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
        self.current = ""  # the on-disk entry being scanned (a zip's members report to the zip)
        self.flagged: dict[str, str] = {}  # on-disk entry with a hit -> its display path
        self.found: dict[str, set[int]] = {}  # on-disk entry with a hit -> identifier numbers
        # chunks overlap by a pattern plus the bytes looked at on either side of it
        self.overlap = self.m.max_len + 2 * LOOK

    def safe(self, name: str) -> str:
        return "<redacted>" if self.m.in_text(name) else name

    def safe_path(self, rel: str) -> str:
        if rel not in self._paths:
            self._paths[rel] = "/".join(self.safe(p) for p in PurePosixPath(rel).parts)
        return self._paths[rel]

    def hit(self, rel: str, location: str, no: int) -> None:
        self.hits.add(LeakHit(self.safe_path(rel), location, no))
        if self.current not in self.flagged:
            self.flagged[self.current] = self.safe_path(self.current)
        self.found.setdefault(self.current, set()).add(no)

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
            elif suffix == ".pdf" or head[:5] == b"%PDF-":
                self.pdf(rel, src)
            elif suffix in ZIP_SUFFIXES or head[:4] == b"PK\x03\x04":
                self.zipped(rel, src)
            elif suffix == ".gz":  # BGZF (.vcf.gz) is multi-member gzip: decompress reads it all
                self.file(rel, gzip.decompress(_read(src)), name=name[:-3])
            else:
                self.bytes_(rel, src, name=name)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is still scanned as bytes
            # fail closed: a file whose fields could not be read is not known to be clean
            self.hit(
                rel,
                f"unreadable as {suffix or 'its format'} ({type(exc).__name__}); only its raw bytes were searched",
                0,
            )
            with contextlib.suppress(OSError):  # not even readable as bytes: already reported above
                self.bytes_(rel, src, name=name)

    def bytes_(self, rel: str, src: Src, *, where: str = "", name: str | None = None, header: bool = False) -> None:
        """Raw bytes, in chunks that overlap by the longest pattern (files of any size); UTF-16
        text a second time, transcoded.

        ``header``: a DICOM header (a few KB of mostly text between binary lengths), searched
        with every pattern, short GB18030 names included; locations are byte offsets.
        """
        suffix = PurePosixPath(name or rel).suffix.lower()
        self._chunked(rel, _chunks(src, self.overlap), where=where, suffix=suffix, header=header)
        encoding = None if header else utf16_encoding(_head(src, 4096))
        if encoding:
            self._chunked(rel, _utf16_chunks(src, encoding, self.overlap), where=where, suffix=".txt", label=encoding)

    def _chunked(
        self,
        rel: str,
        chunks: Iterator[tuple[bytes, bool]],
        *,
        where: str,
        suffix: str,
        header: bool = False,
        label: str = "",
    ) -> None:
        seen: set[tuple[int, int]] = set()
        base = lines_before = 0
        for chunk, last in chunks:
            utf8 = _valid_utf8(chunk)
            texty = suffix in TEXT_SUFFIXES or utf8 or b"\x00" not in chunk[:8192]
            # a match is judged in the chunk that holds LOOK bytes on both of its sides
            lo, hi = (LOOK if base else 0), (len(chunk) if last else len(chunk) - LOOK)
            for off, no, form in self.m.search(chunk, binary=not (texty or header), utf8_only=utf8, lo=lo, hi=hi):
                if (base + off, no) in seen:
                    continue
                seen.add((base + off, no))
                line = lines_before + chunk.count(b"\n", 0, off) + 1
                loc = f"line {line}" if texty else f"byte {base + off}"
                self.hit(rel, f"{where}{loc} ({label or form})", no)
            if not last:
                keep = min(self.overlap, len(chunk))
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
            values = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
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

    def pdf(self, rel: str, src: Src) -> None:
        """A PDF's text page by page (its streams are compressed and its CJK glyphs encoded, so raw
        bytes prove nothing), then its raw bytes. Text that cannot be extracted raises: the caller
        reports the file as not known to be clean."""
        from pypdf import PdfReader

        reader = PdfReader(_binary(src) if isinstance(src, bytes) else str(src))
        meta = " ".join(str(v) for v in (reader.metadata or {}).values())
        for no in self.m.in_text(meta):
            self.hit(rel, "PDF metadata", no)
        pages = _pdftotext(src)
        if pages is None:  # no poppler here, or it refused the file: pypdf (pure Python, ~20x slower)
            pages = [page.extract_text() or "" for page in reader.pages]
        for i, text in enumerate(pages, start=1):
            for no in self.m.in_text(text):
                self.hit(rel, f"page {i} (text)", no)
        self.bytes_(rel, src)

    def zipped(self, rel: str, src: Src) -> None:
        with zipfile.ZipFile(_handle(src)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                member = f"{rel}/{info.filename}"
                parts = PurePosixPath(info.filename).parts
                for k in range(len(parts)):
                    self.name(f"{rel}/{'/'.join(parts[: k + 1])}", folder=k < len(parts) - 1)
                self.file(member, zf.read(info))


def _pdftotext(src: Src) -> list[str] | None:
    """A PDF's text per page by poppler's pdftotext (the collection report's 22 pages: 0.2 s against pypdf's
    5 s, most of an unchanged re-run's leak scan); None when pdftotext is missing or fails."""
    import shutil
    import subprocess

    exe = shutil.which("pdftotext")
    if exe is None:
        return None
    data = src if isinstance(src, bytes) else None
    arg = "-" if data is not None else str(src)
    try:
        done = subprocess.run(
            [exe, "-q", "-enc", "UTF-8", arg, "-"], input=data, capture_output=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    pages = done.stdout.decode("utf-8", "replace").split("\f")  # a form feed ends every page
    return pages[:-1] if len(pages) > 1 and not pages[-1].strip() else pages
