"""GDC TCGA-LUSC (issue 13, item 6 in part): a row filter in the source options (``where:``). The
export has one row per treatment, and a treatment row marked treatment_or_therapy 'no' (or 'not
reported') is not a treatment given: ``where`` keeps those rows out of the treatments table, counted in
the ledger as excluded, while the patient's other tables still come from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import curation as cu

from .conftest import need

HERE = Path(__file__).parents[1] / "real"


def _cohort(root: Path, where: dict[str, Any]) -> Path:
    folder = need("gdc-tcga-lusc-qurro")
    cfg = yaml.safe_load((HERE / "gdc_tcga_lusc.yaml").read_text(encoding="utf-8"))
    del cfg["sources"]["exposure"]
    src = cfg["sources"]["clinical"][0]
    src["path"] = str(folder / "clinical.tsv")
    src["options"] = {"where": where}
    cfg["secret"] = {"file": "k.key"}
    (root / "k.key").write_text("0123456789abcdef" * 4)
    (root / "k.key").chmod(0o600)
    (root / "cohort.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return root / "cohort.yaml"


def test_where_keeps_treatments_not_given_out_of_the_treatments_table(tmp_path: Path) -> None:
    run = cu.curate(
        "clinical", _cohort(tmp_path, {"treatment_or_therapy": {"in": ["yes"], "table": "treatments"}}), write=False
    )
    t = run.data.tables
    assert len(t["patients"]) == 135 and len(t["treatments"]) == 59  # before: 270 treatments
    assert t["treatments"]["treatment_type"].value_counts().to_dict() == {"chemotherapy": 41, "radiotherapy": 18}
    led = run.ledger.set_index("stage")
    assert led.loc["standardize:treatments", "excluded_by_rule"] == "where:treatment_or_therapy=211"
    assert led["balanced"].all()


def test_where_on_the_whole_source_and_a_wrong_column(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    run = cu.curate(
        "clinical", _cohort(tmp_path / "a", {"treatment_or_therapy": {"not_in": ["no", "not reported"]}}), write=False
    )
    load = run.ledger.set_index("stage").loc["load"]
    assert (load["n_in"], load["n_accepted"], load["excluded_by_rule"]) == (270, 59, "where:treatment_or_therapy=211")
    (tmp_path / "b").mkdir()
    run = cu.curate("clinical", _cohort(tmp_path / "b", {"treatment_given": {"in": ["yes"]}}), write=False)
    [row] = run.quarantine.query("reason == 'missing_columns'").itertuples()
    assert "clinical[0] options.where column(s) 'treatment_given' not in the file" in row.detail
    c = run.checks.set_index("check_id")
    assert c.loc["clinical.completeness.any_accepted", "verdict"] == "fail"  # nothing else was read


def test_a_row_filter_needs_exactly_one_list() -> None:
    from curation.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match="exactly one of"):
        cu.modalities.registry.source_options(
            "clinical", {"where": {"x": {"in": ["a"], "not_in": ["b"]}}}, where="sources.clinical[0]"
        )


def test_birth_year_or_age_at_diagnosis_count_as_the_birth_field(tmp_path: Path) -> None:
    """GDC gives year_of_birth and age_at_index, never a birth date: before, 135 of 135 birth dates were
    missing and the ages went out as given (one of 90 or more, not top-coded)."""
    cfg = _cohort(tmp_path, {})
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["sources"]["clinical"][0]["columns"].update(
        {"year_of_birth": "birth_year", "age_at_index": "age_at_diagnosis"}
    )
    del data["sources"]["clinical"][0]["options"]
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    run = cu.curate("clinical", cfg, write=False)
    c = run.checks.set_index("check_id")
    assert c.loc["clinical.completeness.birth_date", ["n_checked", "n_failed"]].tolist() == [135, 3]  # the '--' ones
    assert c.loc["clinical.plausibility.age_at_diagnosis", ["verdict", "n_checked"]].tolist() == ["pass", 132]
    p = run.data.tables["patients"]
    old = p["age_at_diagnosis"] == "90+"
    assert old.sum() == 1 and p.loc[old, "birth_year"].isna().all()  # top-coded, its birth year suppressed
    assert pd.to_numeric(p["age_at_diagnosis"], errors="coerce").max() < 90
