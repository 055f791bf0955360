"""The demo DICOM generator: deterministic, small, and logging what it plants."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("pydicom")

from .conftest import build_cohort


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "raw").rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    build_cohort(tmp_path / "a", seed=11)
    build_cohort(tmp_path / "b", seed=11)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a == b and len(a) > 100


def test_demo_is_small_and_logs_every_defect(demo_cohort) -> None:
    cohort, log, _ = demo_cohort
    raw = cohort.parent / "raw" / "dicom"
    size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
    assert size < 5 * 2**20  # 9 patients; the 120-patient demo stays well under 20 MB
    kinds = {d.kind for d in log.defects}
    assert {
        "truncated_file",
        "non_dicom_file",
        "missing_slice",
        "inconsistent_spacing",
        "burned_in_annotation",
        "duplicate_sop_instance_uid",
    } <= kinds
    for d in log.defects:
        assert d.pseudonym and d.expect
        if d.expect.startswith("quarantine:"):
            assert d.file_token.startswith("FI")
