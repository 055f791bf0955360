"""Reading every 10x layout, raw-count detection, CITE-seq split, barcodes, sample sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from curation.errors import SourceError
from curation.modalities.immune._ingest import (
    NonCount,
    NotRawCounts,
    clean_barcode,
    ensure_counts,
    first_non_count,
    first_non_count_h5ad,
    is_counts,
    match_sample,
    read_matrix,
    read_sample_sheet,
    split_features,
)
from curation.modalities.immune._qc import QCParams, qc_metrics, qc_sample


def test_pbmc68k_reduced_is_not_counts_and_the_error_says_what_to_do() -> None:
    import scanpy as sc

    a = sc.datasets.pbmc68k_reduced()  # X scaled, .raw log-normalized: no counts anywhere
    with pytest.raises(
        SourceError,
        match=r"pbmc68k: not raw counts: X holds a negative value at row 0, column 0 "
        r"\(cell and gene, 0-based\); raw.X holds a non-integer value at row 0, "
        r"column \d+ .* export the unnormalized UMI counts",
    ) as exc:
        ensure_counts(a, where="pbmc68k")
    assert getattr(exc.value, "reason", "") == "not_raw_counts"


def _late_fraction(bad: float = 0.5) -> tuple[sp.csr_matrix, int, int]:
    """2,000 cells x 400 genes, 150 counts per cell (300,000 values): one ``bad`` value after the first
    200,000 (the size of the sample the old check looked at). Returns the matrix and where it is."""
    rng = np.random.default_rng(3)
    n, per = 2_000, 150
    idx = np.sort(rng.permuted(np.tile(np.arange(400, dtype=np.int32), (n, 1)), axis=1)[:, :per], axis=1)
    data = rng.integers(1, 30, size=n * per).astype(np.float32)
    X = sp.csr_matrix((data, idx.ravel(), np.arange(0, n * per + 1, per)), shape=(n, 400))
    p = 250_123
    X.data[p] = bad
    return X, p // per, int(X.indices[p])


@pytest.mark.parametrize("layout", ["csr", "csc", "coo", "csr_array", "dense", "dense_f"])
@pytest.mark.parametrize(
    ("bad", "what"),
    [
        (0.5, "a non-integer value"),
        (-3.0, "a negative value"),
        (np.nan, "a non-integer value"),
        (np.inf, "a non-integer value"),
    ],
)
def test_every_value_is_checked_not_a_sample(layout: str, bad: float, what: str) -> None:
    X, row, col = _late_fraction(bad)
    M = {
        "csr": X,
        "csc": X.tocsc(),
        "coo": X.tocoo(),
        "csr_array": sp.csr_array(X),
        "dense": X.toarray(),
        "dense_f": np.asfortranarray(X.toarray()),
    }[layout]
    assert first_non_count(M, chunk=4096) == NonCount(row, col, what)
    assert not is_counts(M)
    clean = X.copy()
    clean.data[np.flatnonzero(~np.isfinite(clean.data) | (clean.data != np.floor(clean.data)) | (clean.data < 0))] = 1
    assert is_counts(clean) and is_counts(clean.toarray().astype(np.int64))


def test_a_late_non_integer_quarantines_the_file_naming_row_and_column() -> None:
    import anndata as ad

    X, row, col = _late_fraction()
    with pytest.raises(
        NotRawCounts,
        match=rf"^immune\[0\] file FI1: not raw counts: X holds a non-integer value at "
        rf"row {row}, column {col} \(cell and gene, 0-based\), and neither "
        r"layers\['counts'\] nor .raw is present \(log-normalized or scaled\?\); "
        r"export the unnormalized UMI counts",
    ) as exc:
        ensure_counts(ad.AnnData(X=X), where="immune[0] file FI1")
    assert exc.value.reason == "not_raw_counts" and "0.5" not in str(exc.value)


@pytest.mark.parametrize("dense", [False, True])
def test_an_h5ad_on_disk_is_checked_block_by_block(tmp_path: Path, dense: bool) -> None:
    import anndata as ad

    X, row, col = _late_fraction()
    good = X.copy()
    good.data[good.data == 0.5] = 2
    a = ad.AnnData(X=X.toarray() if dense else X, layers={"counts": good.toarray() if dense else good})
    p = tmp_path / "late.h5ad"
    a.write_h5ad(p)
    assert first_non_count_h5ad(p, chunk=4096) == NonCount(row, col, "a non-integer value")
    assert first_non_count_h5ad(p, key="layers/counts", chunk=4096) is None
    backed = ad.read_h5ad(p, backed="r")
    try:
        assert first_non_count(backed.X, chunk=4096) == NonCount(row, col, "a non-integer value")
    finally:
        backed.file.close()


def test_counts_taken_from_layers_or_raw_and_said_which() -> None:
    import anndata as ad

    counts = sp.csr_matrix(np.array([[1, 0, 3], [0, 2, 5]], dtype=np.float32))
    logn = counts.copy()
    logn.data = np.log1p(logn.data)
    a = ad.AnnData(X=logn, layers={"counts": counts})
    out, where = ensure_counts(a, where="x")
    assert where == "layers['counts']" and is_counts(out.X)
    b = ad.AnnData(X=logn)
    b.raw = ad.AnnData(X=counts)
    out, where = ensure_counts(b, where="x")
    assert where == "raw.X"
    c = ad.AnnData(X=counts)
    assert ensure_counts(c, where="x")[1] == "X"


def test_clean_barcode_drops_embedded_sample_ids() -> None:
    assert clean_barcode("SA23T0042_AAACCTGAGAGTGAGA-1", 0) == "AAACCTGAGAGTGAGA-1"
    assert clean_barcode("AAACCTGAGAGTGAGA", 0) == "AAACCTGAGAGTGAGA"
    assert clean_barcode("patient-7-cell", 3) == "cell3"


def test_sample_sheet_requires_columns(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("sample_id,site\nX1,A\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"lacks column.*admission_number.*tissue"):
        read_sample_sheet(p, where="immune[0] options.samples")


def test_match_sample_by_path_component_or_path_column(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("sample_id,admission_number,site,tissue,path\nS1,1,A,tumor,\nS12,2,A,Tumor,\nS3,3,B,blood,x/lib3.h5\n")
    sheet = read_sample_sheet(p, where="w")
    assert sheet["tissue"].tolist() == ["tumor", "tumor", "blood"]
    f = tmp_path / "S12" / "filtered_feature_bc_matrix"
    assert match_sample(sheet, f, sheet_dir=tmp_path)["sample_id"] == "S12"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "lib3.h5").write_bytes(b"")
    assert match_sample(sheet, tmp_path / "x" / "lib3.h5", sheet_dir=tmp_path)["sample_id"] == "S3"
    assert match_sample(sheet, tmp_path / "other" / "m.h5", sheet_dir=tmp_path) is None


def test_unreadable_file_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(SourceError, match=r"immune\[0\] file FI123: cannot be read as 10x_h5"):
        read_matrix(bad, "10x_h5", where="immune[0] file FI123")


# ---------------------------------------------------------------- real public data (shared folder)

LOW_DEPTH = QCParams(min_counts=1, min_genes=1, doublets=False)  # chr21 / 240-gene subsets: tiny totals


@pytest.mark.parametrize(
    ("rel", "fmt", "shape", "kept"),
    [
        ("scanpy-tests/10x_data/3.0.0/filtered_feature_bc_matrix", "10x", (1107, 507), 1105),
        ("scanpy-tests/10x_data/3.0.0/filtered_feature_bc_matrix.h5", "10x_h5", (1107, 507), 1105),
        ("scanpy-tests/10x_data/1.2.0/filtered_gene_bc_matrices/hg19_chr21", "10x", (12, 343), 12),
        ("scanpy-tests/10x_data/1.2.0/filtered_gene_bc_matrices_h5.h5", "10x_h5", (12, 343), 12),
        ("scanpy-tests/10x_data/int-ids", "10x", (5, 6), 1),  # 3 non-zero values: 4 barcodes are empty
        ("soupx-toydata/toyData/filtered_gene_bc_matrices/GRCh38", "10x", (62, 226), 62),
        ("seurat-testdata/cr2_pbmc_small", "10x", (80, 240), 80),
        ("scirpy-tests/wu2020_200_v0_6.h5ad", "h5ad", (200, 3000), 196),
    ],
)
def test_real_10x_files_load_and_pass_qc(
    real_data: Path, rel: str, fmt: str, shape: tuple[int, int], kept: int
) -> None:
    a = read_matrix(real_data / rel, fmt, where=rel)
    a, where = ensure_counts(a, where=rel)
    assert where == "X"
    assert a.shape == shape
    assert a.var["gene_ids"].notna().all() and a.var_names.is_unique
    m = qc_metrics(a.X, a.var["feature_name"])
    _, info = qc_sample(m, LOW_DEPTH)
    assert info["n_cells"] == a.n_obs == info["n_kept"] + sum(info["removed"].values())
    assert info["n_kept"] == kept
    assert (m["total_counts"] == np.ravel(a.X.sum(axis=1))).all()


def test_real_cite_seq_features_split_off(real_data: Path) -> None:
    a = read_matrix(real_data / "seurat-testdata/cr3.0", "10x", where="cr3.0")
    rna, prot = split_features(a)
    assert rna.shape == (5, 3)
    assert prot is not None and list(prot.var_names) == ["CD3", "CD19"]


def test_real_raw_matrix_knee_separates_cells(real_data: Path) -> None:
    from curation.modalities.immune._qc import ambient_profile, barcode_rank

    raw = read_matrix(real_data / "soupx-toydata/toyData/raw_gene_bc_matrices/GRCh38", "10x", where="raw")
    filt = read_matrix(real_data / "soupx-toydata/toyData/filtered_gene_bc_matrices/GRCh38", "10x", where="f")
    assert raw.shape == (1289, 226)
    tot = pd.Series(np.ravel(raw.X.sum(axis=1)), index=raw.obs_names)
    br = barcode_rank(tot.to_numpy(), lower=10)
    assert np.isfinite(br["inflection"])
    amb = ambient_profile(raw.X, raw.var_names)
    assert amb["n_empty_droplets"] > 1000 and 0 < amb["empty_droplet_count_share"] < 1
    # the filtered cells sit at the top of the barcode ranks
    assert tot.reindex(filt.obs_names).median() > tot.median()
