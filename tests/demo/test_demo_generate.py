"""The demo generator: determinism, site formats, identifiers, timelines and the defects manifest."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import stat
import threading
from pathlib import Path

import pandas as pd
import pytest

from curation.demo._core import read_defects
from curation.demo.generate import MIN_PATIENTS, default_cohort, generate, plan
from curation.demo.roster import make_resident_id, resident_id_check_digit, resident_id_valid, stage_group

N = 36
SEED = 11


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tabular and genomics exports only: the imaging and immune generators test themselves."""
    out = tmp_path_factory.mktemp("demo")
    generate(out, patients=N, seed=SEED, external=())
    return out


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    generate(out, patients=N, seed=SEED)
    return out


@pytest.fixture(scope="module")
def demo_plan():
    return plan(patients=N, seed=SEED)


def test_same_seed_gives_byte_identical_files(demo: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, patients=N, seed=SEED, external=())
    assert _hashes(demo) == _hashes(again)


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files_in_every_modality(full_demo: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, patients=N, seed=SEED)
    first, second = _hashes(full_demo), _hashes(again)
    assert first.keys() == second.keys()
    differ = [k for k in first if first[k] != second[k]]
    assert not differ, f"files differ between two generations with the same seed: {differ[:5]}"
    assert any(k.endswith(".xlsx") for k in first)
    assert any(k.startswith("raw/dicom/") for k in first) and any(k.startswith("raw/singlecell/") for k in first)


def test_other_seed_gives_other_patients(demo_plan) -> None:
    other = plan(patients=N, seed=SEED + 1)
    assert set(other.roster["resident_id"]).isdisjoint(demo_plan.roster["resident_id"])


def test_layout_and_key(demo: Path) -> None:
    for rel in (
        "cohort.yaml",
        "keys/demo.key",
        "defects.json",
        "identifiers.txt",
        "raw/siteA/patients.csv",
        "raw/siteB/emr_export.xlsx",
        "raw/siteC/patients.csv",
        "raw/genomics/qc.tsv",
        "raw/genomics/sample_sheet.csv",
    ):
        assert (demo / rel).is_file(), rel
    key = (demo / "keys/demo.key").read_text().strip()
    assert len(key) == 64 and int(key, 16) >= 0


def test_demo_key_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    from curation.deid.keys import load_secret
    from curation.demo.generate import write_key

    old = os.umask(0o022)  # the usual umask: a plain write_text would give 0644
    try:
        wide = tmp_path / "wide.key"
        wide.write_text("x")
        wide.chmod(0o644)
        for p in (tmp_path / "new.key", wide):  # created 0600, and an existing 0644 file narrowed
            write_key(p, "ab" * 32)
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
            assert load_secret(file=p) == b"ab" * 32
    finally:
        os.umask(old)


def test_cohort_yaml_loads_and_maps_every_header(demo: Path) -> None:
    from curation import load_cohort

    cfg = load_cohort(demo / "cohort.yaml")
    assert stat.S_IMODE((demo / "keys/demo.key").stat().st_mode) == 0o600
    assert [s.id for s in cfg.sites] == ["A", "B", "C"]
    assert cfg.options["demo"] is True
    assert cfg.secret.file == "keys/demo.key"
    clinical = cfg.sources["clinical"]
    assert {s.table for s in clinical} == {"patients", "conditions", "staging", "treatments", "outcomes"}
    site_a = next(s for s in clinical if s.site == "A" and s.table == "patients")
    header = (demo / site_a.path).read_text(encoding="utf-8").splitlines()[0].split(",")
    assert set(header) == set(site_a.columns)
    assert site_a.columns["住院号"] == "admission_number"
    assert site_a.values["sex"] == {"男": "male", "女": "female"}
    assert site_a.missing["不详"] == "unknown"


def test_site_a_is_utf8_with_chinese_headers(demo: Path) -> None:
    text = (demo / "raw/siteA/patients.csv").read_bytes().decode("utf-8")
    for h in ("姓名", "性别", "出生日期", "住院号", "身份证号", "联系电话"):
        assert h in text.splitlines()[0]
    mrns = pd.read_csv(demo / "raw/siteA/patients.csv", dtype=str)["住院号"]
    assert mrns.str.startswith("0").all()  # leading zeros survive only as strings


def test_site_c_is_really_gb18030(demo: Path) -> None:
    raw = (demo / "raw/siteC/patients.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert "患者姓名" in text and "身份证号码" in text
    assert "年" in (demo / "raw/siteC/diagnosis.csv").read_bytes().decode("gb18030")


def test_site_b_is_excel_with_english_headers_and_mixed_dates(demo: Path) -> None:
    df = pd.read_excel(demo / "raw/siteB/emr_export.xlsx", sheet_name="Diagnosis", dtype=object)
    assert "Diagnosis Date" in df.columns and "MRN" in df.columns
    kinds = {type(v).__name__ for v in df["Diagnosis Date"].dropna()}
    assert {"datetime", "int"} <= kinds or {"Timestamp", "int"} <= kinds, kinds


def test_resident_id_check_digit() -> None:
    assert resident_id_check_digit("11010519491231002") == "X"  # the GB 11643 example
    assert resident_id_valid("11010519491231002X")
    assert not resident_id_valid("110105194912310021")
    rid = make_resident_id("310104", pd.Timestamp("1960-02-29"), 17, sex="F")
    assert resident_id_valid(rid) and rid[6:14] == "19600229" and int(rid[16]) % 2 == 0
    with pytest.raises(ValueError, match="expected 17 digits"):
        resident_id_check_digit("123")


def test_resident_ids_valid_and_embed_birth_date(demo_plan) -> None:
    r = demo_plan.roster
    assert r["resident_id"].map(resident_id_valid).all()
    assert (r["resident_id"].str[6:14] == r["birth_date"].dt.strftime("%Y%m%d")).all()
    sex_digit = r["resident_id"].str[16].astype(int) % 2
    assert ((sex_digit == 1) == (r["sex"] == "M")).all()
    assert r["resident_id"].is_unique and r["mrn"].is_unique


def _defect_pids(demo_plan, field: str) -> set[int]:
    by_pseudonym = dict(zip(demo_plan.roster["pseudonym"], demo_plan.roster["pid"], strict=True))
    return {
        by_pseudonym[d.pseudonym] for d in demo_plan.log.defects if d.field == field and d.pseudonym in by_pseudonym
    }


def test_timelines_coherent_except_planted(demo_plan) -> None:
    t = demo_plan.tables
    r = demo_plan.roster
    assert (r["birth_date"] < r["symptom_date"]).all()
    assert (r["symptom_date"] < r["diagnosis_date"]).all()
    assert (r["diagnosis_date"] < r["treatment_start"]).all()
    assert (r["treatment_start"] < r["last_followup_date"]).all()
    dead = r["death_date"].notna()
    assert (r.loc[dead, "death_date"] > r.loc[dead, "diagnosis_date"]).all()
    # the exported tables keep that order unless a defect was planted on the record
    cond = t["conditions"].merge(r[["pid", "birth_date"]], left_on="_pid", right_on="pid")
    skip = _defect_pids(demo_plan, "symptom_date") | _defect_pids(demo_plan, "diagnosis_date")
    ok = cond[~cond["_pid"].isin(skip)]
    assert (pd.to_datetime(ok["symptom_date"]) < pd.to_datetime(ok["diagnosis_date"])).all()
    tr = t["treatments"].merge(r[["pid", "diagnosis_date"]], left_on="_pid", right_on="pid")
    tr = tr[~tr["_pid"].isin(_defect_pids(demo_plan, "treatment_start"))]
    assert (pd.to_datetime(tr["treatment_start"]) > tr["diagnosis_date"]).all()
    assert (pd.to_datetime(tr["treatment_end"]) >= pd.to_datetime(tr["treatment_start"])).all()


def test_stage_follows_tnm_except_planted(demo_plan) -> None:
    st = demo_plan.tables["staging"]
    st = st[~st["_pid"].isin(_defect_pids(demo_plan, "stage_group"))]
    assert all(
        stage_group(a, b, c) == s for a, b, c, s in zip(st["ct"], st["cn"], st["cm"], st["stage_group"], strict=True)
    )
    assert stage_group("T2a", "N0", "M0") == "IB" and stage_group("T3", "N3", "M0") == "IIIC"
    assert stage_group("T1a", "N0", "M1c") == "IVB"


def test_every_contract_defect_is_planted(demo: Path) -> None:
    defects = read_defects(demo / "defects.json")
    expects = {(d.kind, d.expect) for d in defects}
    for pair in [
        ("missing_required", "clinical.completeness.diagnosis_date"),
        ("missing_required", "clinical.completeness.sex"),
        ("out_of_range_age", "clinical.plausibility.age_at_diagnosis"),
        ("invalid_icd10", "clinical.conformance.icd10"),
        ("invalid_icdo3", "clinical.conformance.icdo3_morphology"),
        ("invalid_allowed_value", "clinical.conformance.allowed_values"),
        ("tnm_stage_contradiction", "clinical.consistency.tnm_stage"),
        ("death_before_diagnosis", "clinical.consistency.death_after_diagnosis"),
        ("treatment_before_diagnosis", "clinical.consistency.treatment_after_diagnosis"),
        ("symptom_after_diagnosis", "clinical.consistency.dates_in_order"),
        ("duplicate_patient", "clinical.uniqueness.patient"),
        ("late_entry", "clinical.timeliness.entry_delay"),
        ("unparseable_date", "quarantine:unparseable_date"),
        ("malformed_line", "quarantine:malformed_line"),
        ("histology_ihc_contradiction", "pathology.consistency.histology_ihc"),
        ("out_of_range_pdl1", "pathology.plausibility.range"),
        ("smoking_contradiction", "exposure.consistency.smoking_pack_years"),
        ("out_of_range_pack_years", "exposure.plausibility.range"),
        ("missing_required", "exposure.completeness.smoking_status"),
        ("unit_error", "lab.conformance.unit"),
        ("duplicate_result", "lab.uniqueness.result"),
        ("malformed_vcf_line", "quarantine:malformed_line"),
        ("low_depth", "genomics.accuracy.sequencing_depth"),
        ("unlinked_id", "crossmodal.consistency.linkage"),
        ("sex_mismatch_dicom", "crossmodal.consistency.sex"),
        ("sex_mismatch_single_cell", "crossmodal.consistency.sex"),
        ("lost_to_followup", "clinical.timeliness.followup_currency"),
        ("late_pathology_report", "pathology.timeliness.report_delay"),
        ("late_questionnaire", "exposure.timeliness.questionnaire_age"),
        ("report_before_specimen", "crossmodal.consistency.specimen_before_report"),
        ("treatment_before_tissue_diagnosis", "crossmodal.consistency.treatment_after_diagnosis"),
        ("missing_required_modality", "crossmodal.completeness.required_modalities"),
        ("driver_in_squamous", "crossmodal.consistency.histology_driver"),
        ("sample_before_specimen", "crossmodal.consistency.sample_after_specimen"),
        ("slow_sequencing", "genomics.timeliness.turnaround"),
    ]:
        assert pair in expects, pair
    ids = [d.id for d in defects]
    assert len(ids) == len(set(ids))
    assert all(d.pseudonym or d.kind in ("malformed_line",) for d in defects)
    tabular = [d for d in defects if d.modality in ("clinical", "pathology", "exposure", "lab")]
    assert all(d.record for d in tabular), [d.id for d in tabular if not d.record]


@pytest.mark.slow
def test_defect_kinds_across_modalities(full_demo: Path) -> None:
    kinds = {(d.modality, d.kind) for d in read_defects(full_demo / "defects.json")}
    mine = {k for k in kinds if k[0] in ("clinical", "pathology", "exposure", "lab", "genomics")}
    assert len(mine) >= 22
    missing = [m for m in ("imaging", "immune") if importlib.util.find_spec(f"curation.demo.{m}") is None]
    if missing:
        pytest.skip(
            f"the {' and '.join(missing)} demo generator is not built yet; {len(kinds)} defect kinds without it"
        )
    assert len(kinds) >= 30, sorted(kinds)


def test_defects_sit_on_distinct_patients(demo_plan) -> None:
    """One planted record per patient; a record two checks catch (a treatment before the diagnosis is
    also before the specimen) is one defect with two expectations."""
    tabular = [d for d in demo_plan.log.defects if d.modality in ("clinical", "pathology", "exposure", "lab")]
    planted = {(d.pseudonym, demo_plan.planter.rows.get(d.id), d.field) for d in tabular}
    assert len({p for p, _, _ in planted}) == len(planted)


def test_sex_mismatch_flags_only_on_the_planted_patients(demo_plan) -> None:
    r = demo_plan.roster
    assert (r["dicom_sex"] != r["sex"]).sum() == 1
    assert r.loc[r["dicom_sex"] != r["sex"], "has_imaging"].all()
    assert (r["sc_sex"] != r["sex"]).sum() == int(r["has_single_cell"].any())


def _raw_identifier_values(demo: Path) -> set[str]:
    vals: set[str] = set()
    a = pd.read_csv(demo / "raw/siteA/patients.csv", dtype=str, keep_default_na=False)
    vals |= set(a[["姓名", "住院号", "身份证号", "联系电话", "家庭住址"]].to_numpy().ravel())
    b = pd.read_excel(demo / "raw/siteB/emr_export.xlsx", sheet_name="Patients", dtype=str, keep_default_na=False)
    vals |= set(b[["Patient Name", "MRN", "ID Card No", "Mobile", "Address"]].to_numpy().ravel())
    c = pd.read_csv(demo / "raw/siteC/patients.csv", dtype=str, encoding="gb18030", keep_default_na=False)
    vals |= set(c[["患者姓名", "住院号码", "身份证号码", "手机号", "现住址"]].to_numpy().ravel())
    for f, col in (("questionnaire.csv", "住院号"), ("lis_tumor_markers.csv", "住院号"), ("pathology.csv", "病理号")):
        vals |= set(pd.read_csv(demo / "raw/siteA" / f, dtype=str)[col])
    vals |= set(pd.read_csv(demo / "raw/genomics/sample_sheet.csv", dtype=str)["sample_id"])
    return {v for v in vals if v}


def test_identifiers_list_covers_every_identifier_written(demo: Path) -> None:
    listed = set((demo / "identifiers.txt").read_text(encoding="utf-8").splitlines())
    missing = _raw_identifier_values(demo) - listed
    assert not missing, f"{len(missing)} identifier values written but not listed"


def test_pathology_reports_carry_name_and_admission_number(demo: Path) -> None:
    df = pd.read_csv(demo / "raw/siteA/pathology.csv", dtype=str)
    pat = pd.read_csv(demo / "raw/siteA/patients.csv", dtype=str)
    names = dict(zip(pat["住院号"], pat["姓名"], strict=True))
    row = df.iloc[0]
    assert row["住院号"] in row["病理报告"] and names[row["住院号"]] in row["病理报告"]


def test_vcf_names_the_sample_in_column_and_headers(demo: Path) -> None:
    sheet = pd.read_csv(demo / "raw/genomics/sample_sheet.csv", dtype=str)
    sid = sheet["sample_id"].iloc[0]
    lines = (demo / "raw/genomics/vcf" / f"{sid}.vcf").read_text().splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    assert any(x.startswith("##SAMPLE=<ID=" + sid) for x in lines)
    assert any("CommandLine" in x and sid in x for x in lines)
    assert next(x for x in lines if x.startswith("#CHROM")).split("\t")[-1] == sid
    allvcf = "".join(p.read_text() for p in (demo / "raw/genomics/vcf").glob("*.vcf"))
    assert "SVTYPE=BND" in allvcf or "chr7\t55" in allvcf


def test_too_few_patients_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_PATIENTS} patients"):
        generate(tmp_path / "x", patients=10)


def test_refuses_to_overwrite_a_foreign_raw_folder(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(FileExistsError, match="not a generated demo"):
        generate(tmp_path, patients=MIN_PATIENTS)


def test_default_cohort_is_generated_once_under_concurrency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = importlib.import_module("curation.demo.generate")  # the package binds `generate` to the function
    calls: list[Path] = []
    barrier = threading.Barrier(2)

    def fake_generate(out: Path, *, patients: int, seed: int) -> Path:
        calls.append(out)
        barrier.wait(timeout=10)  # both callers generate at the same time; only one may win
        (out / "cohort.yaml").write_text(f"# {patients} {seed}\n", encoding="utf-8")
        (out / "defects.json").write_text("[]\n", encoding="utf-8")
        return out / "cohort.yaml"

    monkeypatch.setenv("CURATION_DEMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(g, "generate", fake_generate)
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(default_cohort())) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 2 and len(got) == 2
    assert got[0] == got[1] == tmp_path / "cache" / "cohort.yaml"
    assert (tmp_path / "cache" / ".complete").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # the loser's temporary folder is gone
    assert default_cohort() == got[0] and len(calls) == 2  # reused, not generated again


def test_default_cohort_is_a_real_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = importlib.import_module("curation.demo.generate")
    monkeypatch.setenv("CURATION_DEMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(g, "CACHE_PATIENTS", MIN_PATIENTS)
    monkeypatch.setattr(g, "EXTERNAL", {})  # the other generators are slow and tested elsewhere
    cohort = default_cohort()
    assert read_defects(cohort.parent / "defects.json")
    assert (cohort.parent / "raw" / "siteA" / "patients.csv").is_file()
    key = cohort.parent / "keys" / "demo.key"
    key.chmod(0o644)  # a cache written before key files had to be owner-only is narrowed on reuse
    assert default_cohort() == cohort and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_importing_the_demo_package_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, curation.demo; print(sorted(m for m in ('faker', 'pypinyin', 'openpyxl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
