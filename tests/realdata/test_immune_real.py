"""Immune ingest on the public single-cell corpora (issue 13): what broke or misled a new user.

- V(D)J contigs whose barcodes match no cell of their sample (10x's pbmc3 T-cell contigs beside
  Seurat's pbmc_small) crashed the run in scirpy; now the chains of the samples that matched are
  checked and the sample that matched nothing fails a check naming it and its source.
- scanpy's pbmc68k_reduced (scaled values, refused as not raw counts) curated zero cells and passed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import curation as cu

from .conftest import need, write_cohort

pytest.importorskip("scirpy")

PBMC3 = ("scirpy-tests", "10x", "vdj_nextgem_hs_pbmc3_t_filtered_contig_annotations.csv.gz")
LIAO = ("scirpy-tests", "liao-2019-covid19", "GSM4385993_C144_filtered_contig_annotations.csv.gz")


def _rna_for(contigs: Path, folder: Path) -> None:
    """Synthetic RNA (the demo's generator) for the barcodes of a real contig file."""
    from curation.demo import immune as D

    bcs = sorted(pd.read_csv(contigs, usecols=["barcode"])["barcode"].unique())
    rng = np.random.default_rng(0)
    t = D._markers()
    genes = D._genes(t)
    X = D._simulate(
        "blood", len(bcs), "M", genes, D._profiles(genes, t, rng), t, rng, empty_frac=0, dying_frac=0, doublet_frac=0
    )
    D._write_mtx(folder, X, genes, bcs)


@pytest.fixture(scope="module")
def vdj_run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    """Two samples: pbmc_small with contigs of another library (no barcode matches), and RNA made for
    the barcodes of Liao et al.'s contigs (every barcode matches)."""
    small, pbmc3, liao = need("seurat-testdata", "cr2_pbmc_small"), need(*PBMC3), need(*LIAO)
    root = tmp_path_factory.mktemp("vdj")
    _rna_for(liao, root / "S2")
    (root / "samples.csv").write_text(
        "sample_id,admission_number,site,tissue,timepoint,path,vdj\n"
        f"S1,0001,A,blood,baseline,{small},{pbmc3}\n"
        f"S2,0002,A,blood,baseline,{root / 'S2'},{liao}\n"
    )
    opts = {"samples": "samples.csv", "processing": {"umap": False}}
    cohort = write_cohort(
        root,
        {
            "immune": [
                {"path": str(small), "format": "10x", "options": opts},
                {"path": "S2", "format": "10x", "options": opts},
            ]
        },
    )
    return cu.curate("immune", cohort, write=False)


def test_unmatched_contigs_do_not_crash_and_the_matched_chains_are_checked(vdj_run: cu.modalities.Curated) -> None:
    c = vdj_run.checks.set_index("check_id")
    assert (c["verdict"] != "error").all()
    # the chain check runs on the 136 cells of the sample whose contigs matched
    assert c.loc["immune.consistency.vdj_chain_pairing", "n_checked"] == 136
    a = vdj_run.data.objects["adata"]
    assert (a.obs["chain_pairing"].astype(str) != "no_ir").sum() == 136
    assert vdj_run.data.objects["airr"].n_obs == 136


def test_the_sample_matching_no_barcode_fails_naming_sample_and_source(vdj_run: cu.modalities.Curated) -> None:
    c = vdj_run.checks.set_index("check_id")
    assert c.loc["immune.completeness.vdj_matched", ["verdict", "n_checked", "n_failed"]].tolist() == ["fail", 2, 1]
    q = vdj_run.data.tables["qc"].set_index("source")
    token = q.loc["immune[0]", "sample"]
    [f] = vdj_run.failures.query("check_id == 'immune.completeness.vdj_matched'").itertuples()
    assert f.field == f"vdj (sample {token})"
    assert "none of the 1556 V(D)J barcodes" in f.rule and "source immune[0]" in f.rule and token in f.rule
    assert (q.loc["immune[1]", "vdj_cells"], q.loc["immune[1]", "vdj_matched"]) == (136, 136)


def test_barcodes_match_across_a_prefix_or_a_missing_suffix() -> None:
    from curation.modalities.immune._standardize import match_barcodes

    cells = pd.Index(["S23-0042_AAACCTGAGAAGGCCT-1", "AAACCTGAGACAGACC-1", "AAACCTGAGCGATAGC-1"])
    names = pd.Index(["T-a", "T-b", "T-c"])
    got = match_barcodes(pd.Index(["AAACCTGAGAAGGCCT-1", "AAACCTGAGACAGACC", "GGGGGGGGGGGGGGGG-1"]), cells, names)
    assert got.tolist() == ["T-a", "T-b", None]


def test_a_source_of_refused_files_fails_instead_of_passing(tmp_path: Path) -> None:
    """scanpy's pbmc68k_reduced holds scaled values: refused as not raw counts, zero cells curated."""
    import scanpy

    h5ad = Path(scanpy.__file__).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"
    if not h5ad.is_file():
        pytest.skip(f"scanpy's pbmc68k_reduced not shipped with this scanpy: {h5ad}")
    run = cu.curate("immune", write_cohort(tmp_path, {"immune": [{"path": str(h5ad), "format": "h5ad"}]}), write=False)
    c = run.checks.set_index("check_id")
    assert c.loc["immune.completeness.any_accepted", "verdict"] == "fail"
    [f] = run.failures.query("check_id == 'immune.completeness.any_accepted'").itertuples()
    assert (f.field, f.rule) == ("immune[0]", "1 in at load, 0 accepted (not_raw_counts=1)")


def _wu_cohort(root: Path, *, sheet_extra: str = "", **qc: object) -> Path:
    """Wu et al. 2020 (scirpy's test h5ad, TCR chains in scirpy 0.6's obs columns): the 13 lung samples."""
    h5ad = need("scirpy-tests", "wu2020_200_v0_6.h5ad")
    tissue = {"T": "tumor", "N": "adjacent_normal", "B": "blood"}
    rows = [f"L{t}{i},{9000 + i},A,{tissue[t]}" for t in "TN" for i in range(1, 7)] + ["LB6,9006,A,blood"]
    head = "sample_id,admission_number,site,tissue" + (",sorted_population" if sheet_extra else "")
    (root / "samples.csv").write_text(head + "\n" + "\n".join(r + sheet_extra for r in rows) + "\n")
    opts = {
        "samples": "samples.csv",
        "sample_key": "sample",
        "processing": {"umap": False},
        "qc": {"min_counts": 1, "min_genes": 1, **qc},
    }
    return write_cohort(root, {"immune": [{"path": str(h5ad), "format": "h5ad", "options": opts}]})


@pytest.fixture(scope="module")
def wu_run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    root = tmp_path_factory.mktemp("wu")
    return cu.curate("immune", _wu_cohort(root, sheet_extra=",CD3+"), out=root / "out")


def test_tcr_chains_inside_the_h5ad_are_kept(wu_run: cu.modalities.Curated) -> None:
    """scirpy < 0.7's IR_* columns (which scirpy today refuses to upgrade) become AIRR chains."""
    import mudata as md

    a = wu_run.data.objects["adata"]
    pairing = a.obs["chain_pairing"].astype(str)
    assert (pairing != "no_ir").sum() == 112  # every lung cell carries a chain in the file
    assert pairing.value_counts()["single pair"] == 64
    c = wu_run.checks.set_index("check_id")
    assert c.loc["immune.consistency.vdj_chain_pairing", ["n_checked", "n_failed"]].tolist() == [112, 7]
    assert c.loc["immune.completeness.vdj_matched", ["verdict", "n_checked"]].tolist() == ["pass", 13]
    assert (wu_run.data.tables["qc"]["vdj_from"] == "h5ad").all()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata: awkward arrays are experimental
        mdata = md.read_h5mu(wu_run.ctx.bundle.path("data/immune/immune.h5mu"))
    assert mdata["airr"].n_obs == 112
    assert not any(s in n for n in mdata["airr"].obs_names for s in ("LN", "LT", "LB"))


def test_chains_that_cannot_be_read_are_reported_not_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scirpy

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("junction_aa")

    monkeypatch.setattr(scirpy.io, "read_airr", boom)
    run = cu.curate("immune", _wu_cohort(tmp_path), write=False)
    q = run.quarantine
    [row] = q[q["reason"] == "unreadable_vdj"].itertuples()
    assert row.source == "immune[0]" and "obs IR_*" in row.detail and "KeyError" in row.detail
    assert run.data.objects["adata"].n_obs == 112  # the cells are kept
    assert "chain_pairing" not in run.data.objects["adata"].obs


def test_cells_typed_outside_the_sorted_population_fail(wu_run: cu.modalities.Curated) -> None:
    """Wu et al. sorted T cells (CD3+): marker typing calls some of them pDC, plasma, endothelial, NK."""
    c = wu_run.checks.set_index("check_id").loc["immune.accuracy.sorted_population"]
    assert (c["verdict"], c["n_checked"], c["n_failed"]) == ("fail", 13, 10)
    assert "35 of 104 passing cells of sorted samples typed outside it" in c["message"]
    f = wu_run.failures.query("check_id == 'immune.accuracy.sorted_population'")
    assert f["rule"].str.contains(r"typed outside the sorted population CD3\+ \(> 10%\)").all()
    assert f["field"].str.match(r"cell_type \(sample SA[A-Z0-9]+\)").all()


def test_sorted_population_threshold_and_unknown_markers(tmp_path: Path) -> None:
    from curation.modalities.immune._typing import population_types

    assert population_types("CD3+ CD8+")[0] == {"CD8 T cell"}
    assert population_types("cd3+, CD45+")[1] == []
    assert population_types("CD3+ TCRgd+")[1] == ["TCRgd+"]
    run = cu.curate("immune", _wu_cohort(tmp_path, sheet_extra=",CD3+ TCRgd+", max_outside_population=0.6), write=False)
    f = run.failures.query("check_id == 'immune.accuracy.sorted_population'")
    assert len(f) == 13 and f["rule"].str.contains("marker(s) TCRgd+ not in the marker table", regex=False).all()


@pytest.mark.parametrize(
    ("parts", "n_genes", "floors"),
    [
        (("scanpy-tests", "10x_data", "3.0.0", "filtered_feature_bc_matrix"), 507, "to 5 counts and 3 genes"),
        (("seurat-testdata", "cr2_pbmc_small"), 240, "to 2 counts and 1 genes"),
    ],
)
def test_a_gene_subset_scales_the_empty_droplet_floors_and_says_why(
    tmp_path: Path, parts: tuple[str, ...], n_genes: int, floors: str
) -> None:
    """scanpy's chr21 matrix and Seurat's pbmc_small: every cell was an empty droplet under the defaults."""
    folder = need(*parts)
    run = cu.curate(
        "immune",
        write_cohort(
            tmp_path, {"immune": [{"path": str(folder), "format": "10x", "options": {"processing": {"umap": False}}}]}
        ),
        write=False,
    )
    q = run.data.tables["qc"].iloc[0]
    assert q["n_genes"] == n_genes and q["empty_fraction"] < 0.05
    c = run.checks.set_index("check_id")
    assert c.loc["immune.accuracy.empty_droplets", "verdict"] == "pass"
    assert c.loc["immune.completeness.any_accepted", "verdict"] == "pass"
    assert c.loc["immune.conformance.gene_subset", "verdict"] == "warn"
    [f] = run.failures.query("check_id == 'immune.conformance.gene_subset'").itertuples()
    assert f"the matrix holds {n_genes} genes (a gene subset" in f.rule and floors in f.rule
    assert "marker genes measured" in f.rule
