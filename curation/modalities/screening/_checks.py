"""The screening checks: consistency of the records (a positive screen with no follow-up, a cancer
with no pathology, a read with no reader kind, a risk group against the declared rule, dates out of
order), one verdict per indicator against its declared target, and a sample-size warning for
intervals wider than the declared width."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...quality import WARN_ONLY, Check, Dimension, Outcome, Severity, combine, failures
from ...quality import checks as qc
from ._options import IndicatorOptions, Targets, indicator_options

if TYPE_CHECKING:
    from ..base import Context, ModalityData
    from ._indicators import Indicators

PATIENT = "patient"
INDICATORS = "indicators"  # data.objects key: the Indicators of this run
# target -> (indicator, test, direction): ">=" the estimate must reach the target, "<=" stay below it
TARGETS: dict[str, tuple[str, str, str]] = {
    "sensitivity": ("sensitivity", "screening", ">="),
    "specificity": ("specificity", "screening", ">="),
    "ppv": ("ppv", "screening", ">="),
    "npv": ("npv", "screening", ">="),
    "early_stage_share": ("early_stage_share", "screening", ">="),
    "recall_rate": ("recall_rate", "screening", "<="),
    "kappa_lung_rads": ("kappa_lung_rads", "ai_vs_expert", ">="),
    "kappa_nodule_type": ("kappa_nodule_type", "ai_vs_expert", ">="),
    "icc_size": ("icc_size", "ai_vs_expert", ">="),
    "auc_risk": ("auc", "risk_score", ">="),
    "scan_to_report_days": ("scan_to_report_days", "process", "<="),
    "sample_to_result_days": ("sample_to_result_days", "process", "<="),
}
# the proportions whose interval width is judged (sample-size warning)
PRECISION_FAMILIES = ("accuracy", "risk")


def _table(data: ModalityData, name: str) -> pd.DataFrame:
    return data.tables.get(name, pd.DataFrame(columns=[PATIENT]))


def _indicators(data: ModalityData, ctx: Context) -> Indicators:
    from . import indicators

    return indicators(data, ctx=ctx)


# --------------------------------------------------------------------------- consistency
def check_positive_followup(data: ModalityData, ctx: Context) -> Outcome:
    """A positive screen whose participant has no follow-up outcome."""
    r, f = _table(data, "rounds"), _table(data, "followup")
    if "result" not in r.columns:
        return Outcome(0)
    pos = r[(r["result"] == "positive").fillna(False).astype(bool)].drop_duplicates(PATIENT)
    has = set(f.loc[f["outcome"].notna(), PATIENT]) if "outcome" in f.columns else set()
    bad = ~pos[PATIENT].isin(has)
    return Outcome(
        len(pos), failures=failures(pos, bad, field="outcome", rule="positive screen with no follow-up outcome")
    )


def check_cancer_pathology(data: ModalityData, ctx: Context) -> Outcome:
    """A cancer outcome not confirmed by pathology (no confirmation, or no pathology date)."""
    f = _table(data, "followup")
    if "outcome" not in f.columns:
        return Outcome(0)
    cancer = (f["outcome"] == "cancer").fillna(False).astype(bool)
    confirmed = (
        (f["pathology_confirmed"] == "yes").fillna(False).astype(bool)
        if "pathology_confirmed" in f.columns
        else pd.Series(False, index=f.index)
    )
    dated = f["pathology_date"].notna() if "pathology_date" in f.columns else pd.Series(False, index=f.index)
    bad = cancer & ~(confirmed & dated)
    return Outcome(
        int(cancer.sum()),
        failures=failures(
            f, bad, field="pathology_date", rule="cancer outcome without pathology confirmation and date"
        ),
    )


def check_cancer_stage(data: ModalityData, ctx: Context) -> Outcome:
    """A confirmed cancer without a stage (the early-stage share cannot count it)."""
    f = _table(data, "followup")
    if "outcome" not in f.columns:
        return Outcome(0)
    cancer = (f["outcome"] == "cancer").fillna(False).astype(bool)
    stage = f["stage"] if "stage" in f.columns else pd.Series(pd.NA, index=f.index)
    return Outcome(
        int(cancer.sum()), failures=failures(f, cancer & stage.isna(), field="stage", rule="cancer without a stage")
    )


def check_reader_kind(data: ModalityData, ctx: Context) -> Outcome:
    """A read with no reader kind (AI or expert), or an AI read that does not name its software."""
    rd = _table(data, "reads")
    if not len(rd):
        return Outcome(0)
    kind = rd["reader_kind"] if "reader_kind" in rd.columns else pd.Series(pd.NA, index=rd.index)
    soft = rd["ai_software"] if "ai_software" in rd.columns else pd.Series(pd.NA, index=rd.index)
    no_kind = kind.isna().to_numpy()
    no_soft = ((kind == "ai") & soft.isna()).fillna(False).to_numpy(dtype=bool)
    return combine(
        [
            Outcome(len(rd), failures=failures(rd, no_kind, field="reader_kind", rule="read with no reader kind")),
            Outcome(0, failures=failures(rd, no_soft, field="ai_software", rule="AI read without its software name")),
        ]
    )


def rule_risk_group(p: pd.DataFrame, opts: IndicatorOptions) -> pd.Series:
    """The risk group the declared rule gives (missing where an input is missing)."""
    rule = opts.risk_rule
    age = pd.to_numeric(p.get("age_at_enrolment"), errors="coerce")
    pack = pd.to_numeric(p.get("pack_years"), errors="coerce")
    fam = p.get("family_history", pd.Series(pd.NA, index=p.index))
    band = (age >= rule.age_min) & (age <= rule.age_max)
    high = band & ((pack >= rule.pack_years) | ((fam == "yes") & rule.family_history))
    known = age.notna() & pack.notna() & fam.isin(["yes", "no"])
    return pd.Series(np.where(high.fillna(False), "high", "non_high"), index=p.index).where(known)


def check_risk_group(data: ModalityData, ctx: Context) -> Outcome:
    """The recorded risk group disagrees with the rule declared in cohort.yaml (risk_rule)."""
    p = _table(data, "participants")
    if "risk_group" not in p.columns:
        return Outcome(0)
    want = rule_risk_group(p, indicator_options(ctx.config))
    both = want.notna() & p["risk_group"].notna()
    bad = (both & (want != p["risk_group"])).fillna(False).astype(bool)
    rule = indicator_options(ctx.config).risk_rule
    text = (
        f"risk group disagrees with the rule (age {rule.age_min}-{rule.age_max} and "
        f"{rule.pack_years:g}+ pack-years or family history)"
    )
    return Outcome(int(both.sum()), failures=failures(p, bad, field="risk_group", rule=text))


def check_dates(data: ModalityData, ctx: Context) -> Outcome:
    """Enrolment, LDCT and report, sample and result, and pathology in order."""
    r = _table(data, "rounds").merge(
        _table(data, "participants")[[PATIENT, "enrolment_date"]]
        if "enrolment_date" in _table(data, "participants")
        else pd.DataFrame(columns=[PATIENT]),
        on=PATIENT,
        how="left",
    )
    return combine(
        [
            qc.check_date_order(
                r, [("enrolment_date", "scan_date", "scan_date"), ("scan_date", "report_date", "report_date")]
            ),
            qc.check_date_order(_table(data, "biomarkers"), [("sample_date", "result_date", "result_date")]),
        ]
    )


# ---------------------------------------------------------------------------- indicators
def _overall(ind: Indicators, indicator: str, test: str) -> pd.Series | None:
    s = ind.summary()
    row = s[(s["indicator"] == indicator) & (s["test"] == test) & (s["stratum"] == "overall")]
    return None if not len(row) else row.iloc[0]


def _fmt(v: float) -> str:
    if pd.isna(v):
        return "NA"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"


def _target_check(name: str) -> Callable[[ModalityData, Context], Outcome]:
    indicator, test, direction = TARGETS[name]

    def check(data: ModalityData, ctx: Context) -> Outcome:
        opts = indicator_options(ctx.config)
        target = float(getattr(opts.targets, name))
        row = _overall(_indicators(data, ctx), indicator, test)
        if row is None or pd.isna(row["estimate"]):
            return Outcome(0, message=f"{indicator} ({test}): no data to estimate it")
        est = float(row["estimate"])
        ok = est >= target if direction == ">=" else est <= target
        counts = "" if pd.isna(row["denominator"]) else f"; {_fmt(row['numerator'])} of {_fmt(row['denominator'])}"
        text = (
            f"{indicator} ({test}) {_fmt(est)} ({int(opts.confidence * 100)}% CI {_fmt(row['ci_low'])}-"
            f"{_fmt(row['ci_high'])}{counts}); target {direction} {target:g}"
        )
        miss = f"{'below' if direction == '>=' else 'above'} target: {text}"
        return Outcome(1, failures=None if ok else failures(field=[indicator], rule=[miss]), message=text)

    return check


def check_ci_width(data: ModalityData, ctx: Context) -> Outcome:
    """Proportions whose interval is wider than the declared width (too few participants)."""
    opts = indicator_options(ctx.config)
    s = _indicators(data, ctx).summary()
    s = s[s["family"].isin(PRECISION_FAMILIES) & (pd.to_numeric(s["denominator"], errors="coerce") > 0)]
    width = (s["ci_high"] - s["ci_low"]).astype("float64")
    bad = (width > opts.max_ci_width).to_numpy()
    w = s[bad]
    rules = [
        f"{r.indicator} ({r.test}) · {r.stratum} {r.group}: {int(opts.confidence * 100)}% CI "
        f"{_fmt(r.ci_low)}-{_fmt(r.ci_high)} wider than {opts.max_ci_width:g} (n = {int(r.denominator)}); "
        "more participants are needed for a precise estimate"
        for r in w.itertuples()
    ]
    return Outcome(
        len(s),
        failures=failures(field=w["indicator"].astype(str).tolist(), rule=rules),
        message=f"{int(bad.sum())} of {len(s)} proportions with an interval wider than {opts.max_ci_width:g}",
    )


def verdict_table(ind: Indicators, opts: IndicatorOptions) -> pd.DataFrame:
    """Each targeted indicator overall: estimate, interval, counts, target and verdict (fail first)."""
    rows = []
    for name, (indicator, test, direction) in TARGETS.items():
        row = _overall(ind, indicator, test)
        target = float(getattr(opts.targets, name))
        est = np.nan if row is None else float(row["estimate"])
        verdict = (
            "not_applicable"
            if np.isnan(est)
            else "pass"
            if (est >= target if direction == ">=" else est <= target)
            else "fail"
        )
        base = {} if row is None else row.to_dict()
        rows.append(
            {
                "verdict": verdict,
                "indicator": indicator,
                "test": test,
                "estimate": est,
                "ci_low": base.get("ci_low"),
                "ci_high": base.get("ci_high"),
                "target": f"{direction} {target:g}",
                **{k: base.get(k) for k in ("tp", "fp", "tn", "fn", "numerator", "denominator", "n", "ci_method")},
            }
        )
    df = pd.DataFrame(rows)
    order = {"fail": 0, "not_applicable": 1, "pass": 2}
    return df.sort_values("verdict", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


CONSISTENCY = (
    Check(
        "consistency.positive_without_followup",
        Dimension.CONSISTENCY,
        check_positive_followup,
        description="every positive screen has a follow-up outcome",
    ),
    Check(
        "consistency.cancer_without_pathology",
        Dimension.CONSISTENCY,
        check_cancer_pathology,
        description="every cancer outcome is confirmed by pathology, with its date",
    ),
    Check(
        "completeness.cancer_stage",
        Dimension.COMPLETENESS,
        check_cancer_stage,
        severity=Severity.MINOR,
        description="every confirmed cancer has a stage (for the early-stage share)",
    ),
    Check(
        "consistency.read_reader_kind",
        Dimension.CONSISTENCY,
        check_reader_kind,
        description="every read names its reader kind (AI or expert); AI reads name their software",
    ),
    Check(
        "consistency.risk_group",
        Dimension.CONSISTENCY,
        check_risk_group,
        description="the recorded risk group follows the rule declared in cohort.yaml",
    ),
    Check(
        "consistency.dates_in_order",
        Dimension.CONSISTENCY,
        check_dates,
        description="enrolment, LDCT, report; sample, result in order",
    ),
    Check(
        "uniqueness.round",
        Dimension.UNIQUENESS,
        lambda data, ctx: qc.check_unique(_table(data, "rounds"), [PATIENT, "round"], field="round"),
        description="one record per participant and round",
    ),
)
TARGET_CHECKS = tuple(
    Check(
        f"indicator.{name}",
        Dimension.TIMELINESS if TARGETS[name][2] == "<=" and name.endswith("_days") else Dimension.ACCURACY,
        _target_check(name),
        description=f"{TARGETS[name][0]} ({TARGETS[name][1]}) {TARGETS[name][2]} the target declared in "
        f"cohort.yaml ({Targets.model_fields[name].description})",
    )
    for name in TARGETS
)
CI_WIDTH = Check(
    "precision.ci_width",
    Dimension.ACCURACY,
    check_ci_width,
    severity=Severity.MINOR,
    threshold=WARN_ONLY,
    description="sample-size warning: a proportion's interval wider than the declared max_ci_width",
)
CHECKS = (*CONSISTENCY, *TARGET_CHECKS, CI_WIDTH)
