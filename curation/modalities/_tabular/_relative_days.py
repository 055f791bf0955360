"""Relative-day sources (``options.relative_dates``): dates given as day counts from a per-patient
index event, as GDC/TCGA clinical exports give them (days_to_birth, days_to_death,
days_to_last_follow_up, counted from the diagnosis).

- load (:func:`attach`): the source columns the option names are carried beside the mapped ones;
- standardize (:func:`prepare`, :func:`derive`): each becomes ``<field>_days_from_index`` (whole
  days; the event field itself is day 0). A date is derived (index date + days) only where the index
  column holds a full date; it is then shifted per patient like every date. An index given as a year
  only (year_of_diagnosis) derives no date: the year stays in memory (``_index_year``, never written)
  to bound the follow-up timeliness check. Day counts need no shift and carry no calendar date;
- checks (:func:`day_view`): a patient with day counts has every date put on one day axis
  (``EPOCH`` + days from the index), so the ordering and delay checks compare the counts and do not
  fail for want of a date; other patients keep their dates.

Everything is vectorized (no Python loop per row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import dictionary
from ...errors import ConfigError
from ...io.dates import day_span, parse_dates
from ...io.readers import STR

if TYPE_CHECKING:
    from ...config import CohortConfig
    from .._options import TabularOptions
    from ..base import ModalityData, Source

__all__ = [
    "DAYS",
    "EPOCH",
    "INDEX_YEAR",
    "age_from_days",
    "attach",
    "day_columns",
    "day_view",
    "derive",
    "latest_contact",
    "prepare",
    "present",
    "used_columns",
]

DAYS = "_days_from_index"  # suffix of a day-count column: <field>_days_from_index
INDEX_YEAR = "_index_year"  # the index event's year when known (in memory only, never written)
EPOCH = pd.Timestamp("2000-01-01")  # day 0 of the day axis the checks compare on (not a real date)
_RAW = "_rel:"  # carried source text of a day count, by target field
_INDEX = "_rel_index"
_EVENT = "_rel_event"
_UNIT = "_rel_unit"
_UNITS = {"days": 1.0, "weeks": 7.0}


def attach(df: pd.DataFrame, frame: pd.DataFrame, src: Source[TabularOptions], *, modality: str) -> pd.DataFrame:
    """The mapped frame ``df`` with the source columns ``options.relative_dates`` names carried as text
    (the raw ``frame`` holds them; rows align by index). A column the file lacks is a finding
    (:class:`~curation.io.readers.SourceReadError`, reason ``missing_columns``); a target that is not
    a date field, or also mapped in ``columns:``, is refused."""
    from ...io.readers import SourceReadError

    opts = src.options.relative_dates
    if opts is None:
        return df
    where = f"cohort.yaml: sources.{src.key}.options.relative_dates"
    dates = {f.name for f in dictionary.fields(modality) if f.type == "date"}
    wrong = [t for t in (*opts.fields.values(), opts.event) if t not in dates]
    if wrong:
        msg = f"{where}: {wrong[0]!r} is not a {modality} date field; expected one of {', '.join(sorted(dates))}"
        raise ConfigError(msg)
    both = sorted(set(opts.fields.values()) & set(src.config.columns.values()))
    if both:
        msg = f"{where}: {both[0]!r} is also a target of `columns:`; give a field either as a date or as days"
        raise ConfigError(msg)
    absent = [c for c in (*opts.fields, *([opts.index] if opts.index else [])) if c not in frame.columns]
    if absent:
        msg = (
            f"{src.key} options.relative_dates column(s) {', '.join(map(repr, absent))} not in the file; name "
            "the source column as its header reads"
        )
        raise SourceReadError(msg, reason="missing_columns")
    null = {"", *(k.strip() for k in src.config.missing)}

    def text(col: str) -> pd.Series:
        s = frame[col].reindex(df.index).astype(STR).str.strip()
        return s.where(~s.isin(null))

    carried = {_RAW + target: text(col) for col, target in opts.fields.items()}
    carried[_INDEX] = text(opts.index) if opts.index else pd.Series(pd.NA, index=df.index, dtype=STR)
    return df.assign(**carried, **{_EVENT: opts.event, _UNIT: _UNITS[opts.unit]})


def used_columns(config: CohortConfig, modality: str) -> dict[str, set[str]]:
    """Source key -> the source columns its ``options.relative_dates`` reads (they are not dropped)."""
    from ..registry import source_options

    out = {}
    for i, src in enumerate(config.sources.get(modality, [])):
        where = f"sources.{modality}[{i}]"
        opts = getattr(source_options(modality, src.options, where=where), "relative_dates", None)
        if opts is not None:
            out[f"{modality}[{i}]"] = {*opts.fields, *([opts.index] if opts.index else [])}
    return out


def carried(df: pd.DataFrame, names: list[str]) -> list[str]:
    """The carried columns a table of fields ``names`` takes from a raw frame (empty: not relative)."""
    if _EVENT not in df.columns:
        return []
    own = [_RAW + n for n in names if _RAW + n in df.columns]
    event = str(df[_EVENT].iat[0]) if len(df) else ""
    if not own and event not in names:
        return []
    return [*own, _INDEX, _EVENT, _UNIT]


def prepare(frame: pd.DataFrame, table: str, names: list[str], *, invalid: list[pd.DataFrame]) -> pd.DataFrame:
    """The carried text as ``<field>_days_from_index`` (Int64 whole days): a value that is not a number
    becomes null with an ``invalid`` row (rule "not a number of days"); the event field of the source
    is day 0 on each of its records."""
    from ._common import PATIENT, ROW

    if _EVENT not in frame.columns:
        return frame
    rel = frame[_EVENT].notna()
    unit = pd.to_numeric(frame[_UNIT], errors="coerce")
    out = {}
    for name in names:
        raw = frame.get(_RAW + name)
        if raw is not None:
            num = pd.to_numeric(raw, errors="coerce")
            bad = (raw.notna() & num.isna()).to_numpy(dtype=bool)
            if bad.any():
                invalid.append(
                    pd.DataFrame(
                        {
                            "table": table,
                            PATIENT: frame.loc[bad, PATIENT].to_numpy() if PATIENT in frame.columns else pd.NA,
                            ROW: frame.loc[bad, ROW].to_numpy(),
                            "field": name,
                            "rule": "not a number of days",
                            "kind": "type",
                        }
                    )
                )
            out[name + DAYS] = np.floor(num * unit + 0.5).astype("Int64")
        if (frame[_EVENT] == name).any():
            zero = pd.Series(0, index=frame.index, dtype="Int64").where(rel & (frame[_EVENT] == name))
            out[name + DAYS] = out[name + DAYS].fillna(zero) if name + DAYS in out else zero
    drop = [c for c in frame.columns if c.startswith(_RAW) or c in (_EVENT, _UNIT)]
    return frame.drop(columns=drop).assign(**out)


def day_columns(frame: pd.DataFrame) -> list[str]:
    """The day-count columns of a table."""
    return [c for c in frame.columns if c.endswith(DAYS)]


def derive(frame: pd.DataFrame, fields: list[dictionary.Field]) -> pd.DataFrame:
    """Dates from the day counts where the index is a full date (index + days, still unshifted: the
    standardize step shifts them with the others); the index year kept in memory (:data:`INDEX_YEAR`);
    the index text dropped. A date the source also gave directly is kept as given."""
    if _INDEX not in frame.columns:
        return frame
    text = frame.pop(_INDEX).astype(STR)
    year_only = text.str.fullmatch(r"\d{4}(\.0)?").fillna(False).astype(bool)
    full = parse_dates(text.where(~year_only)).values
    year = pd.to_numeric(text.where(year_only).str.slice(0, 4), errors="coerce").astype("Int64")
    frame[INDEX_YEAR] = year.fillna(full.dt.year.astype("Int64"))
    for f in fields:
        if f.type != "date" or f.name + DAYS not in frame.columns:
            continue
        days = frame[f.name + DAYS].astype("float64")
        given = pd.to_datetime(frame[f.name]) if f.name in frame.columns else pd.Series(pd.NaT, index=frame.index)
        frame[f.name] = given.fillna(full + day_span(days)).astype("datetime64[ns]")
    return frame


def _td(days: pd.Series) -> pd.Series:
    return day_span(days)


def latest_contact(df: pd.DataFrame, field: str) -> pd.Series:
    """The latest real date a day count of ``field`` can be when its index is known only by its year
    (31 December of that year + days); NaT elsewhere. Never shifted, never written: for the
    timeliness check to compare with the data cutoff."""
    if field + DAYS not in df.columns or INDEX_YEAR not in df.columns:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    year = df[INDEX_YEAR].astype("float64")
    end = pd.to_datetime(pd.DataFrame({"year": year, "month": 12, "day": 31}), errors="coerce")
    return (end + _td(df[field + DAYS])).astype("datetime64[ns]")


def age_from_days(p: pd.DataFrame, c: pd.DataFrame, *, patient: str = "patient") -> pd.Series | None:
    """Exact age in completed years at diagnosis from day counts (days_to_birth and the diagnosis's
    day, 0 when it is the index event); None when the patients table has no birth day count."""
    if "birth_date" + DAYS not in p.columns:
        return None
    diag = (
        c.groupby(patient, sort=False)["diagnosis_date" + DAYS].min()
        if "diagnosis_date" + DAYS in c.columns and len(c)
        else pd.Series(dtype="float64")
    )
    span = p[patient].map(diag).astype("float64") - p["birth_date" + DAYS].astype("float64")
    return np.floor(span / 365.25)


def present(df: pd.DataFrame, field: str) -> pd.Series:
    """Whether each record gives ``field``, as a date or as a day count."""
    has = df[field].notna() if field in df.columns else pd.Series(False, index=df.index)
    if field + DAYS in df.columns:
        has |= df[field + DAYS].notna()
    return has.fillna(False).astype(bool)


def day_view(data: ModalityData, *, patient: str = "patient") -> dict[str, pd.DataFrame]:
    """The tables with every date of a patient who has day counts put on one day axis (``EPOCH`` + days
    from the index): a day count as given; a date through the patient's day 0 when one of their dates
    has both forms (derived from a full index date; both shifted alike), else left out (NaT). Other
    patients' dates are unchanged; without day counts the tables are returned as they are. For the
    ordering and delay checks and the day-based figures only: not dates to show or write."""
    tables = data.tables
    if not any(day_columns(df) for df in tables.values()):
        return tables
    rel = pd.concat(
        [df.loc[df[day_columns(df)].notna().any(axis=1), patient] for df in tables.values() if day_columns(df)]
    ).unique()
    # a patient's day 0 as a (shifted) date: any date that also has its day count (index + days)
    pairs = [
        pd.DataFrame({patient: df[patient], "_z": pd.to_datetime(df[c[: -len(DAYS)]]) - _td(df[c])})
        for df in tables.values()
        for c in day_columns(df)
        if c[: -len(DAYS)] in df.columns and patient in df.columns
    ]
    zero = (
        pd.concat(pairs).dropna().groupby(patient, sort=False)["_z"].min()
        if pairs
        else pd.Series(dtype="datetime64[ns]")
    )
    out = {}
    for table, df in tables.items():
        dates = [f.name for f in dictionary.fields(data.modality, table) if f.type == "date" and f.name in df.columns]
        dates += [c.removesuffix(DAYS) for c in day_columns(df) if c.removesuffix(DAYS) not in dates]
        if not dates or patient not in df.columns:
            out[table] = df
            continue
        mine = df[patient].isin(rel).to_numpy(dtype=bool)
        day0 = pd.to_datetime(df[patient].map(zero))
        view = {}
        for name in dates:
            given = pd.to_datetime(df[name]) if name in df.columns else pd.Series(pd.NaT, index=df.index)
            days = (given - day0) / pd.Timedelta(days=1)
            if name + DAYS in df.columns:
                days = df[name + DAYS].astype("float64").fillna(days)
            view[name] = given.where(~mine, EPOCH + _td(days))
        out[table] = df.assign(**view)
    return out
