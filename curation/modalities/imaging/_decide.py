"""Curator decisions the imaging step replays on its standardized data (hooks of :func:`curation.curate`).

- ``exclude imaging.<series UID or patient pseudonym>``: the series (or every series of the patient)
  leaves the series, instances and nodule tables, the sampled slices and the de-identified DICOM
  copy, counted in the ledger as excluded (``decisions:<table>``, rule curator_decision);
- ``label imaging.nodule.<patient>.<series UID>.<location>`` = a Lung-RADS category (2, 3, 4A, 4B):
  the adjudicated category of a nodule two readers disagree on, written to the nodule table's
  ``lung_rads_adjudicated`` column; the reader-agreement check no longer counts it as open
  (:func:`~curation.modalities.imaging._nodules.check_agreement`; the readers' kappa is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...decisions.replay import EXCLUDED, exclude_rows
from ._nodules import ADJUDICATED, AGREEMENT, CATEGORY_ORDER

if TYPE_CHECKING:
    from ..base import Context, ModalityData

__all__ = ["NODULE", "exclude", "nodule_keys", "relabel"]

NODULE = "nodule."  # label keys of adjudications: nodule.<patient>.<series UID>.<location>


def nodule_keys(nodules: pd.DataFrame) -> pd.Series:
    """Each nodule read's adjudication key, ``nodule.<patient>.<series UID>.<location>`` (pseudonym, remapped UID)."""
    parts = [nodules[c].astype("string").fillna("") for c in ("patient", "series_uid", "location")]
    return NODULE + parts[0] + "." + parts[1] + "." + parts[2]


def exclude(data: ModalityData, wanted: Mapping[str, Any], *, ctx: Context) -> dict[str, str]:
    """Drop excluded series (by series UID or patient pseudonym) from every table, the slices and the export."""
    cols = ["series_uid", "patient"]
    n = {
        t: exclude_rows(data, t, columns=cols, wanted=wanted)
        for t in ("series", "instances", "nodules")
        if t in data.tables
    }
    slices = data.objects.get("slices")
    if isinstance(slices, pd.DataFrame) and len(slices):
        data.objects["slices"] = slices[~slices["series_uid"].isin(list(wanted))]
    out: dict[str, str] = {}
    for token in wanted:
        got = {t: c.get(token, 0) for t, c in n.items()}
        if not got.get("series"):
            out[token] = f"not applied: no series or patient {token} in this run"
            continue
        reads = f", {got['nodules']} nodule read(s)" if got.get("nodules") else ""
        n_inst = got.get("instances", 0)
        out[token] = f"{got['series']} series, {n_inst} instance(s){reads} excluded (ledger: {EXCLUDED})"
    return out


def relabel(data: ModalityData, labels: Mapping[str, str], *, ctx: Context) -> dict[str, str]:
    """Nodule adjudications: the curator's Lung-RADS category for a nodule the two readers disagree on."""
    nod = data.tables.get("nodules")
    out: dict[str, str] = {}
    if nod is None or nod.empty:
        return dict.fromkeys(labels, "not applied: no nodule reads in this run")
    keys = nodule_keys(nod)
    if ADJUDICATED not in nod.columns:
        nod[ADJUDICATED] = pd.Series(pd.NA, index=nod.index, dtype="string")
    for key, value in labels.items():
        hit = (keys == key).fillna(False).astype(bool)
        if not key.startswith(NODULE):
            out[key] = f"not applied: an imaging label adjudicates a nodule ({NODULE}<patient>.<series>.<location>)"
        elif not hit.any():
            out[key] = "not applied: no such nodule in this run"
        elif str(value) not in CATEGORY_ORDER:
            out[key] = f"not applied: {value!r} is not a Lung-RADS category ({', '.join(CATEGORY_ORDER)})"
        else:
            reads = ", ".join(sorted(set(nod.loc[hit, "lung_rads"].astype(str))))
            nod.loc[hit, ADJUDICATED] = str(value)
            out[key] = (
                f"Lung-RADS adjudicated {value} (readers: {reads}); no longer an open disagreement of "
                f"imaging.{AGREEMENT}"
            )
    data.tables["nodules"] = nod
    return out
