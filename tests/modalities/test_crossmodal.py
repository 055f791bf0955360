from __future__ import annotations

from pathlib import Path

import pandas as pd

import curation as cu
from curation.io.bundle import Bundle


def cohort(tmp_path: Path) -> Path:
    p = tmp_path / "cohort.yaml"
    p.write_text("cohort: {name: t}\nsecret: {env: CURATION_TEST_SECRET}\noutput: out\n", encoding="utf-8")
    return p


def test_linkage_sex_and_timeline(tmp_path: Path, secret_env: str) -> None:
    b = Bundle(tmp_path / "out")
    b.write_parquet("data/clinical/patients.parquet",
                    pd.DataFrame({"patient": ["PT1", "PT2", "PT3"], "sex": ["male", "female", "male"]}))
    # the diagnosis dates clinical hands on (a shifted date in both date modes)
    b.write_parquet("quality/anchors/clinical.parquet", pd.DataFrame({
        "patient": ["PT1", "PT2", "PT3"], "diagnosis_date": pd.to_datetime(["2020-01-01"] * 3)}))
    b.write_parquet("data/exposure/exposure.parquet", pd.DataFrame({"patient": ["PT1", "PT9"]}))
    b.write_parquet("data/imaging/series.parquet", pd.DataFrame({
        "patient": ["PT1", "PT2", "PT2"], "sex": ["M", "M", "M"],
        "study_date": pd.to_datetime(["2020-01-05", "2010-01-01", "2010-01-01"])}))
    run = cu.curate("crossmodal", cohort(tmp_path))
    by_id = run.checks.set_index("check_id")
    assert by_id.loc["crossmodal.consistency.linkage", "verdict"] == "fail"
    fails = run.failures
    link = fails[fails.check_id == "crossmodal.consistency.linkage"]
    assert link[["pseudonym", "field"]].values.tolist() == [["PT9", "exposure"]]
    sex = fails[fails.check_id == "crossmodal.consistency.sex"]
    assert sex.pseudonym.tolist() == ["PT2"] and sex.field.tolist() == ["imaging.sex"]
    assert by_id.loc["crossmodal.timeliness.imaging_window", "verdict"] == "warn"
    cov = pd.read_parquet(tmp_path / "out/data/crossmodal/coverage.parquet").set_index("modality")
    assert cov.loc["exposure", "unlinked"] == 1 and cov.loc["imaging", "linked"] == 2


def test_without_clinical_is_not_applicable(tmp_path: Path, secret_env: str) -> None:
    run = cu.curate("crossmodal", cohort(tmp_path))
    assert set(run.checks.verdict) <= {"not_applicable", "pass"}


def test_sources_for_crossmodal_rejected(tmp_path: Path, secret_env: str) -> None:
    import pytest

    p = cohort(tmp_path)
    (tmp_path / "x.csv").write_text("a\n")
    p.write_text(p.read_text() + "sources:\n  crossmodal: [{path: x.csv, format: csv}]\n")
    with pytest.raises(cu.ConfigError, match=r"sources\.crossmodal: this step reads the other modalities"):
        cu.load_cohort(p)
