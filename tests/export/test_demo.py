"""Acceptance on the generated demo cohort: its exports validate with the field's own tools, their
counts agree with the curated Parquet tables, and the leak scan finds none of the demo's identifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from .cbio_rules import check_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo (30 patients) curated modality by modality, then its `exports` step (targets from the demo's
    cohort.yaml); no notebooks, so the cost is the curation itself."""
    import curation
    from curation.demo import generate
    from curation.modalities import registry

    root = tmp_path_factory.mktemp("export-demo")
    cohort = generate(root / "demo", patients=30, seed=5)
    config = curation.load_cohort(cohort)
    assert config.exports.targets == ["fhir", "omop", "cbioportal", "cellxgene"]
    out = root / "bundle"
    for name in registry.ordered([n for n in registry.names() if config.sources.get(n)]):
        curation.curate(name, config, out=out)
    curation.curate("exports", config, out=out)
    return root / "demo", out


def test_the_demo_exports_validate(demo: tuple[Path, Path]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    _, out = demo
    fhir = out / "exports" / "fhir"
    n = 0
    for path in fhir.glob("*.ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            res = json.loads(line)
            get_fhir_model_class(res["resourceType"]).model_validate(res)
            n += 1
    assert n > 1000
    check_study(out / "exports" / "cbioportal")
    omop = out / "exports" / "omop"
    persons = set(pd.read_parquet(omop / "person.parquet")["person_id"])
    for table in (
        "condition_occurrence",
        "measurement",
        "observation",
        "drug_exposure",
        "procedure_occurrence",
        "specimen",
        "episode",
        "observation_period",
    ):
        assert set(pd.read_parquet(omop / f"{table}.parquet")["person_id"]) <= persons, table
    from cellxgene_schema.validate import validate

    ok, errors, _ = validate(str(out / "exports" / "cellxgene" / "immune_cellxgene.h5ad"))
    assert ok, errors


def test_counts_agree_with_the_curated_tables(demo: tuple[Path, Path]) -> None:
    _, out = demo
    lab = pd.read_parquet(out / "data/lab/results.parquet")
    fhir_lab = sum(
        1
        for line in (out / "exports/fhir/Observation.ndjson").read_text(encoding="utf-8").splitlines()
        if "mcode-tumor-marker-test" in line
    )
    assert fhir_lab == len(lab)
    patients = pd.read_parquet(out / "data/clinical/patients.parquet")["patient"].nunique()
    fhir_patients = len((out / "exports/fhir/Patient.ndjson").read_text(encoding="utf-8").splitlines())
    assert fhir_patients == patients
    samples = pd.read_parquet(out / "data/genomics/samples.parquet")["sample"].nunique()
    body = (out / "exports/cbioportal/data_clinical_sample.txt").read_text(encoding="utf-8").splitlines()[5:]
    assert len(body) == samples
    cov = pd.read_csv(out / "exports/fhir/coverage.csv").set_index("element")
    assert cov.loc["TumorMarkerTest.code", "n_values"] == len(lab)


def test_the_leak_scan_finds_no_identifier_in_the_exports(demo: tuple[Path, Path]) -> None:
    scan = pytest.importorskip("curation.deid.scan")
    root, out = demo
    ids = scan.read_identifiers(root / "identifiers.txt")
    assert [str(h) for h in scan.scan_bundle(out / "exports", ids)] == []
