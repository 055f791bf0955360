"""AI vs expert reader agreement: linear-weighted kappa on Lung-RADS, kappa on nodule type, Bland-Altman
and ICC(2,1) on nodule size, each with its interval, overall and per arm, site and risk group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _stats as st
from ._common import LUNG_RADS, NODULE_TYPES, PATIENT, STRATA
from ._common import frame as _frame
from ._common import strata as _strata
from ._options import IndicatorOptions


def read_pairs(reads: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """One row per nodule read by both an AI and an expert reader (the first read of each kind)."""
    keys = [PATIENT, "round", "nodule"]
    r = reads[reads["reader_kind"].isin(["ai", "expert"])].drop_duplicates([*keys, "reader_kind"])
    wide = r.pivot(index=keys, columns="reader_kind", values=["read_lung_rads", "nodule_type", "size_mm"])
    if "ai" not in wide.columns.get_level_values(1) or "expert" not in wide.columns.get_level_values(1):
        return pd.DataFrame(columns=[*keys, "read_lung_rads_ai", "read_lung_rads_expert"])
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    wide = wide.reset_index()
    strata = [s for s in (PATIENT, *STRATA[1:]) if s in participants.columns]
    return wide.merge(participants[strata], on=PATIENT, how="left")


def _confusion(a: pd.Series, b: pd.Series, levels: list[str]) -> np.ndarray:
    ia = pd.Categorical(a, categories=levels).codes
    ib = pd.Categorical(b, categories=levels).codes
    ok = (ia >= 0) & (ib >= 0)
    k = len(levels)
    return np.bincount(ia[ok] * k + ib[ok], minlength=k * k).reshape(k, k)


def agreement(
    pairs: pd.DataFrame, opts: IndicatorOptions, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AI vs expert: linear-weighted kappa on Lung-RADS, kappa on nodule type (bootstrap intervals),
    Bland-Altman bias and limits on size, ICC(2,1) on size (bootstrap); and the confusion counts."""
    rows, conf = [], []
    strata = list(_strata(pairs))
    for field, levels, weights, name in (
        ("read_lung_rads", LUNG_RADS, "linear", "kappa_lung_rads"),
        ("nodule_type", NODULE_TYPES, "none", "kappa_nodule_type"),
    ):
        if f"{field}_ai" not in pairs.columns:
            continue
        for stratum, group, m in strata:
            c = _confusion(pairs.loc[m, f"{field}_ai"], pairs.loc[m, f"{field}_expert"], levels)
            lo, hi = st.percentile(
                st.kappa_boot(c, weights=weights, b=opts.bootstrap, rng=rng), confidence=opts.confidence
            )
            rows.append(
                {
                    "indicator": name,
                    "test": "ai_vs_expert",
                    "stratum": stratum,
                    "group": group,
                    "n": int(c.sum()),
                    "numerator": int(np.trace(c)),
                    "denominator": int(c.sum()),
                    "estimate": float(st.kappa(c, weights=weights)),
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": f"bootstrap {opts.bootstrap}",
                    "boot_low": lo,
                    "boot_high": hi,
                }
            )
            if stratum == "overall":
                ii, jj = np.meshgrid(levels, levels, indexing="ij")
                conf.append(pd.DataFrame({"field": field, "ai": ii.ravel(), "expert": jj.ravel(), "count": c.ravel()}))
    if "size_mm_ai" in pairs.columns:
        sz = pairs[pairs["size_mm_ai"].notna() & pairs["size_mm_expert"].notna()].reset_index(drop=True)
        x, y = sz["size_mm_ai"].to_numpy(dtype="float64"), sz["size_mm_expert"].to_numpy(dtype="float64")
        strata_sz = list(_strata(sz))
        members = np.stack([m for _, _, m in strata_sz], axis=1)
        boot = st.icc_boot(x, y, members, b=opts.bootstrap, rng=rng)
        for i, (stratum, group, m) in enumerate(strata_sz):
            ba = st.bland_altman(x[m], y[m], confidence=opts.confidence)
            lo, hi = st.percentile(boot[:, i], confidence=opts.confidence)
            base = {"test": "ai_vs_expert", "stratum": stratum, "group": group, "n": ba["n"], "denominator": ba["n"]}
            rows += [
                {
                    **base,
                    "indicator": "icc_size",
                    "estimate": ba["icc"],
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": f"bootstrap {opts.bootstrap}",
                    "boot_low": lo,
                    "boot_high": hi,
                },
                {
                    **base,
                    "indicator": "ba_bias_size_mm",
                    "estimate": ba["bias"],
                    "ci_low": ba["bias_low"],
                    "ci_high": ba["bias_high"],
                    "ci_method": "t",
                },
                {
                    **base,
                    "indicator": "ba_loa_low_size_mm",
                    "estimate": ba["loa_low"],
                    "ci_low": ba["loa_low_low"],
                    "ci_high": ba["loa_low"] + (ba["loa_low"] - ba["loa_low_low"]),
                    "ci_method": "Bland-Altman 1986",
                },
                {
                    **base,
                    "indicator": "ba_loa_high_size_mm",
                    "estimate": ba["loa_high"],
                    "ci_low": ba["loa_high"] - (ba["loa_high_high"] - ba["loa_high"]),
                    "ci_high": ba["loa_high_high"],
                    "ci_method": "Bland-Altman 1986",
                },
            ]
    confusion = pd.concat(conf, ignore_index=True) if conf else pd.DataFrame(columns=["field", "ai", "expert", "count"])
    return _frame(rows, "agreement"), confusion


# --------------------------------------------------------------------------- efficiency
