"""Identifiers known for one record (:class:`Known`) and registry forms as the scrubber matches them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

import pandas as pd

from ..registry import IdentifierRegistry, Kind
from ._common import _lower, _norm, _word
from ._detectors import _ADDR_UNIT_RE, valid_id_card


def _guess_kind(value: str) -> Kind:
    if "@" in value:
        return Kind.email
    digits = sum(ch.isdigit() for ch in value)
    if digits >= len(value) / 2:
        return Kind.id_card if valid_id_card(value) else Kind.other
    if re.search(f"(?:{_ADDR_UNIT_RE})", value) and len(value) > 5:
        return Kind.address
    return Kind.name


def _short(value: str) -> bool:
    """Too short to remove safely everywhere: one character; a Latin / numeric value under 3 (or a number
    under 5 digits)."""
    if len(value) >= 5:  # decided by the rules below, without a regular expression per form
        return False
    if len(value) < 2:
        return True
    if re.search(r"[\u3400-\u9fff]", value):
        return False
    return len(value) < 3 or (value.isdigit() and len(value) < 5)


class Known:
    """Identifiers known for one record (a row's or a DICOM file's own), compiled once for that record.

    Parameters
    ----------
    values
        Plain values (their kind guessed from their shape) or an :class:`IdentifierRegistry`
        (every variant, with its kind, and the parts of its names written with carets:
        :meth:`~curation.deid.registry.IdentifierRegistry.name_parts`).
    """

    def __init__(self, values: Iterable[object] | IdentifierRegistry) -> None:
        pairs: dict[str, Kind] = {}
        items: Iterable[tuple[Kind, str]]
        if isinstance(values, IdentifierRegistry):
            # a record's own person may be named by a part of the name in its own text (CT Sanfeng)
            items = chain(values.items(), values.name_parts())
        else:
            items = ((Kind.other, str(v)) for v in values if v is not None and not _isna(v))
        for kind, v in items:
            v = _norm(v).strip()
            if not v or len(v) < 2:
                continue
            k = _guess_kind(v) if kind is Kind.other and not isinstance(values, IdentifierRegistry) else kind
            pairs.setdefault(_lower(v), k)
        self.kinds = pairs
        self.pattern = _alternation(pairs)

    def __bool__(self) -> bool:
        return self.pattern is not None

    def spans(self, low: str) -> Iterable[tuple[int, int, Kind]]:
        """Matches in lowercased, folded text."""
        if self.pattern is None:
            return
        for m in self.pattern.finditer(low):
            yield m.start(), m.end(), self.kinds.get(m.group(), Kind.other)


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _alternation(values: Iterable[str]) -> re.Pattern[str] | None:
    alts = sorted(set(values), key=len, reverse=True)  # longest first: the full address before its prefix
    if not alts:
        return None

    def alt(v: str) -> str:
        # Latin names and IDs match as whole words ("Li" must not cut "Clinical"); CJK text has
        # no spaces between words, so a Chinese name matches anywhere
        head = r"(?<![0-9a-z\u00c0-\u024f])" if _word(v[0]) else ""
        tail = r"(?![0-9a-z\u00c0-\u024f])" if _word(v[-1]) else ""
        return head + re.escape(v) + tail

    return re.compile("|".join(alt(v) for v in alts))


def _pattern_forms(values: Iterable[str]) -> list[str]:
    """Registry forms as matched: folded, stripped, lowercased; the too short left out (:func:`_short`)."""
    vals = list(values)
    joined = "\x00".join(vals)
    if joined.count("\x00") != max(len(vals) - 1, 0):  # a form holding the separator: one by one
        return [f for f in (_lower(_norm(v).strip()) for v in vals) if f and not _short(f)]
    folded = _norm(joined)
    low = folded.lower()
    # lowering the forms joined is lowering each (the context of a final sigma stops at \x00), unless a
    # form holds a character whose lowercase is longer
    forms = low.split("\x00") if len(low) == len(folded) else [_lower(f.strip()) for f in folded.split("\x00")]
    return [f for f in map(str.strip, forms) if len(f) >= 5 or (f and not _short(f))]
