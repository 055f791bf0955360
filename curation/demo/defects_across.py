"""Planted defects of the checks across modalities: timeliness in every source modality, and the
cross-modality rules (curation/dictionary/crossmodal.yaml).

The tabular ones edit the standard tables, each on its own patient, as :mod:`.defects` does. The
others are values the imaging, genomics and immune generators write (a DICOM header, a sample-sheet
date, a nodule read): the planter sets them as roster columns (:data:`DEMO_FLAGS`) and logs the
defect; a patient carries one group of them at most, never on top of a planted defect whose check
would see it. Every defect names the check that must catch it (tests/test_defects.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .roster import DATA_CUTOFF as _CUTOFF

if TYPE_CHECKING:
    from .defects import Planter

__all__ = ["DEMO_FLAGS", "plant_across"]


def plant_across(pl: Planter) -> None:
    """Plant every defect of the timeliness and cross-modality checks (after the tabular ones)."""
    _plant_timeliness(pl)
    _plant_crossmodal(pl)
    _hand_on_specimens(pl)


# roster columns the imaging, genomics and immune generators read: a planted value, or empty
DEMO_FLAGS = {
    "study_on": "datetime64 or NaT: the CT study date (else a few days before diagnosis)",
    "nodule_mm": "float or NaN: the nodule diameter read on the CT (else one that fits the T category)",
    "dicom_age_offset": "float or NaN: years added to DICOM PatientAge",
    "dicom_birth_year_offset": "float or NaN: years added to the year of DICOM PatientBirthDate",
    "dicom_smoking": "str: DICOM SmokingStatus written instead of the roster's ('' = the roster's)",
    "seq_collection_offset": "float or NaN: days from the pathology specimen to the sequenced sample's collection",
    "seq_turnaround_days": "float or NaN: days from sample collection to the sequencing report",
    "sc_library_delay": "float or NaN: days from single-cell sample collection to the library",
}
# the T categories whose size has an upper bound (AJCC 8th, mm), for a planted tumour-size contradiction
T_UP_TO_MM = {"T1a": 10, "T1b": 20, "T1c": 30, "T2a": 40, "T2b": 50}
M1 = ("M1a", "M1b", "M1c")
DAY = pd.Timedelta(days=1)
DATA_CUTOFF = pd.Timestamp(_CUTOFF)
# the planted tabular defects a generator's planted value would interfere with, per group of those
# (a patient carries at most one group, and never on top of one of these kinds)
_NO_DIAGNOSIS = {"unparseable_date", "malformed_line", "missing_required"}
_SMOKING = {"smoking_contradiction", "out_of_range_pack_years", "unlinked_id", "missing_required"}
_AGE = {"out_of_range_age", "duplicate_patient"}


def _set_flag(pl: Planter, pid: int, col: str, value: object) -> None:
    i = pl.roster.index[pl.roster["pid"] == pid][0]
    if isinstance(value, str) and pl.roster[col].dtype != object:
        pl.roster[col] = pl.roster[col].astype(object)
    pl.roster.at[i, col] = value


def _flag(pl: Planter, p: pd.Series, modality: str, **kw: object) -> None:
    """Log a defect that a generator other than the tabular ones writes (imaging, genomics, immune)."""
    pl.log.defect(modality=modality, site=str(p["site"]), pseudonym=p["pseudonym"], **kw)


def _kinds_by_pid(pl: Planter) -> dict[int, set[str]]:
    pid = dict(zip(pl.roster["pseudonym"], pl.roster["pid"], strict=True))
    out: dict[int, set[str]] = {}
    for d in pl.log.defects:
        if d.pseudonym in pid:
            out.setdefault(int(pid[d.pseudonym]), set()).add(d.kind)
    return out


def _host(
    pl: Planter,
    site: str,
    where: Callable[[pd.Series], bool] | None = None,
    *,
    avoid: set[str] = frozenset(),  # type: ignore[assignment]
    imaged: bool = False,
) -> pd.Series:
    """A patient for the values a generator writes (DICOM headers, sample sheets): a patient no defect
    uses if one fits, else one whose planted defects are none of ``avoid`` (their checks cannot see
    these values) and who hosts no other group. ``imaged``: one with a CT, or who gets one."""

    def fits(p: pd.Series) -> bool:
        return (where is None or where(p)) and (not imaged or bool(p["has_imaging"]))

    try:
        p = pl.pick(site, fits)
    except ValueError:
        try:
            p = pl.pick(site, where)
        except ValueError:
            kinds = _kinds_by_pid(pl)
            pool = [pl.roster.iloc[i] for i in pl.rng.permutation(len(pl.roster))]
            found = [
                q
                for q in pool
                if int(q["pid"]) not in pl.hosted
                and (where is None or where(q))
                and not kinds.get(int(q["pid"]), set()) & avoid
            ]
            if not found:
                msg = f"no patient left for a planted defect at site {site}; generate more patients"
                raise ValueError(msg) from None
            p = found[0]
    pl.hosted.add(int(p["pid"]))
    if imaged and not bool(p["has_imaging"]):
        _set_flag(pl, int(p["pid"]), "has_imaging", True)
    return p


def _surgery(pl: Planter, pid: int) -> pd.Timestamp | None:
    tr = pl.tables["treatments"]
    s = tr[(tr["_pid"] == pid) & (tr["treatment_type"] == "surgery")]["treatment_start"]
    return pd.Timestamp(s.iloc[0]) if len(s) else None


def _plant_timeliness(pl: Planter) -> None:
    """One late record per source modality: a patient lost to follow-up, a report, a questionnaire
    (tabular, each on its own patient), then a CT study, a sequencing run and a single-cell library."""
    r = pl.roster
    for col in DEMO_FLAGS:
        r[col] = "" if col == "dicom_smoking" else (pd.NaT if col == "study_on" else np.nan)
    # alive, and diagnosed long enough before the cut-off for an old last contact to still follow it
    p = pl.pick("C", lambda p: p["vital_status"] == "alive" and p["diagnosis_date"] < DATA_CUTOFF - 700 * DAY)
    rid = pl.set("outcomes", int(p["pid"]), "last_followup_date", value=DATA_CUTOFF - 400 * DAY)
    pl.defect(
        p,
        "outcomes",
        rid,
        field="last_followup_date",
        kind="lost_to_followup",
        dimension="timeliness",
        expect="clinical.timeliness.followup_currency",
        note="alive, last contact 400 days before the data cut-off (interval 180)",
    )
    p = pl.pick("A")
    rid = pl.set(
        "pathology",
        int(p["pid"]),
        "report_date",
        value=pl.tables["pathology"].loc[pl.row("pathology", int(p["pid"])), "specimen_date"] + 30 * DAY,
    )
    pl.defect(
        p,
        "pathology",
        rid,
        field="report_date",
        kind="late_pathology_report",
        dimension="timeliness",
        expect="pathology.timeliness.report_delay",
        note="signed out 30 days after the specimen (target 10)",
    )
    pl.simple(
        "B",
        "exposure",
        "questionnaire_date",
        kind="late_questionnaire",
        expect="exposure.timeliness.questionnaire_age",
        value=lambda p: p["diagnosis_date"] + 400 * DAY,
        note="filled in 400 days after diagnosis (target 90)",
    )


def _plant_crossmodal(pl: Planter) -> None:
    """One contradiction per cross-modality rule (crossmodal.yaml), and the late records the imaging,
    genomics and immune generators write."""
    # a pathology report dated before its specimen (tabular: its own patient)
    p = pl.pick("B")
    path = pl.tables["pathology"]
    rid = pl.set(
        "pathology",
        int(p["pid"]),
        "report_date",
        value=path.loc[pl.row("pathology", int(p["pid"])), "specimen_date"] - 6 * DAY,
    )
    pl.defect(
        p,
        "pathology",
        rid,
        field="report_date",
        kind="report_before_specimen",
        dimension="consistency",
        expect="crossmodal.consistency.specimen_before_report",
        note="report dated 6 days before the specimen",
    )
    _also_caught(pl)
    # the CT study: 200 days before diagnosis (timeliness), and a nodule far larger than its T category
    p = _host(pl, "A", lambda p: p["ct"] in T_UP_TO_MM, avoid=_NO_DIAGNOSIS | {"tnm_stage_contradiction"}, imaged=True)
    _set_flag(pl, int(p["pid"]), "study_on", p["diagnosis_date"] - 200 * DAY)
    _flag(
        pl,
        p,
        "imaging",
        record="the CT study of this patient",
        field="StudyDate",
        kind="stale_imaging_study",
        dimension="timeliness",
        expect="imaging.timeliness.study_age",
        note="CT 200 days before diagnosis (target 90)",
    )
    _set_flag(pl, int(p["pid"]), "nodule_mm", float(T_UP_TO_MM[p["ct"]] + 25))
    _flag(
        pl,
        p,
        "imaging",
        record="the nodule reads of this patient's CT",
        field="diameter_mm",
        kind="tumour_size_contradiction",
        dimension="consistency",
        expect="crossmodal.consistency.tumour_size",
        note=f"{p['ct']} but the nodule measures {T_UP_TO_MM[p['ct']] + 25} mm",
    )
    # M1 without imaging: a patient staged M1 whose CT is not in the export
    p = _host(pl, "B", lambda p: p["cm"] in M1 and p["dicom_sex"] == p["sex"])
    _set_flag(pl, int(p["pid"]), "has_imaging", False)
    _flag(
        pl,
        p,
        "imaging",
        record="no CT of this patient in the export",
        field="(series)",
        kind="m1_without_imaging",
        dimension="consistency",
        expect="crossmodal.consistency.m1_imaging",
        note=f"staged {p['cm']}, no imaging",
    )
    # the sequenced sample: an EGFR driver in squamous cell carcinoma, collected before its specimen, reported late
    p = _host(
        pl,
        "C",
        lambda p: p["histology"] == "squamous" and p["driver"] == "",
        avoid={"histology_ihc_contradiction", "report_before_specimen"},
    )
    _set_flag(pl, int(p["pid"]), "driver", "EGFR_L858R")
    _set_flag(pl, int(p["pid"]), "has_genomics", True)
    _flag(
        pl,
        p,
        "genomics",
        record="the tumour VCF of this patient",
        field="driver",
        kind="driver_in_squamous",
        dimension="consistency",
        expect="crossmodal.consistency.histology_driver",
        note="EGFR L858R called in squamous cell carcinoma",
    )
    _set_flag(pl, int(p["pid"]), "seq_collection_offset", -12.0)
    _flag(
        pl,
        p,
        "genomics",
        record="raw/genomics/sample_sheet.csv, this patient's sample",
        field="collection_date",
        kind="sample_before_specimen",
        dimension="consistency",
        expect="crossmodal.consistency.sample_after_specimen",
        note="sequenced sample collected 12 days before its pathology specimen",
    )
    _set_flag(pl, int(p["pid"]), "seq_turnaround_days", 45.0)
    _flag(
        pl,
        p,
        "genomics",
        record="raw/genomics/sample_sheet.csv, this patient's sample",
        field="report_date",
        kind="slow_sequencing",
        dimension="timeliness",
        expect="genomics.timeliness.turnaround",
        note="reported 45 days after collection (target 21)",
    )
    # the only CT of a resected tumour taken after the surgery
    p = _host(
        pl, "B", lambda p: _surgery(pl, int(p["pid"])) is not None, avoid={"treatment_before_diagnosis"}, imaged=True
    )
    _set_flag(pl, int(p["pid"]), "study_on", _surgery(pl, int(p["pid"])) + 14 * DAY)
    _flag(
        pl,
        p,
        "imaging",
        record="the CT study of this patient",
        field="StudyDate",
        kind="imaging_after_surgery",
        dimension="consistency",
        expect="crossmodal.consistency.imaging_before_surgery",
        note="the only CT was taken 14 days after the resection",
    )
    _plant_dicom_identity(pl)
    _plant_single_cell(pl)


def _also_caught(pl: Planter) -> None:
    """Planted defects that a cross-modality rule catches too: the same record, a second expectation."""
    for d in list(pl.log.defects):
        if d.kind == "treatment_before_diagnosis":  # a treatment before the diagnosis is before the specimen too
            extra = pl.log.defect(
                modality=d.modality,
                site=d.site,
                record="",
                pseudonym=d.pseudonym,
                field=d.field,
                kind="treatment_before_tissue_diagnosis",
                dimension="consistency",
                expect="crossmodal.consistency.treatment_after_diagnosis",
                note="the same treatment starts before the patient's pathology specimen",
            )
            pl.rows[extra.id] = pl.rows[d.id]
        if d.kind == "unlinked_id":  # the mistyped questionnaire leaves its patient without one
            table, rid = pl.rows[d.id]
            df = pl.tables[table]
            pid = int(df.loc[df["_rid"] == rid, "_pid"].iloc[0])
            p = pl.roster[pl.roster["pid"] == pid].iloc[0]
            extra = pl.log.defect(
                modality=d.modality,
                site=d.site,
                record="",
                pseudonym=str(p["pseudonym"]),
                field="(record)",
                kind="missing_required_modality",
                dimension="completeness",
                expect="crossmodal.completeness.required_modalities",
                note="its questionnaire went under a mistyped admission number; exposure is a "
                "required modality of the demo cohort",
            )
            pl.rows[extra.id] = pl.rows[d.id]


def _plant_dicom_identity(pl: Planter) -> None:
    """DICOM headers that contradict the EMR and the questionnaire: the age, the birth year, the smoking status."""
    p = _host(
        pl,
        "C",
        lambda p: p["smoking_status"] == "never" and p["dicom_sex"] == p["sex"],
        avoid=_NO_DIAGNOSIS | _SMOKING | _AGE,
        imaged=True,
    )
    _set_flag(pl, int(p["pid"]), "dicom_age_offset", 12.0)
    _flag(
        pl,
        p,
        "imaging",
        record="DICOM PatientAge of this patient's CT",
        field="PatientAge",
        kind="age_mismatch_dicom",
        dimension="consistency",
        expect="crossmodal.consistency.age_at_imaging",
        note="PatientAge 12 years above the age the EMR gives",
    )
    _set_flag(pl, int(p["pid"]), "dicom_birth_year_offset", -15.0)
    _flag(
        pl,
        p,
        "imaging",
        record="DICOM PatientBirthDate of this patient's CT",
        field="PatientBirthDate",
        kind="birth_year_mismatch_dicom",
        dimension="consistency",
        expect="crossmodal.consistency.birth_year",
        note="born 15 years earlier in the DICOM header than in the EMR",
    )
    _set_flag(pl, int(p["pid"]), "dicom_smoking", "YES")
    _flag(
        pl,
        p,
        "imaging",
        record="DICOM SmokingStatus of this patient's CT",
        field="SmokingStatus",
        kind="smoking_mismatch_dicom",
        dimension="consistency",
        expect="crossmodal.consistency.smoking_sources",
        note="the questionnaire says never smoker, the DICOM header YES",
    )


def _plant_single_cell(pl: Planter) -> None:
    """A single-cell library made 10 days after its sample was collected."""
    r = pl.roster
    if not r["has_single_cell"].astype(bool).any():
        return
    p = _host(pl, "A", lambda p: bool(p["has_single_cell"]) and p["sc_sex"] == p["sex"])
    _set_flag(pl, int(p["pid"]), "sc_library_delay", 10.0)
    _flag(
        pl,
        p,
        "immune",
        record="raw/singlecell/samples.csv, this patient's samples",
        field="library_date",
        kind="late_single_cell_library",
        dimension="timeliness",
        expect="immune.timeliness.processing_delay",
        note="library made 10 days after collection (target 2)",
    )


def _hand_on_specimens(pl: Planter) -> None:
    """Each patient's pathology specimen number and date, for the genomics sample sheet (after planting)."""
    path = pl.tables["pathology"].drop_duplicates("_pid").set_index("_pid")
    pl.roster["specimen_id"] = pl.roster["pid"].map(path["specimen_id"]).fillna("")
    pl.roster["specimen_date"] = pd.to_datetime(pl.roster["pid"].map(path["specimen_date"]), errors="coerce")
