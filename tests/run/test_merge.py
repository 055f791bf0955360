"""Per-modality quality files merge into one table per kind, whatever their column types."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curation.io.bundle import Bundle
from curation.quality import Dimension, failures_frame, make_result, results_frame
from curation.run.runner import merge_quality


def test_checks_with_and_without_failure_samples_merge(tmp_path: Path) -> None:
    b = Bundle(tmp_path)
    failing = make_result(
        "a.x",
        "a",
        Dimension.ACCURACY,
        n_checked=3,
        failures=failures_frame("a.x", "a", pseudonym=["PT1"], row=[2], field="f", rule="r"),
    )
    passing = make_result("b.y", "b", Dimension.COMPLETENESS, n_checked=3)
    b.write_parquet("quality/checks/a.parquet", results_frame([failing]))
    b.write_parquet("quality/checks/b.parquet", results_frame([passing]))
    b.write_parquet("quality/failures/a.parquet", failing.failures)
    b.write_parquet("quality/failures/b.parquet", passing.failures)  # empty, object columns
    merge_quality(b)
    checks = pd.read_parquet(tmp_path / "quality" / "checks.parquet")
    assert list(checks["check_id"]) == ["a.x", "b.y"]
    assert list(checks["sample"].iloc[0][0].values()) == ["PT1", 2, "f", "r"]
    failures = pd.read_parquet(tmp_path / "quality" / "failures.parquet")
    assert list(failures["pseudonym"]) == ["PT1"]


def test_no_quality_files_still_gives_an_empty_checks_table(tmp_path: Path) -> None:
    merge_quality(Bundle(tmp_path))
    checks = pd.read_parquet(tmp_path / "quality" / "checks.parquet")
    assert checks.empty and "verdict" in checks.columns
    assert not (tmp_path / "quality" / "ledger.parquet").exists()
