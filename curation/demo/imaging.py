"""Demo DICOM: one small chest CT series per patient with imaging, with planted defects.

Each series is 64 x 64 x ~20 slices of int16 with realistic Hounsfield units (air, lung, soft
tissue, a water vial, a nodule), complete CT headers (Chinese + pinyin PatientName, PatientID =
admission number, birth date, sex, smoking status, dose, a nested sequence and a private block
that repeats the patient ID, as real PACS exports do). Site A writes explicit VR little endian,
site B RLE Lossless (compressed pixels), site C implicit VR little endian (the pydicom fallback).
Everything is derived from ``rng``: no clock, no random UIDs.

Planted, logged defects (expect): truncated file (quarantine:truncated), non-DICOM file
(quarantine:not_dicom), duplicate SOPInstanceUID (quarantine:duplicate_sop_instance_uid), missing
slice (imaging.completeness.missing_slices), inconsistent spacing (imaging.consistency.slice_spacing),
burned-in annotation (imaging.conformance.burned_in_annotation).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._core import DemoLog

__all__ = ["generate"]

N_SLICES = 20
MATRIX = 64
SPACING_MM = 2.5
PIXEL_MM = 6.0  # 64 x 6 mm = 384 mm field of view
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SCANNERS = {
    "A": ("SIEMENS", "SOMATOM Definition AS", "B70f"),
    "B": ("GE MEDICAL SYSTEMS", "Revolution CT", "LUNG"),
    "C": ("Philips", "Brilliance 64", "B"),  # a soft-tissue kernel: not fit for nodule measurement
}


def _phantom(rng: np.random.Generator, z: int, *, nodule: tuple[int, int, int] | None) -> np.ndarray:
    """One axial slice in HU: air, body, two lungs, a water vial, optional nodule, noise."""
    yy, xx = np.mgrid[0:MATRIX, 0:MATRIX]
    c = MATRIX / 2
    img = np.full((MATRIX, MATRIX), -1000.0)
    body = ((xx - c) / 26) ** 2 + ((yy - c) / 19) ** 2 <= 1
    img[body] = 40.0
    for cx in (c - 11, c + 11):
        lung = ((xx - cx) / 8.5) ** 2 + ((yy - c + 1) / 13) ** 2 <= 1
        img[lung] = -850.0
    vial = (xx - c) ** 2 + (yy - (c + 23)) ** 2 <= 9  # water vial under the table
    img[vial] = 0.0
    if nodule is not None:
        nx, ny, nz = nodule
        r2 = 4 - (z - nz) ** 2
        if r2 > 0:
            img[(xx - nx) ** 2 + (yy - ny) ** 2 <= r2] = 30.0
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), -1024, 3071).astype(np.int16)


def _pn(row: pd.Series) -> str:
    name = str(row["name"])
    ideographic = f"{name[0]}^{name[1:]}" if len(name) > 1 else name
    return f"{row['name_pinyin']}={ideographic}"


def _dataset(
    row: pd.Series,
    *,
    uids: dict[str, str],
    z_mm: float,
    slice_no: int,
    pixels: np.ndarray,
    burned_in: bool,
    site: str,
    study_date: str,
    sex: str,
) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    manufacturer, model, kernel = SCANNERS.get(site, SCANNERS["A"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(uids["sop"])
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if site == "C" else ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.1")
    ds = Dataset()
    ds.file_meta = meta
    _study(ds, uids=uids, site=site, study_date=study_date, manufacturer=manufacturer, model=model)
    _patient(ds, row, sex=sex, study_date=study_date)
    _image(ds, uids=uids, z_mm=z_mm, slice_no=slice_no, burned_in=burned_in, kernel=kernel)
    req = Dataset()
    req.RequestedProcedureID = uids["accession"]
    req.ScheduledProcedureStepID = f"SPS{uids['accession']}"
    ds.RequestAttributesSequence = Sequence([req])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = uids["study"]
    ds.ReferencedStudySequence = Sequence([ref])
    block = ds.private_block(0x0011, "CURATION DEMO PACS", create=True)
    block.add_new(0x01, "LO", str(row["mrn"]))  # vendors copy the patient ID into private tags
    block.add_new(0x02, "DA", ds.PatientBirthDate)
    stored = (pixels.astype(np.int32) + 1024).astype(np.int16)
    if site == "B":
        from pydicom.uid import RLELossless

        ds.PixelData = stored.tobytes()
        ds.compress(RLELossless, stored, generate_instance_uid=False)  # keep the seeded UID
    else:
        ds.PixelData = stored.tobytes()
    return ds


def _study(ds: Any, *, uids: dict[str, str], site: str, study_date: str, manufacturer: str, model: str) -> None:
    """The instance, study and equipment attributes of one slice."""
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = uids["sop"]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.StudyTime = "093000"
    ds.SeriesTime = "093105"
    ds.AccessionNumber = uids["accession"]
    ds.Modality = "CT"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = f"Demo Hospital {site}"
    ds.ReferringPhysicianName = "LI^MING=李^明"
    ds.StudyDescription = "CHEST LOW DOSE"
    ds.SeriesDescription = "LUNG 2.5mm"
    ds.ManufacturerModelName = model


def _patient(ds: Any, row: pd.Series, *, sex: str, study_date: str) -> None:
    """The patient's attributes, identifiers included (the demo's raw exports hold them); a planted
    age, birth year or smoking status where the roster says so (curation.demo.defects.DEMO_FLAGS)."""
    ds.PatientName = _pn(row)
    ds.PatientID = str(row["mrn"])
    ds.PatientBirthDate = _dicom_birth_date(row)
    ds.PatientSex = sex
    age = int((pd.Timestamp(study_date) - pd.Timestamp(row["birth_date"])).days // 365.25)
    ds.PatientAge = f"{age + int(_planted(row, 'dicom_age_offset', 0)):03d}Y"
    smoking = {"never": "NO", "former": "YES", "current": "YES"}.get(str(row.get("smoking_status")), "UNKNOWN")
    ds.SmokingStatus = str(_planted(row, "dicom_smoking", "") or smoking)


def _planted(row: pd.Series, col: str, default: Any) -> Any:
    """A planted value of the roster (curation.demo.defects.DEMO_FLAGS), or ``default``."""
    v = row.get(col)
    return default if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def _dicom_birth_date(row: pd.Series) -> str:
    """PatientBirthDate as the header holds it (its year moved where a mismatch is planted)."""
    born = pd.Timestamp(row["birth_date"])
    shift = int(_planted(row, "dicom_birth_year_offset", 0))
    return (
        born.replace(year=born.year + shift) if shift and not (born.month == 2 and born.day == 29) else born
    ).strftime("%Y%m%d")


def _image(ds: Any, *, uids: dict[str, str], z_mm: float, slice_no: int, burned_in: bool, kernel: str) -> None:
    """Acquisition, geometry and pixel description of one slice."""
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = f"{SPACING_MM}"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = f"{MATRIX * PIXEL_MM:.0f}"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "160"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "50"
    ds.Exposure = "25"
    ds.ConvolutionKernel = kernel
    ds.PatientPosition = "HFS"
    ds.CTDIvol = 1.6
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.InstanceNumber = slice_no
    ds.ImagePositionPatient = [-MATRIX * PIXEL_MM / 2, -MATRIX * PIXEL_MM / 2, round(z_mm, 2)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.SliceLocation = round(z_mm, 2)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = MATRIX
    ds.PixelSpacing = [PIXEL_MM, PIXEL_MM]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()


def _uid(rng_base: int, *parts: object) -> str:
    """A UID under 2.25 derived from the seed and the parts (pydicom's generate_uid with
    prefix=None ignores its entropy sources and returns a random UUID: not reproducible)."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(map(str, (rng_base, *parts))).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


# the size a nodule is drawn from, per T category (mm, AJCC 8th lung: T1a up to 10 mm ... T4 over 70 mm)
T_SIZE_MM = {
    "T1mi": (6.0, 25.0),
    "T1a": (5.0, 9.5),
    "T1b": (11.0, 19.5),
    "T1c": (21.0, 29.5),
    "T2a": (31.0, 39.5),
    "T2b": (41.0, 49.5),
    "T3": (51.0, 69.5),
    "T4": (71.0, 95.0),
}

_KINDS = ["truncated", "not_dicom", "missing_slice", "spacing", "burned_in", "duplicate_sop", "burned_in"]


def generate(
    roster: pd.DataFrame, out: Path, *, rng: np.random.Generator, log: DemoLog, keyring: Any
) -> dict[str, list[dict[str, Any]]]:
    """Write raw/dicom/site<X>/<admission number>/CT3/IM*.dcm and the nodule reads CSV.

    Returns the cohort.yaml ``sources`` entries: ``{"imaging": [...]}``, one per site.
    """
    out = Path(out)
    base = int(rng.integers(1, 2**62))
    pats = roster[roster["has_imaging"].astype(bool)].drop_duplicates("pseudonym").reset_index(drop=True)
    if pats.empty:
        return {}
    # defects on distinct patients, chosen deterministically
    order = list(rng.permutation(len(pats)))
    plant: dict[int, str] = {int(order[i]): k for i, k in enumerate(_KINDS) if i < len(order)}
    sites = sorted(pats["site"].astype(str).unique())
    nodule_rows: list[dict[str, Any]] = []
    for i, row in pats.iterrows():
        site = str(row["site"])
        root = out / "raw" / "dicom" / f"site{site}"
        folder = root / str(row["mrn"]) / "CT3"
        folder.mkdir(parents=True, exist_ok=True)
        kind = plant.get(int(i))
        pid = row["pid"]
        uids = {k: _uid(base, pid, k) for k in ("study", "series", "frame")}
        uids["accession"] = f"CT{base % 10**6:06d}{int(pid):04d}"
        dx = pd.Timestamp(row["diagnosis_date"])
        study_date = (dx - pd.Timedelta(days=int(rng.integers(3, 30)))).strftime("%Y%m%d")
        study_date = pd.Timestamp(_planted(row, "study_on", study_date)).strftime("%Y%m%d")
        dicom_sex = row.get("dicom_sex")
        sex = str(dicom_sex) if isinstance(dicom_sex, str) and dicom_sex else str(row["sex"])
        nodule = (int(rng.integers(18, 24)), int(rng.integers(26, 36)), int(rng.integers(6, 14)))
        log.identifier(
            row["name"],
            row["name_pinyin"],
            _pn(row),
            row["mrn"],
            pd.Timestamp(row["birth_date"]).strftime("%Y%m%d"),
            _dicom_birth_date(row),
            uids["accession"],
            f"SPS{uids['accession']}",
            "LI^MING=李^明",
            "李明",
        )
        files = _series(
            row,
            folder,
            rng=rng,
            base=base,
            uids=uids,
            kind=kind,
            nodule=nodule,
            site=site,
            study_date=study_date,
            sex=sex,
        )
        common = {"modality": "imaging", "site": site, "pseudonym": str(row["pseudonym"])}
        _plant(kind, root=root, folder=folder, files=files, log=log, keyring=keyring, common=common)
        nodule_rows += _nodule_reads(rng, row, series=uids["series"], nodule=nodule, site=site)
    return {"imaging": _sources(out, sites, pd.DataFrame(nodule_rows))}


def _series(
    row: pd.Series,
    folder: Path,
    *,
    rng: np.random.Generator,
    base: int,
    uids: dict[str, str],
    kind: str | None,
    nodule: tuple[int, int, int],
    site: str,
    study_date: str,
    sex: str,
) -> list[Path]:
    """The patient's CT series, one file per slice (a slice left out or spaced wider when planted)."""
    pid = row["pid"]
    z = 0.0
    files: list[Path] = []
    for k in range(N_SLICES):
        step = SPACING_MM if not (kind == "spacing" and k > N_SLICES // 2) else SPACING_MM * 1.2
        z = z + step if k else -300.0
        if kind == "missing_slice" and k == N_SLICES // 2:
            continue
        uids["sop"] = _uid(base, pid, "sop", k)
        ds = _dataset(
            row,
            uids=uids,
            z_mm=z,
            slice_no=k + 1,
            pixels=_phantom(rng, k, nodule=nodule),
            burned_in=kind == "burned_in",
            site=site,
            study_date=study_date,
            sex=sex,
        )
        path = folder / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def _plant(
    kind: str | None, *, root: Path, folder: Path, files: list[Path], log: DemoLog, keyring: Any, common: dict[str, str]
) -> None:
    """The planted defect of a series (a file cut, a stray text file, a duplicate) and its manifest entry."""
    if kind == "truncated":
        victim = files[len(files) // 3]
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) - len(data) // 3])
        log.defect(
            **common,
            record=_rel(root, victim),
            field="(file)",
            kind="truncated_file",
            dimension="completeness",
            expect="quarantine:truncated",
            file_token=keyring.token("file", _rel(root, victim)),
            note="transfer cut inside the pixel data",
        )
    elif kind == "not_dicom":
        junk = folder / "export_log.txt"
        junk.write_text("PACS export finished\nimages: 20\n", encoding="utf-8")
        log.defect(
            **common,
            record=_rel(root, junk),
            field="(file)",
            kind="non_dicom_file",
            dimension="conformance",
            expect="quarantine:not_dicom",
            file_token=keyring.token("file", _rel(root, junk)),
        )
    elif kind == "duplicate_sop":
        src = files[len(files) // 2]
        copy = src.with_name(src.stem + "_copy.dcm")  # sorts after the original: the copy is the duplicate
        shutil.copyfile(src, copy)
        log.defect(
            **common,
            record=_rel(root, copy),
            field="SOPInstanceUID",
            kind="duplicate_sop_instance_uid",
            dimension="uniqueness",
            expect="quarantine:duplicate_sop_instance_uid",
            file_token=keyring.token("file", _rel(root, copy)),
        )
    elif kind == "missing_slice":
        log.defect(
            **common,
            record=_rel(root, folder),
            field="ImagePositionPatient",
            kind="missing_slice",
            dimension="completeness",
            expect="imaging.completeness.missing_slices",
        )
    elif kind == "spacing":
        log.defect(
            **common,
            record=_rel(root, folder),
            field="ImagePositionPatient",
            kind="inconsistent_spacing",
            dimension="consistency",
            expect="imaging.consistency.slice_spacing",
        )
    elif kind == "burned_in":
        log.defect(
            **common,
            record=_rel(root, folder),
            field="BurnedInAnnotation",
            kind="burned_in_annotation",
            dimension="conformance",
            expect="imaging.conformance.burned_in_annotation",
        )


def _nodule_reads(
    rng: np.random.Generator, row: pd.Series, *, series: str, nodule: tuple[int, int, int], site: str
) -> list[dict[str, Any]]:
    """Two readers measure the nodule (reads for Lung-RADS and reader agreement): its size fits the
    patient's T category (AJCC 8th), unless a contradiction is planted."""
    rows: list[dict[str, Any]] = []
    low, high = T_SIZE_MM.get(str(row.get("ct")), (3.0, 18.0))
    diam = float(np.round(rng.uniform(low, high), 1))
    diam = float(_planted(row, "nodule_mm", diam))
    ntype = str(rng.choice(["solid", "solid", "part-solid", "ground-glass"]))
    for reader in ("R1", "R2"):
        d = diam if reader == "R1" else float(np.round(diam + rng.normal(0, 1.2), 1))
        t = ntype if reader == "R1" or rng.random() > 0.15 else "solid"
        rows.append(
            {
                "patient": str(row["mrn"]),
                "site": site,
                "series": series,
                "location": "RUL" if nodule[0] > 32 else "LUL",
                "diameter_mm": d,
                "type": t,
                "reader": reader,
            }
        )
    return rows


def _sources(out: Path, sites: list[str], nod: pd.DataFrame) -> list[dict[str, Any]]:
    """One cohort.yaml source per site (exported), with its nodule reads CSV when it has reads."""
    sources = []
    for site in sites:
        opts: dict[str, Any] = {"export": True}
        sub = nod[nod["site"] == site].drop(columns="site")
        if len(sub):
            rel_csv = f"raw/dicom/nodules_site{site}.csv"
            sub.to_csv(out / rel_csv, index=False)
            opts["nodules"] = rel_csv
        sources.append({"site": site, "path": f"raw/dicom/site{site}", "format": "dicom", "options": opts})
    return sources
