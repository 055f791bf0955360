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
from ..quality import Check, CheckResult, Dimension, Outcome, Threshold, failures, run
from ..quality import checks as qc
from . import _tabular as tab
from . import _tabular_checks as tc
from ._lab_assay import ASSAY_CONSISTENCY
from ._lab_figures import plot_distributions, plot_trajectories, trajectories_frame
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


def _by_unique(s: pd.Series, fn: Any) -> pd.DataFrame:
    """Apply a frame-returning parser to the distinct values only (LIS columns repeat a lot) and
    spread the result back over the rows."""
    codes, uniq = pd.factorize(s.astype("string").fillna(""), sort=False)
    parsed = fn(pd.Series(np.asarray(uniq, dtype=object), dtype="string"))
    out = parsed.iloc[codes].reset_index(drop=True) if len(codes) else parsed.iloc[:0]
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
    text = s.astype("string")
    lookup = {v: syn.get(_key(v), v) for v in text.dropna().unique()}
    return text.map(lookup).astype("string")


def type_results(df: pd.DataFrame) -> pd.DataFrame:
    """Add value_num, censored, unit_std, loinc, ref_low, ref_high, abnormal (canonical units) to a results frame.

    Pure: returns a new frame. Rows whose unit cannot be converted keep ``value_num`` missing and
    carry the reason in ``_unit_rule`` (read by :func:`check_unit`).
    """
    table = units()
    out = df.copy()
    out["analyte"] = (
        normalize_analyte(out["analyte"]) if "analyte" in out else pd.Series(pd.NA, index=out.index, dtype="string")
    )
    val = parse_value(out["value"] if "value" in out else pd.Series("", index=out.index))
    unit = (out["unit"] if "unit" in out else pd.Series("", index=out.index)).astype("string").fillna("").str.strip()
    canon = out["analyte"].map({a: x.unit for a, x in table.analytes.items()})
    # one pint lookup per distinct (analyte, unit) pair, not per row
    pair = out["analyte"].astype("string").fillna("") + "\x1f" + unit
    factor_of: dict[str, float] = {}
    rule_of: dict[str, str] = {}
    for key in pair.unique():
        a, u = key.split("\x1f", 1)
        c = table.analytes[a].unit if a in table.analytes else None
        # an unknown analyte is an allowed_values failure and a missing unit a completeness one
        f = unit_factor(u, c) if c and u else None
        factor_of[key] = np.nan if f is None else f
        rule_of[key] = (
            f"unit {u} is not a unit of {a} (expected {c} or a convertible unit)" if c and u and f is None else ""
        )
    factors = pair.map(factor_of)
    rules = pair.map(rule_of)
    factor = factors.astype("float64")
    out["value_num"] = val["number"] * factor
    out["censored"] = val["censored"]
    out["unit_std"] = canon.astype("string")
    out["loinc"] = out["analyte"].map({a: x.loinc for a, x in table.analytes.items()}).astype("string")
    ref = parse_reference(out["reference_range"] if "reference_range" in out else pd.Series("", index=out.index))
    default_lo = out["analyte"].map({a: x.reference[0] for a, x in table.analytes.items()})
    default_hi = out["analyte"].map({a: x.reference[1] for a, x in table.analytes.items()})
    given = ref["low"].notna() | ref["high"].notna()
    out["ref_low"] = (ref["low"] * factor).where(given, pd.to_numeric(default_lo, errors="coerce")).astype("float64")
    out["ref_high"] = (ref["high"] * factor).where(given, pd.to_numeric(default_hi, errors="coerce")).astype("float64")
    out["abnormal"] = _abnormal(out["value_num"], out["censored"], out["ref_low"], out["ref_high"])
    out[_UNIT_RULE] = rules.astype("string")
    out[_VALUE_BAD] = val["bad"].to_numpy()
    mag = _magnitude_rules(out, table)
    out[_UNIT_RULE] = out[_UNIT_RULE].where(out[_UNIT_RULE] != "", mag)
    return out


def _abnormal(v: pd.Series, cens: pd.Series, lo: pd.Series, hi: pd.Series) -> pd.Series:
    c = cens.fillna("none")
    high = (c.isin(["none", "above_limit"]) & hi.notna() & (v > hi)) | ((c == "above_limit") & (v >= hi))
    low = (c.isin(["none", "below_limit"]) & lo.notna() & (v < lo)) | ((c == "below_limit") & (v <= lo))
    normal = (c == "none") & ~high & ~low & (hi.notna() | lo.notna())
    normal |= (c == "below_limit") & hi.notna() & (v <= hi) & ~low
    out = pd.Series(pd.NA, index=v.index, dtype="string")
    out[normal.fillna(False).astype(bool)] = "normal"
    out[low.fillna(False).astype(bool)] = "low"
    out[high.fillna(False).astype(bool)] = "high"
    return out.where(v.notna())


def _magnitude_rules(df: pd.DataFrame, table: UnitTable) -> pd.Series:
    """A result whose magnitude says the unit is wrong: above the plausible range but inside it once
    divided by the magnitude factor, or uncensored and more than sqrt(factor) times below the
    detection limit (pg/mL written as ng/mL and back)."""
    f = table.magnitude_factor
    rules = pd.Series("", index=df.index, dtype="string")
    for name, a in table.analytes.items():
        sel = (df["analyte"] == name).fillna(False) & df["value_num"].notna() & (df["censored"] == "none").fillna(False)
        if not sel.any():
            continue
        v = df.loc[sel, "value_num"]
        hi = a.plausible[1]
        too_big = (v > hi) & (v / f <= hi) if hi is not None else pd.Series(False, index=v.index)
        # an uncensored result far under the detection limit (the lab would have written <LOD)
        too_small = (
            (v > 0) & (v < a.detection_limit / math.sqrt(f)) if a.detection_limit else pd.Series(False, index=v.index)
        )
        rules[too_big[too_big].index] = (
            f"{name} {f:g}x above its plausible range: the unit is probably wrong (expected {a.unit})"
        )
        rules[too_small[too_small].index] = (
            f"{name} far below its detection limit: the unit is probably wrong (expected {a.unit})"
        )
    return rules


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
    left as written, so the shared pipeline still quarantines it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # drop a trailing time of day first (the date is what is kept), vectorized in Arrow
    day = pc.replace_substring_regex(
        pa.array(s.astype(object).where(s.notna(), None), type=pa.string()),
        pattern=r"^(\S+)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$",
        replacement=r"\1",
    )
    codes, uniq = pd.factorize(day.to_pandas(), sort=False)
    if not len(uniq):
        return s
    parsed = parse_dates(pd.Series(np.asarray(uniq, dtype=object)))
    ok = parsed.values.notna() & ~parsed.unparseable
    iso = pd.Series(np.asarray(uniq, dtype=object)).where(~ok, parsed.values.dt.strftime("%Y-%m-%d"))
    out = np.where(codes >= 0, iso.to_numpy(dtype=object)[np.maximum(codes, 0)], s.to_numpy(dtype=object))
    return pd.Series(out, index=s.index, dtype=object)


def _derive(tables: dict[str, pd.DataFrame], data: ModalityData, ctx: Context) -> None:
    tables[TABLE] = null_implausible(type_results(tables[TABLE]))


IMPLAUSIBLE = "_implausible"  # in-memory column: the rule a result broke before it was nulled


def null_implausible(df: pd.DataFrame) -> pd.DataFrame:
    """Results outside their analyte's plausible range (canonical unit) are never written as is:
    value_num becomes null with the reason ``out_of_range`` (missing_reasons), and the broken rule
    stays in memory for :func:`check_range`. Pure: returns a new frame."""
    from ._clean import set_reason

    out = df.copy()
    rule = pd.Series(pd.NA, index=out.index, dtype="string")
    if "analyte" in out and "value_num" in out:
        num = pd.to_numeric(out["value_num"], errors="coerce")
        for name, a in units().analytes.items():
            lo, hi = a.plausible
            sel = (out["analyte"] == name).fillna(False) & num.notna()
            bad = sel & (((num < lo) if lo is not None else False) | ((num > hi) if hi is not None else False))
            rule = rule.mask(bad, f"{name} outside its plausible range {_fmt(lo)}–{_fmt(hi)} {a.unit}")
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
def check_unit(data: ModalityData, ctx: Context) -> Outcome:
    """Units that are not units of the analyte, and results whose magnitude says the unit is wrong."""
    df = data.tables[TABLE]
    rule = df[_UNIT_RULE].fillna("") if _UNIT_RULE in df else pd.Series("", index=df.index)
    checked = (df["unit"].astype("string").fillna("").str.strip() != "") if "unit" in df else rule == "x"
    bad = (rule != "").astype(bool)
    return Outcome(
        int(checked.sum()),
        failures=failures(df, bad, field="unit", rule=rule[bad].tolist()),
        message=f"{int(bad.sum())} of {int(checked.sum())} results in a unit that does not fit "
        "the analyte (or a magnitude that says so)",
    )


def check_value(data: ModalityData, ctx: Context) -> Outcome:
    """Result text that is neither a number nor a censored number."""
    df = data.tables[TABLE]
    bad = df[_VALUE_BAD].astype(bool) if _VALUE_BAD in df else pd.Series(False, index=df.index)
    present = (df["value"].astype("string").fillna("").str.strip() != "") if "value" in df else bad
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
        "plausibility.range",
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
    ok = df[df["value_num"].notna() & df["collected_date"].notna() & df[PATIENT].notna()]
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
