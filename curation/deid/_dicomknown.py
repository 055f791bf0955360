"""A DICOM file's own identifiers: every PN element at any depth with its variants, IDs, accession
number, birth date. Used to clean the file's descriptors (:mod:`curation.deid.dicom`) and, as a
registry, by the imaging modality.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import text as _text

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    from .registry import IdentifierRegistry


def _values(elem: DataElement) -> list[Any]:
    from pydicom.multival import MultiValue

    v = elem.value
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, MultiValue | list | tuple) else [v]


_KNOWN_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "StationName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "StudyID",
)


def known_identifiers(ds: Dataset) -> list[str]:
    """Identifying values of a dataset (names with each PN component group and component, IDs),
    used to clean its descriptors."""
    out: list[str] = []
    for kw in _KNOWN_KEYWORDS:
        elem = ds.get(kw)
        if elem is None:
            continue
        for v in _values(ds[kw]):
            s = str(v).strip()
            out.append(s)
            for group in s.split("="):  # PN: alphabetic=ideographic=phonetic, components by ^
                # as written in free text: 张三丰, "Zhang Sanfeng", and each component
                out += [group, group.replace("^", ""), group.replace("^", " ").strip(), *group.split("^")]
    for item in ds.get("OtherPatientIDsSequence") or []:
        out.append(str(item.get("PatientID", "")))
    # a 1-2 letter Latin component ("Li", "CT") alone identifies nobody and would cut ordinary
    # descriptor words; CJK names of 2 characters are kept
    return [s.strip() for s in out if s.strip() and not (s.strip().isascii() and len(s.strip()) < 3)]


@lru_cache(maxsize=1)
def _pn_sq_tags() -> tuple[frozenset[int], frozenset[int]]:
    from pydicom.datadict import DicomDictionary

    return (
        frozenset(t for t, e in DicomDictionary.items() if e[0] == "PN"),
        frozenset(t for t, e in DicomDictionary.items() if e[0] == "SQ"),
    )


def _person_names(ds: Dataset) -> Iterable[tuple[str, str]]:
    """``(keyword, value)`` of every PN element, nested sequences included; only PN and SQ elements are
    read (the data dictionary says which), so the rest of the header stays unparsed."""
    from pydicom.datadict import keyword_for_tag

    pn, sq = _pn_sq_tags()
    for tag in list(ds.keys()):
        t = int(tag)
        if t in pn:
            for v in _values(ds[tag]):
                yield keyword_for_tag(t), str(v)
        elif t in sq:
            for item in ds[tag].value or []:
                yield from _person_names(item)


_PATIENT_NAMES = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName")
_OWN_ID_KINDS = {
    "PatientID": "mrn",
    "OtherPatientIDs": "other_patient_id",
    "AccessionNumber": "accession",
    "PatientAddress": "address",
    "PatientTelephoneNumbers": "phone",
    "StudyID": "other",
    "InstitutionName": "other",
    "InstitutionAddress": "address",
    "StationName": "other",
}


def _own_identifiers(ds: Dataset) -> tuple[tuple[str, str, str], ...]:
    """The identifying values of a file, as ``(how, kind, value)`` in the order :func:`known_registry` adds them."""
    out = [("name", "name" if kw in _PATIENT_NAMES else "staff_name", v) for kw, v in _person_names(ds)]
    for kw, kind in _OWN_ID_KINDS.items():
        if kw in ds:
            out += [("id", kind, str(v)) for v in _values(ds[kw])]
    for item in ds.get("OtherPatientIDsSequence") or []:
        out.append(("id", "other_patient_id", str(item.get("PatientID", ""))))
    birth = ds.get("PatientBirthDate")
    if birth:
        out.append(("date", "birth_date", str(birth)))
    return tuple(out)


def _registry_of(values: tuple[tuple[str, str, str], ...]) -> IdentifierRegistry:
    from .registry import IdentifierRegistry

    reg = IdentifierRegistry()
    for how, kind, v in values:
        if how == "name":
            reg.add_name(v, staff=kind == "staff_name")
        elif how == "id":
            reg.add(kind, v)
        else:
            reg.add_date(kind, v)
    return reg


@lru_cache(maxsize=64)
def _known_of(values: tuple[tuple[str, str, str], ...]) -> _text.Known | None:
    # the files of a series share their names and IDs: their pinyin variants and pattern are made once
    # (memory only, the last few dozen files' worth, like the run's registry)
    known = _text.Known(_registry_of(values))
    return known if known else None


def known_registry(ds: Dataset) -> IdentifierRegistry:
    """This file's own identifiers as a registry: every PN element (nested sequences included) with
    its variants (pinyin, either order), IDs, accession number, OtherPatientIDs."""
    return _registry_of(_own_identifiers(ds))
