"""The cross-modality step on hand-made bundles: one patient breaks each rule, the others keep it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import curation as cu
from curation.io.bundle import Bundle
from curation.modalities import crossmodal

D = pd.Timestamp
DX = D("2020-01-01")
PATIENTS = ["PT1", "PT2", "PT3", "PT4", "PT5", "PT6"]


def cohort(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "cohort.yaml"
    p.write_text("cohort: {name: t}\nsecret: {env: CURATION_TEST_SECRET}\noutput: out\n" + extra, encoding="utf-8")
    return p


def _bundle(tmp_path: Path) -> Bundle:
    """Six patients; every rule has its one offender, named in the comments."""
    b = Bundle(tmp_path / "out")
    b.write_parquet(
        "data/clinical/patients.parquet",
        pd.DataFrame(
            {
                "patient": PATIENTS,
                "sex": ["male", "female", "male", "male", "female", "male"],
                "birth_year": pd.array([1960, 1955, 1950, 1970, 1965, 1958], dtype="Int64"),
                "age_at_diagnosis": ["59", "64", "69", "49", "54", "90+"],
            }
        ),
    )
    b.write_parquet(
        "quality/anchors/clinical.parquet", pd.DataFrame({"patient": PATIENTS, "diagnosis_date": [DX.date()] * 6})
    )
    b.write_parquet(
        "data/clinical/staging.parquet",
        pd.DataFrame(
            {
                "patient": PATIENTS,
                "ct": ["T1b", "T1c", "T3", "T2a", "T1a", "T4"],
                "pt": [None, "T1c", None, "T2a", None, None],
                "cm": ["M0", "M0", "M1b", "M0", "M1a", "M0"],
                "pm": [None, "M0", None, "M0", None, None],
            }
        ),
    )
    b.write_parquet(
        "data/clinical/conditions.parquet",
        pd.DataFrame(
            {
                "patient": PATIENTS,
                "histology": [
                    "adenocarcinoma",
                    "squamous_cell_carcinoma",
                    "adenocarcinoma",
                    "adenocarcinoma",
                    "adenocarcinoma",
                    "adenocarcinoma",
                ],
            }
        ),
    )
    b.write_parquet(
        "data/clinical/treatments.parquet",
        pd.DataFrame(
            {
                "patient": ["PT2", "PT3", "PT4", "PT5"],
                "treatment_type": ["surgery", "chemotherapy", "surgery", "targeted"],
                "treatment_start": [
                    d.date() for d in (D("2020-01-20"), D("2019-12-20"), D("2020-01-25"), D("2020-01-30"))
                ],
            }
        ),
    )
    # PT3: treated 12 days before its first specimen; PT5: report before its specimen
    b.write_parquet(
        "data/pathology/pathology.parquet",
        pd.DataFrame(
            {
                "patient": PATIENTS,
                "specimen": [f"SP{i}" for i in range(6)],
                "histology": [
                    "adenocarcinoma",
                    "squamous_cell_carcinoma",
                    "adenocarcinoma",
                    "adenocarcinoma",
                    "adenocarcinoma",
                    None,
                ],
                "ttf1": ["positive", "negative", "positive", "positive", "positive", "negative"],
                "p40": ["negative", "positive", "negative", "negative", "negative", "positive"],
                "specimen_date": [d.date() for d in (DX, DX, D("2020-01-01"), DX, DX, DX)],
                "report_date": [d.date() for d in (D("2020-01-04"), DX, D("2020-01-05"), DX, D("2019-12-28"), DX)],
            }
        ),
    )
    # PT1 never smoker per questionnaire, YES in DICOM
    b.write_parquet(
        "data/exposure/exposure.parquet",
        pd.DataFrame(
            {
                "patient": ["PT1", "PT2", "PT4", "PT9"],
                "smoking_status": ["never", "current", "former", "never"],
                "pack_years": [0.0, 30.0, 12.0, 0.0],
            }
        ),
    )
    b.write_parquet("data/lab/results.parquet", pd.DataFrame({"patient": PATIENTS}))
    # PT2: EGFR in squamous; PT6: ALK with a squamous immunoprofile; PT4's sample collected before its specimen
    b.write_parquet(
        "data/genomics/samples.parquet",
        pd.DataFrame(
            {
                "patient": ["PT2", "PT4", "PT6"],
                "sample": ["S2", "S4", "S6"],
                "specimen": ["SP1", "SP3", None],
                "collection_date": [d.date() for d in (D("2020-01-03"), D("2019-12-20"), D("2020-01-02"))],
            }
        ),
    )
    b.write_parquet(
        "data/genomics/variants.parquet",
        pd.DataFrame(
            {
                "patient": ["PT1", "PT2", "PT6", "PT6"],
                "sample": ["S1", "S2", "S6", "S6"],
                "driver": ["EGFR_L858R", "EGFR_exon19del", "ALK_fusion", ""],
            }
        ),
    )
    # PT1: DICOM sex and smoking disagree; PT3: DICOM age 10 years off; PT4: born 1975 in DICOM, and only
    # imaged after its surgery; PT5 is M1 without imaging
    b.write_parquet(
        "data/imaging/series.parquet",
        pd.DataFrame(
            {
                "patient": ["PT1", "PT2", "PT3", "PT4", "PT6"],
                "sex": ["F", "F", "M", "M", "M"],
                "age_years": [59.0, 63.9, 79.0, 49.1, 90.0],
                "birth_year": pd.array([1960, 1955, 1950, 1975, None], dtype="Int64"),
                "smoking_status": ["YES", "YES", "NO", "UNKNOWN", "NO"],
                "study_date": [
                    d.date()
                    for d in (D("2019-12-20"), D("2019-12-01"), D("2019-12-25"), D("2020-02-10"), D("2019-12-01"))
                ],
            }
        ),
    )
    # readers of PT1's nodule average 41 mm: far above T1b (10-20 mm)
    b.write_parquet(
        "data/imaging/nodules.parquet",
        pd.DataFrame(
            {
                "patient": ["PT1", "PT1", "PT2", "PT3", "PT4"],
                "series_uid": ["u1", "u1", "u2", "u3", "u4"],
                "location": ["RUL"] * 5,
                "diameter_mm": [40.0, 42.0, 25.0, 60.0, 35.0],
            }
        ),
    )
    return b


@pytest.fixture
def bundle_run(tmp_path: Path, secret_env: str) -> cu.modalities.Curated:
    _bundle(tmp_path)
    return cu.curate("crossmodal", cohort(tmp_path, "required_modalities: [pathology, exposure, genomics]\n"))


def _failed(run: cu.modalities.Curated, check: str) -> list[str]:
    f = run.failures
    return sorted(f.loc[f["check_id"] == f"crossmodal.{check}", "pseudonym"])


def _row(run: cu.modalities.Curated, check: str) -> pd.Series:
    return run.checks.set_index("check_id").loc[f"crossmodal.{check}"]


@pytest.mark.parametrize(
    ("check", "failing", "n_checked"),
    [
        ("consistency.linkage", ["PT9"], 24),
        ("consistency.sex", ["PT1"], 5),
        ("consistency.birth_year", ["PT4"], 4),
        ("consistency.age_at_imaging", ["PT3"], 4),
        ("consistency.tumour_size", ["PT1"], 4),
        ("consistency.m1_imaging", ["PT5"], 2),
        ("consistency.histology_driver", ["PT2", "PT6"], 3),
        ("consistency.specimen_before_report", ["PT5"], 6),
        ("consistency.sample_after_specimen", ["PT4"], 3),
        ("consistency.treatment_after_diagnosis", ["PT3"], 4),
        ("consistency.imaging_before_surgery", ["PT4"], 2),
        ("consistency.smoking_sources", ["PT1"], 2),
        ("completeness.required_modalities", ["PT1", "PT3", "PT3", "PT5", "PT5", "PT6"], 18),
    ],
)
def test_each_rule_names_its_one_offender(
    bundle_run: cu.modalities.Curated, check: str, failing: list[str], n_checked: int
) -> None:
    assert _failed(bundle_run, check) == failing
    assert _row(bundle_run, check)["n_checked"] == n_checked


def test_rules_say_what_disagrees(bundle_run: cu.modalities.Curated) -> None:
    f = bundle_run.failures

    def one(check: str, patient: str, column: str = "rule") -> str:
        return str(f.loc[(f["check_id"] == f"crossmodal.{check}") & (f["pseudonym"] == patient), column].iloc[0])

    assert one("consistency.tumour_size", "PT1") == (
        "cT1b means over 10 up to 20 mm; the largest nodule on imaging measures 41 mm (tolerance 5 mm)"
    )
    assert one("consistency.birth_year", "PT4") == "born 1975 (imaging) but 1970 (clinical)"
    assert one("consistency.smoking_sources", "PT1") == "DICOM says YES, the questionnaire says never"
    assert "squamous immunoprofile (p40 positive, ttf1 negative)" in one("consistency.histology_driver", "PT6")
    assert one("consistency.imaging_before_surgery", "PT4") == (
        "clinical.treatment_start 16 days before imaging.study_date (the patient's first)"
    )
    assert one("consistency.sample_after_specimen", "PT4", "field") == "genomics.collection_date"
    # a flag for review warns, never fails
    assert _row(bundle_run, "consistency.histology_driver")["verdict"] == "warn"


def test_coverage_table(bundle_run: cu.modalities.Curated, tmp_path: Path) -> None:
    cov = pd.read_parquet(tmp_path / "out/data/crossmodal/coverage.parquet").set_index("modality")
    assert cov.loc["exposure", "unlinked"] == 1 and cov.loc["imaging", "linked"] == 5


def test_relative_dates_are_read_back_through_the_anchors(tmp_path: Path, secret_env: str) -> None:
    """dates.mode relative: the bundle holds day counts; the rules read them as dates again."""
    b = _bundle(tmp_path)
    path = pd.read_parquet(tmp_path / "out/data/pathology/pathology.parquet")
    days = {c: (pd.to_datetime(path.pop(c)) - DX).dt.days.astype("Int32") for c in ("specimen_date", "report_date")}
    b.write_parquet("data/pathology/pathology.parquet", path.assign(**{f"{c}_days": v for c, v in days.items()}))
    run = cu.curate("crossmodal", cohort(tmp_path, "dates: {mode: relative}\n"))
    assert _failed(run, "consistency.specimen_before_report") == ["PT5"]
    assert _failed(run, "consistency.treatment_after_diagnosis") == ["PT3"]


def test_a_rule_whose_table_is_absent_is_not_applicable_and_says_why(tmp_path: Path, secret_env: str) -> None:
    b = Bundle(tmp_path / "out")
    b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": ["PT1"], "sex": ["male"]}))
    b.write_parquet("data/exposure/exposure.parquet", pd.DataFrame({"patient": ["PT1"]}))
    run = cu.curate("crossmodal", cohort(tmp_path))
    c = run.checks.set_index("check_id")
    assert c.loc["crossmodal.consistency.linkage", "verdict"] == "pass"
    assert c.loc["crossmodal.consistency.tumour_size", "verdict"] == "not_applicable"
    assert (
        "clinical wrote no staging.parquet into this bundle; imaging wrote no nodules.parquet"
        in c.loc["crossmodal.consistency.tumour_size", "message"]
    )
    assert c.loc["crossmodal.completeness.required_modalities", "message"] == (
        "not applicable: cohort.yaml declares no required_modalities"
    )


def test_a_required_modality_that_wrote_nothing_fails_every_patient(tmp_path: Path, secret_env: str) -> None:
    b = Bundle(tmp_path / "out")
    b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": ["PT1", "PT2"], "sex": ["male"] * 2}))
    b.write_parquet("data/exposure/exposure.parquet", pd.DataFrame({"patient": ["PT1", "PT2"]}))
    run = cu.curate("crossmodal", cohort(tmp_path, "required_modalities: [exposure, immune]\n"))
    f = run.failures
    req = f[f["check_id"] == "crossmodal.completeness.required_modalities"]
    assert sorted(req["pseudonym"]) == ["PT1", "PT2"] and set(req["field"]) == {"immune"}
    assert (
        req["rule"].iloc[0] == "no immune record (cohort.yaml required_modalities) (immune wrote no table into "
        "this bundle)"
    )


def test_without_clinical_is_not_applicable(tmp_path: Path, secret_env: str) -> None:
    run = cu.curate("crossmodal", cohort(tmp_path))
    assert set(run.checks.verdict) <= {"not_applicable", "pass"}


@pytest.mark.parametrize("only", ["clinical", "imaging"])
def test_one_modality_alone_is_never_a_pass(tmp_path: Path, secret_env: str, only: str) -> None:
    """Issue 13: with nothing to compare every cross-modality check is not applicable, never pass."""
    b = Bundle(tmp_path / "out")
    if only == "clinical":
        b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": ["PT1"], "sex": ["male"]}))
        b.write_parquet("data/clinical/staging.parquet", pd.DataFrame({"patient": ["PT1"], "cm": ["M1a"]}))
    else:
        b.write_parquet(
            "data/imaging/series.parquet",
            pd.DataFrame({"patient": ["PT1"], "sex": ["M"], "study_date": [dt.date(2020, 1, 1)]}),
        )
    run = cu.curate("crossmodal", cohort(tmp_path, "required_modalities: [exposure]\n"))
    checks = run.checks[run.checks["check_id"] != "crossmodal.ledger_balanced"]
    assert set(checks["verdict"]) == {"not_applicable"}
    assert len(checks) == len(crossmodal.CHECKS)
    assert checks["message"].str.contains(f"only {only} is in the bundle").all()
    # nor does the bookkeeping of what was read: the step itself is not applicable, not a pass
    assert set(run.checks["verdict"]) == {"not_applicable"}


def test_sources_for_crossmodal_rejected(tmp_path: Path, secret_env: str) -> None:
    p = cohort(tmp_path)
    (tmp_path / "x.csv").write_text("a\n")
    p.write_text(p.read_text() + "sources:\n  crossmodal: [{path: x.csv, format: csv}]\n")
    with pytest.raises(cu.ConfigError, match=r"sources\.crossmodal: this step reads the other modalities"):
        cu.load_cohort(p)


def test_rules_are_data() -> None:
    """Which tables and parameters the rules use is crossmodal.yaml's; every date rule is a check."""
    spec = crossmodal.links()
    ids = {c.id for c in crossmodal.CHECKS}
    assert {f"consistency.{k}" for k in spec["date_order"]} <= ids
    for name, t in spec["tables"].items():
        assert t["modality"] in crossmodal.SPEC.needs, name
