"""Laboratory modality: serum tumor markers from the LIS (long format, one row per result).

Built on the shared tabular pipeline (:mod:`curation.modalities._tabular`): the same readers,
column / value / null mapping, pseudonyms and date shifting as the clinical tables. On top of it,
the lab step types each result:

- analyte names normalized through the synonyms in ``dictionary/lab_units.yaml`` (癌胚抗原 -> CEA);
- the reported text split into a number and a censoring flag (``<0.5`` -> 0.5, ``below_limit``);
- the unit converted to the analyte's canonical UCUM unit with pint (ug/L -> ng/mL); a unit of
  another dimension is never converted and fails ``lab.conformance.unit``;
- the reference range text (``0-5``, ``<3.3``, ``0～5.0``) parsed into low / high, converted too;
- an abnormal flag (low / normal / high) against that range (the default range when none is given).
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import dictionary
from ..io.dates import parse_dates
from ..io.readers import STR
from ..io.values import factorize_text
from ..quality import Check, CheckResult, Dimension, Outcome, Threshold, failures, run
from ..quality import checks as qc
from . import _tabular as tab
from . import _tabular_checks as tc
from ._lab_assay import ASSAY_CONSISTENCY
from ._lab_figures import plot_distributions, plot_trajectories, trajectories_frame
from ._lab_ranges import RANGE_ID, plausible_ranges
from ._lab_units import Analyte, UnitTable, _key, unit_factor, units
from ._options import TabularOptions
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

__all__ = [
    "SPEC",
    "Analyte",
    "UnitTable",
    "check_range",
    "check_report_delay",
    "check_unit",
    "check_value",
    "checks",
    "figures",
    "identifiers",
    "load",
    "normalize_analyte",
    "null_implausible",
    "parse_reference",
    "parse_value",
    "plot_distributions",
    "plot_trajectories",
    "standardize",
    "trajectories_frame",
    "trajectory_summary",
    "type_results",
    "unit_factor",
    "units",
    "write",
]

SPEC = ModalitySpec(
    name="lab",
    label="Laboratory",
    formats=("csv", "tsv", "excel", "parquet"),
    notebook="lab.ipynb",
    dictionary="lab",
    order=40,
    options=TabularOptions,
    needs=("clinical",),  # its diagnosis anchors, in dates.mode: relative
    description="LIS exports: serum tumor markers (CEA, CYFRA21-1, NSE, ProGRP, SCC, CA125)",
)

NAME = "lab"
TABLE = "results"
PATIENT = tab.PATIENT
ROW = tab.ROW
REPORT_DELAY_DAYS = 7  # a tumor-marker result reported over a week after collection is late
_UNIT_RULE = "_unit_rule"  # in-memory column: why the unit does not fit the analyte (never written)
_VALUE_BAD = "_value_bad"


# ------------------------------------------------------------------------------ parsing
_VALUE = re.compile(r"^(?P<op><=|>=|<|>|≤|≥)?\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")
_RANGE = re.compile(r"^(?P<lo>[-+]?\d*\.?\d+)\s*(?:-|~|～|—|–|至|to)\s*(?P<hi>[-+]?\d*\.?\d+)$")
_UPPER = re.compile(r"^(?:<=|<|≤)\s*(?P<hi>\d*\.?\d+)$|^(?P<hi2>\d*\.?\d+)\s*以下$")
_LOWER = re.compile(r"^(?:>=|>|≥)\s*(?P<lo>\d*\.?\d+)$|^(?P<lo2>\d*\.?\d+)\s*以上$")


def _codes(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Row codes into the distinct values of a text column, a missing value read as "" (the last code).

    Factorized in Arrow (a LIS column repeats a few thousand values over millions of rows): every
    parser below runs once per distinct value and its results are spread back by code."""
    codes, values = factorize_text(s)
    return np.where(codes < 0, len(values), codes), [*values, ""]


def _strings(labels: list[str | None], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """An Arrow-backed text column from per-code labels (a code < 0 or a None label is missing)."""
    import pyarrow as pa

    table = pa.array(labels, type=pa.string())
    taken = table.take(pa.array(codes, type=pa.int64(), mask=codes < 0))
    return pd.Series(pd.arrays.ArrowStringArray(taken), index=index)


def _by_unique(s: pd.Series, fn: Any) -> pd.DataFrame:
    """Apply a frame-returning parser to the distinct values only (LIS columns repeat a lot) and
    spread the result back over the rows."""
    codes, uniq = _codes(s)
    parsed = fn(pd.Series(uniq, dtype="string"))
    out = parsed.iloc[codes].reset_index(drop=True)
    out.index = s.index
    return out


def parse_value(s: pd.Series) -> pd.DataFrame:
    """Reported result text -> ``number``, ``censored`` (none / below_limit / above_limit), ``bad``.

    ``<0.5`` gives 0.5 below_limit; ``>1000`` gives 1000 above_limit; text that is neither a number
    nor a censored number (``溶血``, ``see note``) gives NaN and ``bad`` True.
    """
    return _by_unique(s, _parse_value)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?![\d,]))|(?<=\d),(?=\d{3},)")


def _parse_value(s: pd.Series) -> pd.DataFrame:
    # a comma is read only as a thousands separator (1,234.5); "1,23" is left unparsed, so the value
    # check names it instead of the result silently becoming 123
    text = s.map(lambda v: _THOUSANDS.sub("", unicodedata.normalize("NFKC", v).strip())).astype("string")
    parts = text.str.extract(_VALUE)
    num = pd.to_numeric(parts["num"], errors="coerce")
    op = parts["op"].fillna("")
    censored = np.select(
        [op.isin(["<", "<=", "≤"]), op.isin([">", ">=", "≥"])], ["below_limit", "above_limit"], default="none"
    )
    present = text != ""
    return pd.DataFrame(
        {
            "number": num.astype("float64"),
            "censored": pd.Series(censored, index=s.index).where(num.notna()).astype("string"),
            "bad": (present & num.isna()).astype(bool),
        },
        index=s.index,
    )


def parse_reference(s: pd.Series) -> pd.DataFrame:
    """Reference range text -> ``low`` / ``high`` (NaN where the text gives no bound)."""
    return _by_unique(s, _parse_reference)


def _parse_reference(s: pd.Series) -> pd.DataFrame:
    text = s.map(lambda v: unicodedata.normalize("NFKC", v).strip()).astype("string")
    # a unit after the numbers (0-5 ng/mL) is the row's unit already: drop it
    text = text.str.replace(r"\s*[A-Za-zμµ/%]+[A-Za-zμµ/%\d]*$", "", regex=True)
    rng = text.str.extract(_RANGE)
    up = text.str.extract(_UPPER)
    lowm = text.str.extract(_LOWER)

    def num(*cols: pd.Series) -> pd.Series:
        out = pd.Series(np.nan, index=s.index, dtype="float64")
        for c in cols:
            out = out.where(out.notna(), pd.to_numeric(c, errors="coerce").astype("float64"))
        return out

    low = num(rng["lo"], lowm["lo"], lowm["lo2"])
    high = num(rng["hi"], up["hi"], up["hi2"])
    return pd.DataFrame({"low": low.astype("float64"), "high": high.astype("float64")}, index=s.index)


def normalize_analyte(s: pd.Series) -> pd.Series:
    """Source analyte names -> standard names (CEA ...); unknown names are kept as written."""
    syn = units().synonym_map()
    codes, uniq = _codes(s)
    names: list[str | None] = [syn.get(_key(v), v) for v in uniq[:-1]]
    return _strings([*names, None], codes, s.index)


_CENSORED = ("none", "below_limit", "above_limit")


def type_results(df: pd.DataFrame) -> pd.DataFrame:
    """Add value_num, censored, unit_std, loinc, ref_low, ref_high, abnormal (canonical units) to a results frame.

    Pure: returns a new frame. Rows whose unit cannot be converted keep ``value_num`` missing and
    carry the reason in ``_unit_rule`` (read by :func:`check_unit`). Every parser and every pint
    lookup runs once per distinct value (analyte, unit pair, result text, range text), and the rows
    get theirs by code: no Python loop and no text operation runs per row.
    """
    table = units()
    out = df.copy(deep=False)  # new columns only: the caller's frame is never changed
    idx = out.index
    blank = pd.Series(pd.NA, index=idx, dtype=STR)
    out["analyte"] = normalize_analyte(out["analyte"]) if "analyte" in out else blank
    a_codes, a_names = _codes(out["analyte"])  # the standard names; "" (the last) where missing
    known = [table.analytes.get(a) for a in a_names]
    val_codes, val_text = _codes(out.get("value", blank))
    val = _parse_value(pd.Series(val_text, dtype="string"))
    u_codes, u_text = _codes(out.get("unit", blank))
    u_text = [u.strip() for u in u_text]
    # one pint lookup per distinct (analyte, unit) pair, not per row
    pairs, pair_codes = np.unique(a_codes * len(u_text) + u_codes, return_inverse=True)
    factor_of = np.full(len(pairs), np.nan)
    rules: list[str | None] = []
    for k, key in enumerate(pairs.tolist()):
        an, u = known[key // len(u_text)], u_text[key % len(u_text)]
        # an unknown analyte is an allowed_values failure and a missing unit a completeness one
        f = unit_factor(u, an.unit) if an is not None and u else None
        factor_of[k] = np.nan if f is None else f
        rules.append(
            f"unit {u} is not a unit of {an.name} (expected {an.unit} or a convertible unit)"
            if an is not None and u and f is None
            else ""
        )
    pair_codes = pair_codes.ravel()
    factor = factor_of[pair_codes]
    number = val["number"].to_numpy(dtype="float64")[val_codes]
    cens_of = {c: k for k, c in enumerate(_CENSORED)}
    cens = np.array([cens_of.get(c, -1) for c in val["censored"].fillna("").tolist()], dtype=np.int64)[val_codes]
    value_num = number * factor
    out["value_num"] = value_num
    out["censored"] = _strings(list(_CENSORED), cens, idx)
    out["unit_std"] = _strings([None if an is None else an.unit for an in known], a_codes, idx)
    out["loinc"] = _strings([None if an is None else an.loinc for an in known], a_codes, idx)
    ref_codes, ref_text = _codes(out.get("reference_range", blank))
    ref = _parse_reference(pd.Series(ref_text, dtype="string"))
    low, high = ref["low"].to_numpy(dtype="float64")[ref_codes], ref["high"].to_numpy(dtype="float64")[ref_codes]
    given = ~np.isnan(low) | ~np.isnan(high)

    def default(i: int) -> np.ndarray:
        bound = [np.nan if an is None or an.reference[i] is None else an.reference[i] for an in known]
        return np.asarray(bound, dtype="float64")[a_codes]

    ref_low = np.where(given, low * factor, default(0))
    ref_high = np.where(given, high * factor, default(1))
    out["ref_low"] = ref_low
    out["ref_high"] = ref_high
    out["abnormal"] = _strings(["normal", "low", "high"], _abnormal(value_num, cens, ref_low, ref_high), idx)
    # the reason a unit does not fit: the pair's, else the magnitude's (pair rules first, then each
    # analyte's two magnitude rules)
    mag_rules, mag = _magnitude_rules(value_num, cens, a_codes, known, table)
    rule_codes = np.where(mag >= 0, len(rules) + mag, pair_codes)
    rule_codes = np.where(np.asarray([r != "" for r in rules], dtype=bool)[pair_codes], pair_codes, rule_codes)
    out[_UNIT_RULE] = _strings([*rules, *mag_rules], rule_codes, idx)
    out[_VALUE_BAD] = val["bad"].to_numpy(dtype=bool)[val_codes]
    return out


def _abnormal(v: np.ndarray, cens: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, 0 normal, 1 low, 2 high, -1 unknown (no value, or no range to judge it by)."""
    none, below, above = (cens <= 0), (cens == 1), (cens == 2)  # a missing censoring reads as none
    has_lo, has_hi = ~np.isnan(lo), ~np.isnan(hi)
    with np.errstate(invalid="ignore"):
        high = ((none | above) & has_hi & (v > hi)) | (above & (v >= hi))
        low = ((none | below) & has_lo & (v < lo)) | (below & (v <= lo))
        normal = none & ~high & ~low & (has_hi | has_lo)
        normal |= below & has_hi & (v <= hi) & ~low
    out = np.full(len(v), -1, dtype=np.int64)
    out[normal] = 0
    out[low] = 1
    out[high] = 2
    out[np.isnan(v)] = -1
    return out


def _magnitude_rules(
    v: np.ndarray, cens: np.ndarray, a_codes: np.ndarray, known: list[Analyte | None], table: UnitTable
) -> tuple[list[str], np.ndarray]:
    """A result whose magnitude says the unit is wrong: above the plausible range but inside it once
    divided by the magnitude factor, or uncensored and more than sqrt(factor) times below the
    detection limit (pg/mL written as ng/mL and back). Returns the rules and, per row, the index of
    the one it breaks (-1 for none)."""
    f = table.magnitude_factor
    rules: list[str] = []
    out = np.full(len(v), -1, dtype=np.int64)
    fine = ~np.isnan(v) & (cens == 0)
    for k, a in enumerate(known):
        if a is None:
            continue
        sel = fine & (a_codes == k)
        if not sel.any():
            continue
        hi = a.plausible[1]
        rules.append(f"{a.name} {f:g}x above its plausible range: the unit is probably wrong (expected {a.unit})")
        if hi is not None:
            out[sel & (v > hi) & (v / f <= hi)] = len(rules) - 1
        rules.append(f"{a.name} far below its detection limit: the unit is probably wrong (expected {a.unit})")
        if a.detection_limit:
            out[sel & (v > 0) & (v < a.detection_limit / math.sqrt(f))] = len(rules) - 1
    return rules, out


# ------------------------------------------------------------------------------ steps
def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the LIS exports (one row per result) through the shared tabular reader."""
    data = tab.load(NAME, sources, ctx=ctx)
    # a LIS export is long (one row per result) and feeds one table: mark it so, or the shared
    # pipeline would treat it as a wide export and fold a result sent twice into one row
    for df in data.objects.get("raw", []):
        df[tab.TABLE] = TABLE
        for col in ("collected_date", "report_date"):
            if col in df.columns:
                df[col] = _iso_dates(df[col])
    return data


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def _iso_dates(s: pd.Series) -> pd.Series:
    """LIS timestamps (2023-05-14 10:18, 2019/3/15 9:19 ...) as ISO dates, parsed once per distinct
    value: a LIS export repeats a few thousand timestamps over millions of rows. Unparseable text is
    left as written (without its time of day), so the shared pipeline still quarantines it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, uniq = _codes(s)
    # drop a trailing time of day first (the date is what is kept), on the distinct values only
    day = pc.replace_substring_regex(
        pa.array(uniq, type=pa.string()),
        pattern=r"^(\S+)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$",
        replacement=r"\1",
    ).to_pylist()
    parsed = parse_dates(pd.Series(day, dtype=STR))
    ok = (parsed.values.notna() & ~parsed.unparseable).to_numpy(dtype=bool)
    iso = parsed.values.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value=None)
    labels: list[str | None] = [i if good else d for i, d, good in zip(iso.tolist(), day, ok.tolist(), strict=True)]
    labels[-1] = None  # a missing timestamp stays missing
    return _strings(labels, codes, s.index)


def _derive(tables: dict[str, pd.DataFrame], data: ModalityData, ctx: Context) -> None:
    tables[TABLE] = null_implausible(type_results(tables[TABLE]), ranges=plausible_ranges(ctx))


IMPLAUSIBLE = "_implausible"  # in-memory column: the rule a result broke before it was nulled


def null_implausible(
    df: pd.DataFrame, *, ranges: dict[str, tuple[float | None, float | None]] | None = None
) -> pd.DataFrame:
    """Results outside their analyte's plausible range (canonical unit) are never written as is:
    value_num becomes null with the reason ``out_of_range`` (missing_reasons), and the broken rule
    stays in memory for :func:`check_range`. ``ranges``: per analyte, in place of lab_units.yaml's (curator
    decisions: :func:`~curation.modalities._lab_ranges.plausible_ranges`). Pure: returns a new frame."""
    from ._clean import set_reason

    out = df.copy(deep=False)  # new columns only: the caller's frame is never changed
    rule = pd.Series(pd.NA, index=out.index, dtype=STR)
    if "analyte" in out and "value_num" in out:
        num = pd.to_numeric(out["value_num"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        a_codes, a_names = _codes(out["analyte"])
        messages: list[str | None] = [None]
        broken = np.zeros(len(out), dtype=np.int64)  # per row, the index of the message (0: none)
        for k, name in enumerate(a_names):
            a = units().analytes.get(name)
            if a is None:
                continue
            lo, hi = (ranges or {}).get(name, a.plausible)
            with np.errstate(invalid="ignore"):
                bad = (
                    (a_codes == k)
                    & ~np.isnan(num)
                    & (((num < lo) if lo is not None else False) | ((num > hi) if hi is not None else False))
                )
            messages.append(f"{name} outside its plausible range {_fmt(lo)}–{_fmt(hi)} {a.unit}")
            broken[bad] = len(messages) - 1
        rule = _strings(messages, broken, out.index)
    bad = rule.notna()
    out[IMPLAUSIBLE] = rule
    if bad.any():
        out["value_num"] = out["value_num"].mask(bad)
        set_reason(out, "value_num", bad, "out_of_range")
    return out


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """The shared tabular standardization, then results typed in canonical units (value, censoring, range)."""
    return tab.standardize(data, ctx=ctx, derive=_derive)


# ------------------------------------------------------------------------------ checks
def _given(s: pd.Series) -> np.ndarray:
    """Rows whose text is not blank, tested once per distinct value."""
    codes, uniq = _codes(s)
    return np.asarray([u.strip() != "" for u in uniq], dtype=bool)[codes]


def check_unit(data: ModalityData, ctx: Context) -> Outcome:
    """Units that are not units of the analyte, and results whose magnitude says the unit is wrong."""
    df = data.tables[TABLE]
    rule = df[_UNIT_RULE].fillna("") if _UNIT_RULE in df else pd.Series("", index=df.index)
    checked = _given(df["unit"]) if "unit" in df else (rule == "x").to_numpy(dtype=bool)
    bad = (rule != "").to_numpy(dtype=bool)
    return Outcome(
        int(checked.sum()),
        failures=failures(df, bad, field="unit", rule=rule[bad].tolist()),
        message=f"{int(bad.sum())} of {int(checked.sum())} results in a unit that does not fit "
        "the analyte (or a magnitude that says so)",
    )


def check_value(data: ModalityData, ctx: Context) -> Outcome:
    """Result text that is neither a number nor a censored number."""
    df = data.tables[TABLE]
    bad = df[_VALUE_BAD].to_numpy(dtype=bool) if _VALUE_BAD in df else np.zeros(len(df), dtype=bool)
    present = _given(df["value"]) if "value" in df else bad
    return Outcome(
        int(present.sum()), failures=failures(df, bad, field="value", rule="not a number or a censored number (<x, >x)")
    )


def check_range(data: ModalityData, ctx: Context) -> Outcome:
    """Results outside their analyte's plausible range (canonical unit)."""
    df = data.tables[TABLE]
    # implausible results were nulled by null_implausible; the rule they broke is kept in memory
    if IMPLAUSIBLE not in df:
        df = null_implausible(df)
    rule = df[IMPLAUSIBLE]
    known = df["analyte"].isin(list(units().analytes)).fillna(False) if "analyte" in df else rule.notna()
    n = (
        int((known & (pd.to_numeric(df.get("value_num"), errors="coerce").notna() | rule.notna())).sum())
        if len(df)
        else 0
    )
    bad = rule.notna()
    return Outcome(n, failures=failures(df, bad, field="value_num", rule=rule[bad].tolist()))


def check_report_delay(data: ModalityData, ctx: Context) -> Outcome:
    """Results reported later after collection than the target (days; a curator's decision may set it)."""
    delay = float(ctx.decisions.get(f"{NAME}.timeliness.report_delay_days", REPORT_DELAY_DAYS))
    return qc.check_timeliness(data.tables[TABLE], "report_date", "collected_date", max_days=delay)


def _fmt(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"


CHECKS = (
    Check(
        "conformance.unit",
        Dimension.CONFORMANCE,
        check_unit,
        description="units convertible to the analyte's canonical unit, magnitudes that fit it",
    ),
    Check(
        "conformance.value",
        Dimension.CONFORMANCE,
        check_value,
        description="results are numbers or censored numbers (<x, >x)",
    ),
    # per analyte (lab_units.yaml), in place of the shared per-field range check
    Check(
        RANGE_ID,
        Dimension.ACCURACY,
        check_range,
        description="results within their analyte's plausible range (canonical unit)",
    ),
    Check(
        "consistency.report_after_collection",
        Dimension.CONSISTENCY,
        lambda data, ctx: qc.check_date_order(data.tables[TABLE], [("collected_date", "report_date", "report_date")]),
        description="report date not before collection",
    ),
    Check(
        "uniqueness.result",
        Dimension.UNIQUENESS,
        lambda data, ctx: qc.check_unique(data.tables[TABLE], [PATIENT, "analyte", "collected_date"], field="value"),
        description="one result per patient, analyte and collection date",
    ),
    Check(
        "timeliness.report_delay",
        Dimension.TIMELINESS,
        check_report_delay,
        threshold=Threshold(0.0, 0.05),
        description=f"reported within {REPORT_DELAY_DAYS} days of collection (decision "
        "lab.timeliness.report_delay_days)",
    ),
    ASSAY_CONSISTENCY,  # one marker, several assays across sites (_lab_assay.py)
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """The shared tabular checks (plausibility per analyte in place of per field), then the lab's own."""
    return run(tc.checks_for(NAME, CHECKS), data, ctx, modality=NAME, thresholds=ctx.thresholds)


# ------------------------------------------------------------------------------ trajectories
RISE_FACTOR = 2.0  # a marker doubling from its nadir to above the reference limit is "rising"


def trajectory_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per patient and analyte: number of results, baseline (first), nadir, last value,
    days followed, last / nadir and a ``rising`` flag (last at least twice the nadir and above the
    upper reference limit), the guideline's biomarker-trajectory indicator. Values in the canonical
    unit; no dates, only day counts."""
    cols = [
        PATIENT,
        "analyte",
        "unit_std",
        "n_results",
        "baseline",
        "nadir",
        "last",
        "days_followed",
        "fold_from_nadir",
        "rising",
    ]
    if not len(df):
        return pd.DataFrame(columns=cols)
    used = [PATIENT, "analyte", "collected_date", "value_num", "unit_std", "ref_high"]
    # only the columns used are sorted: sorting every column of 1M results took 2 s
    ok = df.loc[df["value_num"].notna() & df["collected_date"].notna() & df[PATIENT].notna(), used]
    ok = ok.sort_values([PATIENT, "analyte", "collected_date"])
    g = ok.groupby([PATIENT, "analyte"], sort=True)
    out = pd.DataFrame(
        {
            "unit_std": g["unit_std"].first(),
            "n_results": g.size(),
            "baseline": g["value_num"].first(),
            "nadir": g["value_num"].min(),
            "last": g["value_num"].last(),
            "days_followed": (g["collected_date"].max() - g["collected_date"].min()) / pd.Timedelta(days=1),
            "_ref_high": g["ref_high"].last(),
        }
    ).reset_index()
    for col in ("analyte", "unit_std"):  # the written file's text type whatever the in-memory storage
        out[col] = out[col].astype("string")
    out["fold_from_nadir"] = (out["last"] / out["nadir"]).where(out["nadir"] > 0)
    out["rising"] = (
        ((out["n_results"] > 1) & (out["fold_from_nadir"] >= RISE_FACTOR) & (out["last"] > out["_ref_high"]))
        .fillna(False)
        .astype(bool)
    )
    return out[cols]


# ------------------------------------------------------------------------------ figures
def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """Completeness by field, marker trajectories, result distributions and results by analyte and flag."""
    from ..report import figures as fig

    df = data.tables[TABLE]
    names = [f.name for f in dictionary.fields(NAME, TABLE) if f.phi != "direct" and not f.derived]
    return {
        "Completeness by field and site": fig.completeness_heatmap(qc.completeness_table(df, names, table=TABLE)),
        "Marker trajectories": plot_trajectories(trajectories_frame(df)),
        "Result distributions": plot_distributions(df),
        "Abnormal results by analyte": fig.category_bars(
            df["analyte"].astype("string") + " " + df["abnormal"].astype("string").fillna("unknown")
            if len(df)
            else pd.Series(dtype="string"),
            title="Results by analyte and flag",
        ),
    }


# ------------------------------------------------------------------------------ write
def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """``data/lab/results.parquet`` (via the shared writer) and ``data/lab/trajectories.parquet``."""
    out = tab.write(data, ctx=ctx)
    out.append(ctx.bundle.write_parquet(f"data/{NAME}/trajectories.parquet", trajectory_summary(data.tables[TABLE])))
    return out
