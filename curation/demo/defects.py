"""Planted defects of the tabular exports: each edits the standard tables and is logged in the manifest.

Every defect sits on its own patient (so one defect cannot hide another), spread over the sites, and
is logged with the pseudonym of the record that carries it, the field, and the check id that must
catch it (matched as tests/test_defects.py describes; see docs/adding-a-modality.md). Locations (file
and row) are filled in once the sites are written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._core import Defect, DemoLog

if TYPE_CHECKING:
    from ..deid.keys import Keyring

__all__ = ["Planter", "plant_tabular"]

MALFORMED_QUOTED = '"穿刺活检,CT引导"'
MALFORMED_RAW = "穿刺活检,CT引导"


@dataclass
class Planter:
    """Plants defects into the demo tables, one patient each, and logs where each one went."""

    roster: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    rng: np.random.Generator
    log: DemoLog
    keyring: Keyring
    used: set[int]
    rows: dict[str, tuple[str, str]]  # defect id -> (table, _rid) to locate after writing
    malformed: dict[str, dict[str, tuple[str, str]]]
    hosted: set[int] = field(default_factory=set)  # patients carrying a group of generator-written defects

    def pick(self, site: str, where: Callable[[pd.Series], bool] | None = None) -> pd.Series:
        """A patient of ``site`` (else of another site) not used by another defect (deterministic)."""
        order = self.rng.permutation(len(self.roster))
        for s in (site, *sorted({"A", "B", "C"} - {site})):
            for i in order:
                p = self.roster.iloc[i]
                if p["site"] == s and int(p["pid"]) not in self.used and (where is None or where(p)):
                    self.used.add(int(p["pid"]))
                    return p
        msg = f"no patient left for a planted defect at site {site}; generate more patients"
        raise ValueError(msg)

    def row(self, table: str, pid: int) -> int:
        """The row index of patient ``pid`` in ``table``."""
        df = self.tables[table]
        return int(df.index[df["_pid"] == pid][0])

    def set(self, table: str, pid: int, field: str, *, value: object) -> str:
        """Set one field of a patient's row; returns the row's record id."""
        df = self.tables[table]
        if df[field].dtype != object:
            df[field] = df[field].astype(object)
        i = self.row(table, pid)
        df.at[i, field] = value
        return str(df.at[i, "_rid"])

    def simple(
        self,
        site: str,
        table: str,
        field: str,
        *,
        kind: str,
        expect: str,
        value: object | Callable[[pd.Series], object],
        where: Callable[[pd.Series], bool] | None = None,
        note: str = "",
    ) -> pd.Series:
        """One value set on one picked patient, logged as a defect."""
        p = self.pick(site, where)
        v = value(p) if callable(value) else value
        rid = self.set(table, int(p["pid"]), field, value=v)
        self.defect(p, table, rid, field=field, kind=kind, dimension=_dimension(expect), expect=expect, note=note)
        return p

    def defect(self, p: pd.Series, table: str, rid: str, **kw: object) -> Defect:
        """Log a defect planted on patient ``p`` and remember its row to locate after writing."""
        modality = kw.pop("modality", "clinical" if table not in ("pathology", "exposure", "lab") else table)
        pseudonym = kw.pop("pseudonym", p["pseudonym"])
        d = self.log.defect(modality=modality, site=str(p["site"]), record="", pseudonym=pseudonym, **kw)
        self.rows[d.id] = (table, rid)
        return d


def _dimension(expect: str) -> str:
    if expect.startswith("quarantine:"):
        return "conformance"
    part = expect.split(".")[1]
    return {"plausibility": "accuracy"}.get(part, part)


def plant_tabular(
    roster: pd.DataFrame, tables: dict[str, pd.DataFrame], *, rng: np.random.Generator, log: DemoLog, keyring: Keyring
) -> Planter:
    """Plant every tabular defect of the contract; returns the planter (row locations, malformed lines)."""
    from .defects_across import plant_across

    pl = Planter(roster, tables, rng, log, keyring, set(), {}, {})
    _plant_clinical(pl)
    _plant_pathology(pl)
    _plant_exposure(pl)
    _plant_lab(pl)
    _flag_crossmodal(pl)
    plant_across(pl)
    return pl


def _plant_clinical(pl: Planter) -> None:
    """Missing, implausible, invalid and contradictory clinical values; a duplicate patient; an
    unparseable date and a malformed CSV line."""
    _plant_clinical_values(pl)
    _plant_clinical_timeline(pl)
    _duplicate_patient(pl)
    _plant_clinical_formats(pl)


def _plant_clinical_values(pl: Planter) -> None:
    """Missing required values, an implausible age, invalid codes, a stage that contradicts its TNM."""
    pl.simple(
        "A",
        "conditions",
        "diagnosis_date",
        kind="missing_required",
        expect="clinical.completeness.diagnosis_date",
        value=None,
        note="empty cell",
    )
    pl.simple(
        "B",
        "patients",
        "sex",
        kind="missing_required",
        expect="clinical.completeness.sex",
        value=None,
        note="empty cell",
    )
    pl.simple(
        "C",
        "patients",
        "birth_date",
        kind="out_of_range_age",
        expect="clinical.plausibility.age_at_diagnosis",
        value=lambda p: p["birth_date"].replace(year=p["birth_date"].year - 95),
        note="age at diagnosis over 120",
    )
    pl.simple(
        "A",
        "conditions",
        "icd10",
        kind="invalid_icd10",
        expect="clinical.conformance.icd10",
        value="C34.7",
        note="C34.7 does not exist (lung subsites are C34.0-C34.3, C34.8, C34.9)",
    )
    pl.simple(
        "B",
        "conditions",
        "icdo3_morphology",
        kind="invalid_icdo3",
        expect="clinical.conformance.icdo3_morphology",
        value="8140/5",
        note="behaviour code 5 does not exist",
    )
    pl.simple(
        "C",
        "conditions",
        "ecog",
        kind="invalid_allowed_value",
        expect="clinical.conformance.allowed_values",
        value=7,
        note="ECOG is 0-5",
    )
    pl.simple(
        "A",
        "staging",
        "stage_group",
        kind="tnm_stage_contradiction",
        expect="clinical.consistency.tnm_stage",
        value=lambda p: "IA1" if p["stage_group"] != "IA1" else "IVB",
        where=lambda p: p["stage_group"] != "IA1",
        note="stage group does not follow from cT/cN/cM",
    )


def _plant_clinical_timeline(pl: Planter) -> None:
    """Dates out of order: death and treatment before diagnosis, symptoms after it, a late record entry."""
    day = pd.Timedelta(days=1)
    p = pl.pick("B", lambda p: p["vital_status"] == "dead")
    rid = pl.set("outcomes", int(p["pid"]), "death_date", value=p["diagnosis_date"] - 40 * day)
    pl.set("outcomes", int(p["pid"]), "last_followup_date", value=p["diagnosis_date"] - 40 * day)
    pl.defect(
        p,
        "outcomes",
        rid,
        field="death_date",
        kind="death_before_diagnosis",
        dimension="consistency",
        expect="clinical.consistency.death_after_diagnosis",
    )
    p = pl.pick("C")
    tr = pl.tables["treatments"]
    i = int(tr.index[tr["_pid"] == p["pid"]][0])
    tr["treatment_start"] = tr["treatment_start"].astype(object)
    tr.at[i, "treatment_start"] = p["diagnosis_date"] - 20 * day
    pl.defect(
        p,
        "treatments",
        str(tr.at[i, "_rid"]),
        field="treatment_start",
        kind="treatment_before_diagnosis",
        dimension="consistency",
        expect="clinical.consistency.treatment_after_diagnosis",
    )
    pl.simple(
        "A",
        "conditions",
        "symptom_date",
        kind="symptom_after_diagnosis",
        expect="clinical.consistency.dates_in_order",
        value=lambda p: p["diagnosis_date"] + 15 * day,
    )
    pl.simple(
        "C",
        "patients",
        "record_entry_date",
        kind="late_entry",
        expect="clinical.timeliness.entry_delay",
        value=lambda p: p["diagnosis_date"] + 500 * day,
        note="entered 500 days after diagnosis",
    )


def _plant_clinical_formats(pl: Planter) -> None:
    """An impossible date (February 30th) and a CSV line broken by an unquoted comma."""
    pl.simple(
        "A",
        "conditions",
        "diagnosis_date",
        kind="unparseable_date",
        expect="quarantine:unparseable_date",
        value=lambda p: f"{p['diagnosis_date'].year}-02-30",
        note="February 30th",
    )
    p = pl.pick("C")
    rid = pl.set("conditions", int(p["pid"]), "diagnosis_method", value="@malformed")
    d = pl.defect(
        p,
        "conditions",
        rid,
        field="(line)",
        kind="malformed_line",
        dimension="conformance",
        expect="quarantine:malformed_line",
        note="an unquoted comma adds a field to this line",
    )
    pl.malformed.setdefault("conditions", {})[rid] = (MALFORMED_QUOTED, MALFORMED_RAW)
    _ = d


def _plant_pathology(pl: Planter) -> None:
    """A histology contradicted by its IHC, and a PD-L1 TPS above 100 %."""
    p = pl.pick("A", lambda p: p["histology"] in ("squamous", "adenocarcinoma"))
    if p["histology"] == "squamous":
        pl.set("pathology", int(p["pid"]), "p40", value="negative")
        rid = pl.set("pathology", int(p["pid"]), "ttf1", value="positive")
        note = "squamous cell carcinoma with TTF-1 positive, p40 negative"
    else:
        pl.set("pathology", int(p["pid"]), "p40", value="positive")
        rid = pl.set("pathology", int(p["pid"]), "ttf1", value="negative")
        note = "adenocarcinoma with TTF-1 negative, p40 positive"
    pl.defect(
        p,
        "pathology",
        rid,
        field="ttf1",
        kind="histology_ihc_contradiction",
        dimension="consistency",
        expect="pathology.consistency.histology_ihc",
        note=note,
    )
    pl.simple(
        "B",
        "pathology",
        "pdl1_tps",
        kind="out_of_range_pdl1",
        expect="pathology.plausibility.range",
        value=150.0,
        note="TPS is a percentage",
    )


def _plant_exposure(pl: Planter) -> None:
    """A never smoker with pack-years, implausible pack-years, a missing smoking status, an unlinked record."""
    pl.simple(
        "C",
        "exposure",
        "pack_years",
        kind="smoking_contradiction",
        expect="exposure.consistency.smoking_pack_years",
        value=20.0,
        where=lambda p: p["smoking_status"] == "never",
        note="never smoker with 20 pack-years",
    )
    pl.simple(
        "A",
        "exposure",
        "pack_years",
        kind="out_of_range_pack_years",
        expect="exposure.plausibility.range",
        value=250.0,
        where=lambda p: p["smoking_status"] != "never",
    )
    pl.simple(
        "C",
        "exposure",
        "smoking_status",
        kind="missing_required",
        expect="exposure.completeness.smoking_status",
        value="@not_collected",
        note="the site's not-collected token",
    )
    _unlinked(pl)


def _plant_lab(pl: Planter) -> None:
    """A result in the wrong unit and a result sent twice."""
    p = pl.pick("A")
    lab = pl.tables["lab"]
    i = int(lab.index[(lab["_pid"] == p["pid"]) & (lab["analyte"] == "CEA")][0])
    lab.at[i, "unit"] = "mmol/L"
    pl.defect(
        p,
        "lab",
        str(lab.at[i, "_rid"]),
        field="unit",
        kind="unit_error",
        dimension="conformance",
        expect="lab.conformance.unit",
        note="CEA reported in mmol/L",
    )
    p = pl.pick("B")
    i = int(lab.index[lab["_pid"] == p["pid"]][0])
    dup = lab.loc[[i]].assign(_rid=f"{lab.at[i, '_rid']}d")
    pl.tables["lab"] = pd.concat([lab.loc[:i], dup, lab.loc[i + 1 :]], ignore_index=True)
    pl.defect(
        p,
        "lab",
        f"{lab.at[i, '_rid']}d",
        field="value",
        kind="duplicate_result",
        dimension="uniqueness",
        expect="lab.uniqueness.result",
        note="the same result sent twice by the LIS",
    )


def _flag_crossmodal(pl: Planter) -> None:
    """Flags read by the imaging and immune generators: a DICOM sex and a single-cell sex that contradict the EMR."""
    p = pl.pick("B", lambda p: bool(p["has_imaging"])) if pl.roster["has_imaging"].any() else None
    if p is not None:
        _flip(pl.roster, int(p["pid"]), "dicom_sex")
        pl.log.defect(
            modality="imaging",
            site=str(p["site"]),
            record="DICOM PatientSex of this patient's CT",
            field="PatientSex",
            kind="sex_mismatch_dicom",
            dimension="consistency",
            expect="crossmodal.consistency.sex",
            pseudonym=p["pseudonym"],
            note="EMR sex differs from DICOM",
        )
    sc = pl.roster[pl.roster["has_single_cell"].astype(bool) & ~pl.roster["pid"].isin(pl.used)]
    if len(sc):
        p = sc.iloc[int(pl.rng.integers(len(sc)))]
        pl.used.add(int(p["pid"]))
        _flip(pl.roster, int(p["pid"]), "sc_sex")
        pl.log.defect(
            modality="immune",
            site=str(p["site"]),
            record="single-cell samples of this patient",
            field="XIST",
            kind="sex_mismatch_single_cell",
            dimension="consistency",
            expect="crossmodal.consistency.sex",
            pseudonym=p["pseudonym"],
            note="XIST / chrY expression contradicts the EMR sex",
        )


def _flip(roster: pd.DataFrame, pid: int, col: str) -> None:
    i = roster.index[roster["pid"] == pid][0]
    roster.at[i, col] = "F" if roster.at[i, "sex"] == "M" else "M"


def _duplicate_patient(pl: Planter) -> None:
    """The same person (same resident ID) registered again under a second admission number."""
    p = pl.pick("B")
    new_mrn = str(int(p["mrn"]) + 1_000_000 + int(pl.rng.integers(1, 90_000)))
    pseudonym = pl.keyring.patient(new_mrn, site="B")
    rid = ""
    for table in ("patients", "conditions", "staging", "outcomes"):
        df = pl.tables[table]
        copy = df[df["_pid"] == p["pid"]].assign(admission_number=new_mrn, _pid=-1)
        copy["_rid"] = copy["_rid"] + "dup"
        if table == "patients":
            copy["record_entry_date"] = copy["record_entry_date"] + pd.Timedelta(days=3)
            rid = str(copy["_rid"].iloc[0])
        pl.tables[table] = pd.concat([df, copy], ignore_index=True)
    pl.defect(
        p,
        "patients",
        rid,
        field="resident_id",
        kind="duplicate_patient",
        dimension="uniqueness",
        expect="clinical.uniqueness.patient",
        pseudonym=pseudonym,
        note=f"same resident ID as patient {p['pseudonym']} under a second admission number",
    )


def _unlinked(pl: Planter) -> None:
    """A questionnaire whose admission number was mistyped: it links to no patient of any modality."""
    p = pl.pick("A")
    mrn = str(p["mrn"])
    typo = mrn[:-2] + mrn[-1] + mrn[-2] if mrn[-1] != mrn[-2] else mrn[:-1] + str((int(mrn[-1]) + 1) % 10)
    rid = pl.set("exposure", int(p["pid"]), "admission_number", value=typo)
    pl.defect(
        p,
        "exposure",
        rid,
        field="admission_number",
        kind="unlinked_id",
        dimension="consistency",
        expect="crossmodal.consistency.linkage",
        pseudonym=pl.keyring.patient(typo, site="A"),
        note="admission number mistyped: links to no clinical record",
    )
