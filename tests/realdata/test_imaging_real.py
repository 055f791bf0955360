"""Imaging on the public DICOM corpora and pydicom's own test files (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

import curation as cu

from .conftest import need, write_cohort

pytest.importorskip("pydicom")


def test_a_source_of_only_non_dicom_files_fails_instead_of_passing(tmp_path: Path) -> None:
    fcs = need("flowkit-fcs")
    run = cu.curate(
        "imaging", write_cohort(tmp_path, {"imaging": [{"path": str(fcs), "format": "dicom"}]}), write=False
    )
    c = run.checks.set_index("check_id")
    assert c.loc["imaging.completeness.any_accepted", "verdict"] == "fail"
    assert c.loc["imaging.completeness.series", "verdict"] == "not_applicable"
    [f] = run.failures.query("check_id == 'imaging.completeness.any_accepted'").itertuples()
    assert (f.field, f.rule) == ("imaging[0]", "5 in at index, 0 accepted (not_dicom=5)")
