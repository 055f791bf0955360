"""Sample exclusion, a curator decision the immune step replays on its standardized data (hook of
:func:`curation.curate`).

``exclude immune.<sample token or patient pseudonym>``: the sample (or every sample of the patient)
leaves the per-sample tables (QC, sex) and its cells leave the AnnData, the protein and V(D)J objects
and the composition (rebuilt), counted in the ledger as excluded (``decisions:qc`` per sample,
``decisions:cells`` per cell, rule curator_decision). The embedding and clusters of the other cells are
the ones computed with the excluded cells in: re-run without the sample's source for a fresh clustering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...decisions.replay import EXCLUDED, exclude_rows

if TYPE_CHECKING:
    from ..base import Context, ModalityData

__all__ = ["exclude"]


def exclude(data: ModalityData, wanted: Mapping[str, Any], *, ctx: Context) -> dict[str, str]:
    """Drop excluded samples (by sample token or patient pseudonym) from every table and object written."""
    from ._typing import composition

    qc = data.tables.get("qc", pd.DataFrame())
    cols = ["sample", "patient"]
    n_samples = exclude_rows(data, "qc", columns=cols, wanted=wanted) if len(qc) else {}
    sex = data.tables.get("sample_sex")
    if isinstance(sex, pd.DataFrame) and len(sex):
        data.tables["sample_sex"] = sex[~(sex["sample"].isin(list(wanted)) | sex["patient"].isin(list(wanted)))]
    adata = data.objects.get("adata")
    n_cells: dict[str, int] = {}
    if adata is not None:
        obs = adata.obs
        hit = {t: ((obs["sample"].astype(str) == t) | (obs["patient"].astype(str) == t)).to_numpy() for t in wanted}
        gone = pd.Series(False, index=obs.index).to_numpy()
        for t, m in hit.items():
            n_cells[t] = int((m & ~gone).sum())
            gone |= m
        data.ledger.record(
            "decisions:cells",
            n_in=adata.n_obs,
            n_accepted=int((~gone).sum()),
            excluded={EXCLUDED: int(gone.sum())} if gone.any() else None,
        )
        kept = adata[~gone].copy()
        data.objects["adata"] = kept
        for name in ("protein", "airr"):
            other = data.objects.get(name)
            if other is not None:
                data.objects[name] = other[other.obs_names.isin(kept.obs_names)].copy()
        data.tables["composition"] = composition(kept.obs)
    out: dict[str, str] = {}
    for token in wanted:
        if not n_samples.get(token):
            out[token] = f"not applied: no sample or patient {token} in this run"
            continue
        out[token] = f"{n_samples[token]} sample(s), {n_cells.get(token, 0)} cell(s) excluded (ledger: {EXCLUDED})"
    return out
