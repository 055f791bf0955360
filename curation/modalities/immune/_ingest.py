"""Reading 10x folders, 10x .h5 and .h5ad files; the sample sheet; raw-count detection.

Everything here still sees identifiers (hospital sample IDs, barcodes that embed them, admission
numbers); :mod:`curation.modalities.immune` replaces them with tokens in ``standardize``. Error
messages name the file by the ``where`` text the caller passes (a source key and a file token when
file names can carry sample IDs), never by an identifier value.
"""

from __future__ import annotations

import gzip
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...errors import SourceError

if TYPE_CHECKING:
    import anndata as ad

TISSUES = ("tumor", "adjacent_normal", "blood")
SHEET_REQUIRED = ("sample_id", "admission_number", "site", "tissue")
SHEET_OPTIONAL = ("timepoint", "path", "raw_path", "vdj", "collection_date", "library_date", "sorted_population")
BARCODE = re.compile(r"([ACGTN]{8,})(-\d+)?")  # a 10x barcode: sequence and suffix


CHECK_CHUNK = 1 << 20  # values per block of the counts check: a few MiB, in cache, whatever the matrix size


class NotRawCounts(SourceError):
    """No raw counts in a file (X, ``layers['counts']`` and ``.raw`` all fail); quarantine reason code."""

    reason = "not_raw_counts"


@dataclass(frozen=True)
class NonCount:
    """Where a matrix first holds something that is not a count (0-based indices; never the value)."""

    row: int
    col: int
    what: str  # "a negative value" or "a non-integer value"

    def describe(self) -> str:
        return f"{self.what} at row {self.row}, column {self.col} (cell and gene, 0-based)"


def _first_bad(values: np.ndarray, chunk: int) -> tuple[int, str] | None:
    """Offset of the first value of a 1-d array that is negative, fractional, NaN or infinite."""
    kind = values.dtype.kind
    if kind in "ub":
        return None
    buf = np.empty(min(chunk, values.size), np.float64 if values.dtype.itemsize > 4 else np.float32)
    for s in range(0, values.size, chunk):
        c = values[s : s + chunk]
        if kind == "i":
            if c.size and c.min() < 0:
                k = int(np.argmax(c < 0))
                return s + k, "a negative value"
            continue
        b = buf[: c.size]
        np.floor(c, out=b, casting="unsafe")
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, which is what flags it
            np.subtract(c, b, out=b, casting="unsafe")  # 0 for integers; a fraction, or NaN for NaN / inf
        if b.any() or (c.size and c.min() < 0):
            bad = (b != 0) | (c < 0)
            k = int(np.argmax(bad))
            return s + k, "a negative value" if c[k] < 0 else "a non-integer value"
    return None


def first_non_count(X: Any, *, chunk: int = CHECK_CHUNK) -> NonCount | None:
    """The first value of a matrix that is not a count (a non-negative integer), checked over the
    whole matrix block by block (not a sample), or None.

    ``X``: a dense array, a scipy sparse matrix or array (CSR, CSC, COO ...), an h5py dataset (dense,
    on disk) or a backed anndata sparse dataset (``ad.read_h5ad(path, backed="r").X``): on-disk
    matrices are read ``chunk`` values at a time, never whole.
    """
    if hasattr(X, "group") and hasattr(X, "format"):  # anndata backed CSR / CSC dataset
        return _first_non_count_group(X.group, X.format, chunk=chunk)
    if sp.issparse(X):
        fmt = X.format if X.format in ("csr", "csc", "coo") else "csr"
        M = X if fmt == X.format else X.tocsr()
        hit = _first_bad(np.asarray(M.data), chunk)
        if hit is None:
            return None
        p, what = hit
        if fmt == "coo":
            return NonCount(int(M.row[p]), int(M.col[p]), what)
        major = int(np.searchsorted(M.indptr, p, side="right") - 1)
        minor = int(M.indices[p])
        return NonCount(major, minor, what) if fmt == "csr" else NonCount(minor, major, what)
    if hasattr(X, "shape") and hasattr(X, "dtype") and not isinstance(X, np.ndarray):  # h5py dataset: by rows
        n_rows, n_cols = (X.shape[0], int(np.prod(X.shape[1:]))) if len(X.shape) > 1 else (1, X.shape[0])
        step = max(1, chunk // max(n_cols, 1))
        for r in range(0, n_rows, step):
            block = np.asarray(X[r : r + step]).reshape(-1)
            hit = _first_bad(block, chunk)
            if hit is not None:
                return NonCount(r + hit[0] // n_cols, hit[0] % n_cols, hit[1])
        return None
    A = np.asarray(X)
    hit = _first_bad(A.reshape(-1), chunk)
    if hit is None:
        return None
    if A.ndim < 2:
        return NonCount(0, hit[0], hit[1])
    n_cols = int(np.prod(A.shape[1:]))
    return NonCount(hit[0] // n_cols, hit[0] % n_cols, hit[1])


def _first_non_count_group(g: Any, fmt: str, *, chunk: int) -> NonCount | None:
    """A CSR / CSC matrix stored as an HDF5 group (data, indices, indptr): data read in blocks."""
    data = g["data"]
    for s in range(0, data.shape[0], chunk):
        hit = _first_bad(np.asarray(data[s : s + chunk]), chunk)
        if hit is not None:
            p = s + hit[0]
            major = int(np.searchsorted(np.asarray(g["indptr"]), p, side="right") - 1)
            minor = int(g["indices"][p])
            return NonCount(major, minor, hit[1]) if fmt == "csr" else NonCount(minor, major, hit[1])
    return None


def first_non_count_h5ad(path: str | Path, *, key: str = "X", chunk: int = CHECK_CHUNK) -> NonCount | None:
    """:func:`first_non_count` of a matrix inside an .h5ad on disk (``X``, ``layers/counts``,
    ``raw/X``), read block by block: memory stays one block whatever the file size."""
    import h5py

    with h5py.File(path, "r") as f:
        node = f[key]
        if isinstance(node, h5py.Group):
            enc = str(node.attrs.get("encoding-type", "csr_matrix"))
            return _first_non_count_group(node, "csc" if enc.startswith("csc") else "csr", chunk=chunk)
        return first_non_count(node, chunk=chunk)


def is_counts(X: Any) -> bool:
    """Whether a matrix holds raw counts: non-negative integers, every value checked (in blocks)."""
    return first_non_count(X) is None


def ensure_counts(adata: ad.AnnData, *, where: str) -> tuple[ad.AnnData, str]:
    """Return an AnnData whose X holds raw counts, and where they came from.

    ``X`` is used when it holds counts; otherwise ``layers['counts']``, then ``.raw`` (when its
    genes are the same). The second value is ``"X"``, ``"layers['counts']"`` or ``"raw.X"``. Every
    value of a candidate is checked (block by block), not a sample.

    Raises
    ------
    NotRawCounts
        When no raw counts are found (e.g. scanpy's ``pbmc68k_reduced``: X scaled, raw
        log-normalized); the message says where the first value that is not a count sits.
    """
    import anndata as ad

    bad = first_non_count(adata.X)
    if bad is None:
        return adata, "X"
    found = [f"X holds {bad.describe()}"]
    if "counts" in adata.layers:
        bad_layer = first_non_count(adata.layers["counts"])
        if bad_layer is None:
            out = ad.AnnData(X=adata.layers["counts"], obs=adata.obs.copy(), var=adata.var.copy())
            return out, "layers['counts']"
        found.append(f"layers['counts'] holds {bad_layer.describe()}")
    if adata.raw is not None:
        bad_raw = first_non_count(adata.raw.X)
        if bad_raw is None:
            out = ad.AnnData(X=adata.raw.X, obs=adata.obs.copy(), var=adata.raw.var.copy())
            return out, "raw.X"
        found.append(f"raw.X holds {bad_raw.describe()}")
    others = "" if len(found) > 1 else ", and neither layers['counts'] nor .raw is present"
    msg = (
        f"{where}: not raw counts: {'; '.join(found)}{others} (log-normalized or scaled?); export the "
        "unnormalized UMI counts (Cell Ranger's filtered_feature_bc_matrix, or an .h5ad with counts in X or "
        "layers['counts'])"
    )
    raise NotRawCounts(msg)


def _mtx_dir(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _read_mtx_manually(d: Path) -> ad.AnnData:
    """10x folders scanpy's reader refuses (uncompressed v3 files; ``int-ids`` layout)."""
    import anndata as ad
    import scipy.io

    def pick(*names: str) -> Path:
        for n in names:
            for cand in (d / n, d / f"{n}.gz"):
                if cand.is_file():
                    return cand
        raise SourceError(
            f"{d.name}: no {' or '.join(names)} in this 10x folder; give the Cell Ranger "
            "filtered_feature_bc_matrix folder"
        )

    def opener(p: Path) -> Any:
        return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")

    with opener(pick("matrix.mtx")) as fh:
        X = sp.csr_matrix(scipy.io.mmread(fh).T.astype(np.float32))
    feat = pd.read_csv(pick("features.tsv", "genes.tsv"), sep="\t", header=None, dtype=str)
    try:
        bcs = pd.read_csv(pick("barcodes.tsv"), sep="\t", header=None, dtype=str)[0]
    except pd.errors.EmptyDataError:  # no barcode at all: an empty sample, reported as such by the caller
        bcs = pd.Series([], dtype=str)
    var = pd.DataFrame(
        {"gene_ids": feat[0].to_numpy()}, index=pd.Index(feat[1 if feat.shape[1] > 1 else 0].to_numpy(), name=None)
    )
    if feat.shape[1] > 2:
        var["feature_types"] = feat[2].to_numpy()
    a = ad.AnnData(X=X, obs=pd.DataFrame(index=pd.Index(bcs.to_numpy())), var=var)
    a.var_names_make_unique()
    return a


def empty_source(path: Path) -> str:
    """Why a matrix source holds no cell before reading it ("0-byte file", "empty folder"), or ""."""
    if path.is_dir():
        return "" if any(p.is_file() for p in path.rglob("*")) else "empty folder"
    return "0-byte file" if path.is_file() and path.stat().st_size == 0 else ""


def read_matrix(path: Path, fmt: str, *, where: str, genome: str | None = None) -> ad.AnnData:
    """Read one sample's matrix: a 10x folder (``10x``), a 10x HDF5 (``10x_h5``) or ``h5ad``.

    Gene symbols become ``var_names`` (made unique), Ensembl ids stay in ``var['gene_ids']``,
    antibody features stay (with ``var['feature_types']``) for :func:`split_features`.
    """
    import anndata as ad
    import scanpy as sc

    try:
        with warnings.catch_warnings():
            # scanpy/anndata warn about duplicate symbols (made unique right after), old h5 / h5ad
            # layouts (OldFormatWarning) and deprecations: none changes what is read
            warnings.simplefilter("ignore")
            if fmt == "10x":
                d = _mtx_dir(path)
                try:
                    a = sc.read_10x_mtx(d, var_names="gene_symbols", make_unique=True, gex_only=False)
                except (FileNotFoundError, OSError, ValueError, KeyError):
                    a = _read_mtx_manually(d)
            elif fmt == "10x_h5":
                a = sc.read_10x_h5(path, genome=genome, gex_only=False)
            elif fmt == "h5ad":
                a = ad.read_h5ad(path)
            else:
                raise SourceError(f"{where}: format {fmt!r} is not one of 10x, 10x_h5, h5ad")
            a.var_names_make_unique()
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is an unreadable file, not a crash
        msg = f"{where}: cannot be read as {fmt} ({type(exc).__name__}); check the file is a complete {fmt} export"
        raise SourceError(msg) from None
    if "gene_ids" not in a.var:
        a.var["gene_ids"] = a.var_names.astype(str)
    a.var["feature_name"] = a.var_names.astype(str)
    if not sp.issparse(a.X):
        a.X = sp.csr_matrix(np.asarray(a.X))
    elif a.X.format != "csr":
        a.X = a.X.tocsr()
    return a


def split_features(adata: ad.AnnData) -> tuple[ad.AnnData, ad.AnnData | None]:
    """Gene expression and CITE-seq antibody capture ("Antibody Capture") as separate AnnData."""
    if "feature_types" not in adata.var:
        return adata, None
    ft = adata.var["feature_types"].astype(str)
    prot = (ft == "Antibody Capture").to_numpy()
    gex = (ft == "Gene Expression").to_numpy() | ~(prot | ft.str.contains("CRISPR|Custom|Peaks", regex=True).to_numpy())
    rna = adata[:, gex].copy()
    return rna, (adata[:, prot].copy() if prot.any() else None)


def clean_barcode(barcode: str, i: int) -> str:
    """The 10x nucleotide barcode (with its ``-1`` suffix) without any sample ID around it.

    Exports often prefix barcodes with the hospital sample ID ("S23-0042_AAAC...-1"); only the
    sequence survives. A barcode without a sequence becomes its position (``cell<i>``).
    """
    m = BARCODE.search(str(barcode))
    if not m:
        return f"cell{i}"
    return m.group(1) + (m.group(2) or "")


def read_sample_sheet(path: Path, *, where: str) -> pd.DataFrame:
    """The sample sheet: ``sample_id, admission_number, site, tissue[, timepoint, path, raw_path, vdj]``.

    Raises
    ------
    SourceReadError
        The sheet cannot be read (``unreadable_file``) or lacks a required column (``missing_columns``).
    """
    from ...io.readers import SourceReadError

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"{where}: sample sheet cannot be read ({type(exc).__name__}); save it as UTF-8 CSV"
        raise SourceReadError(msg, reason="unreadable_file") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in SHEET_REQUIRED if c not in df.columns]
    if missing:
        msg = (
            f"{where}: sample sheet lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(SHEET_REQUIRED)} (optional: {', '.join(SHEET_OPTIONAL)})"
        )
        raise SourceReadError(msg, reason="missing_columns")
    for c in SHEET_OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    df = df.apply(lambda s: s.str.strip())
    df["tissue"] = (
        df["tissue"]
        .str.lower()
        .str.replace(" ", "_")
        .replace({"normal": "adjacent_normal", "pbmc": "blood", "nat": "adjacent_normal"})
    )
    df["sheet_row"] = np.arange(2, len(df) + 2)  # the CSV line, for messages
    return df


def match_sample(sheet: pd.DataFrame, file: Path, *, sheet_dir: Path) -> pd.Series | None:
    """The sheet row of a file: by the ``path`` column when given, else by a sample ID that is a
    component (or the stem) of the file's path; the longest such ID wins."""
    f = file.resolve()
    with_path = sheet[sheet["path"] != ""]
    for _, row in with_path.iterrows():
        p = (sheet_dir / row["path"]).resolve()
        if p == f or p in f.parents or (p.is_file() and p.parent == f):
            return row
    parts = {p.upper() for p in file.parts} | {file.stem.upper(), file.name.split(".")[0].upper()}
    hits = [row for _, row in sheet.iterrows() if row["sample_id"].upper() in parts]
    if not hits:
        hits = [
            row for _, row in sheet.iterrows() if row["sample_id"] and row["sample_id"].upper() in str(file).upper()
        ]
    return max(hits, key=lambda r: len(r["sample_id"])) if hits else None
