"""Imaging identifiers (issue 10): every raw identifier collected cheaply; none reaches the bundle."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

pydicom = pytest.importorskip("pydicom")

from curation.deid.registry import IdentifierRegistry, Kind  # noqa: E402
from curation.modalities.imaging import _fastheader as fh  # noqa: E402

from .conftest import OTHER_FOLDER, OTHER_ZIP, PATIENT_FOLDER, PLANTED, TEXT_FORMS  # noqa: E402


def _sources(cohort: Path):
    import curation.modalities as cm
    from curation.config import load_cohort

    config = load_cohort(cohort)
    return cm.sources_of(config, "imaging"), cm.make_context(config)


@pytest.fixture(scope="module")
def registry(privacy_cohort: Path) -> IdentifierRegistry:
    from curation.modalities import imaging

    sources, ctx = _sources(privacy_cohort)
    return imaging.identifiers(sources, ctx=ctx)


@pytest.fixture(scope="module")
def curated_privacy(privacy_cohort: Path):
    import curation

    return curation.curate("imaging", privacy_cohort)


@pytest.mark.parametrize("key", sorted(PLANTED))
def test_identifiers_reports_each_planted_value_with_its_kind(registry: IdentifierRegistry, key: str) -> None:
    kind, value = PLANTED[key]
    forms = set(registry.values(Kind(kind)))
    if "=" in value:  # every representation of a PN: as typed, ideographic (张^三 written 张三), pinyin
        alphabetic, ideographic = value.split("=")
        assert {alphabetic, ideographic.replace("^", "")} <= forms, f"{key} not registered as {kind}"
        assert alphabetic.replace("^", " ").lower() in forms
    else:
        assert value in forms, f"{key} not registered as {kind}"


def test_names_of_pn_elements_are_patients_or_staff_by_tag(registry: IdentifierRegistry) -> None:
    patients, staff = set(registry.values(Kind.name)), set(registry.values(Kind.staff_name))
    assert "王建国" in staff and "王建国" not in patients  # ReferringPhysicianName: a doctor
    assert "张三" in patients and "张三" not in staff
    assert "zhang san" in patients and "wang jianguo" in staff  # pinyin variants of both


def test_folder_archive_and_dates(registry: IdentifierRegistry) -> None:
    files = set(registry.values(Kind.file_name))
    assert {PATIENT_FOLDER, OTHER_FOLDER, Path(OTHER_ZIP).stem} <= files
    assert not {"CT", "DICOM", "IM0001", "IM0003"} & files  # numbering and generic folders are not names
    assert "1958-03-17" in registry.values(Kind.birth_date)


def test_load_notes_the_same_identifiers(privacy_cohort: Path, registry: IdentifierRegistry) -> None:
    from curation.modalities import imaging

    sources, ctx = _sources(privacy_cohort)
    data = imaging.load(sources, ctx=ctx)
    assert data.identifiers.sizes() == registry.sizes()
    assert data.identifiers.values() == registry.values()
    assert "_identifiers" not in data.objects["raw"].columns


def test_fast_path_and_pydicom_agree_on_identifiers(privacy_cohort: Path) -> None:
    files = sorted(p for p in (privacy_cohort.parent / "raw").rglob("*.dcm"))
    assert len(files) == 5
    for f in files:
        with open(f, "rb") as h:
            rec = fh.read_fast(h, f.stat().st_size)
        assert rec is not None, f"{f.name} left the fast path"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = fh.from_dataset(pydicom.dcmread(f, stop_before_pixels=True))
        assert rec == ref
        assert rec[fh.IDENTIFIERS]
    with open(files[0], "rb") as h:
        ids = set(fh.read_fast(h, files[0].stat().st_size)[fh.IDENTIFIERS])
    assert ("staff_name", PLANTED["nested_staff"][1]) in ids  # RequestAttributesSequence
    assert ("staff_name", PLANTED["kept_seq_staff"][1]) in ids  # two sequences down
    assert ("staff_name", PLANTED["content_staff"][1]) in ids  # ContentSequence
    assert ("other_patient_id", PLANTED["second_mrn"][1]) in ids  # OtherPatientIDsSequence > PatientID
    assert ("other", "RP66120") in ids  # RequestedProcedureID


def _planted_bytes() -> list[tuple[str, bytes]]:
    """Every planted value as it could appear in an output file (UTF-8 and GB18030)."""
    values = {v for _, v in PLANTED.values()} | set(TEXT_FORMS) | {PATIENT_FOLDER, OTHER_FOLDER, "ZHANGSAN_PET"}
    values |= {part for v in list(values) for part in v.split("=")}  # each PN representation
    out = []
    for v in sorted(values):
        out.append((v, v.encode("utf-8")))
        if not v.isascii():
            out.append((v, v.encode("gb18030")))
    return out


def test_no_byte_of_any_planted_identifier_in_the_bundle(curated_privacy, registry: IdentifierRegistry) -> None:
    from curation.deid.scan import scan_bundle

    out = Path(curated_privacy.ctx.bundle.root)
    dicom = sorted((out / "data" / "imaging" / "dicom").rglob("*"))
    assert sum(p.is_file() for p in dicom) == 6 + 2  # every instance and a DICOMDIR per patient
    hits = scan_bundle(out, registry.scan_values())
    assert not hits, [str(h) for h in hits][:5]
    planted = _planted_bytes()
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            low = data.lower()
            bad = [v for v, b in planted if (b.lower() in low if v.isascii() else b in data)]
            assert not bad, f"{len(bad)} planted identifier(s) in {p.relative_to(out)}"


def test_descriptors_are_kept_but_scrubbed(curated_privacy) -> None:
    out = Path(curated_privacy.ctx.bundle.root) / "data" / "imaging" / "dicom"
    seen = set()
    for p in out.rglob("*"):
        if p.is_file() and p.name != "DICOMDIR":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p)
            seen.add(str(ds.get("StudyDescription", "")))
            seen.add(str(ds.get("SeriesDescription", "")))
    assert any("胸部CT" in s for s in seen)  # Clean Descriptors keeps the description ...
    assert any("[姓名]" in s for s in seen)  # ... and replaces the names in it


def test_no_person_name_survives_at_any_depth(curated_privacy) -> None:
    from curation.deid.dicom import iter_elements

    out = Path(curated_privacy.ctx.bundle.root) / "data" / "imaging" / "dicom"
    n = 0
    for p in out.rglob("*"):
        if not p.is_file() or p.name == "DICOMDIR":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p)
        names = {str(e.value) for e in iter_elements(ds) if e.VR == "PN" and str(e.value or "")}
        assert names <= {ds.PatientID}, f"a person name survived in {p.name}"
        assert "OtherPatientIDsSequence" not in ds and "RequestAttributesSequence" not in ds
        for item in ds.get("ReferencedImageSequence") or []:  # kept for its references ...
            for code in item.get("PurposeOfReferenceCodeSequence") or []:
                assert "PersonName" not in code  # ... without the name two levels down
        n += 1
    assert n == 6


def test_dicomdir_is_rebuilt_from_the_cleaned_files(curated_privacy) -> None:
    from curation.deid.dicom import iter_elements

    out = Path(curated_privacy.ctx.bundle.root) / "data" / "imaging" / "dicom"
    for folder in (p for p in out.iterdir() if p.is_dir()):
        texts: set[str] = set()
        for p in folder.rglob("*"):
            if p.is_file() and p.name != "DICOMDIR":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    texts |= {
                        str(e.value)
                        for e in iter_elements(pydicom.dcmread(p))
                        if e.VR in ("LO", "SH", "PN", "ST", "LT", "UT", "CS", "DA", "TM")
                    }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dicomdir = pydicom.dcmread(folder / "DICOMDIR")
        for rec in dicomdir.DirectoryRecordSequence:
            for e in iter_elements(rec):
                if e.VR in ("LO", "SH", "PN", "ST", "LT", "UT", "DA") and str(e.value or ""):
                    assert str(e.value) in texts, f"DICOMDIR {e.keyword} holds text no cleaned file has"


def test_header_text_columns_are_scrubbed(curated_privacy) -> None:
    inst = curated_privacy.data.tables["instances"]
    series = curated_privacy.data.tables["series"]
    text = pd.concat([inst[c].astype(str) for c in inst.columns] + [series[c].astype(str) for c in series.columns])
    assert not any(text.str.contains(f, regex=False).any() for f in ("王建国", "Wang Jianguo"))
    assert inst["contrast_agent"].str.contains("Omnipaque", regex=False).all()  # the rest of the text stays
    assert (inst["modality"] == "CT").all() and inst["sop_class_uid"].str.startswith("1.2.840.10008.").all()


@pytest.mark.parametrize("fast", [True, False])
def test_a_truncated_file_still_names_its_patient(
    privacy_cohort: Path, tmp_path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.modalities.imaging._walk import FileRef, parse_ref

    if not fast:  # the pydicom path: the fast path steps aside
        monkeypatch.setattr(fh, "read_fast", lambda fh_, size: None)
    src = next((privacy_cohort.parent / "raw" / PATIENT_FOLDER).rglob("*.dcm"))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(src.read_bytes()[:-40])  # cut inside the pixel data
    row = parse_ref(FileRef("cut.dcm", str(cut)), {})
    assert row["reason"] == "truncated" and not row["ok"]
    assert ("mrn", PLANTED["mrn"][1]) in row["fields"][fh.IDENTIFIERS]
