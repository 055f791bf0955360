from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import curation as cu

from .tabular_fixture import DEFECTS, IDENTIFIERS, make_cohort, pseudonym

EXPECT = {
    "missing_diagnosis_date": "clinical.completeness.diagnosis_date",
    "missing_sex": "clinical.completeness.sex",
    "out_of_range_age": "clinical.plausibility.age_at_diagnosis",
    "invalid_icd10": "clinical.conformance.icd10",
    "invalid_icdo3": "clinical.conformance.icdo3_morphology",
    "invalid_ecog": "clinical.conformance.allowed_values",
    "tnm_stage_contradiction": "clinical.consistency.tnm_stage",
    "death_before_diagnosis": "clinical.consistency.death_after_diagnosis",
    "treatment_before_diagnosis": "clinical.consistency.treatment_after_diagnosis",
    "symptom_after_diagnosis": "clinical.consistency.dates_in_order",
    "duplicate_patient": "clinical.uniqueness.patient",
    "late_entry": "clinical.timeliness.entry_delay",
}


def _site(mrn: str) -> str:
    return mrn[0] if mrn[0] in "BC" else "A"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    root = tmp_path_factory.mktemp("tiny")
    return cu.curate("clinical", make_cohort(root))


@pytest.mark.parametrize("mrn", sorted(m for m, d in DEFECTS.items() if d in EXPECT))
def test_each_planted_defect_is_caught_by_name(run: cu.modalities.Curated, mrn: str) -> None:
    expect = EXPECT[DEFECTS[mrn]]
    f = run.failures
    hit = f[(f["check_id"] == expect) & (f["pseudonym"] == pseudonym(mrn, _site(mrn)))]
    assert len(hit), f"{DEFECTS[mrn]} ({mrn}) not caught by {expect}"


def test_clean_patients_do_not_fail_the_targeted_checks(run: cu.modalities.Curated) -> None:
    f = run.failures[run.failures["check_id"].isin(set(EXPECT.values()) - {"clinical.uniqueness.patient"})]
    clean = {pseudonym(m, "A") for m in ["00100"]} | {pseudonym("C300", "C")}
    assert not set(f["pseudonym"]) & clean


def test_unparseable_date_and_malformed_line_are_quarantined(run: cu.modalities.Curated) -> None:
    q = run.quarantine
    bad_date = q[q["reason"] == "unparseable_date"]
    assert bad_date["pseudonym"].tolist() == [pseudonym("00105", "A")]
    assert bad_date["field"].tolist() == ["diagnosis_date"] and bad_date["record"].tolist() == ["line 7"]
    mal = q[q["reason"] == "malformed_line"]
    assert mal["record"].tolist() == ["line 7"] and "site C" in mal["detail"].iloc[0]
    assert run.data.ledger.check().verdict == "pass"


def test_same_person_under_two_admission_numbers(run: cu.modalities.Curated) -> None:
    f = run.failures
    u = f[f["check_id"] == "clinical.uniqueness.patient"]
    assert set(u["pseudonym"]) == {pseudonym("B200", "B"), pseudonym("B204", "B")}
    assert set(u["field"]) == {"resident_id"}


def test_outputs_are_typed_and_hold_no_identifier(run: cu.modalities.Curated) -> None:
    out = run.ctx.bundle.root
    schema = pq.read_schema(out / "data/clinical/conditions.parquet")
    assert str(schema.field("diagnosis_date").type) == "date32[day]"
    assert str(schema.field("icd10").type) == "string"
    assert str(schema.field("ecog").type) == "int64"
    pats = pd.read_parquet(out / "data/clinical/patients.parquet")
    assert "admission_number" not in pats and "resident_id" not in pats and "birth_date" not in pats
    assert not [c for c in pats.columns if c.startswith("_")]
    assert pats["age_at_diagnosis"].dropna().isin([str(a) for a in range(0, 90)] + ["90+"]).all()
    assert pats.loc[pats["age_at_diagnosis"] == "90+", "birth_year"].isna().all()
    rid_hash = hashlib.sha256(b"110101195505010099").hexdigest()
    for p in out.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            for ident in [*IDENTIFIERS, rid_hash]:
                assert ident.encode() not in blob, f"{ident!r} leaked into {p.name}"
    assert set(IDENTIFIERS) <= set(run.data.identifiers.scan_values())


def test_dates_are_shifted_per_patient(run: cu.modalities.Curated) -> None:
    c = run.data.tables["conditions"]
    p = pseudonym("00100", "A")
    shift = run.ctx.keyring.date_shift(p)
    got = c.loc[c["patient"] == p, "diagnosis_date"].iloc[0]
    assert got == pd.Timestamp("2023-01-05") + pd.Timedelta(days=shift)


def test_missing_reasons_are_kept(run: cu.modalities.Curated) -> None:
    reasons = pd.read_parquet(run.ctx.bundle.root / "data/clinical/missing_reasons.parquet")
    na = reasons[(reasons["field"] == "death_date")]
    assert set(na["reason"]) == {"not_applicable"} and len(na) == 6


def test_completeness_per_site(run: cu.modalities.Curated) -> None:
    c = run.checks
    sex = c[c["check_id"] == "clinical.completeness.sex"]
    assert set(sex["site"]) == {"", "A", "B", "C"}
    assert sex.set_index("site").loc["B", "n_failed"] == 1


def test_figures_build(run: cu.modalities.Curated) -> None:
    figs = run.figures()
    assert {"Completeness by field and site", "Stage group", "Overall survival by stage"} <= set(figs)
    for fig in figs.values():
        fig.to_json()


def test_relative_dates(tmp_path: Path) -> None:
    r = cu.curate("clinical", make_cohort(tmp_path, mode="relative"))
    t = pd.read_parquet(r.ctx.bundle.root / "data/clinical/treatments.parquet")
    c = pd.read_parquet(r.ctx.bundle.root / "data/clinical/conditions.parquet")
    assert "treatment_start_days" in t and "diagnosis_date" not in c and (c["diagnosis_date_days"].dropna() == 0).all()
    late = t.loc[t["patient"] == pseudonym("C303", "C"), "treatment_start_days"].iloc[0]
    assert late == (pd.Timestamp("2023-02-01") - pd.Timestamp("2023-03-01")).days


def test_leak_scan_of_the_bundle_is_clean(run: cu.modalities.Curated) -> None:
    from curation.deid.scan import scan_bundle

    assert scan_bundle(run.ctx.bundle.root, sorted(run.data.identifiers.scan_values())) == []


def test_unmapped_admission_number_quarantines_every_record(tmp_path: Path) -> None:
    import yaml

    path = make_cohort(tmp_path)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["sources"]["clinical"] = [s for s in cfg["sources"]["clinical"] if s["site"] == "C"]
    del cfg["sources"]["clinical"][0]["columns"]["住院号码"]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = cu.curate("clinical", path, write=False)
    q = r.quarantine
    assert set(q["reason"]) == {"missing_id", "malformed_line"}
    assert "map the 住院号/MRN header" in q.loc[q["reason"] == "missing_id", "detail"].iloc[0]
    assert r.data.ledger.check().verdict == "pass"


def test_mapping_to_an_unknown_field_is_refused(tmp_path: Path) -> None:
    import yaml

    from curation.errors import ConfigError

    path = make_cohort(tmp_path)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["sources"]["clinical"][1]["columns"]["诊断日期"] = "diagnosis_dte"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.clinical\[\d\].columns.诊断日期: 'diagnosis_dte' is not a clinical "
                                          r"dictionary field; did you mean 'diagnosis_date'\?"):
        cu.curate("clinical", path, write=False)


def test_unreadable_file_is_quarantined_by_token(tmp_path: Path) -> None:
    path = make_cohort(tmp_path)
    (tmp_path / "raw" / "siteB" / "emr_export.xlsx").write_bytes(b"not a workbook")
    r = cu.curate("clinical", path, write=False)
    q = r.quarantine[r.quarantine["reason"] == "unreadable_file"]
    assert len(q) == 2 and set(q["record"]) == {r.ctx.keyring.token("file", "raw/siteB/emr_export.xlsx")}
    assert "emr_export" not in " ".join(q["detail"])
    led = r.ledger.set_index("stage").loc["load:files"]
    assert (led["n_in"], led["n_accepted"]) == (8, 6)


def test_k_anonymity_is_a_warning_naming_fields_not_values(run: cu.modalities.Curated) -> None:
    row = run.checks.set_index("check_id").loc["clinical.uniqueness.k_anonymity"]
    assert row["dimension"] == "uniqueness"
    assert row["verdict"] in {"warn", "pass"}  # a steward's decision, never a failure
    fails = run.failures[run.failures.check_id == "clinical.uniqueness.k_anonymity"]
    assert set(fails["field"]) <= {"age_band,sex,region,diagnosis_year"}
    assert fails["pseudonym"].str.startswith("PT").all()
