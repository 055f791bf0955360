"""The guideline's validation indicators of a screening programme, each with the counts it comes from
and its 95% interval, overall and per arm, site and risk group.

Truth (the gold standard) is per round: a cancer confirmed by pathology within the declared window
after that round's LDCT. A round whose participant was lost before the window ended, with no cancer
known, or whose participant's cancer was confirmed before it, has no truth and is left out of the
accuracy counts (counted in ``n_excluded``).

Every indicator row has the same columns (:data:`COLUMNS`), so one verdict table, one forest plot and
one recomputation test read them all: ``numerator`` / ``denominator`` is the estimate of a
proportion, and the 2x2 counts (tp, fp, tn, fn) are those the proportion was taken from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _stats as st
from ._agreement import agreement, read_pairs
from ._common import COLUMNS, PATIENT, STRATA
from ._common import frame as _frame
from ._common import strata as _strata
from ._options import IndicatorOptions

PROPORTIONS: dict[str, tuple[str | tuple[str, ...], str | tuple[str, ...]]] = {
    "sensitivity": ("tp", ("tp", "fn")),
    "specificity": ("tn", ("tn", "fp")),
    "ppv": ("tp", ("tp", "fp")),
    "npv": ("tn", ("tn", "fn")),
    "missed_diagnosis_rate": ("fn", ("tp", "fn")),
    "misdiagnosis_rate": ("fp", ("fp", "tn")),
    "recall_rate": (("tp", "fp"), ("tp", "fp", "tn", "fn")),
    "detection_rate": ("tp", ("tp", "fp", "tn", "fn")),
    "interval_cancer_rate": ("fn", ("tp", "fp", "tn", "fn")),
}


@dataclass
class Indicators:
    """Every indicator table the modality writes (``data/screening/indicators/<name>.parquet``)."""

    accuracy: pd.DataFrame  # screening and each biomarker against pathology: 2x2 proportions
    discrimination: pd.DataFrame  # AUC of each continuous marker and of the risk score
    agreement: pd.DataFrame  # AI vs expert: weighted kappa, kappa, Bland-Altman, ICC
    efficiency: pd.DataFrame  # days scan -> report, sample -> result; cost
    risk: pd.DataFrame  # the declared risk score: observed / expected, capture of the high-risk rule
    roc: pd.DataFrame  # ROC curve points (overall and per arm)
    calibration: pd.DataFrame  # risk-score deciles: predicted vs observed
    confusion: pd.DataFrame  # AI vs expert Lung-RADS and nodule type counts (the agreement heatmap)
    n_excluded: int = 0
    pairs: pd.DataFrame | None = None  # AI and expert reads of each nodule, side by side (figures; not written)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables written to the bundle (the read pairs, record-level, are not)."""
        return {k: v for k, v in self.__dict__.items() if isinstance(v, pd.DataFrame) and k != "pairs"}

    def summary(self) -> pd.DataFrame:
        """Every indicator row in one frame (the verdict table reads its overall rows)."""
        parts = [self.accuracy, self.discrimination, self.agreement, self.efficiency, self.risk]
        return (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else pd.DataFrame(columns=COLUMNS)
        )


# ------------------------------------------------------------------------------ analysis frames
def _participants(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    p = tables["participants"]
    cols = [
        c
        for c in (
            PATIENT,
            "site",
            "arm",
            "risk_group",
            "risk_score",
            "age_at_enrolment",
            "pack_years",
            "family_history",
        )
        if c in p.columns
    ]
    return p[cols].drop_duplicates(PATIENT)


def _outcomes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    f = tables["followup"]
    cols = [c for c in (PATIENT, "outcome", "pathology_date", "stage", "last_contact_date") if c in f.columns]
    return f[cols].drop_duplicates(PATIENT)


def round_truth(tables: dict[str, pd.DataFrame], opts: IndicatorOptions) -> pd.DataFrame:
    """One row per round: the participant's strata, the screen result and the truth within the window."""
    r = tables["rounds"][[PATIENT, "round", "scan_date", "result"]].drop_duplicates([PATIENT, "round"])
    p = _participants(tables).drop(columns=["site"], errors="ignore")
    df = r.merge(tables["rounds"][[PATIENT, "site"]].drop_duplicates(PATIENT), on=PATIENT, how="left")
    df = df.merge(p, on=PATIENT, how="left").merge(_outcomes(tables), on=PATIENT, how="left")
    end = df["scan_date"] + pd.Timedelta(days=opts.window_days)
    path = pd.to_datetime(df.get("pathology_date"))
    cancer = (df["outcome"] == "cancer").fillna(False).astype(bool)
    in_window = cancer & (path >= df["scan_date"]).fillna(False) & (path <= end).fillna(False)
    followed = (pd.to_datetime(df["last_contact_date"]) >= end).fillna(False) | (cancer & (path > end).fillna(False))
    # a round after the participant's cancer was confirmed screens no one: it has no truth of its own
    prevalent = cancer & (path < df["scan_date"]).fillna(False)
    df["truth"] = in_window.astype(bool)
    df["known"] = (in_window | followed).astype(bool) & df["scan_date"].notna() & ~prevalent
    df["positive"] = (df["result"] == "positive").fillna(False).astype(bool)
    df["has_result"] = df["result"].isin(["positive", "negative"]).fillna(False).astype(bool)
    return df


def _counts(test: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    return {
        "tp": int((test & truth).sum()),
        "fp": int((test & ~truth).sum()),
        "tn": int((~test & ~truth).sum()),
        "fn": int((~test & truth).sum()),
    }


def _sum(c: pd.DataFrame, spec: str | tuple[str, ...]) -> pd.Series:
    return c[list(spec)].sum(axis=1) if isinstance(spec, tuple) else c[spec]


def proportion_rows(
    counts: pd.DataFrame, opts: IndicatorOptions, rng: np.random.Generator, names: tuple[str, ...] = tuple(PROPORTIONS)
) -> pd.DataFrame:
    """One row per (counts row, indicator): numerator, denominator, estimate, Wilson interval and a
    parametric bootstrap interval of the proportion (all rows and resamples drawn in one array)."""
    frames = []
    for name in names:
        num_spec, den_spec = PROPORTIONS[name]
        frames.append(
            counts.assign(indicator=name, numerator=_sum(counts, num_spec), denominator=_sum(counts, den_spec))
        )
    df = pd.concat(frames, ignore_index=True)
    return _with_intervals(df, opts, rng)


def _with_intervals(df: pd.DataFrame, opts: IndicatorOptions, rng: np.random.Generator) -> pd.DataFrame:
    k = df["numerator"].to_numpy(dtype="float64")
    n = df["denominator"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    lo, hi = st.wilson(k, n, confidence=opts.confidence)
    df = df.assign(estimate=est, ci_low=lo, ci_high=hi, ci_method="wilson")
    if opts.bootstrap:
        nn = n.astype("int64")
        draws = rng.binomial(nn, np.nan_to_num(est), size=(opts.bootstrap, len(df))) / np.where(nn > 0, nn, 1)
        a = (1 - opts.confidence) / 2
        q = np.quantile(draws, [a, 1 - a], axis=0)
        df = df.assign(boot_low=np.where(nn > 0, q[0], np.nan), boot_high=np.where(nn > 0, q[1], np.nan))
    return df


def accuracy(
    rounds: pd.DataFrame, biomarkers: pd.DataFrame, opts: IndicatorOptions, rng: np.random.Generator
) -> pd.DataFrame:
    """Screening and each biomarker against pathology, per stratum; early-stage share of screen-detected cancers."""
    rows: list[dict] = []
    known = rounds[rounds["known"] & rounds["has_result"]]
    for stratum, group, m in _strata(known):
        sub = known[m]
        c = _counts(sub["positive"].to_numpy(), sub["truth"].to_numpy())
        rows.append({"test": "screening", "stratum": stratum, "group": group, **c, "n": len(sub)})
    b = biomarkers.merge(
        rounds[[PATIENT, "round", "truth", "known", *[s for s in STRATA[1:] if s in rounds]]],
        on=[PATIENT, "round"],
        how="inner",
    )
    b = b[b["known"] & b["marker_result"].isin(["positive", "negative"])]
    for marker in sorted(b["marker"].dropna().unique()):
        bm = b[b["marker"] == marker]
        for stratum, group, m in _strata(bm):
            sub = bm[m]
            c = _counts((sub["marker_result"] == "positive").to_numpy(dtype=bool), sub["truth"].to_numpy(dtype=bool))
            rows.append({"test": str(marker), "stratum": stratum, "group": group, **c, "n": len(sub)})
    counts = pd.DataFrame(rows)
    if not len(counts):
        return pd.DataFrame(columns=COLUMNS)
    names_bm = ("sensitivity", "specificity", "ppv", "npv")
    out = pd.concat(
        [
            proportion_rows(counts[counts["test"] == "screening"], opts, rng),
            proportion_rows(counts[counts["test"] != "screening"], opts, rng, names_bm),
        ],
        ignore_index=True,
    )
    # stage I-II among screen-detected cancers (true positives with a known stage)
    det = known[known["positive"] & known["truth"]]
    early = []
    for stratum, group, m in _strata(det):
        staged = det[m]["stage"].isin(["I", "II", "III", "IV"]) if "stage" in det else pd.Series(dtype=bool)
        k = int(det[m]["stage"].isin(["I", "II"]).sum()) if "stage" in det else 0
        early.append(
            {
                "test": "screening",
                "stratum": stratum,
                "group": group,
                "n": int(m.sum()),
                "indicator": "early_stage_share",
                "numerator": k,
                "denominator": int(staged.sum()),
            }
        )
    if early:
        out = pd.concat([out, _with_intervals(pd.DataFrame(early), opts, rng)], ignore_index=True)
    out["family"] = "accuracy"
    for col in COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    return out[COLUMNS]


# ----------------------------------------------------------------------- discrimination
def discrimination(
    rounds: pd.DataFrame,
    biomarkers: pd.DataFrame,
    participants: pd.DataFrame,
    opts: IndicatorOptions,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AUC (stratified bootstrap interval) of each marker's value against the round's truth, and of
    the risk score against the participant's outcome; ROC points overall and per arm."""
    rows, curves = [], []
    b = biomarkers.merge(
        rounds[[PATIENT, "round", "truth", "known", *[s for s in STRATA[1:] if s in rounds]]],
        on=[PATIENT, "round"],
        how="inner",
    )
    b = b[b["known"] & b["value"].notna()]
    tests = [(str(mk), b[b["marker"] == mk], "value") for mk in sorted(b["marker"].dropna().unique())]
    if "risk_score" in participants.columns:
        pt = participants[participants["truth_known"] & participants["risk_score"].notna()]
        tests.append(("risk_score", pt, "risk_score"))
    for test, df, col in tests:
        for stratum, group, m in _strata(df):
            sub = df[m]
            score, truth = sub[col].to_numpy(dtype="float64"), sub["truth"].to_numpy(dtype=bool)
            est = st.auc(score, truth)
            lo, hi = st.percentile(st.auc_boot(score, truth, b=opts.bootstrap, rng=rng), confidence=opts.confidence)
            rows.append(
                {
                    "indicator": "auc",
                    "test": test,
                    "stratum": stratum,
                    "group": group,
                    "n": len(sub),
                    "numerator": int(truth.sum()),
                    "denominator": len(sub),
                    "estimate": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": f"bootstrap {opts.bootstrap} (stratified)",
                    "boot_low": lo,
                    "boot_high": hi,
                }
            )
            if stratum in ("overall", "arm"):
                curves.append(st.roc_points(score, truth).assign(test=test, stratum=stratum, group=group))
    roc = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["fpr", "tpr", "threshold", "test", "stratum", "group"])
    )
    return _frame(rows, "discrimination"), roc


# ---------------------------------------------------------------------------- agreement
def efficiency(tables: dict[str, pd.DataFrame], rounds: pd.DataFrame, opts: IndicatorOptions) -> pd.DataFrame:
    """Median days from LDCT to report and from sample to biomarker result (order-statistic
    interval), and the mean cost of a round and per screen-detected cancer."""
    rows = []
    r = tables["rounds"]
    r = r.merge(
        rounds[[PATIENT, "round", *[s for s in STRATA[1:] if s in rounds and s != "site"]]],
        on=[PATIENT, "round"],
        how="left",
    )
    b = tables["biomarkers"].merge(
        rounds[[PATIENT, "round", *[s for s in STRATA[1:] if s in rounds and s != "site"]]],
        on=[PATIENT, "round"],
        how="left",
    )
    for name, df, start, end in (
        ("scan_to_report_days", r, "scan_date", "report_date"),
        ("sample_to_result_days", b, "sample_date", "result_date"),
    ):
        if start not in df.columns or end not in df.columns:
            continue
        days = ((df[end] - df[start]) / pd.Timedelta(days=1)).to_numpy(dtype="float64")
        for stratum, group, m in _strata(df):
            med, lo, hi = st.median_ci(days[m], confidence=opts.confidence)
            rows.append(
                {
                    "indicator": name,
                    "test": "process",
                    "stratum": stratum,
                    "group": group,
                    "n": int(np.isfinite(days[m]).sum()),
                    "estimate": med,
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": "order statistics (binomial)",
                }
            )
    if "cost" in r.columns and r["cost"].notna().any():
        from scipy.stats import norm

        det = rounds[rounds["known"] & rounds["positive"] & rounds["truth"]]
        for stratum, group, m in _strata(r):
            cost = r.loc[m, "cost"].dropna().to_numpy(dtype="float64")
            if not len(cost):
                continue
            se = cost.std(ddof=1) / np.sqrt(len(cost)) if len(cost) > 1 else np.nan
            z = float(norm.ppf(0.5 + opts.confidence / 2))
            k = int(_strata_mask(det, stratum, group).sum())
            rows.append(
                {
                    "indicator": "cost_per_round",
                    "test": "process",
                    "stratum": stratum,
                    "group": group,
                    "n": len(cost),
                    "estimate": cost.mean(),
                    "ci_low": cost.mean() - z * se,
                    "ci_high": cost.mean() + z * se,
                    "ci_method": "normal",
                }
            )
            rows.append(
                {
                    "indicator": "cost_per_detected_cancer",
                    "test": "process",
                    "stratum": stratum,
                    "group": group,
                    "n": len(cost),
                    "numerator": k,
                    "estimate": cost.sum() / k if k else np.nan,
                    "ci_method": "none",
                }
            )
    return _frame(rows, "efficiency")


def _strata_mask(df: pd.DataFrame, stratum: str, group: str) -> np.ndarray:
    if stratum == "overall":
        return np.ones(len(df), dtype=bool)
    return (df[stratum].astype("string") == group).fillna(False).to_numpy(dtype=bool)  # a handful of calls


# --------------------------------------------------------------------------------- risk
def participant_truth(tables: dict[str, pd.DataFrame], rounds: pd.DataFrame, opts: IndicatorOptions) -> pd.DataFrame:
    """One row per participant: cancer confirmed by pathology within the window after the first round
    (the risk score's horizon), or followed that long without one; lost otherwise."""
    first = rounds.sort_values("round").drop_duplicates(PATIENT)[[PATIENT, "scan_date", "truth", "known"]]
    p = _participants(tables).merge(first, on=PATIENT, how="left").merge(_outcomes(tables), on=PATIENT, how="left")
    end = p["scan_date"] + pd.Timedelta(days=opts.window_days * 2)  # both rounds' windows
    path = pd.to_datetime(p.get("pathology_date"))
    cancer = ((p["outcome"] == "cancer") & (path <= end)).fillna(False).astype(bool)
    followed = (pd.to_datetime(p["last_contact_date"]) >= end).fillna(False)
    return p.drop(columns=["truth", "known"]).assign(truth=cancer, truth_known=(cancer | followed).astype(bool))


def risk(pt: pd.DataFrame, opts: IndicatorOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibration (observed / expected cancers, exact Poisson interval; deciles) and the high-risk
    rule's capture of cancers (share of cancers in the high-risk group, Wilson)."""
    rows = []
    known = pt[pt["truth_known"]]
    if "risk_score" in known.columns:
        sc = known[known["risk_score"].notna()]
        for stratum, group, m in _strata(sc):
            sub = sc[m]
            obs, exp = int(sub["truth"].sum()), float(sub["risk_score"].sum())
            lo, hi = st.poisson_ci(obs, confidence=opts.confidence)
            rows.append(
                {
                    "indicator": "observed_expected",
                    "test": "risk_score",
                    "stratum": stratum,
                    "group": group,
                    "n": len(sub),
                    "numerator": obs,
                    "denominator": exp,
                    "estimate": obs / exp if exp else np.nan,
                    "ci_low": lo / exp if exp else np.nan,
                    "ci_high": hi / exp if exp else np.nan,
                    "ci_method": "exact Poisson",
                }
            )
    cal = pd.DataFrame(columns=["decile", "n", "predicted", "observed", "ci_low", "ci_high"])
    if "risk_score" in known.columns and known["risk_score"].notna().sum() >= 10:
        sc = known[known["risk_score"].notna()]
        dec = pd.qcut(sc["risk_score"].rank(method="first"), 10, labels=False) + 1
        g = sc.groupby(dec).agg(n=("truth", "size"), k=("truth", "sum"), predicted=("risk_score", "mean"))
        dlo, dhi = st.wilson(g["k"], g["n"], confidence=opts.confidence)
        cal = pd.DataFrame(
            {
                "decile": g.index.astype(int),
                "n": g["n"].to_numpy(),
                "predicted": g["predicted"],
                "observed": g["k"] / g["n"],
                "ci_low": dlo,
                "ci_high": dhi,
            }
        ).reset_index(drop=True)
    if "risk_group" in known.columns:
        cancers = known[known["truth"]]
        for stratum, group, m in _strata(cancers.drop(columns=["risk_group"])):
            sub = cancers[m]
            k = int((sub["risk_group"] == "high").sum())
            wlo, whi = st.wilson(np.array([k]), np.array([len(sub)]), confidence=opts.confidence)
            rows.append(
                {
                    "indicator": "high_risk_capture",
                    "test": "risk_rule",
                    "stratum": stratum,
                    "group": group,
                    "n": len(sub),
                    "numerator": k,
                    "denominator": len(sub),
                    "estimate": k / len(sub) if len(sub) else np.nan,
                    "ci_low": wlo[0],
                    "ci_high": whi[0],
                    "ci_method": "wilson",
                }
            )
    return _frame(rows, "risk"), cal


# --------------------------------------------------------------------------------- all
def compute(tables: dict[str, pd.DataFrame], opts: IndicatorOptions) -> Indicators:
    """Every indicator of the screening tables (standard tables with calendar dates)."""
    rng = np.random.default_rng(opts.seed)
    rounds = round_truth(tables, opts)
    pt = participant_truth(tables, rounds, opts)
    bm = tables["biomarkers"]
    acc = accuracy(rounds, bm, opts, rng)
    disc, roc = discrimination(rounds, bm, pt, opts, rng)
    pairs = read_pairs(tables["reads"], _participants(tables))
    agr, conf = agreement(pairs, opts, rng)
    eff = efficiency(tables, rounds, opts)
    rk, cal = risk(pt, opts)
    return Indicators(
        accuracy=acc,
        discrimination=disc,
        agreement=agr,
        efficiency=eff,
        risk=rk,
        roc=roc,
        calibration=cal,
        confusion=conf,
        n_excluded=int((~rounds["known"]).sum()),
        pairs=pairs,
    )
