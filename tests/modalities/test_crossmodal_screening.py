"""Screening linked to clinical, pathology, imaging and lab (crossmodal.yaml ``record_links``) on a
hand-made bundle: each rule has one offender, the other participants keep it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import curation as cu
from curation.io.bundle import Bundle

D = pd.Timestamp


def cohort(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "cohort.yaml"
    p.write_text("cohort: {name: t}\nsecret: {env: CURATION_TEST_SECRET}\noutput: out\n" + extra, encoding="utf-8")
    return p


def _bundle(tmp_path: Path, *, screening: bool = True, imaging: bool = True, lab: bool = True) -> Bundle:
    """Participants S1-S6. S1, S2, S3 are screen-detected cancers and clinical patients; S4, S5, S6 had
    no cancer. Offenders: S2's diagnosis is 200 days from its pathology confirmation (clinical); S3 has
    no pathology report; S5 has a lung-cancer diagnosis in clinical; S1's positive round has no CT within
    six weeks (its study is 90 days off); S3's CEA disagrees with the lab (6.0 ng/mL against 9.0 ug/L)."""
    b = Bundle(tmp_path / "out")
    clinical = ["S1", "S2", "S3", "S5"]
    b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": clinical, "sex": ["male"] * 4}))
    b.write_parquet(
        "data/clinical/conditions.parquet",
        pd.DataFrame(
            {
                "patient": clinical,
                "icd10": ["C34.1", "C34.9", "C34.3", "C34.1"],
                "diagnosis_date": [D("2022-03-05"), D("2022-10-01"), D("2022-05-02"), D("2022-06-01")],
            }
        ),
    )
    b.write_parquet(
        "data/pathology/pathology.parquet",
        pd.DataFrame({"patient": ["S1", "S2", "S5"], "specimen_date": [D("2022-03-03")] * 3}),
    )
    if imaging:
        b.write_parquet(
            "data/imaging/series.parquet",
            pd.DataFrame(
                {
                    "patient": ["S1", "S2", "S2"],
                    "modality": ["CT", "CT", "MR"],
                    "study_date": [D("2022-05-20"), D("2022-03-01"), D("2022-03-05")],
                }
            ),
        )
    if lab:
        b.write_parquet(
            "data/lab/results.parquet",
            pd.DataFrame(
                {
                    "patient": ["S2", "S3", "S3"],
                    "analyte": ["CEA", "CEA", "CYFRA21-1"],
                    "value_num": [4.2, 9.0, 2.0],
                    "unit_std": ["ng/mL", "ng/mL", "ng/mL"],
                    "collected_date": [D("2022-03-01"), D("2022-04-01"), D("2022-04-02")],
                }
            ),
        )
    if screening:
        s = ["S1", "S2", "S3", "S4", "S5", "S6"]
        b.write_parquet(
            "data/screening/followup.parquet",
            pd.DataFrame(
                {
                    "patient": s,
                    "outcome": ["cancer"] * 3 + ["no_cancer"] * 3,
                    "pathology_confirmed": ["yes"] * 3 + [None] * 3,
                    "pathology_date": [D("2022-03-01"), D("2022-03-14"), D("2022-05-01")] + [pd.NaT] * 3,
                }
            ),
        )
        b.write_parquet(
            "data/screening/rounds.parquet",
            pd.DataFrame(
                {
                    "patient": ["S1", "S1", "S2", "S4"],
                    "round": [1, 2, 1, 1],
                    "result": ["negative", "positive", "positive", "positive"],
                    "scan_date": [D("2021-02-20"), D("2022-02-20"), D("2022-02-25"), D("2022-01-10")],
                }
            ),
        )
        b.write_parquet(
            "data/screening/biomarkers.parquet",
            pd.DataFrame(
                {
                    "patient": ["S2", "S3", "S3", "S3", "S4"],
                    "round": [1, 1, 1, 1, 1],
                    "marker": ["CEA", "CEA", "CYFRA21-1", "ctDNA_methylation", "CEA"],
                    "value": [4200.0, 6.0, 2.05, 70.0, 3.0],
                    "unit": ["pg/mL", "ng/mL", "ng/mL", "score", "ng/mL"],
                    "sample_date": [
                        D("2022-02-27"),
                        D("2022-04-02"),
                        D("2022-04-01"),
                        D("2022-04-01"),
                        D("2022-01-09"),
                    ],
                }
            ),
        )
    return b


def _run(tmp_path: Path, extra: str = "") -> cu.modalities.Curated:
    return cu.curate("crossmodal", cohort(tmp_path, extra))


def _checks(run: cu.modalities.Curated) -> pd.DataFrame:
    return run.checks.set_index("check_id")


@pytest.mark.parametrize(
    ("check", "failing", "n_checked"),
    [
        ("screen_cancer_in_clinical", ["S2"], 3),
        ("screen_cancer_in_pathology", ["S3"], 3),
        ("screen_no_cancer_not_in_clinical", ["S5"], 3),
        # S4's positive round is not judged: imaging does not hold S4; S2's MR is no CT study
        ("screen_ldct_in_imaging", ["S1"], 2),
        # pg/mL converts to ng/mL (4200 pg/mL = 4.2); ctDNA and S4 are not in the lab: not judged
        ("screen_marker_in_lab", ["S3"], 3),
    ],
)
def test_each_link_names_its_one_offender(
    tmp_path: Path, secret_env: str, check: str, failing: list[str], n_checked: int
) -> None:
    _bundle(tmp_path)
    run = _run(tmp_path)
    f = run.failures
    assert sorted(f.loc[f["check_id"] == f"crossmodal.consistency.{check}", "pseudonym"]) == failing
    row = _checks(run).loc[f"crossmodal.consistency.{check}"]
    assert (row["n_checked"], row["n_failed"], row["verdict"]) == (n_checked, len(failing), "fail")


def test_links_say_what_disagrees_in_day_counts_not_dates(tmp_path: Path, secret_env: str) -> None:
    _bundle(tmp_path)
    f = _run(tmp_path).failures.set_index("check_id")
    rule = f["rule"].to_dict()
    assert rule["crossmodal.consistency.screen_cancer_in_clinical"] == (
        "no record in clinical conditions with icd10 C34… within 60 days (the nearest is 201 days away)"
    )
    assert rule["crossmodal.consistency.screen_cancer_in_pathology"] == "no record of the patient in pathology"
    assert rule["crossmodal.consistency.screen_no_cancer_not_in_clinical"] == (
        "has a record in clinical conditions with icd10 C34… it must not have"
    )
    assert rule["crossmodal.consistency.screen_ldct_in_imaging"] == (
        "no record in imaging series with modality CT within 42 days (the nearest is 89 days away)"
    )
    assert rule["crossmodal.consistency.screen_marker_in_lab"] == (
        "6 ng/mL (after unit conversion) against 9 in lab results (tolerance 5%)"
    )
    assert f.loc["crossmodal.consistency.screen_marker_in_lab", "field"] == "screening.sample_date"
    # no date compared: the field that selected the records (a dictionary field the reviewer can read)
    assert f.loc["crossmodal.consistency.screen_cancer_in_pathology", "field"] == "screening.outcome"
    assert not f["rule"].str.contains(r"20\d\d-\d\d", regex=True).any()  # no date reaches a failure


def test_an_absent_modality_makes_its_links_not_applicable_and_names_it(tmp_path: Path, secret_env: str) -> None:
    _bundle(tmp_path, imaging=False, lab=False)
    c = _checks(_run(tmp_path))
    for check, missing in (("screen_ldct_in_imaging", "imaging"), ("screen_marker_in_lab", "lab")):
        row = c.loc[f"crossmodal.consistency.{check}"]
        assert row["verdict"] == "not_applicable"
        assert f"{missing} wrote no {'series' if missing == 'imaging' else 'results'}.parquet" in row["message"]
    assert c.loc["crossmodal.consistency.screen_cancer_in_clinical", "verdict"] == "fail"


def test_a_record_whose_counterpart_has_no_date_is_not_judged(tmp_path: Path, secret_env: str) -> None:
    """A lab result without a calendar date (relative dates of a patient with no diagnosis anchor) can
    neither match nor contradict the screening one: S3's two markers are left aside, and said so."""
    b = _bundle(tmp_path)
    lab = pd.read_parquet(tmp_path / "out/data/lab/results.parquet")
    lab.loc[lab["patient"] == "S3", "collected_date"] = pd.NaT
    b.write_parquet("data/lab/results.parquet", lab)
    run = _run(tmp_path)
    row = _checks(run).loc["crossmodal.consistency.screen_marker_in_lab"]
    assert (row["n_checked"], row["n_failed"], row["verdict"]) == (1, 0, "pass")
    assert row["message"].endswith("; 2 not compared (no date on one side)")


def test_without_screening_no_link_is_judged(tmp_path: Path, secret_env: str) -> None:
    _bundle(tmp_path, screening=False)
    c = _checks(_run(tmp_path))
    rows = c.loc[c.index.str.startswith("crossmodal.consistency.screen_")]
    assert len(rows) == 5 and (rows["verdict"] == "not_applicable").all()
    assert rows["message"].str.contains("screening wrote no").all()


def test_relative_dates_count_from_the_enrolment_anchor(tmp_path: Path, secret_env: str) -> None:
    """dates.mode relative: screening's day counts start at enrolment (quality/anchors/screening.parquet)."""
    b = _bundle(tmp_path)
    enrol = D("2021-01-01")
    b.write_parquet(
        "quality/anchors/screening.parquet",
        pd.DataFrame({"patient": ["S1", "S2", "S3", "S4", "S5", "S6"], "enrolment_date": [enrol.date()] * 6}),
    )
    fu = pd.read_parquet(tmp_path / "out/data/screening/followup.parquet")
    fu["pathology_date_days"] = (fu.pop("pathology_date") - enrol).dt.days.astype("Int32")
    b.write_parquet("data/screening/followup.parquet", fu)
    run = _run(tmp_path, "dates: {mode: relative}\n")
    f = run.failures
    assert sorted(f.loc[f["check_id"] == "crossmodal.consistency.screen_cancer_in_clinical", "pseudonym"]) == ["S2"]
