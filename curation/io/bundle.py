"""The output bundle: atomic writes, Parquet tables, datapackage.json and a SHA-256 manifest.

Layout::

    OUT/data/<modality>/...        standard tables (Parquet), h5ad, de-identified DICOM
    OUT/quality/checks.parquet     every check result of the run
    OUT/quality/quarantine/<modality>.parquet
    OUT/reports/                   executed notebooks, HTML, index.html
    OUT/datapackage.json  OUT/manifest-sha256.txt  OUT/run.json
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "Bundle",
    "atomic_path",
    "open_text",
    "sha256_file",
    "write_bytes",
    "write_json",
    "write_parquet",
    "write_text",
    "write_with",
]

MANIFEST = "manifest-sha256.txt"
DATAPACKAGE = "datapackage.json"
# the audit trail (curation.security.audit): append-only and hash-chained, so not in the manifest
AUDIT = "audit.jsonl"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    A killed run leaves at most a ``.tmp`` file, never a half-written output.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_with(path: Path, writer: Callable[[Path], None]) -> Path:
    """Atomically write through a library writer that takes a path (``adata.write_h5ad`` ...)."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return path


def write_parquet(path: Path, df: pd.DataFrame, *, schema: pa.Schema | None = None) -> Path:
    """Write ``df`` as zstd-compressed Parquet (optionally with ``schema``) to ``path`` atomically."""
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    if schema is None and pa.large_string() in table.schema.types:
        # text goes out as Arrow string whether pandas held it as Python or Arrow (large_string)
        # strings: the same file, pandas metadata included, for the same values
        fields = [pa.field(f.name, pa.string()) if f.type == pa.large_string() else f for f in table.schema]
        table = pa.Table.from_pandas(df, schema=pa.schema(fields), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class Bundle:
    """The output folder of one run. Paths given to its methods are relative to the root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, rel: str | Path) -> Path:
        """The absolute path of ``rel`` inside the bundle; raises ValueError if it escapes the bundle."""
        p = (self.root / rel).resolve()
        if self.root.resolve() not in p.parents and p != self.root.resolve():
            msg = f"{rel}: output path escapes the bundle {self.root}"
            raise ValueError(msg)
        return p

    def write_parquet(self, rel: str, df: pd.DataFrame, *, schema: pa.Schema | None = None) -> Path:
        """Write ``df`` as Parquet at ``rel`` in the bundle."""
        return write_parquet(self.path(rel), df, schema=schema)

    def write_json(self, rel: str, obj: Any) -> Path:
        """Write ``obj`` as JSON at ``rel`` in the bundle."""
        return write_json(self.path(rel), obj)

    def write_text(self, rel: str, text: str) -> Path:
        """Write ``text`` at ``rel`` in the bundle."""
        return write_text(self.path(rel), text)

    def write_bytes(self, rel: str, data: bytes) -> Path:
        """Write ``data`` at ``rel`` in the bundle."""
        return write_bytes(self.path(rel), data)

    def write_with(self, rel: str, writer: Callable[[Path], None]) -> Path:
        """Write the file at ``rel`` in the bundle with ``writer`` (given a temporary path), atomically."""
        return write_with(self.path(rel), writer)

    def files(self) -> list[Path]:
        """Every output file except the manifest itself, the audit trail (it grows after the manifest is
        written; ``curation verify`` checks its hash chain) and leftover temporaries."""
        out = []
        unlisted = {self.root / MANIFEST, self.root / AUDIT}
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and p not in unlisted and not p.name.endswith(".tmp"):
                out.append(p)
        return out

    def write_manifest(self) -> Path:
        """Write manifest-sha256.txt: the SHA-256 of every file of the bundle."""
        lines = [f"{sha256_file(p)}  {p.relative_to(self.root).as_posix()}" for p in self.files()]
        return write_text(self.root / MANIFEST, "\n".join(lines) + "\n")

    def verify_manifest(self) -> list[str]:
        """Files whose checksum no longer matches (or that vanished)."""
        bad = []
        for line in (self.root / MANIFEST).read_text(encoding="utf-8").splitlines():
            digest, rel = line.split("  ", 1)
            p = self.root / rel
            if not p.is_file() or sha256_file(p) != digest:
                bad.append(rel)
        return bad

    def write_datapackage(self, *, name: str, describe: Callable[[str], str] | None = None) -> Path:
        """A Frictionless Data Package over every Parquet table of the bundle, and every other file of its
        interoperability exports (``exports/``: FHIR NDJSON, OMOP CSV, cBioPortal text, h5ad) by format."""
        resources: list[dict[str, Any]] = []
        for p in self.files():
            rel = p.relative_to(self.root).as_posix()
            if p.suffix != ".parquet":
                if rel.startswith("exports/") and p.suffix in _EXPORT_FORMATS:
                    fmt, mediatype = _EXPORT_FORMATS[p.suffix]
                    resources.append(
                        {"name": rel.replace("/", "-").lower(), "path": rel, "format": fmt, "mediatype": mediatype}
                    )
                continue
            schema = pq.read_schema(p)
            resources.append(
                {
                    "name": rel.removesuffix(".parquet").replace("/", "-").lower(),
                    "path": rel,
                    "format": "parquet",
                    "mediatype": "application/vnd.apache.parquet",
                    "schema": {"fields": [_field(f, describe) for f in schema]},
                }
            )
        pkg = {"name": _slug(name), "profile": "data-package", "resources": resources}
        return write_json(self.root / DATAPACKAGE, pkg)


# files of exports/ other than Parquet: suffix -> (format, media type)
_EXPORT_FORMATS = {
    ".ndjson": ("ndjson", "application/fhir+ndjson"),
    ".json": ("json", "application/fhir+json"),
    ".csv": ("csv", "text/csv"),
    ".txt": ("tsv", "text/tab-separated-values"),
    ".h5ad": ("h5ad", "application/x-hdf5"),
}


def _field(f: pa.Field, describe: Callable[[str], str] | None) -> dict[str, str]:
    out = {"name": f.name, "type": _frictionless_type(f.type)}
    text = describe(f.name) if describe else ""
    if text:
        out["description"] = text
    return out


def _frictionless_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_struct(t):
        return "array" if pa.types.is_list(t) else "object"
    return "any"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "cohort"


def open_text(path: Path) -> IO[str]:
    """Open a text file for reading as UTF-8."""
    return open(path, encoding="utf-8")
