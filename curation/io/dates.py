"""Mixed-format date parsing, vectorized, that reports what it cannot parse instead of guessing.

Accepted (year first, always): ``2023-01-05``, ``2023/1/5``, ``2023.1.5``, ``2023年1月5日``,
``20230105``, the same followed by a time (``2023-01-05 08:30:00``, ``2023-01-05T08:30``), and Excel
serial day numbers (``44931`` or ``44931.0``, 1900 date system). Day-first or month-first forms
(``05/01/2023``) are ambiguous between hospitals and are reported as unparseable, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .readers import STR
from .values import factorize_text

__all__ = ["ParsedDates", "day_span", "parse_dates"]

_YMD = re.compile(
    r"^\s*(?P<y>\d{4})\s*(?:[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"|(?P<m8>\d{2})(?P<d8>\d{2}))"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*$"
)
_SERIAL = re.compile(r"^\s*(?P<serial>\d{4,5})(?:\.0+)?\s*$")
EXCEL_EPOCH = np.datetime64("1899-12-30")  # Excel's day 0 (so that its fictitious 1900-02-29 lines up)
# serial days accepted as dates: 1910-01-01 .. 2099-12-31; outside that a number is not a date
SERIAL_MIN, SERIAL_MAX = 3654, 73050


@dataclass
class ParsedDates:
    """``values``: datetime64[ns] (NaT where missing or unparseable); ``unparseable``: bool mask of
    non-empty inputs that are not a date in an accepted format (or not a real calendar date)."""

    values: pd.Series
    unparseable: pd.Series


def parse_dates(s: pd.Series, *, min_year: int = 1800, max_year: int = 2100) -> ParsedDates:
    """Parse a column of date strings in mixed formats.

    Parameters
    ----------
    s
        Strings ("" or NA = missing). Already-typed datetimes pass through.
    min_year, max_year
        Years outside this window are unparseable (typing errors such as 0203-01-05).
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        values = pd.to_datetime(s).dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        return ParsedDates(values.astype("datetime64[ns]"), pd.Series(False, index=s.index))
    # an export repeats a few thousand dates over many rows: parse each distinct text once
    if s.dtype == STR:
        codes, uniq = factorize_text(s)
    else:
        codes, uniq = pd.factorize(s if isinstance(s.dtype, pd.StringDtype) else s.astype("string"), sort=False)
    if len(uniq) < len(s):
        one = _parse(pd.Series(np.asarray(uniq, dtype=object), dtype="string"), min_year, max_year)
        values = one.values.to_numpy(dtype="datetime64[ns]")
        bad = one.unparseable.to_numpy(dtype=bool)
        missing = codes < 0
        at = np.where(missing, 0, codes)
        taken = values[at] if len(values) else np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
        taken[missing] = np.datetime64("NaT")
        flags = bad[at] if len(bad) else np.zeros(len(s), dtype=bool)
        flags[missing] = False
        return ParsedDates(pd.Series(taken, index=s.index), pd.Series(flags, index=s.index))
    return _parse(s, min_year, max_year)


def _parse(s: pd.Series, min_year: int, max_year: int) -> ParsedDates:
    text = (s if isinstance(s.dtype, pd.StringDtype) else s.astype("string")).str.strip()
    present = text.notna() & (text != "")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    if not present.any():
        return ParsedDates(out, pd.Series(False, index=s.index))
    t = text[present]
    # fast path: ISO dates, the common case in most exports
    iso = pd.to_datetime(t, format="%Y-%m-%d", errors="coerce")
    done = iso.notna()
    out.loc[iso.index[done]] = iso[done]
    rest = t[~done]
    if len(rest):
        parts = rest.str.extract(_YMD)
        y = pd.to_numeric(parts["y"], errors="coerce")
        m = pd.to_numeric(parts["m"].fillna(parts["m8"]), errors="coerce")
        d = pd.to_numeric(parts["d"].fillna(parts["d8"]), errors="coerce")
        # out-of-window years must not reach to_datetime, which assembles y*10000+m*100+d and
        # would read year 203 as 2030
        ok = y.between(min_year, max_year) & m.between(1, 12) & d.between(1, 31)
        if ok.any():
            built = pd.to_datetime(pd.DataFrame({"year": y[ok], "month": m[ok], "day": d[ok]}), errors="coerce")
            out.loc[built.index] = built
        serial = pd.to_numeric(rest.str.extract(_SERIAL)["serial"], errors="coerce")
        sok = serial.notna() & serial.between(SERIAL_MIN, SERIAL_MAX) & y.isna()
        if sok.any():
            days = serial[sok].astype("int64").to_numpy()
            out.loc[serial.index[sok]] = (EXCEL_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[ns]")
    years = out.dt.year
    out = out.where(years.isna() | ((years >= min_year) & (years <= max_year)))
    unparseable = present & out.isna()
    return ParsedDates(out, unparseable.astype(bool))


def day_span(days: pd.Series) -> pd.Series:
    """Day counts (numbers, NA or text) as ``timedelta64[ns]``, NaT where a count is missing or not a
    number; the index is kept.

    Not ``pd.to_timedelta(days, unit="D")`` on a float column with gaps: pandas 2.x leaves the fraction
    of a NaN entry uninitialised and then rounds it, so that call can raise "overflow encountered in
    multiply" depending on what the memory holds (seen once in CI on GDC day counts). Only the finite
    counts are converted here."""
    v = pd.to_numeric(days, errors="coerce").astype("float64").to_numpy()
    out = pd.Series(pd.NaT, index=days.index, dtype="timedelta64[ns]")
    ok = np.isfinite(v)
    if ok.any():
        out[ok] = pd.to_timedelta(v[ok], unit="D")
    return out
