"""The fast header path agrees with pydicom, field by field, on every file of the corpus: the indexed
fields and the identifiers at every sequence depth (the ``_identifiers`` pairs)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file, get_testdata_files  # noqa: E402

from curation.modalities.imaging import _fastheader as fh  # noqa: E402

REAL_DIRS = ("tcia-lung-pet-ct-dx", "dicom2nifti-failing-ct", "suyashkumar-dicom-tcia")


def _corpus_files(extra: list[Path]) -> list[str]:
    files = [f for f in get_testdata_files() if os.path.isfile(f)]
    return files + [str(p) for p in extra]


def _reference(path: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundled files are deliberately odd; warnings are expected
        return fh.from_dataset(pydicom.dcmread(path, stop_before_pixels=True))


def _agree(files: list[str]) -> tuple[int, list[str]]:
    """(files read by the fast path, differences): every field, identifiers at any depth included."""
    n_fast, n_ids, diffs = 0, 0, []
    for f in files:
        size = os.path.getsize(f)
        with open(f, "rb") as h:
            try:
                rec = fh.read_fast(h, size)
            except fh.Quarantined:
                continue
        if rec is None:
            continue
        n_fast += 1
        n_ids += bool(rec.get(fh.IDENTIFIERS))
        ref = _reference(f)
        bad = {k for k in set(rec) | set(ref) if rec.get(k) != ref.get(k)}
        if bad:
            diffs.append(f"{Path(f).name}: {sorted(bad)}")
    assert n_ids, "no identifier compared"
    return n_fast, diffs


def test_fast_path_agrees_with_pydicom_on_pydicom_test_files() -> None:
    n_fast, diffs = _agree(_corpus_files([]))
    assert not diffs
    assert n_fast >= 100  # most bundled files are explicit VR little endian with meta


def test_fast_path_agrees_with_pydicom_on_real_series(real_data: Path) -> None:
    files = [str(p) for d in REAL_DIRS for p in sorted((real_data / d).rglob("*.dcm"))]
    assert len(files) >= 40
    n_fast, diffs = _agree(files)
    assert not diffs
    assert n_fast == len(files)


def test_fast_path_agrees_with_pydicom_on_demo(demo_cohort) -> None:
    cohort, _, _ = demo_cohort
    files = sorted(str(p) for p in (cohort.parent / "raw" / "dicom").rglob("*.dcm"))
    n_fast, diffs = _agree(files)
    assert not diffs
    assert n_fast >= len(files) // 2  # sites A (explicit) and B (RLE); site C is implicit VR: pydicom


def test_demo_chinese_person_name_decoded_like_pydicom(demo_cohort) -> None:
    cohort, _, roster = demo_cohort
    f = next((cohort.parent / "raw" / "dicom" / "siteA").rglob("IM0001.dcm"))
    with open(f, "rb") as h:
        rec = fh.read_fast(h, f.stat().st_size)
    assert rec is not None
    assert "=" in rec["PatientName"] and rec["PatientName"] == _reference(str(f))["PatientName"]
    assert rec["PatientName"].split("=")[1].split("^")[0] in set(roster["name"].str[0])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MR_truncated.dcm", "truncated"),
        ("no_meta.dcm", "not_dicom"),
        ("ExplVR_LitEndNoMeta.dcm", "missing_meta"),
        ("meta_missing_tsyntax.dcm", "missing_meta"),
    ],
)
def test_broken_files_get_a_reason(name: str, reason: str) -> None:
    path = get_testdata_file(name)
    with pytest.raises(fh.Quarantined) as err:
        fh.read_header(lambda: open(path, "rb"), os.path.getsize(path))
    assert err.value.reason == reason


def test_truncated_pixel_data_is_caught_by_both_paths(tmp_path: Path) -> None:
    src = Path(get_testdata_file("CT_small.dcm"))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(src.read_bytes()[:-1000])
    for fast in (True, False):
        with pytest.raises(fh.Quarantined, match="truncated"):
            fh.read_header(lambda: open(cut, "rb"), cut.stat().st_size, fast=fast)


def test_text_file_is_not_dicom(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("not an image\n" * 20)
    with pytest.raises(fh.Quarantined, match="not_dicom"):
        fh.read_header(lambda: open(p, "rb"), p.stat().st_size)


def test_header_reads_stop_before_pixel_data(tmp_path: Path) -> None:
    """A large file is parsed from its first window only (bounded bytes per file)."""
    src = Path(get_testdata_file("CT_small.dcm")).read_bytes()

    class Counting:
        def __init__(self) -> None:
            self.n = 0
            self._f = open(get_testdata_file("CT_small.dcm"), "rb")

        def read(self, k: int = -1) -> bytes:
            b = self._f.read(k)
            self.n += len(b)
            return b

        def seek(self, pos: int) -> int:
            return self._f.seek(pos)

    c = Counting()
    rec = fh.read_fast(c, len(src))  # type: ignore[arg-type]
    c._f.close()
    assert rec is not None and rec["Rows"] == 128
    assert c.n <= fh.FIRST_READ + 12  # the header window, and the pixel element's header at the end


def test_cut_inside_compressed_pixel_data_is_truncated(tmp_path: Path) -> None:
    src = Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(src[: len(src) - 500])
    for fast in (True, False):
        with pytest.raises(fh.Quarantined, match="truncated"):
            fh.read_header(lambda: open(cut, "rb"), cut.stat().st_size, fast=fast)
    whole = tmp_path / "whole.dcm"
    whole.write_bytes(src)
    fields, how = fh.read_header(lambda: open(whole, "rb"), len(src))
    assert how == "fast" and fields["Rows"] == 64


def _written(tmp_path: Path, name: str, build) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.5"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "WU^FANG=吴芳"
    ds.PatientID = "Q1200345"
    build(ds)
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    p = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(p, enforce_file_format=True)
    return p


def _fast_and_reference(p: Path) -> tuple[dict, dict]:
    with open(p, "rb") as h:
        rec = fh.read_fast(h, p.stat().st_size)
    assert rec is not None, "left the fast path"
    return rec, _reference(str(p))


@pytest.mark.parametrize("undefined", [True, False])
def test_nested_names_in_defined_and_undefined_length_sequences(tmp_path: Path, undefined: bool) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    def build(ds) -> None:
        inner = Dataset()
        inner.PersonName = "ZHAO^LEI=赵磊"
        inner.PatientID = "NESTED77"
        outer = Dataset()
        outer.ScheduledPerformingPhysicianName = "QIAN^HUI=钱慧"
        outer.ContentSequence = Sequence([inner])
        ds.RequestAttributesSequence = Sequence([outer])
        ds.OperatorsName = ["KONG^MIN", "HAN^BO=韩波"]
        ds.add_new(0x00290010, "LO", "VENDOR X")
        ds.add_new(0x00291001, "PN", "MA^LIN")  # a person name in a private element

    p = _written(tmp_path, "nested.dcm", build)
    if not undefined:  # rewrite with defined lengths: pydicom writes what it read
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p)
        for elem in ds.iterall():
            if elem.VR == "SQ":
                elem.is_undefined_length = False
                for item in elem.value:
                    item.is_undefined_length_sequence_item = False
        ds.save_as(p)
    rec, ref = _fast_and_reference(p)
    assert rec == ref
    ids = set(rec[fh.IDENTIFIERS])
    assert {
        ("staff_name", "QIAN^HUI=钱慧"),
        ("staff_name", "ZHAO^LEI=赵磊"),
        ("other_patient_id", "NESTED77"),
        ("staff_name", "KONG^MIN"),
        ("staff_name", "HAN^BO=韩波"),
        ("staff_name", "MA^LIN"),
        ("name", "WU^FANG=吴芳"),
        ("mrn", "Q1200345"),
    } <= ids


def test_large_vendor_value_is_skipped_not_read(tmp_path: Path) -> None:
    """A 300 KB private blob before a person name: the window seeks over it and reads on after."""

    def build(ds) -> None:
        ds.add_new(0x00290010, "LO", "VENDOR CSA")
        ds.add_new(0x00291010, "OB", bytes(300_000))
        ds.RequestingPhysician = "YU^TAO=余涛"  # (0032,1032), after the blob

    p = _written(tmp_path, "blob.dcm", build)
    reads: list[int] = []

    class Counting:
        def __init__(self) -> None:
            self._f = open(p, "rb")

        def read(self, k: int = -1) -> bytes:
            b = self._f.read(k)
            reads.append(len(b))
            return b

        def seek(self, pos: int) -> int:
            return self._f.seek(pos)

    c = Counting()
    rec = fh.read_fast(c, p.stat().st_size)  # type: ignore[arg-type]
    c._f.close()
    assert rec is not None and ("staff_name", "YU^TAO=余涛") in rec[fh.IDENTIFIERS]
    assert rec == _reference(str(p))
    assert sum(reads) <= 3 * fh.FIRST_READ


def test_sequence_larger_than_the_first_window(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    def build(ds) -> None:
        items = []
        for i in range(800):
            item = Dataset()
            item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{i}"
            items.append(item)
        items[-1].PersonName = "TANG^YI"  # the last of 800 items
        ds.ReferencedImageSequence = Sequence(items)

    p = _written(tmp_path, "long_sequence.dcm", build)
    rec, ref = _fast_and_reference(p)
    assert rec == ref and ("staff_name", "TANG^YI") in rec[fh.IDENTIFIERS]


def test_file_cut_inside_a_sequence_is_truncated(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    def build(ds) -> None:
        item = Dataset()
        item.ScheduledPerformingPhysicianName = "LU^XUN"
        item.TextValue = "x" * 40_000  # UT: no length limit
        ds.RequestAttributesSequence = Sequence([item])

    p = _written(tmp_path, "seq.dcm", build)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(p.read_bytes()[:30_000])
    with pytest.raises(fh.Quarantined, match="truncated"):
        fh.read_header(lambda: open(cut, "rb"), cut.stat().st_size)
