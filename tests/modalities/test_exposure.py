from __future__ import annotations

import pytest

import curation as cu

from .tabular_fixture import make_cohort, pseudonym


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("exposure", make_cohort(tmp_path_factory.mktemp("exp")))


def _failed(run: cu.modalities.Curated, check_id: str) -> set[str]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "pseudonym"])


def test_planted_defects(run: cu.modalities.Curated) -> None:
    assert _failed(run, "exposure.consistency.smoking_pack_years") == {pseudonym("00100", "A")}
    assert _failed(run, "exposure.plausibility.range") == {pseudonym("00101", "A")}
    # B201's "Sometimes" is not a smoking status: named by allowed_values, and missing (with its reason)
    assert _failed(run, "exposure.completeness.smoking_status") == {pseudonym("00102", "A"), pseudonym("B201", "B")}
    assert _failed(run, "exposure.conformance.allowed_values") == {pseudonym("B201", "B")}


def test_not_collected_reason_kept(run: cu.modalities.Curated) -> None:
    f = run.failures
    rules = f.loc[f["check_id"] == "exposure.completeness.smoking_status"].set_index("pseudonym")["rule"]
    assert rules[pseudonym("00102", "A")] == "missing: not_collected"
    assert rules[pseudonym("B201", "B")] == "missing: unmapped_value"


def test_outputs_and_figures(run: cu.modalities.Curated) -> None:
    import pandas as pd

    df = pd.read_parquet(run.ctx.bundle.root / "data/exposure/exposure.parquet")
    assert len(df) == 6 and df["pack_years"].dtype == "float64"
    # an unmapped code is never written as is: null, with its reason in missing_reasons
    assert set(df["smoking_status"].dropna()) == {"never", "current", "former"}
    reasons = pd.read_parquet(run.ctx.bundle.root / "data/exposure/missing_reasons.parquet")
    hit = reasons[(reasons["field"] == "smoking_status") & (reasons["patient"] == pseudonym("B201", "B"))]
    assert hit["reason"].tolist() == ["unmapped_value"]
    assert "Exposures" in run.figures()
