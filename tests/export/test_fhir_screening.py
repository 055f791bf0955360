"""FHIR export of screening participants (issue 20 with issue 15): a participant's screening encounter,
family history or lung nodule (Z12.2, Z80.1, R91.x) is not an mCODE PrimaryCancerCondition; only malignant
neoplasms (ICD-10 C00-C97, D00-D09) are. The others are plain Conditions, counted in coverage.csv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from curation.export import export
from curation.export.fhir import primary_cancer

from .bundle_fixture import PATIENTS

fhir_resources = pytest.importorskip("fhir.resources.R4B", reason="pip install 'curation[export]'")
PROFILE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
SCREENING = ["Z12.2", "Z80.1", "R91.1", "R91.8"]


def test_only_malignant_neoplasms_are_primary_cancer() -> None:
    codes = pd.Series(
        [
            "C34.1",
            "c34.9",
            "C97",
            "C76.0",
            "C80.1",
            "C78.0",
            "C77.1",
            "C79.3",
            "D02.2",
            "D09.9",
            "D38.1",
            *SCREENING,
            None,
        ],
        dtype="string",
    )
    assert primary_cancer(codes).tolist() == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        True,
        True,
        False,
        *[False] * 4,
        False,
    ]


@pytest.fixture(scope="module")
def screened(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, pd.DataFrame]:
    """The export bundle with four participants' non-cancer conditions added (one of them also has cancer)."""
    root = tmp_path_factory.mktemp("screening") / "bundle"
    shutil.copytree(bundle, root)
    path = root / "data" / "clinical" / "conditions.parquet"
    cond = pd.read_parquet(path)
    extra = cond.head(0).reindex(range(4))
    extra["patient"] = pd.array([PATIENTS[-1], PATIENTS[-1], PATIENTS[1], PATIENTS[0]], dtype="string")
    extra["icd10"] = pd.array(SCREENING, dtype="string")
    extra["diagnosis_date"] = cond["diagnosis_date"].iloc[0]
    cond = pd.concat([cond, extra], ignore_index=True)
    cond.to_parquet(path, index=False)
    to = tmp_path_factory.mktemp("fhir-screening")
    return to, export("fhir", root, to=to), cond


def _conditions(to: Path) -> list[dict]:
    lines = (to / "Condition.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_screening_conditions_are_plain_conditions(screened: tuple[Path, object, pd.DataFrame]) -> None:
    to, result, cond = screened
    res = _conditions(to)
    assert len(res) == len(cond)  # none dropped
    model = fhir_resources.get_fhir_model_class("Condition")
    for r in res:
        model.model_validate(r)
        primary = PROFILE in r.get("meta", {}).get("profile", [])
        assert primary == r["code"]["coding"][0]["code"].startswith("C"), r["code"]
        if not primary:
            assert "bodySite" not in r and "meta" not in r
            assert not any("histology" in e["url"] for e in r.get("extension", []))
    n_cancer = int(primary_cancer(cond["icd10"]).sum())
    assert result.counts["Condition"] == n_cancer and result.counts["NonCancerCondition"] == len(SCREENING)
    cov = result.coverage.set_index("element").loc["Condition as mCODE PrimaryCancerCondition"]
    assert (cov["n_values"], cov["n_mapped"], cov["n_unmapped"]) == (len(cond), n_cancer, len(SCREENING))
    assert "Condition as mCODE PrimaryCancerCondition" in (to / "coverage.csv").read_text(encoding="utf-8")


def test_stage_groups_refer_to_the_cancer_not_the_screening_encounter(
    screened: tuple[Path, object, pd.DataFrame],
) -> None:
    to, _, _ = screened
    primary = {f"Condition/{r['id']}" for r in _conditions(to) if PROFILE in r.get("meta", {}).get("profile", [])}
    observations = [json.loads(x) for x in (to / "Observation.ndjson").read_text(encoding="utf-8").splitlines()]
    focus = {f["reference"] for o in observations for f in o.get("focus", [])}
    assert focus and focus <= primary
