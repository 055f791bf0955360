"""Names and helpers shared by the indicator modules: the strata, the row layout of every indicator table."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

PATIENT = "patient"
STRATA = ("overall", "arm", "site", "risk_group")
LUNG_RADS = ["0", "1", "2", "3", "4A", "4B", "4X"]
NODULE_TYPES = ["solid", "part_solid", "ground_glass"]
COLUMNS = [
    "family",
    "indicator",
    "test",
    "stratum",
    "group",
    "tp",
    "fp",
    "tn",
    "fn",
    "n",
    "numerator",
    "denominator",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_method",
    "boot_low",
    "boot_high",
]
# indicator -> (numerator, denominator) in 2x2 counts


def strata(df: pd.DataFrame) -> Iterator[tuple[str, str, np.ndarray]]:
    """("overall", "all", every row), then (stratum, group, mask) for each arm, site and risk group."""
    yield "overall", "all", np.ones(len(df), dtype=bool)
    for s in STRATA[1:]:
        if s not in df.columns:
            continue
        codes, groups = pd.factorize(df[s].astype("string"), sort=True)  # once per stratum, not per group
        for i, g in enumerate(groups):
            yield s, str(g), codes == i


def frame(rows: list[dict], family: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if not len(df):
        return pd.DataFrame(columns=COLUMNS)
    df["family"] = family
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    return df[COLUMNS]


# ------------------------------------------------------------------------------- accuracy
