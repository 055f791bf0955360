"""GDC TCGA-LUSC with its dates declared as days from the diagnosis (issue 13, item 6): before, with
no calendar date in the export, every date field was missing and every ordering check had nothing to
compare; with ``options.relative_dates`` (tests/realdata/gdc_tcga_lusc_days.yaml) the day counts are
the dates, judged honestly: present where GDC gives them, in order, and follow-up as old as it is."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu

from .conftest import KEY, need

HERE = Path(__file__).parent


def gdc_days_cohort(root: Path) -> Path:
    """The example cohort, pointing at the corpus wherever it is, with a key file."""
    folder = need("gdc-tcga-lusc-qurro")
    cfg = yaml.safe_load((HERE / "gdc_tcga_lusc_days.yaml").read_text(encoding="utf-8"))
    cfg["sources"]["clinical"][0]["path"] = str(folder / "clinical.tsv")
    cfg["secret"] = {"file": "k.key"}
    (root / "k.key").write_text(KEY)
    (root / "k.key").chmod(0o600)
    (root / "cohort.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return root / "cohort.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("clinical", gdc_days_cohort(tmp_path_factory.mktemp("gdc_days")))


def test_day_counts_make_the_date_fields_present(run: cu.modalities.Curated) -> None:
    c = run.checks.set_index("check_id")
    n = c[["verdict", "n_checked", "n_failed"]]
    assert n.loc["clinical.completeness.diagnosis_date"].tolist() == ["pass", 135, 0]  # was 135 of 135 missing
    # 97 of 135 cases have a day of last follow-up (the others: "--", most of them dead)
    assert n.loc["clinical.completeness.last_followup_date", ["n_checked", "n_failed"]].tolist() == [135, 38]
    assert n.loc["clinical.completeness.birth_date", "n_failed"] == 3
    # GDC gives no treatment days for LUSC: still missing, and said so
    assert n.loc["clinical.completeness.treatment_start", ["n_checked", "n_failed"]].tolist() == [59, 59]
    assert n.loc["clinical.plausibility.age_at_diagnosis", ["verdict", "n_checked"]].tolist() == ["pass", 132]


def test_ordering_and_timeliness_are_judged_on_the_days(run: cu.modalities.Curated) -> None:
    c = run.checks.set_index("check_id")
    order = c.loc["clinical.consistency.dates_in_order"]
    assert order["verdict"] == "pass" and order["n_checked"] > 100  # was not applicable: 0 checked
    assert c.loc["clinical.consistency.death_after_diagnosis", ["verdict", "n_checked"]].tolist() == ["pass", 62]
    # TCGA follow-up ended years apart between cases: most living cases are, honestly, not current
    cur = c.loc["clinical.timeliness.followup_currency"]
    assert cur["verdict"] == "fail" and cur["n_checked"] == 68 and 0 < cur["n_failed"] < 68
    assert "index known only by its year" in cur["message"]
    assert (c["verdict"] != "error").all()


def test_days_are_written_and_no_date_is_invented(run: cu.modalities.Curated) -> None:
    root = run.ctx.bundle.root
    o = pd.read_parquet(root / "data/clinical/outcomes.parquet")
    assert o["last_followup_date_days_from_index"].notna().sum() == 97
    assert o["death_date_days_from_index"].notna().sum() == 62
    assert o["last_followup_date"].isna().all() and o["death_date"].isna().all()  # a year gives no date
    p = pd.read_parquet(root / "data/clinical/patients.parquet")
    assert not [c for c in p.columns if c.startswith("birth_date")]
    s = cu.modalities.clinical.survival_frame(run.data)
    # 64 dead by vital status, 2 of them without a day of death
    assert s["days"].notna().sum() >= 130 and s["event"].sum() == 64
