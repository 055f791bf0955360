"""FHIR export: every resource parses with fhir.resources (R4B models), references resolve, counts agree
with the curated tables, codes come from the dictionary, and coverage is reported."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from curation.export import export

fhir_resources = pytest.importorskip("fhir.resources.R4B", reason="pip install 'curation[export]'")


def _profile(res: dict) -> str:
    return "".join(res.get("meta", {}).get("profile", []))


def _resources(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.ndjson")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


@pytest.fixture(scope="module")
def fhir(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    to = tmp_path_factory.mktemp("fhir")
    # small chunks and bundles: ids stay unique across chunks, bundles roll over
    return to, export("fhir", bundle, to=to, chunk_rows=50, bundle_entries=100)


def test_every_resource_parses_with_fhir_resources(fhir: tuple[Path, object]) -> None:
    to, _ = fhir
    resources = _resources(to)
    assert resources
    for res in resources:
        model = fhir_resources.get_fhir_model_class(res["resourceType"])
        model.model_validate(res)  # raises on any element the FHIR model refuses
    for path in sorted(to.glob("transaction-*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        fhir_resources.get_fhir_model_class("Bundle").model_validate(doc)
        assert doc["type"] == "transaction"
        assert all(e["request"]["method"] == "PUT" for e in doc["entry"])
        assert len(doc["entry"]) <= 100


def test_ids_are_unique_and_every_reference_resolves(fhir: tuple[Path, object]) -> None:
    to, _ = fhir
    resources = _resources(to)
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys))
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                refs.append(node["reference"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(resources)
    assert refs and set(refs) <= set(keys)
    in_bundles = sum(len(json.loads(p.read_text(encoding="utf-8"))["entry"]) for p in to.glob("transaction-*.json"))
    assert in_bundles == len(resources) and len(list(to.glob("transaction-*.json"))) > 1


def test_counts_agree_with_the_curated_tables(bundle: Path, fhir: tuple[Path, object]) -> None:
    to, result = fhir
    data = bundle / "data"
    lab = pd.read_parquet(data / "lab/results.parquet")
    variants = pd.read_parquet(data / "genomics/variants.parquet")
    staging = pd.read_parquet(data / "clinical/staging.parquet")
    trt = pd.read_parquet(data / "clinical/treatments.parquet")
    counts = result.counts
    assert counts["Patient"] == pd.read_parquet(data / "clinical/patients.parquet")["patient"].nunique()
    assert counts["Condition"] == len(pd.read_parquet(data / "clinical/conditions.parquet"))
    assert counts["TumorMarkerTest"] == len(lab)
    assert counts["GenomicVariant"] == len(variants)
    assert counts["TNMStageGroup"] == int(staging["stage_group"].notna().sum())
    assert counts["TNMCategory"] == int(staging[["ct", "cn", "cm", "pt", "pn", "pm"]].notna().sum().sum())
    assert counts["MedicationAdministration"] == int(trt["treatment_type"].isin(["chemotherapy", "targeted"]).sum())
    assert counts["Procedure"] == int(trt["treatment_type"].isin(["surgery", "radiotherapy"]).sum())
    assert counts["ImagingStudy"] == pd.read_parquet(data / "imaging/series.parquet")["study_uid"].nunique()
    by_profile = Counter(_profile(r).rsplit("/", 1)[-1] for r in _resources(to))
    assert by_profile["mcode-tumor-marker-test"] == len(lab)
    assert by_profile["mcode-genomic-variant"] == len(variants)
    assert by_profile["mcode-cancer-patient"] == counts["Patient"]


def test_codes_come_from_the_dictionary(fhir: tuple[Path, object]) -> None:
    to, result = fhir
    res = _resources(to)
    markers = [r for r in res if "mcode-tumor-marker-test" in _profile(r)]
    cea = next(r for r in markers if r["code"]["text"] == "CEA")
    assert cea["code"]["coding"] == [{"system": "http://loinc.org", "code": "83085-1"}]
    assert cea["valueQuantity"]["system"] == "http://unitsofmeasure.org" and cea["valueQuantity"]["code"] == "ng/mL"
    progrp = next(r for r in markers if r["code"]["text"] == "ProGRP")
    assert "coding" not in progrp["code"]  # no LOINC in lab_units.yaml: text only, counted as unmapped
    assert any(r.get("valueQuantity", {}).get("comparator") == "<" for r in markers)
    cond = next(r for r in res if r["resourceType"] == "Condition")
    assert cond["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
    patient = next(r for r in res if r["resourceType"] == "Patient")
    assert set(patient) <= {
        "resourceType",
        "id",
        "meta",
        "identifier",
        "gender",
        "birthDate",
        "deceasedDateTime",
        "deceasedBoolean",
    }  # the pseudonym only: no name, address, telecom
    cov = result.coverage.set_index("element")
    loinc = cov.loc["TumorMarkerTest.code"]
    assert loinc["n_values"] == len(markers)
    assert loinc["n_unmapped"] == sum(r["code"]["text"] == "ProGRP" for r in markers)
    assert (to / "coverage.csv").is_file()


def test_relative_dates_are_counted_from_the_anchors(relative_bundle: Path, tmp_path: Path) -> None:
    export("fhir", relative_bundle, to=tmp_path)
    anchors = pd.read_parquet(relative_bundle / "quality/anchors/clinical.parquet").set_index("patient")
    res = _resources(tmp_path)
    cond = next(r for r in res if r["resourceType"] == "Condition")
    patient = cond["subject"]["reference"].split("/")[1]
    asserted = next(e for e in cond["extension"] if e["url"].endswith("condition-assertedDate"))
    assert asserted["valueDateTime"] == str(anchors.loc[patient, "diagnosis_date"])
    assert all("effectiveDateTime" in r for r in res if "mcode-tumor-marker-test" in _profile(r))
