"""Relative-day sources (options.relative_dates, issue 13 item 6) on a small generated GDC-style export:
day counts from the diagnosis, an index given as a full date, as a year only, or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu
from curation.deid.dates import patient_shifts
from curation.deid.keys import Keyring

KEY = "cd" * 32
HEADER = ["case", "gender", "vital", "index", "days_to_birth", "days_to_last_follow_up", "days_to_death"]
ROWS = [
    ["P1", "female", "Alive", "2015-03-10", "-22000", "400", "--"],  # full index date: dates are derived
    ["P2", "female", "Dead", "2010", "-25000", "200", "300"],  # year only
    ["P3", "female", "Dead", "2012", "-21000", "500", "100"],  # last follow-up after death
    ["P4", "female", "Alive", "--", "-20000", "-30", "--"],  # no index; follow-up before diagnosis
    ["P5", "female", "Alive", "2014", "--", "--", "--"],
    ["P6", "female", "Dead", "2013", "-19000", "50", "abc"],  # not a number of days
    ["P7", "female", "Alive", "2016", "-23000", "100", "--"],  # seen within the interval of the cutoff
]
REAL = {"P1": ("2015-03-10", "2016-04-13")}  # index and last follow-up: never in an output


def _cohort(root: Path, **relative: object) -> Path:
    (root / "raw").mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(HEADER), *("\t".join(r) for r in ROWS)]
    (root / "raw" / "clinical.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "k.key").write_text(KEY)
    (root / "k.key").chmod(0o600)
    opts = {
        "index": "index",
        "fields": {
            "days_to_birth": "birth_date",
            "days_to_last_follow_up": "last_followup_date",
            "days_to_death": "death_date",
        },
        **relative,
    }
    cfg = {
        "cohort": {"name": "relative"},
        "sites": [{"id": "G"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "timeliness": {"data_cutoff": "2017-06-01", "followup_interval_days": 180},
        "sources": {
            "clinical": [
                {
                    "site": "G",
                    "path": "raw/clinical.tsv",
                    "format": "tsv",
                    "columns": {"case": "admission_number", "gender": "sex", "vital": "vital_status"},
                    "missing": {"--": "not_collected"},
                    "options": {"relative_dates": opts},
                }
            ]
        },
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return root / "cohort.yaml"


def _pt(case: str) -> str:
    return Keyring(KEY.encode()).patient(case, site="G")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("clinical", _cohort(tmp_path_factory.mktemp("rel")))


def test_day_counts_are_kept_and_dates_derived_only_from_a_full_index(run: cu.modalities.Curated) -> None:
    o = run.data.tables["outcomes"].set_index("patient")
    assert o.loc[_pt("P2"), "death_date_days_from_index"] == 300
    assert o.loc[_pt("P4"), "last_followup_date_days_from_index"] == -30
    assert pd.isna(o.loc[_pt("P2"), "last_followup_date"])  # a year is not a date: nothing derived
    # P1's index is a date: last follow-up derived (index + 400) and shifted like every date
    shift = patient_shifts(pd.Series([_pt("P1")], dtype="string"), keyring=run.ctx.keyring).iloc[0]
    got = o.loc[_pt("P1"), "last_followup_date"] - pd.Timedelta(days=int(shift))
    assert got == pd.Timestamp(REAL["P1"][1])
    c = run.data.tables["conditions"].set_index("patient")
    assert (c["diagnosis_date_days_from_index"] == 0).all()  # the index event is day 0
    p = run.data.tables["patients"].set_index("patient")
    assert p.loc[_pt("P1"), "age_at_diagnosis"] == "60"  # 22000 days
    assert p.loc[_pt("P2"), "age_at_diagnosis"] == "68"


def test_date_checks_compare_the_day_counts(run: cu.modalities.Curated) -> None:
    c = run.checks.set_index("check_id")
    order = c.loc["clinical.consistency.dates_in_order"]
    assert (order["verdict"], order["n_failed"]) == ("fail", 2)
    f = run.failures.query("check_id == 'clinical.consistency.dates_in_order'")
    assert set(f["pseudonym"]) == {_pt("P3"), _pt("P4")}
    assert c.loc["clinical.completeness.last_followup_date", "n_failed"] == 1  # P5 only
    assert c.loc["clinical.completeness.diagnosis_date", "n_failed"] == 0
    assert c.loc["clinical.completeness.birth_date", "n_failed"] == 1
    assert c.loc["clinical.plausibility.age_at_diagnosis", "verdict"] == "pass"
    assert c.loc["clinical.consistency.death_after_diagnosis", ["verdict", "n_checked"]].tolist() == ["pass", 2]
    bad = run.failures.query("check_id == 'clinical.conformance.types'")
    # named as a day count of death_date (and as GDC's days_to_death field, which takes the same column by name)
    assert dict(zip(bad["field"], bad["rule"], strict=True)) == {
        "death_date": "not a number of days",
        "days_to_death": "not a whole number",
    }
    # living P1 (last seen 2016-04-13), P7 (2016 + 100 days: at the latest 2017-04-10); P4 has no index
    cur = c.loc["clinical.timeliness.followup_currency"]
    assert (cur["n_checked"], cur["n_failed"]) == (2, 1)
    assert "index known only by its year" in cur["message"]
    late = run.failures.query("check_id == 'clinical.timeliness.followup_currency'")
    assert late["pseudonym"].tolist() == [_pt("P1")]


def test_written_tables_hold_day_counts_and_no_real_date(run: cu.modalities.Curated) -> None:
    root = run.ctx.bundle.root
    import pyarrow.parquet as pq

    schema = pq.read_schema(root / "data/clinical/outcomes.parquet")
    assert str(schema.field("death_date_days_from_index").type) == "int32"
    o = pd.read_parquet(root / "data/clinical/outcomes.parquet")
    assert sorted(o["death_date_days_from_index"].dropna().tolist()) == [100, 300]
    p = pd.read_parquet(root / "data/clinical/patients.parquet")
    assert not [c for c in p.columns if c.startswith(("birth_date", "_"))]  # birth never written, nor internals
    text = "\n".join(pd.read_parquet(f).astype("string").to_csv() for f in (root / "data/clinical").glob("*.parquet"))
    assert not any(d in text for d in REAL["P1"])


def test_a_wrong_target_or_an_absent_column_is_named(tmp_path: Path) -> None:
    from curation.errors import ConfigError

    with pytest.raises(ConfigError, match="'vital_status' is not a clinical date field"):
        cu.curate("clinical", _cohort(tmp_path / "a", fields={"days_to_death": "vital_status"}), write=False)
    r = cu.curate("clinical", _cohort(tmp_path / "b", index="year_of_diagnosis"), write=False)
    [row] = r.quarantine.query("reason == 'missing_columns'").itertuples()
    assert "options.relative_dates column(s) 'year_of_diagnosis' not in the file" in row.detail
