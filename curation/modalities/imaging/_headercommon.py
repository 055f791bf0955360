"""What both header readers share: the fields and identifier tags read, the VRs, the exceptions,
and the normalization both paths agree on (:mod:`._fastheader`, :mod:`._pydicomheader`).

This module stays free of heavy imports at import time: worker processes import it first.
"""

from __future__ import annotations

import struct
from typing import IO, Any

# name -> (tag, kind). kind: text | pn | float | int | floats
FIELDS: dict[str, tuple[int, str]] = {
    "SpecificCharacterSet": (0x00080005, "text"),
    "ImageType": (0x00080008, "text"),
    "SOPClassUID": (0x00080016, "text"),
    "SOPInstanceUID": (0x00080018, "text"),
    "StudyDate": (0x00080020, "text"),
    "SeriesDate": (0x00080021, "text"),
    "AcquisitionDate": (0x00080022, "text"),
    "Modality": (0x00080060, "text"),
    "Manufacturer": (0x00080070, "text"),
    "ManufacturerModelName": (0x00081090, "text"),
    "PatientName": (0x00100010, "pn"),
    "PatientID": (0x00100020, "text"),
    "PatientBirthDate": (0x00100030, "text"),
    "PatientSex": (0x00100040, "text"),
    "PatientAge": (0x00101010, "text"),
    "SmokingStatus": (0x001021A0, "text"),
    "ContrastBolusAgent": (0x00180010, "text"),
    "BodyPartExamined": (0x00180015, "text"),
    "SliceThickness": (0x00180050, "float"),
    "KVP": (0x00180060, "float"),
    "GantryDetectorTilt": (0x00181120, "float"),
    "ExposureTime": (0x00181150, "float"),
    "XRayTubeCurrent": (0x00181151, "float"),
    "Exposure": (0x00181152, "float"),
    "ConvolutionKernel": (0x00181210, "text"),
    "CTDIvol": (0x00189345, "float"),
    "StudyInstanceUID": (0x0020000D, "text"),
    "SeriesInstanceUID": (0x0020000E, "text"),
    "SeriesNumber": (0x00200011, "int"),
    "InstanceNumber": (0x00200013, "int"),
    "ImagePositionPatient": (0x00200032, "floats"),
    "ImageOrientationPatient": (0x00200037, "floats"),
    "SamplesPerPixel": (0x00280002, "int"),
    "PhotometricInterpretation": (0x00280004, "text"),
    "NumberOfFrames": (0x00280008, "int"),
    "Rows": (0x00280010, "int"),
    "Columns": (0x00280011, "int"),
    "PixelSpacing": (0x00280030, "floats"),
    "BitsAllocated": (0x00280100, "int"),
    "PixelRepresentation": (0x00280103, "int"),
    "BurnedInAnnotation": (0x00280301, "text"),
    "WindowCenter": (0x00281050, "float"),
    "WindowWidth": (0x00281051, "float"),
    "RescaleIntercept": (0x00281052, "float"),
    "RescaleSlope": (0x00281053, "float"),
}
BY_TAG = {tag: (name, kind) for name, (tag, kind) in FIELDS.items()}
PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})  # where pydicom's stop_before_pixels stops

# Identifier elements, collected at every sequence depth for the cohort's identifier registry, with
# their registry kind (curation.deid.registry.Kind values). Every other PN element is a staff name
# (physicians, operators, observers, content creators); see :func:`id_kind`.
ID_TAGS: dict[int, str] = {
    0x00080050: "accession",  # AccessionNumber
    0x00080092: "address",  # ReferringPhysicianAddress
    0x00080094: "phone",  # ReferringPhysicianTelephoneNumbers
    0x00100010: "name",  # PatientName
    0x00100020: "mrn",  # PatientID (nested: a second patient ID, other_patient_id)
    0x00100030: "birth_date",  # PatientBirthDate
    0x00101000: "other_patient_id",  # OtherPatientIDs
    0x00101001: "name",  # OtherPatientNames
    0x00101005: "name",  # PatientBirthName
    0x00101040: "address",  # PatientAddress
    0x00101060: "name",  # PatientMotherBirthName
    0x00101090: "other_patient_id",  # MedicalRecordLocator
    0x00102154: "phone",  # PatientTelephoneNumbers
    0x00200010: "other",  # StudyID
    0x00380010: "admission_number",  # AdmissionID
    0x00400009: "other",  # ScheduledProcedureStepID
    0x00400253: "other",  # PerformedProcedureStepID
    0x00401001: "other",  # RequestedProcedureID
    0x00401102: "address",  # PersonAddress
    0x00401103: "phone",  # PersonTelephoneNumbers
}
IDENTIFIERS = "_identifiers"  # key of the sorted ((kind, value), ...) pairs in a parsed header
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset(
    {
        b"AE",
        b"AS",
        b"AT",
        b"CS",
        b"DA",
        b"DS",
        b"DT",
        b"FL",
        b"FD",
        b"IS",
        b"LO",
        b"LT",
        b"PN",
        b"SH",
        b"SL",
        b"SS",
        b"ST",
        b"TM",
        b"UI",
        b"UL",
        b"US",
    }
)
_SHORT_VRS_BUT_PN = _SHORT_VRS - {b"PN"}
_TEXT_VRS = frozenset({b"SH", b"LO", b"ST", b"LT", b"UC", b"UT", b"PN"})  # decoded with the charset
_NUMERIC_BIN = {b"US": "<H", b"SS": "<h", b"UL": "<I", b"SL": "<i", b"FL": "<f", b"FD": "<d"}
_BINARY = {vr: (struct.Struct(fmt), struct.calcsize(fmt)) for vr, fmt in _NUMERIC_BIN.items()}
_ELEM = struct.Struct("<HH2sH")
_U32 = struct.Struct("<I")
_ITEM_HDR = struct.Struct("<HHI")
UNDEFINED = 0xFFFFFFFF
MAX_ITEMS = 100_000


class Unsure(Exception):
    """The fast path cannot vouch for this file: use pydicom."""


class NeedMore(Exception):
    """The header goes past the bytes read so far."""


class Quarantined(Exception):
    """The file is set aside; ``reason`` is the quarantine reason code.

    ``identifiers`` holds the ``(kind, value)`` pairs read before the file proved unusable: a
    truncated file still names its patient, and the registry must know it.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.identifiers: tuple[tuple[str, str], ...] = ()


def normalize_text(text: str, kind: str) -> Any:
    """Text of a DICOM value -> the normalized value of a field of this kind."""
    parts = [p.strip(" \x00") for p in text.split("\\")]
    if kind in ("text", "pn"):
        out = "\\".join(parts) if kind == "text" else text.strip(" \x00")
        return out or None
    nums: list[float] = []
    for p in parts:
        if not p:
            continue
        try:
            nums.append(float(p))
        except ValueError:
            return None
    return _numeric(nums, kind)


def _numeric(vals: list[Any] | tuple[Any, ...], kind: str) -> Any:
    if not vals:
        return None
    if kind == "floats":
        return [float(v) for v in vals]
    if kind == "int":
        v = float(vals[0])
        return int(v) if v.is_integer() else None  # not NaN, not infinite, no fraction
    if kind == "float":
        return float(vals[0])
    return "\\".join(str(v) for v in vals)


# --- identifiers -------------------------------------------------------------------------------


def id_kind(tag: int, is_pn: bool, nested: bool) -> str | None:
    """Registry kind of an element's values, or None when it holds no identifier.

    Decided from the tag and whether the element is a person name (PN) only, so that the fast
    path and :func:`from_dataset` classify every element the same way.
    """
    kind = ID_TAGS.get(tag)
    if kind is not None:
        return "other_patient_id" if nested and kind == "mrn" else kind
    return "staff_name" if is_pn else None


def check_encapsulated(fh: IO[bytes], pos: int, file_size: int) -> None:
    """Hop over the items of encapsulated pixel data (8-byte reads, no pixel bytes) to its
    delimiter: a transfer cut inside compressed pixels has no delimiter and an item past the end."""
    for _ in range(MAX_ITEMS):
        if pos + 8 > file_size:
            raise Quarantined("truncated", "encapsulated pixel data ends without its sequence delimiter")
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            raise Quarantined("truncated", "encapsulated pixel data ends without its sequence delimiter")
        g, e, length = _ITEM_HDR.unpack(head)
        if (g, e) == (0xFFFE, 0xE0DD):
            return
        if (g, e) != (0xFFFE, 0xE000) or length == UNDEFINED:
            raise Quarantined("unreadable", "encapsulated pixel data has a malformed item")
        pos += 8 + length
        if pos > file_size:
            raise Quarantined("truncated", "a compressed frame runs past the end of the file")
