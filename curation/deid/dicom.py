"""DICOM de-identification: PS3.15 Annex E Basic Profile with Retain Longitudinal Temporal
Information with Modified Dates, Retain Patient Characteristics and Clean Descriptors.

Default deny: the action table (``dicom_profile.yaml``) gives every attribute one action at
every sequence depth, file meta included; what it does not list is classified through pydicom's
data dictionary, and whatever is not known to be safe is removed. Each rule is a small object
that describes what it did. Any failure raises :class:`~curation.errors.DeidError` (the caller
quarantines the file); nothing falls back to the original value.

The actions live in :mod:`._dicomactions`, a file's own identifiers in :mod:`._dicomknown`; their
public names are importable from here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import DeidError
from ._dicomactions import _APPLY, STANDARD_UID_ROOT, _Context, _walk
from ._dicomknown import known_identifiers, known_registry

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    from .keys import Keyring
    from .text import Scrubber

__all__ = [
    "ACTIONS",
    "PROFILE",
    "SECONDARY_CAPTURE",
    "STANDARD_UID_ROOT",
    "BurnedInAnnotation",
    "Policy",
    "Rule",
    "changes_frame",
    "check_burned_in",
    "deidentify",
    "iter_elements",
    "known_identifiers",
    "known_registry",
    "load_policy",
    "policy_frame",
]

PROFILE = Path(__file__).with_name("dicom_profile.yaml")
SECONDARY_CAPTURE = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
ACTIONS = ("keep", "keep_seq", "remove", "empty", "pseudonym", "shift", "uid", "clean", "age")
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
        """The element after this rule's action (None: the element is removed)."""
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
        Rule(
            u["action"],
            u["why"],
            vrs=frozenset(u.get("vr", ())),
            groups=frozenset(int(g, 16) for g in u.get("groups", ())),
        )
        for u in raw["unlisted"]
    )
    keep = frozenset((str(c).strip(), int(str(e), 0)) for c, e in raw.get("private_keep") or ())
    return Policy(
        profile=raw["profile"],
        method_codes=tuple(tuple(c) for c in raw["method_codes"]),
        by_tag=by_tag,
        unlisted=unlisted,
        private_keep=keep,
    )


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
        msg = (
            "BurnedInAnnotation is missing on a secondary capture / screenshot: its pixels may show "
            "identifiers; the image is quarantined (set BurnedInAnnotation NO only after checking the pixels)"
        )
        raise BurnedInAnnotation(msg)


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
    ctx = _Context(
        keyring=keyring,
        pseudonym=patient_pseudonym,
        shift=int(date_shift_days),
        known=None,
        policy=policy,
        scrubber=scrubber,
    )
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
        msg = (
            f"DICOM de-identification failed at {ctx.where or 'the dataset'} ({type(exc).__name__}); "
            "the file is quarantined"
        )
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
                ctx.changes.append(
                    (
                        f"file_meta.{elem.keyword or elem.tag}",
                        action,
                        "file meta rebuilt from the de-identified dataset",
                    )
                )
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
