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
import pyarrow as pa
import pyarrow.compute as pc

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

# The same patterns for RE2 (pyarrow.compute), over the values made only of ASCII and 年月日: there
# Python's \s is the ASCII characters str.isspace() accepts, spelled out, and \d is 0-9. A value
# with any other character (a non-ASCII digit or space among them) is read by the Python patterns.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())  # str.strip()'s; U+3000 the last
_S = "[" + "".join(f"\\x{ord(c):02x}" for c in _SPACES if c.isascii()) + "]"
_YMD_RE2 = (
    rf"^{_S}*(?P<y>[0-9]{{4}}){_S}*(?:[-/.年]{_S}*(?P<m>[0-9]{{1,2}}){_S}*[-/.月]{_S}*(?P<d>[0-9]{{1,2}}){_S}*日?"
    r"|(?P<m8>[0-9]{2})(?P<d8>[0-9]{2}))"
    rf"(?:[ T][0-9]{{1,2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{{2}}:?[0-9]{{2}})?)?{_S}*$"
)
_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_SERIAL_RE2 = rf"^{_S}*(?P<serial>[0-9]{{4,5}})(?:\.0+)?{_S}*$"
_OTHER = "[^\\x00-\\x7f年月日]"  # a character the RE2 patterns do not read as Python does
# the calendar days datetime64[ns] holds (pd.Timestamp.min is 1677-09-21 00:12:43)
_NS_FIRST, _NS_LAST = np.datetime64("1677-09-22"), np.datetime64("2262-04-11")


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
        one = _parse(pd.Series(uniq), min_year, max_year)  # the distinct texts as they are (Arrow stays Arrow)
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
    """The accepted forms read in Arrow (RE2) and the dates built with numpy; a value holding a
    character the RE2 patterns cannot read exactly as Python does goes through :func:`_parse_each`."""
    arr = pa.array(s.astype(pd.StringDtype("pyarrow")).array)
    text = pc.utf8_trim(arr, characters=_SPACES)  # str.strip()
    present = pc.fill_null(pc.not_equal(text, ""), False).to_numpy(zero_copy_only=False)
    y, m, d = (np.full(len(s), -1, dtype=np.int64) for _ in range(3))
    # ISO dates (most of an export) read by position; the rest through the full pattern
    iso = pc.fill_null(pc.match_substring_regex(text, _ISO), False).to_numpy(zero_copy_only=False)
    if iso.any():
        t = text.filter(iso)
        for col, (a, b) in zip((y, m, d), ((0, 4), (5, 7), (8, 10)), strict=True):
            col[iso] = pc.cast(pc.utf8_slice_codeunits(t, a, b), pa.int64()).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(present & ~iso)
    other = np.zeros(len(s), dtype=bool)
    serial = np.full(len(s), -1, dtype=np.int64)
    if len(rest):
        t = text.take(rest)
        other[rest] = pc.match_substring_regex(t, _OTHER).to_numpy(zero_copy_only=False)
        keep = ~other[rest]
        rest, t = rest[keep], t.filter(keep)
        parts = pc.extract_regex(t, _YMD_RE2)
        hit = parts.is_valid().to_numpy(zero_copy_only=False)
        at, parts = rest[hit], parts.filter(hit)
        y[at], m8, d8 = (_digits(pc.struct_field(parts, k)) for k in ("y", "m8", "d8"))
        mm, dd = _digits(pc.struct_field(parts, "m")), _digits(pc.struct_field(parts, "d"))
        m[at], d[at] = np.where(mm >= 0, mm, m8), np.where(dd >= 0, dd, d8)
        at, t = rest[~hit], t.filter(~hit)  # no y/m/d: maybe an Excel serial day
        got = pc.extract_regex(t, _SERIAL_RE2)
        seen = got.is_valid().to_numpy(zero_copy_only=False)
        serial[at[seen]] = _digits(pc.struct_field(got.filter(seen), "serial"))
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = (y >= min_year) & (y <= max_year) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    if ok.any():
        out[ok] = _ymd(y[ok], m[ok], d[ok])
    sok = (serial >= SERIAL_MIN) & (serial <= SERIAL_MAX)
    if sok.any():
        out[sok] = EXCEL_EPOCH + serial[sok].astype("timedelta64[D]")
    years = out.astype("datetime64[Y]").astype("int64") + 1970  # NaT: a large negative number
    out[~((years >= min_year) & (years <= max_year)) | (out < _NS_FIRST) | (out > _NS_LAST)] = np.datetime64("NaT")
    values = out.astype("datetime64[ns]")
    bad = present & np.isnat(values)
    if other.any():
        each = _parse_each(s[other], min_year, max_year)
        values[other] = each.values.to_numpy(dtype="datetime64[ns]")
        bad[other] = each.unparseable.to_numpy(dtype=bool)
    return ParsedDates(pd.Series(values, index=s.index), pd.Series(bad, index=s.index))


def _digits(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column of ASCII digit strings as int64, -1 where empty (a group that took no part)."""
    return pc.cast(pc.if_else(pc.equal(a, ""), "-1", a), pa.int64()).to_numpy(zero_copy_only=False)


def _ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Calendar dates as datetime64[D], NaT where the day is past the month's end (2023-02-30)."""
    month = (y - 1970) * 12 + (m - 1)
    day = month.astype("datetime64[M]").astype("datetime64[D]") + (d - 1)
    return np.where(day.astype("datetime64[M]").astype("int64") == month, day, np.datetime64("NaT"))


def _parse_each(s: pd.Series, min_year: int, max_year: int) -> ParsedDates:
    """The Python patterns, for values with a character other than ASCII and 年月日 (and for tests)."""
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
        whole = v[ok]
        if (whole == np.round(whole)).all() and (np.abs(whole) < 2**40).all():
            # whole days (date shifts, most day counts) in numpy: exact, and no per-value conversion
            out[ok] = whole.astype(np.int64).astype("timedelta64[D]").astype("timedelta64[ns]")
        else:
            out[ok] = pd.to_timedelta(whole, unit="D")
    return out
