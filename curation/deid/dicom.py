"""DICOM de-identification: PS3.15 Annex E Basic Profile with Retain Longitudinal Temporal
Information with Modified Dates, Retain Patient Characteristics and Clean Descriptors.

Default deny: the action table (``dicom_profile.yaml``) gives every attribute one action at
every sequence depth, file meta included; what it does not list is classified through pydicom's
data dictionary, and whatever is not known to be safe is removed. Each rule is a small object
that describes what it did. Any failure raises :class:`~curation.errors.DeidError` (the caller
quarantines the file); nothing falls back to the original value.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import DeidError
from . import text as _text

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    from .keys import Keyring
    from .registry import IdentifierRegistry
    from .text import Scrubber

PROFILE = Path(__file__).with_name("dicom_profile.yaml")
STANDARD_UID_ROOT = "1.2.840.10008."
SECONDARY_CAPTURE = frozenset({
    "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
})
ACTIONS = ("keep", "keep_seq", "remove", "empty", "pseudonym", "shift", "uid", "clean", "age")
_MAX_LEN = {"SH": 16, "CS": 16, "LO": 64, "ST": 1024, "LT": 10240, "PN": 64, "AE": 16}
_FILE_META_KEEP = {0x00020001, 0x00020002, 0x00020010}


class BurnedInAnnotation(DeidError):
    """The pixels may show identifiers (burned-in text): the image is quarantined, not exported."""

    reason = "burned_in_annotation"


@dataclass(frozen=True)
class Rule:
    """One line of the action table: what to do with an attribute, and why."""

    action: str
    why: str
    keyword: str = ""
    vrs: frozenset[str] = frozenset()
    groups: frozenset[int] = frozenset()

    def matches(self, vr: str, group: int) -> bool:
        """Whether this class rule (``unlisted``) applies to a dictionary VR and group."""
        return (not self.vrs or vr in self.vrs) and (not self.groups or group in self.groups)

    def describe(self, where: str = "") -> str:
        """What the rule did, without any value: ``'StudyDate: shift (Retain Longitudinal ...)'``."""
        return f"{where or self.keyword or 'attribute'}: {self.action} ({self.why})"

    def apply(self, elem: DataElement, ctx: _Context) -> DataElement | None:
        return _APPLY[self.action](elem, ctx)


@dataclass(frozen=True, eq=False)  # hashed by identity, for the per-tag rule cache
class Policy:
    """The loaded action table."""

    profile: str
    method_codes: tuple[tuple[str, str], ...]
    by_tag: dict[int, Rule]
    unlisted: tuple[Rule, ...]
    private_keep: frozenset[tuple[str, int]]
    private_rule: Rule = Rule("remove", "private attribute; default deny (not on private_keep)")
    unknown_rule: Rule = Rule("remove", "not in the DICOM data dictionary; default deny")
    group_length_rule: Rule = Rule("remove", "group length; recomputed on write")

    def rule_for(self, tag: int, ds: Dataset) -> Rule:
        """The one rule that decides the fate of the element ``tag`` of ``ds``.

        Decided from the tag alone (and, for safe-listed private attributes, their creator), so
        that removed elements are never decoded.
        """
        from pydicom.tag import Tag

        t = Tag(tag)
        if t.element == 0:
            return self.group_length_rule
        if t.is_private:
            return self._private(t, ds)
        return self._public(int(t))

    @lru_cache(maxsize=4096)  # noqa: B019 - policies are few and long-lived (load_policy caches them)
    def _public(self, tag: int) -> Rule:
        from pydicom.datadict import dictionary_has_tag, dictionary_VR

        rule = self.by_tag.get(tag)
        if rule is not None:
            return rule
        if not dictionary_has_tag(tag):
            return self.unknown_rule
        vr = dictionary_VR(tag)
        for r in self.unlisted:
            if r.matches(vr, tag >> 16):
                return r
        return self.unknown_rule

    def _private(self, tag: Any, ds: Dataset) -> Rule:
        if not self.private_keep:
            return self.private_rule
        if tag.is_private_creator:
            if str(ds[tag].value).strip() in {c for c, _ in self.private_keep}:
                return Rule("keep", "private creator of a safe private attribute")
            return self.private_rule
        creator = ds.get((tag.group << 16) | (tag.element >> 8))
        name = str(creator.value).strip() if creator is not None else ""
        if (name, tag.element & 0xFF) in self.private_keep:
            return Rule("keep_seq" if ds[tag].VR == "SQ" else "keep", "private attribute on the safe list")
        return self.private_rule


@lru_cache(maxsize=4)
def load_policy(path: str | Path = PROFILE) -> Policy:
    """Read and validate the action table (every keyword must be in pydicom's dictionary)."""
    from pydicom.datadict import tag_for_keyword

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    by_tag: dict[int, Rule] = {}
    for name, group in raw["rules"].items():
        action = group.get("action", name)
        if action not in ACTIONS:
            msg = f"{Path(path).name}: rules.{name}: unknown action {action!r}; use one of {', '.join(ACTIONS)}"
            raise DeidError(msg)
        for kw in group["tags"]:
            tag = tag_for_keyword(kw)
            if tag is None:
                msg = f"{Path(path).name}: rules.{name}: {kw!r} is not a DICOM keyword in pydicom's dictionary"
                raise DeidError(msg)
            if tag in by_tag:
                msg = f"{Path(path).name}: {kw} has two rules ({by_tag[tag].action} and {action}); keep one"
                raise DeidError(msg)
            by_tag[tag] = Rule(action, group["why"], keyword=kw)
    unlisted = tuple(
        Rule(u["action"], u["why"], vrs=frozenset(u.get("vr", ())),
             groups=frozenset(int(g, 16) for g in u.get("groups", ())))
        for u in raw["unlisted"]
    )
    keep = frozenset((str(c).strip(), int(str(e), 0)) for c, e in raw.get("private_keep") or ())
    return Policy(profile=raw["profile"], method_codes=tuple(tuple(c) for c in raw["method_codes"]),
                  by_tag=by_tag, unlisted=unlisted, private_keep=keep)


@dataclass
class _Context:
    keyring: Keyring
    pseudonym: str
    shift: int
    known: _text.Known | None
    policy: Policy
    scrubber: Scrubber | None = None
    where: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    source: Dataset | None = None  # whose own identifiers ``known`` holds, once first needed

    def own_known(self) -> _text.Known | None:
        """The file's own identifiers for scrubbing, looked up when the first text is cleaned: a file with
        no text to clean never needs them."""
        if self.source is not None:
            self.known = _known_of(_own_identifiers(self.source))
            self.source = None
        return self.known


# --- actions ---------------------------------------------------------------------------------

def _elem(tag: Any, vr: str, value: Any) -> DataElement:
    from pydicom import config
    from pydicom.dataelem import DataElement

    # our rules produce the values; pydicom's validation would only re-warn (quoting raw values)
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _values(elem: DataElement) -> list[Any]:
    from pydicom.multival import MultiValue

    v = elem.value
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, MultiValue | list | tuple) else [v]


def _with(elem: DataElement, values: list[Any]) -> DataElement:
    value: Any = "" if not values else values[0] if len(values) == 1 else values
    return _elem(elem.tag, elem.VR, value)


def _keep(elem: DataElement, ctx: _Context) -> DataElement | None:
    if elem.VR == "SQ":  # a sequence is never copied wholesale: its items go through the policy
        return _keep_seq(elem, ctx)
    return _elem(elem.tag, elem.VR, copy.copy(elem.value))


def _keep_seq(elem: DataElement, ctx: _Context) -> DataElement | None:
    from pydicom.sequence import Sequence

    if elem.VR != "SQ":
        return _keep(elem, ctx)
    outer = ctx.where
    items = []
    for i, item in enumerate(elem.value or []):
        ctx.where = f"{outer}[{i}]"
        items.append(_walk(item, ctx))
    ctx.where = outer
    return _elem(elem.tag, "SQ", Sequence(items))


def _remove(elem: DataElement, ctx: _Context) -> DataElement | None:
    return None


def _empty(elem: DataElement, ctx: _Context) -> DataElement | None:
    from pydicom.sequence import Sequence

    return _elem(elem.tag, elem.VR, Sequence() if elem.VR == "SQ" else "")


def _pseudonym(elem: DataElement, ctx: _Context) -> DataElement | None:
    return _elem(elem.tag, elem.VR, ctx.pseudonym)


def _shift_da(value: str, days: int) -> str:
    v = value.strip().replace(".", "")  # ACR-NEMA wrote 1997.04.30
    if not re.fullmatch(r"\d{8}", v):
        msg = f"a DA value at {{where}} is not YYYYMMDD (length {len(v)})"
        raise DeidError(msg)
    d = dt.datetime.strptime(v, "%Y%m%d").date() + dt.timedelta(days=days)
    return d.strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str:
    v = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?", v)
    if not m:
        msg = "a DT value at {where} is not a DICOM date-time"
        raise DeidError(msg)
    year, month, day, rest, tz = m.groups()
    # partial precision (YYYY, YYYYMM): shift a mid-period date, keep the precision
    d = dt.date(int(year), int(month or 7), int(day) if day else (15 if month else 1)) + dt.timedelta(days=days)
    head = d.strftime("%Y%m%d")[: 4 + (2 if month else 0) + (2 if day else 0)]
    return head + (rest or "") + (tz or "")


def _shift(elem: DataElement, ctx: _Context) -> DataElement | None:
    if elem.VR == "TM":  # whole-day shifts leave times of day unchanged
        return _keep(elem, ctx)
    fn = {"DA": _shift_da, "DT": _shift_dt}.get(elem.VR)
    if fn is None:
        # a date attribute written with the wrong VR (seen in real PET exports: DS): we cannot shift
        # it, so it does not leave (default deny) rather than refusing the whole file
        return _remove(elem, ctx)
    return _with(elem, [fn(str(v), ctx.shift) if str(v).strip() else "" for v in _values(elem)])


def _uid(elem: DataElement, ctx: _Context) -> DataElement | None:
    if elem.VR != "UI":
        return _remove(elem, ctx)
    out = []
    for v in _values(elem):
        s = str(v).strip().rstrip("\x00")
        out.append(s if s.startswith(STANDARD_UID_ROOT) or not s else ctx.keyring.uid(s))
    return _with(elem, out)


def _clean(elem: DataElement, ctx: _Context) -> DataElement | None:
    if elem.VR == "SQ":
        return _keep_seq(elem, ctx)
    if elem.VR not in _MAX_LEN and elem.VR != "UT":
        return _remove(elem, ctx)
    limit = _MAX_LEN.get(elem.VR, 10**6)
    # the cohort's scrubber (registry of every patient and staff member, detectors, name detector)
    # plus this file's own identifiers in every form (pinyin of its PN elements included)
    sc = ctx.scrubber or _text._default()
    out = [v[:limit] for v in sc.scrub_many([str(v) for v in _values(elem)], known=ctx.own_known())]
    return _with(elem, out) if any(out) else None


def _age(elem: DataElement, ctx: _Context) -> DataElement | None:
    m = re.fullmatch(r"(\d{3})([DWMY])", str(elem.value or "").strip())
    if not m:
        return None  # an age we cannot read is an age we do not export
    n, unit = int(m.group(1)), m.group(2)
    return _elem(elem.tag, "AS", "090Y" if unit == "Y" and n >= 90 else f"{n:03d}{unit}")


_APPLY = {"keep": _keep, "keep_seq": _keep_seq, "remove": _remove, "empty": _empty, "pseudonym": _pseudonym,
          "shift": _shift, "uid": _uid, "clean": _clean, "age": _age}


def _walk(ds: Dataset, ctx: _Context) -> Dataset:
    from pydicom import Dataset
    from pydicom.datadict import keyword_for_tag

    out = Dataset()
    outer = ctx.where
    for tag in sorted(ds.keys()):
        # private tags are not in the dictionary: looking them up costs a KeyError each
        name = ("" if (tag >> 16) & 1 else keyword_for_tag(tag)) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        ctx.where = f"{outer}.{name}" if outer else name
        rule = ctx.policy.rule_for(tag, ds)
        # a removed element is never decoded: no conversion, no warning quoting its value
        new = None if rule.action == "remove" else rule.apply(ds[tag], ctx)
        ctx.changes.append((ctx.where, rule.action if new is not None or rule.action == "remove" else "remove",
                            rule.why))
        if new is not None:
            out.add(new)
    ctx.where = outer
    return out


# --- the entry point -------------------------------------------------------------------------

def check_burned_in(ds: Dataset) -> None:
    """Refuse images whose pixels may carry identifiers.

    Raises
    ------
    BurnedInAnnotation
        BurnedInAnnotation is YES, or it is missing on a secondary capture / screenshot.
    """
    value = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if value == "YES":
        msg = "BurnedInAnnotation is YES: the pixels may show identifiers; the image is quarantined"
        raise BurnedInAnnotation(msg)
    if value:
        return
    sop = str(ds.get("SOPClassUID", "") or "")
    conversion = str(ds.get("ConversionType", "") or "").upper()
    image_type = " ".join(str(v) for v in (ds.get("ImageType") or [])).upper()
    if sop in SECONDARY_CAPTURE or conversion == "WSD" or "SCREEN" in image_type:
        msg = ("BurnedInAnnotation is missing on a secondary capture / screenshot: its pixels may show "
               "identifiers; the image is quarantined (set BurnedInAnnotation NO only after checking the pixels)")
        raise BurnedInAnnotation(msg)


_KNOWN_KEYWORDS = (
    "PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName", "PatientID",
    "OtherPatientIDs", "AccessionNumber", "InstitutionName", "InstitutionAddress", "PatientAddress",
    "PatientTelephoneNumbers", "StationName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "NameOfPhysiciansReadingStudy", "RequestingPhysician", "StudyID",
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

    return (frozenset(t for t, e in DicomDictionary.items() if e[0] == "PN"),
            frozenset(t for t, e in DicomDictionary.items() if e[0] == "SQ"))


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
_OWN_ID_KINDS = {"PatientID": "mrn", "OtherPatientIDs": "other_patient_id", "AccessionNumber": "accession",
                 "PatientAddress": "address", "PatientTelephoneNumbers": "phone", "StudyID": "other",
                 "InstitutionName": "other", "InstitutionAddress": "address", "StationName": "other"}


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


def deidentify(
    ds: Dataset,
    *,
    keyring: Keyring,
    patient_pseudonym: str,
    date_shift_days: int,
    policy: Policy | None = None,
    changes: list[tuple[str, str, str]] | None = None,
    require_instance: bool = True,
    scrubber: Scrubber | None = None,
) -> Dataset:
    """De-identify one DICOM dataset; return a new one (the input is not modified).

    Parameters
    ----------
    ds
        The dataset as read (with ``file_meta`` when read from a file).
    keyring
        The run's keyring: UIDs are remapped with ``keyring.uid`` (the same in every file, so
        references within and across series still resolve).
    patient_pseudonym
        Written to PatientID and PatientName.
    date_shift_days
        The patient's shift (``keyring.date_shift(patient_pseudonym)``), applied to DA and DT.
    policy
        The action table; default ``dicom_profile.yaml``.
    changes
        If given, receives one ``(path, action, why)`` per attribute seen, never a value.
    require_instance
        Refuse a dataset without SOPClassUID and SOPInstanceUID (a truncated or non-image
        file), whose output could not be a consistent DICOM file.
    scrubber
        The run's :class:`~curation.deid.text.Scrubber`: text kept under Clean Descriptors
        (StudyDescription, SeriesDescription, ImageComments, ProtocolName ...) is scrubbed with it
        - the cohort registry, the detectors and the name detector - plus this file's own
        identifiers. Default: the detectors and this file's own identifiers only.

    Returns
    -------
    A new Dataset with file meta (MediaStorageSOPInstanceUID = the new SOPInstanceUID),
    PatientIdentityRemoved YES, DeidentificationMethod(CodeSequence) and
    LongitudinalTemporalInformationModified MODIFIED.

    Raises
    ------
    BurnedInAnnotation
        The pixels may carry identifiers.
    DeidError
        Anything went wrong; the message names the attribute path, never a value.
    """
    policy = policy or load_policy()
    ctx = _Context(keyring=keyring, pseudonym=patient_pseudonym, shift=int(date_shift_days), known=None,
                   policy=policy, scrubber=scrubber)
    try:
        with warnings.catch_warnings():
            # pydicom warnings quote raw values (names, IDs); the outcome is checked below instead
            warnings.simplefilter("ignore")
            if require_instance and not (ds.get("SOPInstanceUID") and ds.get("SOPClassUID")):
                msg = "no SOPClassUID / SOPInstanceUID: not a storable DICOM instance (truncated file?)"
                raise DeidError(msg)
            check_burned_in(ds)
            ctx.source = ds
            out = _walk(ds, ctx)
            out.file_meta = _file_meta(ds, out, ctx)
            _stamp(out, policy)
            # the pseudonym links the image to the other modalities even when the source had no ID
            out.PatientID = patient_pseudonym
            out.PatientName = patient_pseudonym
            _verify(out, patient_pseudonym)
    except BurnedInAnnotation:
        raise
    except DeidError as exc:
        msg = str(exc).replace("{where}", ctx.where or "the dataset")
        raise DeidError(msg) from None
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure quarantines the file
        msg = (f"DICOM de-identification failed at {ctx.where or 'the dataset'} ({type(exc).__name__}); "
               "the file is quarantined")
        raise DeidError(msg) from None
    if changes is not None:
        changes.extend(ctx.changes)
    return out


def _file_meta(ds: Dataset, out: Dataset, ctx: _Context) -> Any:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import (
        PYDICOM_IMPLEMENTATION_UID,
        UID,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    src = getattr(ds, "file_meta", None)
    fm = FileMetaDataset()
    fm.FileMetaInformationVersion = b"\x00\x01"
    sop_class = out.get("SOPClassUID") or (src.get("MediaStorageSOPClassUID") if src else None)
    if sop_class:
        fm.MediaStorageSOPClassUID = sop_class
    if "SOPInstanceUID" in out:
        fm.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    elif src is not None and src.get("MediaStorageSOPInstanceUID"):
        fm.MediaStorageSOPInstanceUID = UID(ctx.keyring.uid(str(src.MediaStorageSOPInstanceUID)))
    ts: Any = src.get("TransferSyntaxUID") if src is not None else None
    if not ts:
        implicit = getattr(ds, "original_encoding", (False, True))[0]
        ts = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    fm.TransferSyntaxUID = ts
    fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    fm.ImplementationVersionName = "CURATION"
    if src is not None:
        for elem in src:
            if int(elem.tag) not in _FILE_META_KEEP and elem.tag.element != 0:
                action = "replace" if elem.keyword in fm else "remove"
                ctx.changes.append((f"file_meta.{elem.keyword or elem.tag}", action,
                                    "file meta rebuilt from the de-identified dataset"))
    return fm


def _stamp(out: Dataset, policy: Policy) -> None:
    from pydicom import Dataset
    from pydicom.sequence import Sequence

    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = [p.strip()[:64] for p in policy.profile.split("+")]
    items = []
    for code, meaning in policy.method_codes:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    out.DeidentificationMethodCodeSequence = Sequence(items)
    out.LongitudinalTemporalInformationModified = "MODIFIED"


def _verify(out: Dataset, pseudonym: str) -> None:
    """Second line of defence: no private attribute and no person name survives, at any depth."""
    for elem in iter_elements(out):
        if elem.tag.is_private:
            msg = f"a private attribute ({elem.tag.group:04X},xxxx) survived de-identification"
            raise DeidError(msg)
        if elem.VR == "PN" and str(elem.value or "") not in ("", pseudonym):
            msg = f"{elem.keyword or 'a PN attribute'} kept a person name after de-identification"
            raise DeidError(msg)


def iter_elements(ds: Dataset) -> Iterable[DataElement]:
    """Every element at every sequence depth (file meta not included)."""
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from iter_elements(item)


def changes_frame(changes: Iterable[tuple[str, str, str]]) -> pd.DataFrame:
    """The ``changes`` of :func:`deidentify` as a table (path, action, why) for reports."""
    import pandas as pd

    return pd.DataFrame(list(changes), columns=["path", "action", "why"])


def policy_frame(policy: Policy | None = None) -> pd.DataFrame:
    """The action table as a table (keyword, tag, action, why), for the documentation and reports."""
    import pandas as pd

    policy = policy or load_policy()
    rows = [(r.keyword, f"({t >> 16:04X},{t & 0xFFFF:04X})", r.action, r.why) for t, r in sorted(policy.by_tag.items())]
    rows += [("<unlisted " + ",".join(sorted(r.vrs)) + ">", "", r.action, r.why) for r in policy.unlisted]
    rows += [("<private>", "", policy.private_rule.action, policy.private_rule.why)]
    return pd.DataFrame(rows, columns=["keyword", "tag", "action", "why"])
