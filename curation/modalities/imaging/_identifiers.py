"""Identifiers of a DICOM source for the cohort's registry: header values and folder / file names.

The header pass (:mod:`._fastheader`, pydicom as its fallback) returns each file's identifiers as
``(kind, value)`` pairs: patient names in every PN representation, PatientID, OtherPatientIDs
and the PatientIDs of nested items (OtherPatientIDsSequence), birth date, accession number,
StudyID, address, phones, and every other PN element at any sequence depth as a staff name.

PACS exports name folders (and zip archives, sometimes files) after the patient: ``ZHANG_SAN_
00123456/CT/IM0001``. A path component is registered (kind ``file_name``) when it holds one of the
source's own identifiers (compared on letters, digits and CJK characters only, so ``Zhang_San``
matches ``ZHANG^SAN``), when the cohort scrubber's detectors find a name or an ID in it (names
found there are also added as names), or, for folders and archives, when it holds a run of six
or more digits. Numbering (``IM000123``, ``SE000001``), UIDs and dates are not names: registering
them would make the leak scan flag the export's own File-set IDs and shifted dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._fastheader import IDENTIFIERS

if TYPE_CHECKING:
    from ...deid.registry import IdentifierRegistry
    from ._walk import FileRef

_EXTENSION = re.compile(r"\.(?:dcm|dicom|dic|ima|img|zip|tar|gz|tgz|bz2|xz|7z|rar)$", re.IGNORECASE)
_FILE_ID = re.compile(r"[A-Za-z]{2}\d{6}")  # pydicom's File-set IDs (PT000000, ST.., SE.., IM..): the export's own
_UID = re.compile(r"\d+(?:\.\d+)+")
_NUMBERING = re.compile(r"[A-Za-z]{0,4}[\d._\-]*")  # IM000123, I0001, 0001, CT.1: numbering, not naming
_DATE = re.compile(r"(?:19|20)\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])(?:[-_T ]?\d{2,6})?")
_DIGITS = re.compile(r"\d{6,}")
_RUNS = re.compile(r"[0-9A-Za-z]+|[\u3400-\u9fff\uf900-\ufaff]+")
_SPLIT = re.compile(r"\d+|[A-Za-z]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NAME_KINDS = ("name", "staff_name")


def header_pairs(parsed: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """The distinct ``(kind, value)`` pairs of every parsed header (quarantined files included)."""
    pairs: set[tuple[str, str]] = set()
    for row in parsed:
        fields = row.get("fields")
        if fields:
            pairs.update(fields.get(IDENTIFIERS, ()))
    return pairs


def source_identifiers(
    refs: list[FileRef], parsed: list[dict[str, Any]], *, detect_names: bool = True
) -> IdentifierRegistry:
    """Registry of one source: every header identifier and every path component that names or
    identifies somebody.

    Parameters
    ----------
    refs
        The source's files (their relpaths carry folder, archive and file names).
    parsed
        The header rows of ``refs`` (:func:`~curation.modalities.imaging._index.index_refs`).
    detect_names
        Run the person-name detector over path components (``privacy.detect_names``).
    """
    from ...deid.registry import IdentifierRegistry, Kind

    reg = IdentifierRegistry()
    pairs = header_pairs(parsed)
    for kind, value in sorted(pairs):
        # names get their variants (an ideographic group's components joined: 张^三 is 张三), birth dates
        # their renderings
        reg.add(kind, value)
    for value, names in path_identifiers([r.relpath for r in refs], pairs, registry=reg, detect_names=detect_names):
        reg.add(Kind.file_name, value)
        for n in names:
            reg.add_name(n)
    return reg


def _components(relpaths: Iterable[str]) -> dict[str, bool]:
    """Distinct path components (extension stripped) -> whether one is a folder or an archive."""
    out: dict[str, bool] = {}
    for rel in relpaths:
        parts = rel.split("/")
        for i, part in enumerate(parts):
            is_archive = part.lower().endswith(".zip")
            stem = part
            while True:
                shorter = _EXTENSION.sub("", stem)
                if shorter == stem or not shorter:
                    break
                stem = shorter
            stem = stem.strip()
            if stem:
                out[stem] = out.get(stem, False) or i < len(parts) - 1 or is_archive
    return out


def _norm(text: str) -> str:
    return "".join(m.group(0) for m in _RUNS.finditer(text)).lower()


def _known_keys(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Identifier values reduced to letters, digits and CJK characters (names in both orders)."""
    keys: set[str] = set()
    for kind, value in pairs:
        forms = [value]
        if kind in _NAME_KINDS:
            forms = []
            for group in value.split("="):
                comps = [c for c in group.split("^") if c.strip()]
                forms += ["".join(comps), "".join(reversed(comps))]
        for f in forms:
            k = _norm(f)
            if len(k) >= (2 if _CJK.search(k) else 4):
                keys.add(k)
    return keys


def _candidates(component: str) -> set[str]:
    """Pieces of a path component that could equal an identifier: its runs of letters / digits /
    CJK, their letter and digit parts, up to three neighbouring runs joined, and the 2 to 4
    character pieces of CJK runs (a name inside 张三胸部CT)."""
    runs = [m.group(0).lower() for m in _RUNS.finditer(component)]
    out = set(runs)
    for i in range(len(runs)):
        out.add("".join(runs[i : i + 2]))
        out.add("".join(runs[i : i + 3]))
        out.update(_SPLIT.findall(runs[i]))
        if _CJK.match(runs[i]):
            r = runs[i]
            out.update(r[a : a + n] for n in (2, 3, 4) for a in range(len(r) - n + 1))
    return out


def path_identifiers(
    relpaths: Iterable[str],
    pairs: Iterable[tuple[str, str]],
    *,
    registry: IdentifierRegistry | None = None,
    detect_names: bool = True,
) -> list[tuple[str, list[str]]]:
    """Path components that name or identify somebody, each with the person names found in it.

    Parameters
    ----------
    relpaths
        Relative paths of a source's files (``folder/archive.zip/member``).
    pairs
        The source's header identifiers (``(kind, value)``).
    registry
        The source's registry, for the scrubber's detectors.
    detect_names
        Run the person-name detector.

    Returns
    -------
    ``[(component, [name, ...]), ...]`` sorted by component.
    """
    from ...deid.registry import Kind
    from ...deid.text import Scrubber

    components = _components(relpaths)
    known = _known_keys(pairs)
    scrubber: Scrubber | None = None
    out: list[tuple[str, list[str]]] = []
    for comp, is_dir in sorted(components.items()):
        if len(comp) < 2 or _FILE_ID.fullmatch(comp) or _UID.fullmatch(comp):
            continue
        if known and not known.isdisjoint(_candidates(comp)):
            out.append((comp, []))  # holds an identifier of the source (even one shaped like a date)
            continue
        if _DATE.fullmatch(comp):
            continue
        if is_dir and _DIGITS.search(_DATE.sub("", comp)):
            out.append((comp, []))  # a folder or archive named by a number: an ID nobody listed
            continue
        if _NUMBERING.fullmatch(comp):
            continue
        if scrubber is None:
            scrubber = Scrubber(registry, names=detect_names)
        found = [f for f in scrubber.findings(comp) if f.kind not in (Kind.date, Kind.birth_date)]
        if found:
            out.append((comp, [comp[f.start : f.end] for f in found if f.kind in (Kind.name, Kind.staff_name)]))
    return out
