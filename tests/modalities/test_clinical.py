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
    assert pats["age_at_diagnosis"].dropna().isin([str(a) for a in range(90)] + ["90+"]).all()
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
    c, by_site = run.checks, run.checks_by_site
    assert len(c[c["check_id"] == "clinical.completeness.sex"]) == 1  # one check; its sites a breakdown
    sex = by_site[by_site["check_id"] == "clinical.completeness.sex"]
    assert set(sex["site"]) == {"A", "B", "C"}
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
    with pytest.raises(
        ConfigError,
        match=r"sources.clinical\[\d\].columns.诊断日期: 'diagnosis_dte' is not a clinical "
        r"dictionary field; did you mean 'diagnosis_date'\?",
    ):
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


# ------------------------------------------------------------------ issue 11: damaged sources and values
def _rewrite_a(root: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    (root / "raw" / "siteA" / name).write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def hygiene(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    """Site A's patients with raw sex codes, a NUL, a repeated header that disagrees, a birth date after
    the diagnosis; its diagnoses with a full-width header, a renamed ECOG header; site B with an
    error cell and a formula without a cached value."""
    from openpyxl import load_workbook

    from .tabular_fixture import A_DX, A_PAT

    root = tmp_path_factory.mktemp("hygiene")
    path = make_cohort(root)
    pats = [
        ["00100", "张0", "M", "1960-03-01", "110101196003010000X", "13800000000", "2023-02-01", "M"],
        ["00101", "张1", "2", "1960-03-02", "110101196003010010X", "13800000001", "2023-02-01", "2"],
        ["00102", "张2", "未知", "1960-03-03", "110101196003010020X", "13800000002", "2023-02-01", ""],
        ["00103", "张3", "X", "1960-03-04", "110101196003010030X", "13800000003", "2023-02-01", "X"],
        ["00104", "张4", "女\x00", "2030-03-05", "110101196003010040X", "13800000004", "2023-02-01", ""],
        ["00105", "张5", "男", "1960-03-06", "110101196003010050X", "13800000005", "2023-02-01", "女"],
    ]
    _rewrite_a(root, "patients.csv", [*A_PAT, "性别"], pats)
    dx_header = ["住院号", "诊断日期", "首发症状日期", "ＩＣＤ－１０编码", "形态学编码", "病理类型", "ECOG 评分"]
    assert len(dx_header) == len(A_DX)
    _rewrite_a(
        root,
        "diagnosis.csv",
        dx_header,
        [
            [f"0010{i}", "2023-01-05", "2022/12/1", "C34.1" if i != 3 else "肺癌待查 C34", "8140/3", "腺癌", "1"]
            for i in range(6)
        ],
    )
    wb = load_workbook(root / "raw" / "siteB" / "emr_export.xlsx")
    ws = wb["Clinical"]
    ws["J2"] = "#DIV/0!"  # ECOG PS of B200: an error cell
    ws["N3"] = "=K3&L3"  # Stage of B201: a formula openpyxl saves without a cached value
    wb.save(root / "raw" / "siteB" / "emr_export.xlsx")
    return cu.curate("clinical", path)


def test_raw_codes_are_mapped_or_nulled_with_their_reason(hygiene: cu.modalities.Curated) -> None:
    p = hygiene.data.tables["patients"].set_index("patient")
    sex = {mrn: p.loc[pseudonym(mrn, "A"), "sex"] for mrn in ("00100", "00101", "00102", "00103", "00104")}
    assert sex == {"00100": "male", "00101": "female", "00102": "unknown", "00103": pd.NA, "00104": "female"}
    reasons = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/missing_reasons.parquet")
    got = reasons.loc[reasons["patient"] == pseudonym("00103", "A")].set_index("field")["reason"]
    assert got["sex"] == "unmapped_value"
    f = hygiene.failures
    assert (
        (f["check_id"] == "clinical.conformance.allowed_values")
        & (f["field"] == "sex")
        & (f["pseudonym"] == pseudonym("00103", "A"))
    ).any()
    written = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/patients.parquet")
    assert set(written["sex"].dropna()) <= {"male", "female", "unknown"}


def test_control_characters_removed_with_a_note(hygiene: cu.modalities.Curated) -> None:
    q = hygiene.quarantine
    note = q[(q["reason"] == "control_characters")]
    assert note[["stage", "source", "record", "field"]].values.tolist() == [
        ["load:values", "clinical[0]", "line 6", "sex"]
    ]
    assert "U+0000" in note["detail"].iloc[0]


def test_negative_and_impossible_ages_are_never_written(hygiene: cu.modalities.Curated) -> None:
    written = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/patients.parquet").set_index("patient")
    reasons = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/missing_reasons.parquet")
    for mrn, site in (("00104", "A"), ("C301", "C")):  # born after the diagnosis; 123 years old
        assert pd.isna(written.loc[pseudonym(mrn, site), "age_at_diagnosis"])
        hit = reasons[(reasons["patient"] == pseudonym(mrn, site)) & (reasons["field"] == "age_at_diagnosis")]
        assert hit["reason"].tolist() == ["out_of_range"]
    f = hygiene.failures
    named = set(f.loc[f["check_id"] == "clinical.plausibility.age_at_diagnosis", "pseudonym"])
    assert {pseudonym("00104", "A"), pseudonym("C301", "C")} <= named


def test_repeated_header_with_different_values_quarantines_the_record(hygiene: cu.modalities.Curated) -> None:
    q = hygiene.quarantine
    hit = q[q["reason"] == "conflicting_duplicate_header"]
    assert hit[["source", "record", "field"]].values.tolist() == [["clinical[0]", "line 7", "sex"]]
    led = hygiene.ledger
    row = led[(led["stage"] == "load") & (led["source"] == "clinical[0]")].iloc[0]
    assert (row["n_in"], row["n_accepted"], row["n_quarantined"]) == (6, 5, 1) and row["balanced"]


def test_full_width_header_maps_and_a_renamed_header_is_named(hygiene: cu.modalities.Curated) -> None:
    c = hygiene.data.tables["conditions"]
    assert (c.loc[c["site"] == "A", "icd10"] == "C34.1").all()  # ＩＣＤ－１０编码 matched ICD-10编码
    f = hygiene.failures
    miss = f[f["check_id"] == "clinical.completeness.missing_header"]
    assert miss["field"].tolist() == ["ecog"]
    assert "clinical[1]: mapped header 'ECOG评分'" in miss["rule"].iloc[0]
    assert "closest headers present: 'ECOG 评分'" in miss["rule"].iloc[0]


def test_excel_errors_and_uncached_formulas_are_quarantined_per_field(hygiene: cu.modalities.Curated) -> None:
    q = hygiene.quarantine
    err = q[q["reason"] == "excel_error"].sort_values("record")
    assert err[["stage", "source", "record", "field"]].values.tolist() == [
        ["load:values", "clinical[5]", "line 2", "ecog"],
        ["load:values", "clinical[5]", "line 3", "stage_group"],
    ]
    assert "#DIV/0!" in err["detail"].iloc[0] and "cached value" in err["detail"].iloc[1]
    reasons = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/missing_reasons.parquet")
    hit = reasons[reasons["reason"] == "excel_error"].set_index("field")["patient"]
    assert hit["ecog"] == pseudonym("B200", "B") and hit["stage_group"] == pseudonym("B201", "B")


def test_empty_encrypted_and_header_only_sources_are_findings_not_crashes(tmp_path: Path) -> None:
    from .tabular_fixture import A_TX

    path = make_cohort(tmp_path)
    (tmp_path / "raw" / "siteA" / "patients.csv").write_bytes(b"")
    _rewrite_a(tmp_path, "treatments.csv", A_TX, [])  # header only
    (tmp_path / "raw" / "siteB" / "emr_export.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024)
    r = cu.curate("clinical", path, write=False)
    token = r.ctx.keyring.token
    q = r.quarantine
    enc = q[q["reason"] == "encrypted_workbook"]
    assert set(enc["record"]) == {token("file", "raw/siteB/emr_export.xlsx")} and len(enc) == 2
    assert "export it without a password" in enc["detail"].iloc[0]
    f = r.failures
    empty = f[f["check_id"] == "clinical.completeness.source_empty"]
    assert set(empty["field"]) == {"clinical[0]", "clinical[3]", "clinical[5]", "clinical[6]"}
    rules = dict(zip(empty["field"], empty["rule"], strict=True))
    assert (
        rules["clinical[0]"] == f"file {token('file', 'raw/siteA/patients.csv')}: 0-byte file; re-export it "
        "with its records, or remove it from the source"
    )
    assert "header only" in rules["clinical[3]"] and "export it without a password" in rules["clinical[5]"]
    assert not any("emr_export" in rule or "patients.csv" in rule for rule in rules.values())
    assert r.checks.set_index("check_id").loc["clinical.completeness.source_empty", "verdict"] == "fail"
    assert r.data.ledger.check().verdict == "pass"


def test_cohort_value_maps_apply_before_the_dictionary_and_are_validated(tmp_path: Path) -> None:
    import yaml

    from curation.errors import ConfigError

    from .tabular_fixture import A_PAT

    path = make_cohort(tmp_path)
    _rewrite_a(
        tmp_path,
        "patients.csv",
        A_PAT,
        [
            [f"0010{i}", f"张{i}", sex, "1960-03-01", f"11010119600301{i:03d}X", f"1380000{i:04d}", "2023-02-01"]
            for i, sex in enumerate(["X", "1", "9", "男", "女", "x"])
        ],
    )
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["value_maps"] = {"sex": {"X": "unknown", 1: "female"}}  # a site that writes 1 for women; YAML int key
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = cu.curate("clinical", path, write=False)
    p = r.data.tables["patients"]
    got = p.loc[p["site"] == "A"].set_index("patient")["sex"]
    assert [got[pseudonym(f"0010{i}", "A")] for i in range(6)] == [
        "unknown",
        "female",
        "unknown",
        "male",
        "female",
        "unknown",
    ]
    cfg["value_maps"] = {"sex": {"X": "other"}, "sx": {"a": "b"}}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"value_maps.sex: 'other' not one of the allowed values \(female, male, "
        r"unknown\)[\s\S]*value_maps.sx: not a dictionary field; did you mean 'sex'",
    ):
        cu.curate("clinical", path, write=False)


def test_a_malformed_code_is_nulled_with_its_reason_and_still_named(hygiene: cu.modalities.Curated) -> None:
    cond = hygiene.data.tables["conditions"].set_index("patient")
    assert pd.isna(cond.loc[pseudonym("00103", "A"), "icd10"])
    written = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/conditions.parquet")
    assert not written["icd10"].dropna().str.contains("肺癌").any()
    reasons = pd.read_parquet(hygiene.ctx.bundle.root / "data/clinical/missing_reasons.parquet")
    got = reasons.loc[(reasons["patient"] == pseudonym("00103", "A")) & (reasons["field"] == "icd10"), "reason"]
    assert got.tolist() == ["malformed_code"]
    f = hygiene.failures
    hit = f[(f["check_id"] == "clinical.conformance.icd10") & (f["pseudonym"] == pseudonym("00103", "A"))]
    assert hit["rule"].tolist() == ["malformed code"]


def test_a_wide_export_row_per_treatment_repeats_the_other_tables_once(tmp_path: Path) -> None:
    import yaml

    rows = [
        "住院号,性别,诊断日期,ICD-10编码,治疗类型,开始日期",
        "P1,男,2023-01-05,C34.1,手术,2023-01-20",
        "P1,男,2023-01-05,C34.1,化疗,2023-02-20",  # patients and conditions repeated
        "P1,男,2023-01-06,C34.1,放疗,2023-03-20",  # conditions differs: kept; patients repeated
        "P2,女,2023-01-05,C34.1,手术,2023-01-20",  # P1's first row but another patient: kept
        "P1,男,2023-01-05,C34.1,手术,2023-04-20",  # conditions repeats P1's first row again
        "P3,女,2023-01-05,C34.1,手术,2023-01-20",
    ]
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "k.key").write_text("0123456789abcdef" * 4)
    (tmp_path / "k.key").chmod(0o600)
    cfg = {
        "cohort": {"name": "wide"},
        "sites": [{"id": "A"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": {
            "clinical": [
                {
                    "site": "A",
                    "path": "wide.csv",
                    "format": "csv",
                    "columns": {
                        "住院号": "admission_number",
                        "性别": "sex",
                        "诊断日期": "diagnosis_date",
                        "ICD-10编码": "icd10",
                        "治疗类型": "treatment_type",
                        "开始日期": "treatment_start",
                    },
                    "values": {
                        "sex": {"男": "male", "女": "female"},
                        "treatment_type": {"手术": "surgery", "化疗": "chemotherapy", "放疗": "radiotherapy"},
                    },
                }
            ]
        },
    }
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = cu.curate("clinical", path, write=False)
    t = r.data.tables
    p1, p2, p3 = (r.ctx.keyring.patient(m, site="A") for m in ("P1", "P2", "P3"))
    assert t["patients"]["patient"].tolist() == [p1, p2, p3]
    assert t["conditions"]["patient"].tolist() == [p1, p1, p2, p3]
    assert t["conditions"]["_line"].tolist() == [2, 4, 5, 7]  # the first of each repeated record is kept
    assert len(t["treatments"]) == 6
    led = r.ledger.set_index("stage")
    assert led.loc["standardize:patients", "excluded_by_rule"] == "repeated_row=3"
    assert led.loc["standardize:conditions", "excluded_by_rule"] == "repeated_row=2"
