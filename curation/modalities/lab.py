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
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from .. import dictionary
from ..io.dates import parse_dates
from ..quality import Check, CheckResult, Dimension, Outcome, Threshold, failures, run
from ..quality import checks as qc
from . import _tabular as tab
from . import _tabular_checks as tc
from ._lab_assay import ASSAY_CONSISTENCY
from ._options import TabularOptions
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

SPEC = ModalitySpec(name="lab", label="Laboratory", formats=("csv", "tsv", "excel", "parquet"),
                    notebook="lab.ipynb", dictionary="lab", order=40, options=TabularOptions,
                    needs=("clinical",),  # its diagnosis anchors, in dates.mode: relative
                    description="LIS exports: serum tumor markers (CEA, CYFRA21-1, NSE, ProGRP, SCC, CA125)")

NAME = "lab"
TABLE = "results"
PATIENT = tab.PATIENT
ROW = tab.ROW
REPORT_DELAY_DAYS = 7  # a tumor-marker result reported over a week after collection is late
_UNIT_RULE = "_unit_rule"  # in-memory column: why the unit does not fit the analyte (never written)
_VALUE_BAD = "_value_bad"


# ------------------------------------------------------------------------------ unit table
@dataclass(frozen=True)
class Analyte:
    """One marker of lab_units.yaml; every number in its canonical ``unit``."""

    name: str
    unit: str
    synonyms: tuple[str, ...]
    reference: tuple[float | None, float | None]
    detection_limit: float | None
    plausible: tuple[float | None, float | None]
    loinc: str | None = None  # LOINC code of the test (lab_units.yaml `loinc`), for exports and lab outputs


@dataclass(frozen=True)
class UnitTable:
    analytes: dict[str, Analyte]
    aliases: dict[str, str]
    magnitude_factor: float

    def synonym_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for a in self.analytes.values():
            for s in (a.name, *a.synonyms):
                out[_key(s)] = a.name
        return out


def _key(text: str) -> str:
    """Matching key of an analyte name: NFKC (full-width brackets), case and spaces folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).casefold()


@cache
def units() -> UnitTable:
    """The shipped analyte / unit table (``dictionary/lab_units.yaml``)."""
    text = resources.files(dictionary.__name__).joinpath("lab_units.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)

    def pair(v: Any) -> tuple[float | None, float | None]:
        lo, hi = (v or [None, None])
        return (None if lo is None else float(lo), None if hi is None else float(hi))

    analytes = {
        name: Analyte(name=name, unit=str(a["unit"]), synonyms=tuple(str(s) for s in a.get("synonyms", ())),
                      reference=pair(a.get("reference")),
                      detection_limit=None if a.get("detection_limit") is None else float(a["detection_limit"]),
                      plausible=pair(a.get("plausible")),
                      loinc=None if a.get("loinc") is None else str(a["loinc"]))
        for name, a in doc["analytes"].items()
    }
    return UnitTable(analytes, {str(k): str(v) for k, v in (doc.get("aliases") or {}).items()},
                     float(doc.get("magnitude_factor", 1000)))


@cache
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


@cache
def unit_factor(unit: str, canonical: str) -> float | None:
    """Factor that converts a value in ``unit`` to ``canonical``; None when pint cannot parse the
    unit or it measures something else (mmol/L is not a mass concentration)."""
    import pint

    text = unicodedata.normalize("NFKC", unit).strip()
    text = units().aliases.get(text, units().aliases.get(unit.strip(), text))
    if not text:
        return None
    try:
        q = _registry().Quantity(1.0, text).to(canonical)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, AssertionError):
        return None
    factor = float(q.magnitude)
    return float(f"{factor:.12g}")  # 0.9999999999999999 -> 1.0


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
    censored = np.select([op.isin(["<", "<=", "≤"]), op.isin([">", ">=", "≥"])], ["below_limit", "above_limit"],
                         default="none")
    present = text != ""
    return pd.DataFrame({"number": num.astype("float64"),
                         "censored": pd.Series(censored, index=s.index).where(num.notna()).astype("string"),
                         "bad": (present & num.isna()).astype(bool)}, index=s.index)


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
    out["analyte"] = normalize_analyte(out["analyte"]) if "analyte" in out else pd.Series(pd.NA, index=out.index,
                                                                                          dtype="string")
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
        rule_of[key] = (f"unit {u} is not a unit of {a} (expected {c} or a convertible unit)"
                        if c and u and f is None else "")
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
        too_small = ((v > 0) & (v < a.detection_limit / math.sqrt(f)) if a.detection_limit
                     else pd.Series(False, index=v.index))
        rules[too_big[too_big].index] = (f"{name} {f:g}x above its plausible range: the unit is probably wrong "
                                         f"(expected {a.unit})")
        rules[too_small[too_small].index] = (f"{name} far below its detection limit: the unit is probably wrong "
                                             f"(expected {a.unit})")
    return rules


# ------------------------------------------------------------------------------ steps
def load(sources: list[Source], *, ctx: Context) -> ModalityData:
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
    day = pc.replace_substring_regex(pa.array(s.astype(object).where(s.notna(), None), type=pa.string()),
                                     pattern=r"^(\S+)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$", replacement=r"\1")
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
    return tab.standardize(data, ctx=ctx, derive=_derive)


# ------------------------------------------------------------------------------ checks
def check_unit(data: ModalityData, ctx: Context) -> Outcome:
    """Units that are not units of the analyte, and results whose magnitude says the unit is wrong."""
    df = data.tables[TABLE]
    rule = df[_UNIT_RULE].fillna("") if _UNIT_RULE in df else pd.Series("", index=df.index)
    checked = (df["unit"].astype("string").fillna("").str.strip() != "") if "unit" in df else rule == "x"
    bad = (rule != "").astype(bool)
    return Outcome(int(checked.sum()), failures=failures(df, bad, field="unit", rule=rule[bad].tolist()),
                   message=f"{int(bad.sum())} of {int(checked.sum())} results in a unit that does not fit "
                           "the analyte (or a magnitude that says so)")


def check_value(data: ModalityData, ctx: Context) -> Outcome:
    """Result text that is neither a number nor a censored number."""
    df = data.tables[TABLE]
    bad = df[_VALUE_BAD].astype(bool) if _VALUE_BAD in df else pd.Series(False, index=df.index)
    present = (df["value"].astype("string").fillna("").str.strip() != "") if "value" in df else bad
    return Outcome(int(present.sum()),
                   failures=failures(df, bad, field="value", rule="not a number or a censored number (<x, >x)"))


def check_range(data: ModalityData, ctx: Context) -> Outcome:
    """Results outside their analyte's plausible range (canonical unit)."""
    df = data.tables[TABLE]
    # implausible results were nulled by null_implausible; the rule they broke is kept in memory
    if IMPLAUSIBLE not in df:
        df = null_implausible(df)
    rule = df[IMPLAUSIBLE]
    known = df["analyte"].isin(list(units().analytes)).fillna(False) if "analyte" in df else rule.notna()
    n = int((known & (pd.to_numeric(df.get("value_num"), errors="coerce").notna() | rule.notna())).sum()) \
        if len(df) else 0
    bad = rule.notna()
    return Outcome(n, failures=failures(df, bad, field="value_num", rule=rule[bad].tolist()))


def check_report_delay(data: ModalityData, ctx: Context) -> Outcome:
    delay = float(ctx.decisions.get(f"{NAME}.timeliness.report_delay_days", REPORT_DELAY_DAYS))
    return qc.check_timeliness(data.tables[TABLE], "report_date", "collected_date", max_days=delay)


def _fmt(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"


CHECKS = (
    Check("conformance.unit", Dimension.CONFORMANCE, check_unit,
          description="units convertible to the analyte's canonical unit, magnitudes that fit it"),
    Check("conformance.value", Dimension.CONFORMANCE, check_value,
          description="results are numbers or censored numbers (<x, >x)"),
    # per analyte (lab_units.yaml), in place of the shared per-field range check
    Check("plausibility.range", Dimension.ACCURACY, check_range,
          description="results within their analyte's plausible range (canonical unit)"),
    Check("consistency.report_after_collection", Dimension.CONSISTENCY,
          lambda data, ctx: qc.check_date_order(data.tables[TABLE], [("collected_date", "report_date", "report_date")]),
          description="report date not before collection"),
    Check("uniqueness.result", Dimension.UNIQUENESS,
          lambda data, ctx: qc.check_unique(data.tables[TABLE], [PATIENT, "analyte", "collected_date"], field="value"),
          description="one result per patient, analyte and collection date"),
    Check("timeliness.report_delay", Dimension.TIMELINESS, check_report_delay, threshold=Threshold(0.0, 0.05),
          description=f"reported within {REPORT_DELAY_DAYS} days of collection (decision "
                      "lab.timeliness.report_delay_days)"),
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
    cols = [PATIENT, "analyte", "unit_std", "n_results", "baseline", "nadir", "last", "days_followed",
            "fold_from_nadir", "rising"]
    if not len(df):
        return pd.DataFrame(columns=cols)
    ok = df[df["value_num"].notna() & df["collected_date"].notna() & df[PATIENT].notna()]
    ok = ok.sort_values([PATIENT, "analyte", "collected_date"])
    g = ok.groupby([PATIENT, "analyte"], sort=True)
    out = pd.DataFrame({
        "unit_std": g["unit_std"].first(), "n_results": g.size(), "baseline": g["value_num"].first(),
        "nadir": g["value_num"].min(), "last": g["value_num"].last(),
        "days_followed": (g["collected_date"].max() - g["collected_date"].min()) / pd.Timedelta(days=1),
        "_ref_high": g["ref_high"].last(),
    }).reset_index()
    out["fold_from_nadir"] = (out["last"] / out["nadir"]).where(out["nadir"] > 0)
    out["rising"] = ((out["n_results"] > 1) & (out["fold_from_nadir"] >= RISE_FACTOR)
                     & (out["last"] > out["_ref_high"])).fillna(False).astype(bool)
    return out[cols]


# ------------------------------------------------------------------------------ figures
def trajectories_frame(df: pd.DataFrame, *, n: int = 12) -> pd.DataFrame:
    """Results of ``n`` patients (the first pseudonyms in sort order, so the pick is stable and
    carries no meaning) with days since each patient's first result."""
    if not len(df) or "collected_date" not in df:
        return pd.DataFrame(columns=[PATIENT, "analyte", "days", "value_num", "censored"])
    ok = df[df["value_num"].notna() & df["collected_date"].notna()]
    pick = sorted(ok[PATIENT].dropna().unique())[:n]
    sub = ok[ok[PATIENT].isin(pick)].copy()
    first = sub.groupby(PATIENT)["collected_date"].transform("min")
    sub["days"] = (sub["collected_date"] - first) / pd.Timedelta(days=1)
    return sub[[PATIENT, "analyte", "days", "value_num", "censored"]].sort_values([PATIENT, "analyte", "days"])


def plot_trajectories(traj: pd.DataFrame, *, title: str = "Tumor marker trajectories (sample of patients)"
                      ) -> go.Figure:
    """One panel per analyte, one line per patient, log scale, the default upper reference limit dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..report.figures import empty_figure

    if traj.empty:
        return empty_figure(title)
    table = units()
    names = [a for a in table.analytes if a in set(traj["analyte"])]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{a} ({table.analytes[a].unit})" for a in names])
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d",
               "#bab0ac", "#eeca3b", "#1f77b4", "#2ca02c"]
    colors = {p: palette[i % len(palette)] for i, p in enumerate(sorted(traj[PATIENT].unique()))}
    for i, a in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        sub = traj[traj["analyte"] == a]
        for p, g in sub.groupby(PATIENT):
            fig.add_trace(go.Scatter(x=g["days"], y=g["value_num"], mode="lines+markers", name=str(p),
                                     legendgroup=str(p), showlegend=i == 0, line={"color": colors[p]},
                                     marker={"symbol": ["triangle-down" if x == "below_limit" else
                                                        "triangle-up" if x == "above_limit" else "circle"
                                                        for x in g["censored"].fillna("none")]},
                                     hovertemplate=f"{p}<br>day %{{x:.0f}}: %{{y:.3g}}<extra>{a}</extra>"),
                          row=r, col=c)
        hi = table.analytes[a].reference[1]
        if hi is not None:
            fig.add_hline(y=hi, line_dash="dash", line_color="#888", row=r, col=c)
        fig.update_yaxes(type="log", row=r, col=c)
        fig.update_xaxes(title_text="days since first result", row=r, col=c)
    fig.update_layout(title=title, height=320 * rows, template="plotly_white",
                      legend={"title": "patient"}, margin={"l": 60, "r": 20, "t": 70, "b": 50})
    return fig


def plot_distributions(df: pd.DataFrame, *, title: str = "Result distributions with the reference range"
                       ) -> go.Figure:
    """Histogram of log10 results per analyte; the default reference range shaded green, values
    outside the plausible range marked in red below the axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..report.figures import empty_figure

    ok = df[df["value_num"].notna() & (df["value_num"] > 0)] if len(df) else df
    table = units()
    names = [a for a in table.analytes if len(ok) and a in set(ok["analyte"])]
    if not names:
        return empty_figure(title)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols,
                        subplot_titles=[f"{a} (log10 {table.analytes[a].unit})" for a in names])
    for i, a in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        v = np.log10(ok.loc[ok["analyte"] == a, "value_num"].astype(float))
        fig.add_trace(go.Histogram(x=v, nbinsx=30, marker_color="#4c78a8", showlegend=False, name=a), row=r, col=c)
        lo, hi = table.analytes[a].reference
        lo_x = math.log10(lo) if lo else float(v.min())
        if hi:
            fig.add_vrect(x0=min(lo_x, math.log10(hi)), x1=math.log10(hi), fillcolor="#54a24b", opacity=0.15,
                          line_width=0, row=r, col=c)
            fig.add_vline(x=math.log10(hi), line_dash="dash", line_color="#54a24b", row=r, col=c)
        fig.update_xaxes(title_text=f"log10 {table.analytes[a].unit}", row=r, col=c)
    fig.update_layout(title=title, height=300 * rows, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 70, "b": 50})
    return fig


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    from ..report import figures as fig

    df = data.tables[TABLE]
    names = [f.name for f in dictionary.fields(NAME, TABLE) if f.phi != "direct" and not f.derived]
    return {
        "Completeness by field and site": fig.completeness_heatmap(qc.completeness_table(df, names, table=TABLE)),
        "Marker trajectories": plot_trajectories(trajectories_frame(df)),
        "Result distributions": plot_distributions(df),
        "Abnormal results by analyte": fig.category_bars(
            df["analyte"].astype("string") + " " + df["abnormal"].astype("string").fillna("unknown")
            if len(df) else pd.Series(dtype="string"), title="Results by analyte and flag"),
    }


# ------------------------------------------------------------------------------ write
def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """``data/lab/results.parquet`` (via the shared writer) and ``data/lab/trajectories.parquet``."""
    out = tab.write(data, ctx=ctx)
    out.append(ctx.bundle.write_parquet(f"data/{NAME}/trajectories.parquet", trajectory_summary(data.tables[TABLE])))
    return out
