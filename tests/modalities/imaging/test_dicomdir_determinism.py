"""The de-identified DICOM copy is byte-identical run to run (DICOMDIR included: its File-set UID is derived)."""

from __future__ import annotations

from pathlib import Path


def test_a_second_curation_writes_the_same_dicom_bytes(curated, demo_cohort, tmp_path: Path) -> None:
    import curation

    cohort, _, _ = demo_cohort
    first = Path(curated.ctx.bundle.root) / "data" / "imaging" / "dicom"
    again = curation.curate("imaging", cohort, out=tmp_path / "again")
    second = Path(again.ctx.bundle.root) / "data" / "imaging" / "dicom"
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert any(p.name == "DICOMDIR" for p in files)
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    differ = [str(p) for p in files if (first / p).read_bytes() != (second / p).read_bytes()]
    assert not differ, f"differ between two runs: {differ[:5]}"
