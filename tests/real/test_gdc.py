"""The GDC TCGA-LUSC clinical and exposure exports ingest through their own cohort.yaml and the QC
report says what a curator would: no dates in the export, 7th-edition pathological staging, the
treatment rows of a one-row-per-treatment export recognised, smoking status not exported."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu

HERE = Path(__file__).parent
# as tests/conftest.py's real_data fixture, which is function-scoped: these fixtures are per module
REAL = Path(os.environ.get("CURATION_REAL_DATA", HERE.parents[2] / "shared" / "data" / "real"))
RELATIVE = "../../../shared/data/real/"

CASE_BARCODE = re.compile(r"TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REAL / "gdc-tcga-lusc-qurro").is_dir():
        pytest.skip(f"GDC sample data not found under {REAL} (set CURATION_REAL_DATA)")
    cfg = yaml.safe_load((HERE / "gdc_tcga_lusc.yaml").read_text(encoding="utf-8"))
    for sources in cfg["sources"].values():
        for s in sources:
            s["path"] = str(REAL / s["path"].removeprefix(RELATIVE))
    cfg["secret"] = {"file": "demo.key"}
    root = tmp_path_factory.mktemp("gdc")
    (root / "demo.key").write_text("0123456789abcdef" * 4)
    (root / "demo.key").chmod(0o600)  # the run refuses a key file others can read
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_committed_cohort_yaml_is_valid(secret_env: str) -> None:
    cfg = cu.load_cohort(HERE / "gdc_tcga_lusc.yaml", check_paths=False)
    assert cfg.sources["clinical"][0].columns["submitter_id#1"] == "admission_number"


@pytest.fixture(scope="module")
def clinical(cohort: Path) -> cu.modalities.Curated:
    return cu.curate("clinical", cohort)


def test_clinical_tables(clinical: cu.modalities.Curated) -> None:
    t = clinical.data.tables
    assert len(t["patients"]) == 135 and t["patients"]["patient"].is_unique
    assert len(t["treatments"]) == 270  # two treatment rows per case
    led = clinical.ledger.set_index("stage")
    assert "repeated_row=135" in led.loc["standardize:patients", "excluded_by_rule"]
    assert led["balanced"].all()
    c = t["conditions"]
    assert set(c["icd10"]) <= {"C34.1", "C34.2", "C34.3", "C34.8", "C34.9", "C34.10"}
    assert set(c["histology"].dropna()) == {"squamous_cell_carcinoma"}
    assert set(c["icdo3_topography"].dropna()) <= {"C34.0", "C34.1", "C34.2", "C34.3", "C34.8", "C34.9"}
    assert set(t["staging"]["stage_group"].dropna()) <= {"IA", "IB", "II", "IIA", "IIB", "IIIA", "IIIB", "IV"}
    # "Stage II" (no A/B) is not an AJCC lung stage group: the one allowed-values failure
    f = clinical.failures
    assert f.loc[f["check_id"] == "clinical.conformance.allowed_values", "field"].tolist() == ["stage_group"]


def test_qc_report_makes_sense(clinical: cu.modalities.Curated) -> None:
    c = clinical.checks.set_index("check_id")
    # GDC publishes intervals, not dates: every date field is missing, and says so
    assert (
        c.loc["clinical.completeness.diagnosis_date", "n_failed"]
        == c.loc["clinical.completeness.diagnosis_date", "n_checked"]
    )
    assert c.loc["clinical.completeness.sex", "verdict"] == "pass"
    assert c.loc["clinical.conformance.icd10", "verdict"] == "pass"  # C34.10 is an ICD-10-CM extension
    assert c.loc["clinical.conformance.icdo3_morphology", "verdict"] == "pass"
    assert c.loc["clinical.consistency.histology_morphology", "verdict"] == "pass"
    assert c.loc["clinical.consistency.tnm_stage", "verdict"] == "not_applicable"  # 5th-7th edition or none
    assert c.loc["clinical.uniqueness.patient", "verdict"] == "pass"
    assert (c["verdict"] != "error").all()
    f = clinical.failures
    assert not f["pseudonym"].str.contains("TCGA").any()


def test_survival_from_intervals(clinical: cu.modalities.Curated) -> None:
    from curation.modalities.clinical import survival_frame

    s = survival_frame(clinical.data)
    assert len(s) == 135 and s["days"].notna().mean() > 0.9 and s["event"].sum() > 30
    assert {"I", "II", "III"} <= set(s["stage"])
    fig = clinical.figures()["Overall survival by stage"]
    assert len(fig.data) >= 6  # a curve and a band per stage


def test_outputs_hold_no_case_barcode(clinical: cu.modalities.Curated) -> None:
    for p in (clinical.ctx.bundle.root / "data" / "clinical").glob("*.parquet"):
        assert not CASE_BARCODE.search(p.read_bytes().decode("latin-1"))
    assert any(i.startswith("TCGA-") for i in clinical.data.identifiers.scan_values())


def test_exposure(cohort: Path) -> None:
    run = cu.curate("exposure", cohort)
    e = run.data.tables["exposure"]
    # 117 cases give pack-years; one is above the plausible 150 and is not written (out_of_range),
    # while exposure.plausibility.range still names it
    assert len(e) == 135 and e["pack_years"].notna().sum() == 116
    c = run.checks.set_index("check_id")
    assert c.loc["exposure.completeness.smoking_status", "n_failed"] == 135  # not in the export
    assert c.loc["exposure.plausibility.range", "n_failed"] == 1
    reasons = pd.read_parquet(run.ctx.bundle.root / "data/exposure/missing_reasons.parquet")
    assert set(reasons["reason"]) == {"not_collected", "unknown", "out_of_range"}
    assert reasons.loc[reasons["reason"] == "out_of_range", "field"].tolist() == ["pack_years"]


def test_unmapped_columns_are_reported(clinical: cu.modalities.Curated) -> None:
    c = clinical.checks.set_index("check_id").loc["clinical.conformance.unmapped_columns"]
    assert c["verdict"] == "warn" and c["severity"] == "info"
    f = clinical.failures
    dropped = set(f.loc[f["check_id"] == "clinical.conformance.unmapped_columns", "field"])
    assert {"case_id", "submitter_id.1", "days_to_birth", "year_of_birth"} <= dropped
    assert "submitter_id" not in dropped and "gender" not in dropped


@pytest.mark.slow
def test_clinical_notebook_on_gdc(cohort: Path, tmp_path: Path) -> None:
    import nbformat
    import papermill as pm

    nb_in = HERE.parents[1] / "notebooks" / "clinical.ipynb"
    out = tmp_path / "clinical.ipynb"
    pm.execute_notebook(
        str(nb_in),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        parameters={"cohort": str(cohort), "out": str(tmp_path / "bundle")},
    )
    nb = nbformat.read(out, as_version=4)
    assert not [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    # no case barcode (TCGA-XX-XXXX); the cohort's own name, TCGA-LUSC, is configuration, not a patient's
    assert not CASE_BARCODE.search(out.read_text(encoding="utf-8"))
