"""The actions of the DICOM action table (keep, remove, empty, pseudonym, shift, uid, clean, age),
each a small function from one element to its de-identified form (or None: it does not leave), and
the walk that applies the policy's rule to every element at every sequence depth.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DeidError
from . import text as _text
from ._dicomknown import _known_of, _own_identifiers, _values

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    from .dicom import Policy
    from .keys import Keyring
    from .text import Scrubber

STANDARD_UID_ROOT = "1.2.840.10008."
_MAX_LEN = {"SH": 16, "CS": 16, "LO": 64, "ST": 1024, "LT": 10240, "PN": 64, "AE": 16}
_TEXT = {"SH", "LO", "ST", "LT", "UT"}  # free-ish text a kept element may hold an identifier in
# the patient's own identifiers looked for in kept text (not the institution or station, which a
# kept Manufacturer or model name may share)
_PATIENT_KINDS = {"name", "mrn", "other_patient_id", "accession", "phone"}


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
    own: tuple[str, ...] = ()  # the file's identifying values, lowercase (4 letters or digits or more)

    def own_known(self) -> _text.Known | None:
        """The file's own identifiers for scrubbing, looked up when the first text is cleaned: a file with
        no text to clean never needs them."""
        if self.source is not None:
            values = _own_identifiers(self.source)
            self.known = _known_of(values)
            self.own = tuple(
                {v.strip().lower() for _, k, v in values if k in _PATIENT_KINDS and sum(c.isalnum() for c in v) >= 4}
            )
            self.source = None
        return self.known

    def holds_own(self, values: list[Any]) -> bool:
        """Whether a value holds one of the file's own identifiers whole (e.g. a PatientID copied into
        SequenceName by the exporting system)."""
        self.own_known()
        low = [str(v).lower() for v in values]
        return any(i in v for i in self.own for v in low)


def _elem(tag: Any, vr: str, value: Any) -> DataElement:
    from pydicom import config
    from pydicom.dataelem import DataElement

    # our rules produce the values; pydicom's validation would only re-warn (quoting raw values)
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _with(elem: DataElement, values: list[Any]) -> DataElement:
    value: Any = "" if not values else values[0] if len(values) == 1 else values
    return _elem(elem.tag, elem.VR, value)


def _keep(elem: DataElement, ctx: _Context) -> DataElement | None:
    if elem.VR == "SQ":  # a sequence is never copied wholesale: its items go through the policy
        return _keep_seq(elem, ctx)
    if elem.VR in _TEXT and ctx.holds_own(_values(elem)):  # kept text holding the patient's ID or name
        return _clean(elem, ctx)
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


_APPLY = {
    "keep": _keep,
    "keep_seq": _keep_seq,
    "remove": _remove,
    "empty": _empty,
    "pseudonym": _pseudonym,
    "shift": _shift,
    "uid": _uid,
    "clean": _clean,
    "age": _age,
}


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
        ctx.changes.append(
            (ctx.where, rule.action if new is not None or rule.action == "remove" else "remove", rule.why)
        )
        if new is not None:
            out.add(new)
    ctx.where = outer
    return out
