"""The demo's withdrawn patient: one patient whose consent is withdrawn (cohort.yaml ``consent:``).

Chosen after every generator has run, among the patients that carry no planted defect (excluding
one of those would hide its defect), as the one present in the most modalities (every modality when
the roster has such a patient). Each modality it is in gets a defects.json entry ``kind:
consent_withdrawn``, ``expect: excluded:consent_withdrawn``: its records must be excluded at load and
counted in that modality's ledger, and its pseudonym must appear in no output.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from ._core import DemoLog

__all__ = ["withdraw_one"]

# raw tables of each tabular modality (the planter's), by modality
TABLES = {"clinical": "patients", "pathology": "pathology", "exposure": "exposure", "lab": "lab"}
IMMUNE_PATIENTS = 6  # curation.demo.immune.generate's max_patients: the single-cell patients it writes


def withdraw_one(
    roster: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    log: DemoLog,
    *,
    modalities: set[str],
    exclude: Collection[int] = (),
) -> dict[str, str] | None:
    """cohort.yaml's ``consent.withdrawn`` entry of the demo (site and raw admission number), logged as
    defects; None when every patient carries a planted defect. ``exclude``: patients (pid) the planter used."""
    # a patient named anywhere in a defect (its own, or the one a planted duplicate copies) keeps its records
    named = " ".join(f"{d.pseudonym} {d.record} {d.note}" for d in log.defects)
    used = {p for p in roster["pseudonym"] if p in named}
    once = roster.drop_duplicates("pid", keep=False)
    sc = roster[roster["has_single_cell"].astype(bool)].drop_duplicates("pid").sort_values("pid")
    immune = set(sc["pid"].head(IMMUNE_PATIENTS))
    best: tuple[int, int, list[str]] | None = None
    for p in once.itertuples(index=False):
        if p.pseudonym in used or p.pid in exclude:
            continue
        have = [m for m, t in TABLES.items() if m in modalities and t in tables and (tables[t]["_pid"] == p.pid).any()]
        have += [
            m
            for m, on in (("genomics", p.has_genomics), ("imaging", p.has_imaging), ("immune", p.pid in immune))
            if m in modalities and bool(on)
        ]
        if best is None or (len(have), p.pid) > best[:2]:
            best = (len(have), int(p.pid), have)
    if best is None:
        return None
    row = roster[roster["pid"] == best[1]].iloc[0]
    for m in best[2]:
        log.defect(
            modality=m,
            site=str(row["site"]),
            record="every record of the patient",
            field="admission_number",
            kind="consent_withdrawn",
            dimension="completeness",
            expect="excluded:consent_withdrawn",
            pseudonym=str(row["pseudonym"]),
            note="consent withdrawn (cohort.yaml consent.withdrawn): excluded at load, in no output",
        )
    entry: dict[str, Any] = {"site": str(row["site"]), "id": str(row["mrn"])}
    return entry
