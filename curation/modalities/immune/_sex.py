"""Sex inferred per sample from XIST against chromosome-Y genes, in immune and stromal cells.

Epithelial (possibly tumour) cells are left out: tumours often lose chromosome Y, which would make
a man's tumour sample look female. The result feeds the cross-modality comparison with EMR sex.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata as ad

COLUMNS = ["sample", "patient", "tissue", "n_cells", "xist_cpm", "chry_cpm", "log2_ratio", "inferred_sex"]
MIN_SIGNAL_CPM = 20.0  # below this on both sides the panel cannot tell (e.g. gene-panel subsets)
MIN_LOG2_RATIO = 2.0


def infer_sex(
    adata: ad.AnnData, table: dict[str, Any], *, exclude_lineages: tuple[str, ...] = ("epithelial",)
) -> pd.DataFrame:
    """Per-sample XIST and chrY counts per million in QC-passing non-epithelial cells.

    ``adata`` holds raw counts in X and ``obs`` columns ``sample``, ``patient``, ``tissue``,
    ``qc_pass``, ``cell_type``. ``inferred_sex`` is female, male or unknown (too little signal,
    or both signals: a sample mix-up or pooled donors).
    """
    lineage = {n: v.get("lineage", "") for n, v in table["cell_types"].items()}
    keep = (
        adata.obs["qc_pass"].to_numpy()
        & ~adata.obs["cell_type"].astype(str).map(lambda x: lineage.get(x, "") in exclude_lineages).to_numpy()
    )
    names = pd.Index(adata.var_names.astype(str)).str.upper()
    f_idx = np.flatnonzero(names.isin([g.upper() for g in table["sex_genes"]["female"]]))
    m_idx = np.flatnonzero(names.isin([g.upper() for g in table["sex_genes"]["male"]]))
    X = adata.X
    tot = np.ravel(X.sum(axis=1))
    fem = np.ravel(X[:, f_idx].sum(axis=1)) if f_idx.size else np.zeros(adata.n_obs)
    mal = np.ravel(X[:, m_idx].sum(axis=1)) if m_idx.size else np.zeros(adata.n_obs)
    rows = []
    obs = adata.obs
    for s, idx in obs.groupby("sample", observed=True).indices.items():
        sel = idx[keep[idx]]
        t = tot[sel].sum()
        xc = fem[sel].sum() / t * 1e6 if t else 0.0
        yc = mal[sel].sum() / t * 1e6 if t else 0.0
        ratio = float(np.log2((xc + 1) / (yc + 1)))
        if max(xc, yc) < MIN_SIGNAL_CPM or abs(ratio) < MIN_LOG2_RATIO:
            sex = "unknown"
        else:
            sex = "female" if ratio > 0 else "male"
        first = obs.iloc[idx[0]]
        rows.append(
            {
                "sample": str(s),
                "patient": str(first["patient"]),
                "tissue": str(first["tissue"]),
                "n_cells": int(sel.size),
                "xist_cpm": float(xc),
                "chry_cpm": float(yc),
                "log2_ratio": ratio,
                "inferred_sex": sex,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
