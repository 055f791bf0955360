"""The statistics of the validation indicators, vectorized: Wilson intervals (statsmodels), kappa,
AUC, Bland-Altman and ICC with bootstrap intervals drawn as whole matrices.

Why some of it is written here: scikit-learn and statsmodels give the point estimates (the tests
compare them), but neither bootstraps a kappa, an AUC or an ICC over 1,000 resamples without a
Python loop per resample. Each bootstrap below draws all resamples at once from the sufficient
statistics of the data, which is exactly the ordinary (case-resampling) bootstrap:

* a kappa depends only on the confusion matrix: resampled pairs give a multinomial draw of its cells;
* an AUC depends only on how many negatives lie below, level with or above each distinct positive
  score: resampled negatives give a multinomial draw over those bins, resampled positives one over
  their distinct scores (the positives and negatives are resampled separately, as pROC does);
* Bland-Altman and the two-rater ICC depend only on five sums (x, y, x², y², xy): resampled pairs
  give those sums as a weight matrix (counts of each pair in each resample) times the pairs' values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "auc",
    "auc_boot",
    "bland_altman",
    "icc_boot",
    "kappa",
    "kappa_boot",
    "median_ci",
    "percentile",
    "poisson_ci",
    "wilson",
]


def wilson(
    k: np.ndarray | pd.Series, n: np.ndarray | pd.Series, *, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of k successes in n trials (NaN where n is 0), by statsmodels."""
    from statsmodels.stats.proportion import proportion_confint

    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    safe = np.where(n > 0, n, 1.0)
    lo, hi = proportion_confint(np.minimum(k, safe), safe, alpha=1 - confidence, method="wilson")
    lo, hi = np.asarray(lo, dtype="float64"), np.asarray(hi, dtype="float64")
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def percentile(draws: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap draws (NaN draws, from empty resamples, left out)."""
    d = draws[np.isfinite(draws)]
    if not len(d):
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------- kappa
def _weights(k: int, kind: str) -> np.ndarray:
    i = np.arange(k)
    d = np.abs(i[:, None] - i[None, :]).astype("float64")
    if kind == "linear":
        return d
    if kind == "quadratic":
        return d**2
    return (d > 0).astype("float64")


def kappa(confusion: np.ndarray, *, weights: str = "none") -> np.ndarray:
    """Cohen's kappa (weights: none, linear, quadratic) of one k x k confusion matrix or a stack
    (..., k, k); the same formula as scikit-learn's cohen_kappa_score."""
    c = np.asarray(confusion, dtype="float64")
    k = c.shape[-1]
    w = _weights(k, weights)
    total = c.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = c.sum(axis=-1)[..., :, None] * c.sum(axis=-2)[..., None, :] / total[..., None, None]
        return 1 - (w * c).sum(axis=(-2, -1)) / (w * expected).sum(axis=(-2, -1))


def kappa_boot(confusion: np.ndarray, *, weights: str = "none", b: int, rng: np.random.Generator) -> np.ndarray:
    """``b`` bootstrap kappas: the pairs resampled = the cells drawn from a multinomial."""
    c = np.asarray(confusion, dtype="int64")
    n = int(c.sum())
    if n == 0 or b == 0:
        return np.full(b, np.nan)
    cells = rng.multinomial(n, c.ravel() / n, size=b).reshape(b, *c.shape)
    return kappa(cells, weights=weights)


# --------------------------------------------------------------------------------------- AUC
def _auc_bins(score: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct positive scores with their multiplicity, and the negatives counted per bin: below the
    first, level with it, between it and the next, level with that ..., above the last (2U+1 bins)."""
    pos, neg = score[truth], score[~truth]
    u, mult = np.unique(pos, return_counts=True)
    below = np.searchsorted(np.sort(neg), u, side="left")
    upto = np.searchsorted(np.sort(neg), u, side="right")
    level = upto - below
    between = np.diff(np.concatenate([[0], below])) - np.concatenate([[0], level[:-1]])
    bins = np.empty(2 * len(u) + 1, dtype="int64")
    bins[0:-1:2] = between
    bins[1::2] = level
    bins[-1] = len(neg) - upto[-1] if len(u) else len(neg)
    return u, mult, bins


def _auc_from(mult: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """AUC from positive multiplicities (..., U) and negative bin counts (..., 2U+1)."""
    between, level = bins[..., 0:-1:2], bins[..., 1::2]
    below = np.cumsum(between, axis=-1) + np.cumsum(level, axis=-1) - level  # negatives strictly below
    wins = (mult * (below + 0.5 * level)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / (mult.sum(axis=-1) * bins.sum(axis=-1))


def auc(score: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), as scikit-learn's roc_auc_score."""
    score, truth = np.asarray(score, dtype="float64"), np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return float("nan")
    _, mult, bins = _auc_bins(score, truth)
    return float(_auc_from(mult, bins))


def auc_boot(score: np.ndarray, truth: np.ndarray, *, b: int, rng: np.random.Generator) -> np.ndarray:
    """``b`` bootstrap AUCs, positives and negatives resampled separately (stratified)."""
    score, truth = np.asarray(score, dtype="float64"), np.asarray(truth, dtype=bool)
    n1, n0 = int(truth.sum()), int((~truth).sum())
    if n1 == 0 or n0 == 0 or b == 0:
        return np.full(b, np.nan)
    _, mult, bins = _auc_bins(score, truth)
    # positives (few): drawn as indices and counted per distinct score; negatives (many): a multinomial
    # over the bins between the positives' scores, which costs as many draws as there are bins
    which = np.repeat(np.arange(len(mult)), mult)[rng.integers(0, n1, size=(b, n1))]
    w = np.bincount((which + (np.arange(b) * len(mult))[:, None]).ravel(), minlength=b * len(mult)).reshape(b, -1)
    v = np.zeros((b, len(bins)), dtype="int64")
    full = np.flatnonzero(bins)  # empty bins stay empty in every resample: draw over the others only
    v[:, full] = rng.multinomial(n0, bins[full] / n0, size=b)
    return _auc_from(w, v)


def roc_points(score: np.ndarray, truth: np.ndarray, *, max_points: int = 200) -> pd.DataFrame:
    """The ROC curve (false-positive rate, true-positive rate, threshold) by scikit-learn, thinned."""
    from sklearn.metrics import roc_curve

    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []})
    fpr, tpr, thr = roc_curve(truth, score, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.where(np.isfinite(thr), thr, np.nan)})


# ------------------------------------------------------------------- Bland-Altman and ICC
def _moments(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=-1)


def _icc_ba(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICC(2,1) (two-way random, absolute agreement, single rater; Shrout and Fleiss), the mean
    difference x - y and its SD, from the sums (n, Σx, Σy, Σx², Σy², Σxy) of (..., 6)."""
    n, sx, sy, sxx, syy, sxy = (m[..., i] for i in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = (sx + sy) / (2 * n)
        ss_total = sxx + syy - 2 * n * grand**2
        ss_rows = ((sxx + syy + 2 * sxy) / 2) - 2 * n * grand**2  # Σ (x+y)²/2 - N·grand²
        ss_cols = n * ((sx / n - grand) ** 2 + (sy / n - grand) ** 2)
        ss_err = ss_total - ss_rows - ss_cols
        msr, msc, mse = ss_rows / (n - 1), ss_cols / 1, ss_err / (n - 1)
        icc = (msr - mse) / (msr + mse + 2 * (msc - mse) / n)
        mean_d = (sx - sy) / n
        var_d = (sxx + syy - 2 * sxy - n * mean_d**2) / (n - 1)
    return icc, mean_d, np.sqrt(var_d)


def bland_altman(x: np.ndarray, y: np.ndarray, *, confidence: float = 0.95) -> dict[str, float]:
    """Bias (mean of x - y), its t interval, the limits of agreement (bias ± z·SD) and their
    approximate intervals (SE = SD·sqrt(3/n), Bland and Altman 1986), and ICC(2,1)."""
    from scipy import stats

    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    n = len(x)
    icc, bias, sd = (float(v) for v in _icc_ba(_moments(x, y).sum(axis=0)))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) if n > 1 else float("nan")
    se_bias, se_loa = sd / np.sqrt(n) if n else np.nan, sd * np.sqrt(3 / n) if n else np.nan
    return {
        "n": n,
        "bias": bias,
        "bias_low": bias - t * se_bias,
        "bias_high": bias + t * se_bias,
        "sd": sd,
        "loa_low": bias - z * sd,
        "loa_high": bias + z * sd,
        "loa_low_low": bias - z * sd - t * se_loa,
        "loa_high_high": bias + z * sd + t * se_loa,
        "icc": icc,
    }


def icc_boot(
    x: np.ndarray, y: np.ndarray, members: np.ndarray, *, b: int, rng: np.random.Generator, chunk: int = 50
) -> np.ndarray:
    """Bootstrap ICC(2,1) of several groups of pairs at once: (b, groups).

    ``members`` is (pairs, groups), True where a pair belongs to a group (groups may overlap: overall,
    per arm, per site ...). Each resample draws all pairs with replacement once, as a weight matrix
    (how many times each pair was drawn, built by bincount); every group's six sums are that matrix
    times the pairs' moments masked by the group, one matrix product per chunk of resamples. A
    group's statistic is thus bootstrapped with its size varying as it does in resampled data.
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    members = np.asarray(members, dtype=bool)
    n, g = members.shape
    out = np.full((b, g), np.nan)
    if n < 3 or b == 0:
        return out
    c = np.concatenate([x, y]).mean()  # centred: the sums of squares then lose no precision
    mom = _moments(x - c, y - c)
    masked = (mom[:, :, None] * members[:, None, :]).reshape(n, 6 * g)
    for start in range(0, b, chunk):  # a loop per chunk of resamples, never per resample or per row
        rows = min(chunk, b - start)
        # 32-bit draws are about three times cheaper than 64-bit ones; row offsets keep resamples apart
        small = rows * n < 2**32
        draw = rng.integers(0, n, size=(rows, n), dtype=np.uint32 if small else np.int64)
        draw += (np.arange(rows) * n).astype(draw.dtype)[:, None]
        w = np.bincount(draw.ravel(), minlength=rows * n).reshape(rows, n).astype("float64")
        sums = (w @ masked).reshape(rows, 6, g).transpose(0, 2, 1)
        out[start : start + rows] = _icc_ba(sums)[0]
    return out


# ------------------------------------------------------------------------ medians and counts
def median_ci(values: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Median and its distribution-free interval from order statistics (binomial, exact coverage
    at least ``confidence``): no resampling needed."""
    from scipy import stats

    v = np.sort(np.asarray(values, dtype="float64")[np.isfinite(values)])
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo = int(stats.binom.ppf(a, n, 0.5))
    hi = int(stats.binom.isf(a, n, 0.5))
    return float(np.median(v)), float(v[max(lo - 1, 0)]), float(v[min(hi, n - 1)])


def poisson_ci(k: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson count."""
    from scipy import stats

    a = 1 - confidence
    lo = 0.0 if k <= 0 else float(stats.chi2.ppf(a / 2, 2 * k) / 2)
    hi = float(stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2)
    return lo, hi
