"""Dates: a per-patient keyed shift (intervals preserved) or days relative to an anchor date,
and birth dates generalized to birth year / age at diagnosis with ages >= 90 top-coded.

Only already-parsed datetime columns are accepted: parsing (and quarantining what does not
parse) happens before, so an unparsed string can never pass through here. Missing dates stay
missing and are reported in ``out.attrs["deid"]["nat"]`` (column -> count).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..errors import DeidError
from ..io.dates import day_span

if TYPE_CHECKING:
    from .keys import Keyring

__all__ = ["age_band", "generalize_birth", "patient_shifts", "shift_dates"]

log = logging.getLogger(__name__)

TOP_AGE = 90


def _require_datetime(df: pd.DataFrame, col: str, fn: str) -> None:
    if col not in df.columns:
        msg = f"{fn}: column {col!r} is not in the frame"
        raise DeidError(msg)
    if not pd.api.types.is_datetime64_any_dtype(df[col]):
        msg = (
            f"{fn}: column {col!r} has dtype {df[col].dtype}, not datetime; parse it first and "
            f"quarantine the rows that do not parse (reason unparseable_date)"
        )
        raise DeidError(msg)


def patient_shifts(patients: pd.Series, *, keyring: Keyring) -> pd.Series:
    """Shift in days for each row's patient pseudonym (``<NA>`` where the pseudonym is missing)."""
    codes, uniq = pd.factorize(patients.astype("string"))  # one keyed shift per distinct pseudonym
    shifts = np.append(keyring.date_shifts([str(u) for u in np.asarray(uniq, dtype=object)]), 0)
    days = pd.arrays.IntegerArray(shifts[codes], mask=codes < 0)  # code -1: no pseudonym
    return pd.Series(days, index=patients.index, name=patients.name)


def _note_nat(out: pd.DataFrame, counts: Mapping[str, int]) -> None:
    meta = dict(out.attrs.get("deid", {}))
    nat = dict(meta.get("nat", {}))
    nat.update({c: int(n) for c, n in counts.items()})
    meta["nat"] = nat
    out.attrs["deid"] = meta
    for c, n in counts.items():
        if n:
            log.debug("dates: column %s has %d missing dates (left missing)", c, n)


def shift_dates(
    df: pd.DataFrame,
    cols: Iterable[str],
    *,
    keyring: Keyring,
    patient_col: str = "patient",
    mode: Literal["shift", "relative"] = "shift",
    anchor_col: str | None = None,
    anchors: pd.Series | None = None,
) -> pd.DataFrame:
    """Shift parsed date columns per patient, or express them as days since an anchor date.

    Parameters
    ----------
    df
        Frame with a pseudonym column and datetime64 columns.
    cols
        Date columns to transform. Each must already be datetime64 (else :class:`DeidError`).
    keyring
        The run's keyring; ``keyring.date_shift(pseudonym)`` is the same in every modality.
    patient_col
        Column of patient pseudonyms.
    mode
        ``"shift"``: add the patient's keyed shift (whole days, so times of day and every
        interval are preserved). ``"relative"``: replace each date by the integer number of days
        since the patient's anchor date (``Int64``; the column keeps its name).
    anchor_col
        In relative mode, the column holding each row's anchor (e.g. ``diagnosis_date``).
    anchors
        In relative mode, alternatively a Series pseudonym -> anchor date (e.g. from the
        conditions table), for tables that do not carry the anchor themselves.

    Returns
    -------
    A new frame. Missing dates (NaT) stay missing and are counted in
    ``out.attrs["deid"]["nat"]``; rows without a pseudonym or without an anchor get NaT / <NA>
    (never the original date).
    """
    cols = list(cols)
    fn = "shift_dates"
    if patient_col not in df.columns:
        msg = f"{fn}: pseudonym column {patient_col!r} is not in the frame; call pseudonymize first"
        raise DeidError(msg)
    for c in cols:
        _require_datetime(df, c, fn)
    out = df.copy()
    nat_counts = {c: int(df[c].isna().sum()) for c in cols}
    try:
        if mode == "shift":
            days = patient_shifts(df[patient_col], keyring=keyring)
            delta = day_span(days)  # NA shift -> NaT result
            for c in cols:
                out[c] = df[c] + delta
        elif mode == "relative":
            if anchor_col is not None:
                _require_datetime(df, anchor_col, fn)
                anchor = df[anchor_col]
            elif anchors is not None:
                if not pd.api.types.is_datetime64_any_dtype(anchors):
                    msg = f"{fn}: anchors must be datetime64, got {anchors.dtype}"
                    raise DeidError(msg)
                anchor = df[patient_col].astype("string").map(anchors.to_dict())
                anchor = pd.to_datetime(anchor)
            else:
                msg = f"{fn}: mode='relative' needs anchor_col or anchors (the patient's diagnosis date)"
                raise DeidError(msg)
            for c in cols:
                diff = (df[c] - anchor) / pd.Timedelta(days=1)
                out[c] = np.floor(diff).astype("Int64")
        else:
            msg = f"{fn}: mode must be 'shift' or 'relative', not {mode!r}"
            raise DeidError(msg)
    except DeidError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure quarantines, never passes through
        msg = f"{fn}: could not transform {cols} ({type(exc).__name__}); the frame is quarantined"
        raise DeidError(msg) from None
    _note_nat(out, nat_counts)
    return out


def _completed_years(birth: pd.Series, ref: pd.Series) -> pd.Series:
    years = ref.dt.year - birth.dt.year
    before = (ref.dt.month < birth.dt.month) | ((ref.dt.month == birth.dt.month) & (ref.dt.day < birth.dt.day))
    return (years - before.astype("Int64")).astype("Int64")


def generalize_birth(
    df: pd.DataFrame,
    *,
    birth_col: str = "birth_date",
    ref_col: str = "diagnosis_date",
    out: tuple[str, str] = ("birth_year", "age_at_diagnosis"),
    top: int = TOP_AGE,
) -> pd.DataFrame:
    """Replace a birth date by birth year and age at the reference date, top-coding old ages.

    Call it on unshifted dates (before :func:`shift_dates`), so the birth year is the true one.

    Parameters
    ----------
    df
        Frame with datetime64 ``birth_col`` and ``ref_col``.
    birth_col
        Birth date column; dropped from the result.
    ref_col
        Reference date for the age (the diagnosis date).
    out
        Names of the birth-year (``Int64``) and age (``string``: ``"67"`` or ``"90+"``) columns.
    top
        Ages at or above it become ``f"{top}+"`` and their birth year is suppressed, so that no
        field implies the exact age.

    Returns
    -------
    A new frame. Missing birth or reference dates give ``<NA>`` ages (counted in
    ``attrs["deid"]["nat"]``).
    """
    fn = "generalize_birth"
    _require_datetime(df, birth_col, fn)
    _require_datetime(df, ref_col, fn)
    year_col, age_col = out
    res = df.drop(columns=[birth_col])
    try:
        birth = df[birth_col]
        age = _completed_years(birth, df[ref_col])
        old = (age >= top).fillna(False).astype(bool)
        res[year_col] = birth.dt.year.astype("Int64").mask(old)
        res[age_col] = age.astype("string").mask(old, f"{top}+")
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure quarantines, never passes through
        msg = f"{fn}: could not generalize {birth_col!r} ({type(exc).__name__}); the frame is quarantined"
        raise DeidError(msg) from None
    _note_nat(res, {birth_col: int(birth.isna().sum()), ref_col: int(df[ref_col].isna().sum())})
    return res


def age_band(age: pd.Series, *, width: int = 10, top: int = TOP_AGE) -> pd.Series:
    """Age bands ("60-69", ..., "90+") from ages given as numbers or strings like "90+"."""
    text = age.astype("string")
    num = pd.to_numeric(text.str.rstrip("+"), errors="coerce")
    lo = (num // width) * width
    band = lo.astype("Int64").astype("string") + "-" + (lo + width - 1).astype("Int64").astype("string")
    # a missing or unreadable age has no band (it was read as "90+": NA counted as >= top)
    return band.mask((num >= top).fillna(False).astype(bool), f"{top}+").astype("string")
