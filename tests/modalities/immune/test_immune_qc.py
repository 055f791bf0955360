"""The QC metrics kernel equals scanpy's, and the per-sample QC rules balance the ledger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from curation.errors import ConfigError
from curation.modalities.immune._qc import RULES, QCParams, barcode_rank, mad_outlier, qc_metrics, qc_sample


def _scanpy_metrics(X: sp.csr_matrix, names: list[str]) -> pd.DataFrame:
    import anndata as ad
    import scanpy as sc

    a = ad.AnnData(X.copy())
    a.var_names = names
    a.var["mt"] = a.var_names.str.startswith("MT-")
    a.var["ribo"] = a.var_names.str.startswith(("RPS", "RPL"))
    a.var["hb"] = a.var_names.str.contains(r"^HB(?!P)")
    obs, _ = sc.pp.calculate_qc_metrics(a, qc_vars=["mt", "ribo", "hb"], percent_top=[20])
    return obs


def _names(m: int) -> list[str]:
    names = [f"G{i}" for i in range(m)]
    names[:13] = [f"MT-{i}" for i in range(13)]
    names[13:40] = [f"RPL{i}" for i in range(27)]
    names[40:46] = ["HBA1", "HBB", "HBD", "HBP1", "HBM", "HBZ"]
    return names


def test_metrics_identical_to_scanpy_on_random_counts() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(300, 500, density=0.08, format="csr", random_state=rng, dtype=np.float32)
    X.data = rng.negative_binomial(2, 0.4, X.nnz).astype(np.float32) + 1
    D = X.toarray()
    D[5] = 0  # an empty cell: percentages are NaN in both
    D[7] = 0
    D[7, :3] = 1  # a cell with fewer genes than the top-20 window
    X = sp.csr_matrix(D)
    names = _names(500)
    ours, ref = qc_metrics(X, names), _scanpy_metrics(X, names)
    assert sorted(ours.columns) == sorted(ref.columns)
    for c in ref.columns:
        np.testing.assert_array_equal(ours[c].to_numpy(), ref[c].to_numpy(), err_msg=c)


def test_metrics_match_scanpy_on_pbmc68k_like_data() -> None:
    """pbmc68k_reduced's .raw holds log-normalized floats (not counts): the same numbers up to float32
    rounding (scanpy sums the top-20 values in float32, we in float64; counts are exact either way)."""
    import scanpy as sc

    a = sc.datasets.pbmc68k_reduced()
    X = sp.csr_matrix(a.raw.X, dtype=np.float32)
    names = list(a.raw.var_names)
    ours, ref = qc_metrics(X, names), _scanpy_metrics(X, names)
    for c in ref.columns:
        np.testing.assert_allclose(ours[c].to_numpy(), ref[c].to_numpy(), rtol=1e-5, err_msg=c)


def test_mad_outlier_is_unscaled_mad() -> None:
    x = np.array([1.0, 2, 3, 4, 100])
    mask, lo, hi = mad_outlier(x, 5)
    assert (lo, hi) == (3 - 5, 3 + 5)
    assert mask.tolist() == [False, False, False, False, True]


def test_qc_sample_attributes_each_removed_cell_to_one_rule() -> None:
    rng = np.random.default_rng(1)
    n = 400
    X = rng.negative_binomial(3, 0.3, size=(n, 300)).astype(np.float32)
    names = _names(300)
    X[:20] = 0
    X[:20, :5] = 1  # near-empty droplets
    X[20:40, :13] = 60  # dying cells: ~27% mitochondrial, totals as usual
    obs = qc_metrics(sp.csr_matrix(X), names)
    doublet = np.zeros(n, bool)
    doublet[100:105] = True
    out, info = qc_sample(obs, QCParams(min_counts=50, min_genes=20), doublet=doublet)
    assert info["n_cells"] == info["n_kept"] + sum(info["removed"].values())
    assert set(info["removed"]) == set(RULES)
    assert info["removed"]["empty_droplet"] == 20
    assert not out["qc_pass"].iloc[20:40].any()
    assert info["flagged"]["high_mt"] >= 20
    assert info["removed"]["doublet"] == 5
    assert out.loc[out["qc_rule"] == "", "qc_pass"].all()


def test_params_resolve_layers_tissue_and_sample() -> None:
    p = QCParams.resolve(
        {"max_pct_mt": 10, "tissue": {"tumor": {"max_pct_mt": 20}}},
        {"sample": {"SA1": {"nmads_counts": 3}}},
        tissue="tumor",
        sample="SA1",
    )
    assert (p.max_pct_mt, p.nmads_counts) == (20, 3)
    assert QCParams.resolve({"max_pct_mt": 10}, tissue="blood").max_pct_mt == 10
    with pytest.raises(ConfigError, match=r"unknown key.*max_mt"):
        QCParams.resolve({"max_mt": 5})


def test_barcode_rank_finds_knee_between_cells_and_empties() -> None:
    rng = np.random.default_rng(2)
    totals = np.concatenate([rng.lognormal(np.log(3000), 0.3, 500), rng.lognormal(np.log(30), 0.5, 5000)])
    br = barcode_rank(totals, lower=10)
    assert 100 < br["inflection"] < 3000
