"""Imaging on the public DICOM corpora and pydicom's own test files (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

import curation as cu

from .conftest import need, write_cohort

pytest.importorskip("pydicom")
# as tests/modalities/imaging/conftest.py: once pydicom's FileSet.write has run, a module compiled late in
# the session fails with "AST constructor recursion depth mismatch" (CPython 3.11.7 under pytest)
pytest.importorskip("hypothesis.internal.observability")


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


@pytest.fixture(scope="module")
def pydicom_run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    """pydicom's own test files (they ship with pydicom), exported."""
    import pydicom

    files = Path(pydicom.__file__).parent / "data" / "test_files"
    root = tmp_path_factory.mktemp("pydicom")
    cohort = write_cohort(root, {"imaging": [{"path": str(files), "format": "dicom", "options": {"export": True}}]})
    return cu.curate("imaging", cohort, out=root / "out")


def test_missing_uid_names_the_uid(pydicom_run: cu.modalities.Curated) -> None:
    q = pydicom_run.quarantine
    details = set(q.loc[q["reason"] == "missing_uid", "detail"])
    assert details and all(d.split(" missing:")[0] for d in details)
    assert any(d.startswith("StudyInstanceUID, SeriesInstanceUID missing") for d in details)


def test_the_burned_in_check_and_the_export_agree(pydicom_run: cu.modalities.Curated) -> None:
    """Before: the check passed 0 of 31 series while the export refused 14 files lacking the tag."""
    c = pydicom_run.checks.set_index("check_id").loc["imaging.conformance.burned_in_annotation"]
    assert (c["verdict"], c["n_failed"]) == ("fail", 7)
    s = pydicom_run.data.tables["series"]
    flagged = set(s.loc[s["burned_in_refused"], "series_uid"])
    inst = pydicom_run.data.tables["instances"].set_index("file")
    q = pydicom_run.quarantine
    refused = q[(q["stage"] == "export") & (q["reason"] == "burned_in_annotation")]
    assert len(refused) == 14 and set(inst.loc[refused["record"], "series_uid"]) <= flagged
    # every instance of a flagged series stays out of the export, for this reason or an earlier one
    out = set(q.loc[q["stage"] == "export", "record"])
    assert set(inst.index[inst["series_uid"].isin(flagged)]) <= out


def test_in_plane_resolution_and_matrix_count_for_nodule_measurement(pydicom_run: cu.modalities.Curated) -> None:
    s = pydicom_run.data.tables["series"]
    ct = s[(s["modality"] == "CT") & (s["n_instances"] > 1)]
    assert ct["fitness_problems"].str.contains("matrix under 512 (16x16)", regex=False).sum() == 3
    from curation.modalities.imaging._series import _grid_problems

    assert _grid_problems({"pixel_spacing_mm": 6.0, "rows": 512, "columns": 512}) == [
        ("pixels over 1 mm (6.00 mm)", True),
        ("matrix under 512 (512x512)", False),
    ]
