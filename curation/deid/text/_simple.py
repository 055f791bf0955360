"""The earlier interface: :func:`scrub` and :func:`scrub_series` with the detectors and a row's own identifiers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import pandas as pd

from ._common import _lower, _norm
from ._engine import Scrubber
from ._known import Known, _alternation, _isna


@cache
def _default() -> Scrubber:
    return Scrubber()


def _known_pattern(known: Iterable[object]) -> re.Pattern[str] | None:
    """A case-insensitive pattern of a record's own identifiers (Latin ones as whole words)."""
    values = {_norm(str(k)).strip() for k in known if k is not None and not _isna(k) and str(k).strip()}
    values = {v for v in values if len(v) >= 2}
    pat = _alternation(_lower(v) for v in values)
    return None if pat is None else re.compile(pat.pattern, re.IGNORECASE)


def _scrub(text: str, known: re.Pattern[str] | Known | None) -> str:
    if isinstance(known, re.Pattern):
        k = Known(())
        k.pattern = re.compile(known.pattern)  # lowercased values: matched on lowered text
        known = k
    return _default().scrub(text, known=known)


def scrub(text: str, *, known: Iterable[object] = ()) -> str:
    """Scrub one text with the detectors and this text's own known identifiers (no registry).

    Parameters
    ----------
    text
        Free text.
    known
        Names, addresses and IDs known for this text's patient (removed literally, whatever
        their shape).

    Returns
    -------
    The text with every identifier replaced by its token; everything else is left as written.
    """
    if not isinstance(text, str):
        return text
    k = Known(known)
    return _default().scrub(text, known=k if k else None)


def scrub_series(
    s: pd.Series,
    known_by_row: pd.Series | Sequence[Iterable[object]] | None = None,
    *,
    scrubber: Scrubber | None = None,
) -> pd.Series:
    """:func:`scrub` over a column, with each row's own known identifiers.

    Parameters
    ----------
    s
        A text column; missing values stay missing.
    known_by_row
        Per row, the identifiers known for that row's patient (aligned with ``s``'s index, or a
        sequence of the same length); see :func:`curation.deid.tabular.known_identifiers`.
    scrubber
        The run's scrubber (registry and MRN shapes); default a registry-less one.

    Returns
    -------
    A new ``string`` Series.
    """
    sc = scrubber or _default()
    if known_by_row is None:
        return sc.scrub_series(s)
    if isinstance(known_by_row, pd.Series):
        known: list[object] = known_by_row.reindex(s.index).tolist()
    else:
        known = list(known_by_row)
    vals: list[object] = [pd.NA] * len(known)
    # the rows of each distinct set of known identifiers (a patient's) are scrubbed together
    rows: dict[tuple[str, ...], tuple[tuple[object, ...], list[int]]] = {}
    for i, (t, k) in enumerate(zip(s.astype("string").tolist(), known, strict=True)):
        if not isinstance(t, str):
            continue
        ks = (k,) if isinstance(k, str) else (tuple(k) if isinstance(k, Iterable) else ())
        rows.setdefault(tuple(str(x) for x in ks), (ks, []))[1].append(i)
        vals[i] = t
    for ks, idx in rows.values():
        kn = Known(ks)
        for i, out in zip(idx, sc.scrub_many([str(vals[i]) for i in idx], known=kn if kn else None), strict=True):
            vals[i] = out
    return pd.Series(vals, index=s.index, dtype="string")
