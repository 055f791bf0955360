"""On the demo cohort: the raw exports are full of identifiers, and the de-identified DICOM are not."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from curation.deid.scan import read_identifiers, scan_bundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generate = pytest.importorskip("curation.demo").generate
    out = tmp_path_factory.mktemp("demo")
    generate(out, patients=30, seed=11)
    return out


def test_raw_demo_is_caught_and_deidentified_dicom_is_clean(demo: Path, tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from curation.deid.dicom import deidentify
    from curation.deid.keys import Keyring
    from curation.errors import DeidError

    ids = read_identifiers(demo / "identifiers.txt")
    raw_hits = scan_bundle(demo / "raw" / "dicom", ids)
    assert raw_hits, "the raw DICOM carry names and IDs: the scan must see them"
    key = Keyring(bytes.fromhex((demo / "keys" / "demo.key").read_text().strip()))
    n_ok = n_refused = 0
    for i, path in enumerate(sorted(p for p in (demo / "raw" / "dicom").rglob("*") if p.is_file())):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # planted defects make pydicom warn, quoting values
                ds = pydicom.dcmread(path)
            site = path.relative_to(demo / "raw" / "dicom").parts[0]
            pt = key.patient(str(ds.get("PatientID", "")), site=site)
            out = deidentify(ds, keyring=key, patient_pseudonym=pt, date_shift_days=key.date_shift(pt))
        except (pydicom.errors.InvalidDicomError, DeidError):
            n_refused += 1
            continue
        out.save_as(tmp_path / f"{i:05d}.dcm", enforce_file_format=True)
        n_ok += 1
    assert n_ok > 0 and n_refused > 0  # planted burned-in / truncated / non-DICOM files are refused
    assert scan_bundle(tmp_path, ids) == []
