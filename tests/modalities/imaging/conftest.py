"""A tiny imaging demo cohort (synthetic DICOM written by curation.demo.imaging)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("pydicom")
# CPython 3.11.7 under pytest's warnings plugin: once a dataset from curation.deid.dicom has gone
# through pydicom's FileSet.write, a module compiled late in the session (hypothesis' terminal
# summary hook imports lazily) fails with "SystemError: AST constructor recursion depth mismatch".
# Not reproducible outside pytest; importing that module up front avoids the late compile.
pytest.importorskip("hypothesis.internal.observability")

from curation.deid.keys import Keyring
from curation.demo._core import DemoLog

KEY_HEX = "ab" * 32
N_PATIENTS = 9
SURNAMES = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄", "周"]
PINYIN = ["ZHANG", "WANG", "LI", "ZHAO", "CHEN", "LIU", "YANG", "HUANG", "ZHOU"]


def make_roster(keyring: Keyring, n: int = N_PATIENTS) -> pd.DataFrame:
    rows = []
    for i in range(n):
        site = "ABC"[i % 3]
        mrn = f"{i + 1:08d}"
        rows.append(
            {
                "pid": i,
                "site": site,
                "mrn": mrn,
                "name": SURNAMES[i] + "小明",
                "name_pinyin": f"{PINYIN[i]}^XIAOMING",
                "sex": "M" if i % 2 else "F",
                "birth_date": pd.Timestamp(1950 + i, 3, 1 + i),
                "diagnosis_date": pd.Timestamp(2023, 1 + i, 10),
                "pseudonym": keyring.patient(mrn, site=site),
                "smoking_status": ["never", "former", "current"][i % 3],
                "has_imaging": True,
                "dicom_sex": "F" if i == 4 else None,  # one planted sex mismatch (patient 4 is M)
            }
        )
    return pd.DataFrame(rows)


def build_cohort(root: Path, *, n: int = N_PATIENTS, seed: int = 7) -> tuple[Path, DemoLog, pd.DataFrame]:
    from curation.demo import imaging as demo_imaging

    keyring = Keyring(KEY_HEX.encode())  # load_secret uses the key file's text as the secret
    roster = make_roster(keyring, n)
    log = DemoLog()
    sources = demo_imaging.generate(roster, root, rng=np.random.default_rng(seed), log=log, keyring=keyring)
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "demo.key").write_text(KEY_HEX + "\n")
    (root / "keys" / "demo.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "imaging-test"},
        "sites": [{"id": s} for s in "ABC"],
        "sources": sources,
        "output": "out",
        "secret": {"file": "keys/demo.key"},
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort, allow_unicode=True), encoding="utf-8")
    log.write(root)
    return root / "cohort.yaml", log, roster


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoLog, pd.DataFrame]:
    return build_cohort(tmp_path_factory.mktemp("imaging-demo"))


@pytest.fixture(scope="session")
def curated(demo_cohort: tuple[Path, DemoLog, pd.DataFrame]):
    import curation

    cohort, _, _ = demo_cohort
    return curation.curate("imaging", cohort)


# --- a small DICOM set with identifiers where real exports hide them (issue 10) -----------------

# planted values: (kind, value) as identifiers() must report them
PLANTED = {
    "patient": ("name", "LI^MING=李明"),
    "other_patient": ("name", "ZHANG^SAN=张^三"),
    "mrn": ("mrn", "P7730021"),
    "mrn_2": ("mrn", "Z5561234"),
    "second_mrn": ("other_patient_id", "HX55012"),
    "other_ids": ("other_patient_id", "OP88123"),
    "accession": ("accession", "ACC99231"),
    "accession_2": ("accession", "ACC77410"),
    "birth_date": ("birth_date", "19580317"),
    "doctor": ("staff_name", "WANG^JIANGUO=王建国"),
    "nested_staff": ("staff_name", "SUN^LI=孙丽"),
    "kept_seq_staff": ("staff_name", "HE^PING=何平"),
    "content_staff": ("staff_name", "ZHOU^QIANG=周强"),
    "performing": ("staff_name", "LIU^YANG=刘洋"),
    "operator": ("staff_name", "CHEN^JING=陈静"),
}
PATIENT_FOLDER = "LI_MING_P7730021"  # PACS exports name folders after the patient
OTHER_FOLDER = "张三_CT"
OTHER_ZIP = "ZHANGSAN_PET.zip"
# free-text forms planted in descriptions, comments and header text columns
TEXT_FORMS = ("张三", "Zhang San", "ZHANG^SAN", "ZHANGSAN", "王建国", "Wang Jianguo", "李明", "Li Ming")


def _privacy_ds(
    *,
    charset: str,
    name: str,
    pid: str,
    birth: str,
    accession: str,
    study: str,
    series: str,
    sop: str,
    instance: int,
    texts: dict[str, str],
    extra: Any = None,
) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = "20230105"
    ds.StudyTime = "093000"
    ds.AccessionNumber = accession
    ds.Modality = "CT"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "SOMATOM"
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = birth
    ds.PatientSex = "M"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1"
    ds.ConvolutionKernel = "B70f"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "STU8842"
    ds.SeriesNumber = 2
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [0, 0, float(instance)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.BurnedInAnnotation = "NO"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    for k, v in texts.items():
        setattr(ds, k, v)
    if extra is not None:
        extra(ds)
    ds.PixelData = np.zeros((8, 8), dtype=np.int16).tobytes()
    return ds


def _nested(ds: Any) -> None:
    """Staff names where structural de-identification rarely looks: nested sequences."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    other = Dataset()
    other.PatientID = PLANTED["second_mrn"][1]
    other.IssuerOfPatientID = "HOSP2"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.OtherPatientIDs = PLANTED["other_ids"][1]
    req = Dataset()
    req.RequestedProcedureID = "RP66120"
    req.ScheduledPerformingPhysicianName = PLANTED["nested_staff"][1]
    ds.RequestAttributesSequence = Sequence([req])
    # a person name two levels down inside a sequence the profile keeps (keep_seq): the item is
    # de-identified by the same rules, so the name must go
    code = Dataset()
    code.CodeValue = "121311"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Localizer"
    code.PersonName = PLANTED["kept_seq_staff"][1]
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.77"
    ref.PurposeOfReferenceCodeSequence = Sequence([code])
    ds.ReferencedImageSequence = Sequence([ref])
    content = Dataset()
    content.ValueType = "PNAME"
    content.PersonName = PLANTED["content_staff"][1]
    ds.ContentSequence = Sequence([content])
    ds.ReferringPhysicianName = PLANTED["doctor"][1]


def build_privacy_set(root: Path) -> Path:
    """Two patients, two sites' worth of odd places for identifiers; returns cohort.yaml."""
    import io
    import zipfile

    raw = root / "raw"
    p1 = raw / PATIENT_FOLDER / "CT"
    p1.mkdir(parents=True)
    uid = "1.2.826.0.1.3680043.8.498.9"
    texts1 = {  # patient 1's descriptions name patient 2 and a doctor, in Chinese and pinyin
        "StudyDescription": "胸部CT 对照张三",
        "SeriesDescription": "Lung 1mm Zhang San",
        "ImageComments": "ZHANG^SAN prior; read by 王建国 / Wang Jianguo",
        "ProtocolName": "ZHANGSAN follow-up",
        "ContrastBolusAgent": "Omnipaque 王建国",
    }
    for i in range(1, 4):
        ds = _privacy_ds(
            charset="ISO_IR 192",
            name=PLANTED["patient"][1],
            pid=PLANTED["mrn"][1],
            birth=PLANTED["birth_date"][1],
            accession=PLANTED["accession"][1],
            study=f"{uid}.1",
            series=f"{uid}.1.1",
            sop=f"{uid}.1.1.{i}",
            instance=i,
            texts=texts1,
            extra=_nested,
        )
        ds.save_as(p1 / f"IM{i:04d}.dcm", enforce_file_format=True)
    texts2 = {
        "StudyDescription": "CT chest; compare LI^MING",
        "SeriesDescription": "李明 对照 Li Ming",
        "ImageComments": "王建国 reviewed",
    }

    def staff(ds: Any) -> None:
        ds.PerformingPhysicianName = PLANTED["performing"][1]
        ds.OperatorsName = PLANTED["operator"][1]

    p2 = raw / OTHER_FOLDER
    p2.mkdir(parents=True)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(1, 4):
            ds = _privacy_ds(
                charset="GB18030",
                name=PLANTED["other_patient"][1],
                pid=PLANTED["mrn_2"][1],
                birth="19620704",
                accession=PLANTED["accession_2"][1],
                study=f"{uid}.2",
                series=f"{uid}.2.{1 if i < 3 else 2}",
                sop=f"{uid}.2.1.{i}",
                instance=i,
                texts=texts2,
                extra=staff,
            )
            if i < 3:
                ds.save_as(p2 / f"IM{i:04d}.dcm", enforce_file_format=True)
            else:
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                zf.writestr(f"DICOM/IM{i:04d}", buf.getvalue())
    (raw / OTHER_ZIP).write_bytes(archive.getvalue())
    (root / "k.key").write_text(KEY_HEX + "\n")
    (root / "k.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "imaging-privacy"},
        "sites": [{"id": "A"}],
        "output": "out",
        "secret": {"file": "k.key"},
        "sources": {
            "imaging": [{"site": "A", "path": "raw", "format": "dicom", "options": {"export": True, "image_qc": False}}]
        },
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort, allow_unicode=True), encoding="utf-8")
    return root / "cohort.yaml"


@pytest.fixture(scope="session")
def privacy_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_privacy_set(tmp_path_factory.mktemp("imaging-privacy"))
