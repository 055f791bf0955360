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


def _pet_mr_run(root: Path, folder: Path) -> cu.modalities.Curated:
    return cu.curate(
        "imaging", write_cohort(root, {"imaging": [{"path": str(folder), "format": "dicom"}]}), write=False
    )


def test_pet_suv_and_mr_parameters(tmp_path: Path) -> None:
    """Two TCIA PET slices with everything SUV needs and a PROSTATE-MRI slice."""
    from curation.modalities.imaging._mrpet import suvbw_factor

    run = _pet_mr_run(tmp_path, need("suyashkumar-dicom-tcia"))
    c = run.checks.set_index("check_id")
    assert c.loc["imaging.completeness.pet_suv", ["verdict", "n_checked"]].tolist() == ["pass", 2]
    assert c.loc["imaging.completeness.mr_parameters", ["verdict", "n_checked"]].tolist() == ["pass", 1]
    s = run.data.tables["series"].set_index("modality")
    # ACRIN-FLT-Breast 029: 69.7344 kg, 178.34 MBq at 14:17:00, series 15:23:16.921, F-18 (6586.2 s), START
    want = suvbw_factor(
        weight_kg=69.7344,
        dose_bq=178340011.59668,
        half_life_s=6586.2,
        injection_s=14 * 3600 + 17 * 60,
        start_s=15 * 3600 + 23 * 60 + 16.921,
        decay="START",
    )
    assert want == pytest.approx(69734.4 / (178340011.59668 * 2 ** (-3976.921 / 6586.2)))
    assert min(abs(s.loc["PT", "suvbw_factor"] - want)) < 1e-12 and s.loc["PT", "suvbw_factor"].notna().all()
    assert s.loc["MR", "field_strength_t"] == 3.0 and s.loc["MR", "echo_time_ms"] == pytest.approx(57.359375)


def test_pet_without_weight_or_dose_says_what_suv_lacks(tmp_path: Path) -> None:
    import pydicom

    src = need("suyashkumar-dicom-tcia", "1_PT_ACRIN-FLT-Breast_029.dcm")
    ds = pydicom.dcmread(src)
    del ds.PatientWeight
    del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose
    ds.Units = "CNTS"
    (tmp_path / "pet").mkdir()
    ds.save_as(tmp_path / "pet" / "1.dcm")
    run = _pet_mr_run(tmp_path, tmp_path / "pet")
    [f] = run.failures.query("check_id == 'imaging.completeness.pet_suv'").itertuples()
    assert f.rule == "SUV cannot be computed, missing: injected dose, patient weight, units BQML"
    assert run.checks.set_index("check_id").loc["imaging.completeness.pet_suv", "verdict"] == "fail"


def test_mr_series_of_pydicom_say_what_they_lack(pydicom_run: cu.modalities.Curated) -> None:
    c = pydicom_run.checks.set_index("check_id").loc["imaging.completeness.mr_parameters"]
    assert c["n_checked"] >= 1
    rules = pydicom_run.failures.query("check_id == 'imaging.completeness.mr_parameters'")["rule"]
    assert rules.str.startswith("MR series: ").all()
