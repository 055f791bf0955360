"""The audit trail names the decisions a run applies: run_start lists them, run_end what each changed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from security.conftest import fake_run, write_cohort  # tests/security/conftest.py

from curation import decisions as dec


def test_run_start_lists_each_decision_with_author_and_reason(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "c")
    dec.set_decision(
        dec.decisions_path(cohort),
        {"kind": "threshold", "key": "x.completeness.a", "value": 0.3},
        author="Dr. Wang",
        reason="known gap at site B",
    )
    root = fake_run(cohort)
    start, end = (json.loads(line) for line in (root / "audit.jsonl").read_text(encoding="utf-8").splitlines())
    got = start["decisions"]
    assert got["file"] == "decisions.yaml" and len(got["sha256"]) == 64
    assert [(d["key"], d["author"], d["reason"]) for d in got["decisions"]] == [
        ("x.completeness.a", "Dr. Wang", "known gap at site B")
    ]
    assert end["decisions_applied"] == []


def test_applied_in_reads_each_steps_table(tmp_path: Path) -> None:
    folder = tmp_path / "quality" / "decisions"
    folder.mkdir(parents=True)
    pd.DataFrame(
        [{"kind": "threshold", "key": "lab.x", "status": "applied", "effect": "changed from fail"}]
    ).to_parquet(folder / "lab.parquet")
    assert dec.applied_in(tmp_path) == [
        {"step": "lab", "kind": "threshold", "key": "lab.x", "status": "applied", "effect": "changed from fail"}
    ]


def test_the_digest_changes_with_the_decisions(tmp_path: Path) -> None:
    from curation.config import load_cohort

    cohort = write_cohort(tmp_path / "c")
    config = load_cohort(cohort)
    assert dec.decisions_digest(config) == ""
    dec.set_decision(
        dec.decisions_path(cohort), {"kind": "threshold", "key": "x.a", "value": 0.3}, author="a", reason="b"
    )
    first = dec.decisions_digest(config)
    dec.set_decision(
        dec.decisions_path(cohort), {"kind": "threshold", "key": "x.a", "value": 0.4}, author="a", reason="b"
    )
    assert first and dec.decisions_digest(config) not in ("", first)
