"""Timeliness in every source modality: targets in cohort.yaml, one delay check per modality, and a
check whose input field is absent is not applicable with a message naming the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

import curation as cu
from curation.config import TimelinessConfig
from curation.deid.keys import Keyring
from curation.io.bundle import Bundle
from curation.modalities import _timeliness as tl
from curation.modalities.base import ModalityData

SECRET = "0123456789abcdef0123456789abcdef"  # conftest.secret_env
KEYRING = Keyring(SECRET.encode())


def _cohort(root: Path, sources: dict[str, list[dict]], **extra: object) -> Path:
    doc = {
        "cohort": {"name": "t"},
        "sites": [{"id": "A"}],
        "secret": {"env": "CURATION_TEST_SECRET"},
        "output": "out",
        "sources": sources,
        **extra,
    }
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _csv(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path.name


def _failed(run: cu.modalities.Curated, check_id: str) -> set[str]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "pseudonym"])


def _check(run: cu.modalities.Curated, check_id: str) -> pd.Series:
    c = run.checks
    return c[c["check_id"] == check_id].iloc[0]


def _anchors(out: Path, dx: dict[str, str]) -> None:
    """The diagnosis dates clinical would hand on: shifted per patient like every date of the bundle."""
    rows = {p: pd.Timestamp(d) + pd.Timedelta(days=KEYRING.date_shift(p)) for p, d in dx.items()}
    Bundle(out).write_parquet(
        "quality/anchors/clinical.parquet",
        pd.DataFrame({"patient": list(rows), "diagnosis_date": [d.date() for d in rows.values()]}),
    )


def pt(mrn: str) -> str:
    return KEYRING.patient(mrn, site="A")


# ------------------------------------------------------------------------------ targets in cohort.yaml
def test_targets_have_defaults_and_are_read_from_cohort_yaml(tmp_path: Path, secret_env: str) -> None:
    assert TimelinessConfig().pathology_report_days == 10 and TimelinessConfig().data_cutoff is None
    path = _cohort(
        tmp_path,
        {},
        timeliness={"pathology_report_days": 5, "data_cutoff": "2025-06-30"},
        required_modalities=["pathology", "exposure"],
    )
    cfg = cu.load_cohort(path)
    assert cfg.timeliness.pathology_report_days == 5 and cfg.timeliness.data_cutoff == dt.date(2025, 6, 30)
    assert cfg.timeliness.followup_interval_days == 180 and cfg.required_modalities == ["pathology", "exposure"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"timeliness": {"pathology_report_days": -3}}, "timeliness.pathology_report_days: -3 must be >= 0"),
        (
            {"timeliness": {"pathology_report_day": 3}},
            "timeliness.pathology_report_day: unknown key; did you mean 'pathology_report_days'?",
        ),
        ({"timeliness": {"data_cutoff": "30/06/2025"}}, "timeliness.data_cutoff: '30/06/2025'"),
        (
            {"required_modalities": ["pathalogy"]},
            "required_modalities[0]: 'pathalogy' is not a modality that reads sources; did you mean 'pathology'?",
        ),
        ({"required_modalities": ["lab", "lab"]}, "required_modalities[1]: 'lab' is listed twice"),
        (
            {"required_modalities": ["crossmodal"]},
            "required_modalities[0]: 'crossmodal' is not a modality that reads sources",
        ),
    ],
)
def test_bad_targets_name_key_value_and_fix(tmp_path: Path, secret_env: str, extra: dict, says: str) -> None:
    with pytest.raises(cu.ConfigError) as err:
        cu.load_cohort(_cohort(tmp_path, {}, **extra))
    assert says in str(err.value)


# ------------------------------------------------------------------------------ the shared delay check
def test_delay_check_counts_late_records_and_names_them_by_pseudonym() -> None:
    df = pd.DataFrame(
        {
            "patient": ["P1", "P2", "P3", "P4"],
            "_line": [2, 3, 4, 5],
            "start": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-01-01", None]),
            "end": pd.to_datetime(["2023-01-05", "2023-02-01", "2022-12-20", "2023-01-02"]),
        }
    )
    o = tl.check_delay(df, "start", "end", max_days=10, target="timeliness.x_days", what="reports")
    assert (o.n_checked, o.count) == (3, 1)  # an end before its start is not late (consistency's business)
    assert o.frame[["pseudonym", "row", "field"]].values.tolist() == [["P2", 3, "end"]]
    assert o.frame["rule"].iloc[0] == "end 31 days after start, target 10 days"
    assert "1 of 3 reports over the target of 10 days (timeliness.x_days)" in o.message
    either = tl.check_delay(df, "start", "end", max_days=10, target="t", what="q", absolute=True)
    assert either.count == 2 and "before" in either.frame["rule"].iloc[1]


def test_delay_check_without_its_field_is_not_applicable_and_says_which() -> None:
    df = pd.DataFrame({"patient": ["P1"], "start": pd.to_datetime(["2023-01-01"])})
    o = tl.check_delay(
        df, "start", "report_date", max_days=10, target="t", what="reports", supply="map it in cohort.yaml"
    )
    assert o.n_checked == 0 and o.message == (
        "not applicable: report_date not in the data, so the delay of reports cannot be measured; map it in cohort.yaml"
    )
    empty = tl.check_delay(df.assign(report_date=pd.NaT), "start", "report_date", max_days=1, target="t", what="r")
    assert empty.n_checked == 0 and empty.message == "not applicable: no record has both start and report_date"


# ------------------------------------------------------------------------------ each modality
def test_pathology_report_delay(tmp_path: Path, secret_env: str) -> None:
    name = _csv(
        tmp_path / "path.csv",
        "住院号,病理号,取材日期,报告日期,病理诊断\n"
        "1,P1,2023-01-02,2023-01-06,腺癌\n2,P2,2023-01-02,2023-02-10,腺癌\n"
        "3,P3,2023-01-02,,腺癌\n",
    )
    cols = {
        "住院号": "admission_number",
        "病理号": "specimen_id",
        "取材日期": "specimen_date",
        "报告日期": "report_date",
        "病理诊断": "histology",
    }
    src = {
        "path": name,
        "format": "csv",
        "site": "A",
        "columns": cols,
        "values": {"histology": {"腺癌": "adenocarcinoma"}},
    }
    run = cu.curate("pathology", _cohort(tmp_path, {"pathology": [src]}))
    r = _check(run, "pathology.timeliness.report_delay")
    assert (r["n_checked"], r["n_failed"], r["verdict"]) == (2, 1, "fail")
    assert _failed(run, "pathology.timeliness.report_delay") == {pt("2")}
    # without the report date column: not applicable, naming the field and how to supply it
    cols.pop("报告日期")
    run = cu.curate("pathology", _cohort(tmp_path, {"pathology": [src]}))
    r = _check(run, "pathology.timeliness.report_delay")
    assert r["verdict"] == "not_applicable" and "report_date not in the data" in r["message"]
    assert "cohort.yaml `columns:`" in r["message"]


def test_exposure_questionnaire_age_against_the_diagnosis(tmp_path: Path, secret_env: str) -> None:
    name = _csv(
        tmp_path / "q.csv",
        "住院号,调查日期,吸烟状态\n1,2023-01-20,从不吸烟\n2,2024-03-01,从不吸烟\n"
        "3,2022-06-01,从不吸烟\n4,2023-01-01,从不吸烟\n",
    )
    src = {
        "path": name,
        "format": "csv",
        "site": "A",
        "columns": {"住院号": "admission_number", "调查日期": "questionnaire_date", "吸烟状态": "smoking_status"},
    }
    cohort = _cohort(tmp_path, {"exposure": [src]})
    run = cu.curate("exposure", cohort)  # no diagnosis dates in the bundle yet
    r = _check(run, "exposure.timeliness.questionnaire_age")
    assert r["verdict"] == "not_applicable" and "run clinical into it first" in r["message"]
    _anchors(tmp_path / "out", {pt("1"): "2023-01-05", pt("2"): "2023-01-05", pt("3"): "2023-01-05"})
    run = cu.curate("exposure", cohort)
    r = _check(run, "exposure.timeliness.questionnaire_age")
    assert (r["n_checked"], r["n_failed"]) == (3, 2)  # 4 has no diagnosis date: not judged
    assert _failed(run, "exposure.timeliness.questionnaire_age") == {pt("2"), pt("3")}  # late and early


CLINICAL = {
    "住院号": "admission_number",
    "性别": "sex",
    "诊断日期": "diagnosis_date",
    "生存状态": "vital_status",
    "末次随访日期": "last_followup_date",
    "死亡日期": "death_date",
}


def _clinical(root: Path, **extra: object) -> Path:
    name = _csv(
        root / "emr.csv",
        "住院号,性别,诊断日期,生存状态,末次随访日期,死亡日期\n"
        "1,男,2022-01-05,存活,2025-06-01,\n"  # current
        "2,女,2022-01-05,存活,2024-06-01,\n"  # lost: a year before the latest contact
        "3,男,2022-01-05,死亡,2023-01-01,2023-01-01\n"  # dead: follow-up ended
        "4,男,2022-01-05,存活,2025-03-01,\n",
    )  # 92 days before the latest contact
    src = {
        "path": name,
        "format": "csv",
        "site": "A",
        "columns": CLINICAL,
        "values": {"sex": {"男": "male", "女": "female"}, "vital_status": {"存活": "alive", "死亡": "dead"}},
    }
    return _cohort(root, {"clinical": [src]}, **extra)


def test_followup_currency_judges_living_patients_against_the_latest_contact(tmp_path: Path, secret_env: str) -> None:
    run = cu.curate("clinical", _clinical(tmp_path))
    r = _check(run, "clinical.timeliness.followup_currency")
    assert (r["n_checked"], r["n_failed"]) == (3, 1) and "latest last contact of the cohort" in r["message"]
    f = run.failures
    lost = f[f["check_id"] == "clinical.timeliness.followup_currency"]
    assert lost["pseudonym"].tolist() == [pt("2")]
    assert lost["rule"].iloc[0] == "last contact 365 days before the data cutoff, interval 180 days: lost to follow-up"


def test_followup_currency_with_a_declared_cutoff_and_interval(tmp_path: Path, secret_env: str) -> None:
    run = cu.curate(
        "clinical", _clinical(tmp_path, timeliness={"data_cutoff": "2025-12-31", "followup_interval_days": 250})
    )
    assert _failed(run, "clinical.timeliness.followup_currency") == {pt("2"), pt("4")}
    assert "timeliness.data_cutoff" in _check(run, "clinical.timeliness.followup_currency")["message"]


def test_genomics_turnaround_from_the_sample_sheet(tmp_path: Path) -> None:
    from .test_genomics import make_cohort
    from .test_genomics import pt as gpt

    cohort = make_cohort(tmp_path)
    run = cu.curate("genomics", cohort)  # a sheet without dates
    r = _check(run, "genomics.timeliness.turnaround")
    assert r["verdict"] == "not_applicable" and "collection_date and report_date not in the data" in r["message"]
    (tmp_path / "raw/genomics/sample_sheet.csv").write_text(
        "sample_id,admission_number,site,specimen_id,collection_date,report_date\n"
        "HX-001-T,00123,A,P23-1,2023-01-10,2023-01-20\nHX-002-T,B77,B,S2023-2,2023/1/10,2023-03-01\n"
        "HX-004-T,00125,A,,2023-01-10,\n",
        encoding="utf-8",
    )
    run = cu.curate("genomics", cohort)
    r = _check(run, "genomics.timeliness.turnaround")
    assert (r["n_checked"], r["n_failed"]) == (2, 1)
    assert _failed(run, "genomics.timeliness.turnaround") == {gpt("B77", "B")}
    samples = pd.read_parquet(tmp_path / "out/data/genomics/samples.parquet").set_index("patient")
    kr = Keyring(("ef" * 32).encode())
    assert samples.loc[gpt("00123", "A"), "specimen"] == kr.token("specimen", "P23-1")  # pathology's token
    shift = pd.Timedelta(days=kr.date_shift(gpt("00123", "A")))
    assert pd.Timestamp(samples.loc[gpt("00123", "A"), "collection_date"]) == pd.Timestamp("2023-01-10") + shift
    assert pd.isna(samples.loc[gpt("00125", "A"), "report_date"])


def test_imaging_study_age_against_the_diagnosis(tmp_path: Path, secret_env: str) -> None:
    out = tmp_path / "out"
    ctx = SimpleNamespace(bundle=Bundle(out), config=SimpleNamespace(timeliness=TimelinessConfig()))
    data = ModalityData("imaging")
    data.tables["series"] = pd.DataFrame(
        {"patient": ["P1", "P2", "P3"], "study_date": pd.to_datetime(["2022-12-20", "2022-06-01", "2023-03-01"])}
    )
    o = tl.check_imaging_study_age(data, ctx)
    assert o.n_checked == 0 and "no diagnosis dates in the bundle" in o.message
    Bundle(out).write_parquet(
        "quality/anchors/clinical.parquet",
        pd.DataFrame({"patient": ["P1", "P2", "P3"], "diagnosis_date": [dt.date(2023, 1, 5)] * 3}),
    )
    o = tl.check_imaging_study_age(data, ctx)
    assert (o.n_checked, o.count) == (3, 1) and o.frame["pseudonym"].tolist() == ["P2"]  # a study after it is fine
    assert o.frame["field"].iloc[0] == "StudyDate"


def test_single_cell_processing_delay_from_the_sample_sheet() -> None:
    data = ModalityData("immune")
    data.objects["sheets"] = pd.DataFrame(
        {
            "sample_id": ["S1", "S2", "S3"],
            "admission_number": ["1", "2", "3"],
            "site": ["A"] * 3,
            "collection_date": ["2023-01-01", "2023/1/5", ""],
            "library_date": ["2023-01-02", "2023-01-20", "2023-01-01"],
            "sheet_row": [2, 3, 4],
        }
    )
    ctx = SimpleNamespace(config=SimpleNamespace(timeliness=TimelinessConfig()), keyring=KEYRING)
    o = tl.check_processing_delay(data, ctx)
    assert (o.n_checked, o.count) == (2, 1)
    assert o.frame[["pseudonym", "row", "field"]].values.tolist() == [[pt("2"), 3, "library_date"]]
    data.objects["sheets"] = data.objects["sheets"].drop(columns=["library_date"])
    o = tl.check_processing_delay(data, ctx)
    assert o.n_checked == 0 and "library_date not in the data" in o.message and "options.samples" in o.message


def test_every_source_modality_declares_a_timeliness_check() -> None:
    from curation.modalities import _tabular_checks as tc
    from curation.modalities import clinical, exposure, lab, pathology
    from curation.modalities.genomics import _qc
    from curation.modalities.imaging import SERIES_CHECKS
    from curation.modalities.immune._checks import CHECKS as IMMUNE

    lists = {
        "clinical": clinical.CHECKS,
        "pathology": pathology.CHECKS,
        "exposure": exposure.CHECKS,
        "lab": tc.checks_for("lab", lab.CHECKS),
        "genomics": _qc.CHECKS,
        "imaging": SERIES_CHECKS,
        "immune": IMMUNE,
    }
    for name, checks in lists.items():
        assert any(c.dimension == "timeliness" for c in checks), name
    ids = {c.id for c in SERIES_CHECKS}
    assert "plausibility.study_date" in ids and "timeliness.study_date" not in ids  # a plausibility check now
