"""Doublet scores per sample: scrublet's method without its dense matrices.

Why not ``sc.pp.scrublet``: in scanpy 1.11.5 it crashes with scipy 1.17, and it z-scores a dense
cells x genes matrix (10.8 GiB and ~2 min for 20,000 cells here; over 21 GiB for 50,000). This
module follows scrublet (Wolock et al. 2019) step by step - simulate doublets by adding the raw
counts of random cell pairs, embed observed and simulated cells in the principal components of the
observed ones, score each cell by the simulated share of its k nearest neighbours - but keeps every
matrix sparse: PCA comes from the genes x genes covariance of the highly variable genes (implicit
centring and scaling), so memory is O(cells x PCs). The nearest neighbours are exact (brute force,
in blocks) up to ~40,000 points per sample, pynndescent beyond. bench/bench_doublets.py compares
the scores with scanpy's scrublet on the same matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class DoubletParams:
    sim_ratio: float = 2.0
    n_pcs: int = 30
    n_hvg: int = 2000
    expected_rate: float = 0.05
    k: int | None = None  # default: round(0.5 * sqrt(n_cells)), as scrublet
    seed: int = 0
    min_cells: int = 50
    max_sim_queries: int = 3000
    log_transform: bool = False  # scrublet's default


def _normalize(X: sp.csr_matrix, target: float, *, log: bool) -> sp.csr_matrix:
    tot = np.ravel(X.sum(axis=1)).astype(np.float64)
    tot[tot == 0] = 1
    Y = sp.csr_matrix(sp.diags((target / tot).astype(np.float32)) @ X)
    if log:
        Y.data = np.log1p(Y.data)
    return Y


def _hvg(Xn: sp.csr_matrix, n_top: int) -> np.ndarray:
    """Highly variable genes as scrublet (in scanpy) picks them: seurat-flavour binned dispersion
    on the log of total-normalized counts, capped at ``n_top`` genes."""
    import warnings

    import anndata as ad
    import scanpy as sc

    L = Xn.copy()
    L.data = np.log1p(L.data)
    a = ad.AnnData(L)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.highly_variable_genes(a)
    hv = a.var["highly_variable"].to_numpy()
    disp = a.var["dispersions_norm"].fillna(-np.inf).to_numpy()
    idx = np.flatnonzero(hv)
    if idx.size > n_top:
        idx = np.sort(idx[np.argsort(disp[idx])[::-1][:n_top]])
    if idx.size < 10:  # too few (tiny panels): fall back to the most dispersed genes
        idx = np.sort(np.argsort(disp)[::-1][: min(n_top, max(10, Xn.shape[1] // 2))])
    return idx


def _pca(Z_obs: sp.csr_matrix, n_pcs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Loadings (genes x pcs, already divided by each gene's sd) and gene means of the z-scored
    observed matrix, by a randomized SVD of the implicitly centred and scaled operator: nothing
    cells x genes is ever dense (scrublet densifies it, which is what costs it 10 GiB)."""
    n, g = Z_obs.shape
    mu = np.ravel(Z_obs.mean(axis=0)).astype(np.float64)
    sq = Z_obs.copy()
    sq.data **= 2
    sd = np.sqrt(np.clip(np.ravel(sq.mean(axis=0)) - mu**2, 1e-12, None))
    k = max(1, min(n_pcs, g - 1, n - 1))
    Zt = sp.csr_matrix(Z_obs.T)

    def A(Q: np.ndarray) -> np.ndarray:  # ((Z - 1 mu') / sd) @ Q
        Qs = Q / sd[:, None]
        return np.asarray(Z_obs @ Qs) - (mu @ Qs)[None, :]

    def At(Y: np.ndarray) -> np.ndarray:  # ((Z - 1 mu') / sd)' @ Y
        return (np.asarray(Zt @ Y) - np.outer(mu, Y.sum(axis=0))) / sd[:, None]

    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((g, k + 10))
    Y = A(Q)
    for _ in range(4):  # power iterations, re-orthonormalized, as in Halko et al. 2011
        Y, _r = np.linalg.qr(Y)
        Y, _r = np.linalg.qr(A(At(Y)))
    Y, _r = np.linalg.qr(Y)
    B = At(Y).T  # (k+10) x genes
    _u, _s, Vt = np.linalg.svd(B, full_matrices=False)
    V = Vt[:k].T
    return V / sd[:, None], mu


def _project(Z: sp.csr_matrix, W: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return (np.asarray(Z @ W) - (mu @ W)[None, :]).astype(np.float32)


def _knn(P: np.ndarray, k: int, queries: np.ndarray) -> np.ndarray:
    """Indices of the k nearest neighbours (self excluded) of the rows ``queries`` of ``P``."""
    n = P.shape[0]
    if n <= 60_000:
        P = np.ascontiguousarray(P, dtype=np.float32)
        sq = (P * P).sum(1)
        out = np.empty((len(queries), k), np.int64)
        step = max(1, int(1e8 // (n * 4)))  # ~100 MB of distances per block
        for s in range(0, len(queries), step):
            q = queries[s : s + step]
            d = sq[q, None] - 2 * (P[q] @ P.T) + sq[None, :]
            d[np.arange(len(q)), q] = np.inf
            out[s : s + len(q)] = np.argpartition(d, k, axis=1)[:, :k]
        return out
    from ._qc import _numba_cache

    _numba_cache()
    from pynndescent import NNDescent

    index = NNDescent(P, n_neighbors=k + 1, random_state=0, n_jobs=1)
    idx, _ = index.neighbor_graph
    return idx[queries, 1:]


def doublet_scores(
    X: sp.csr_matrix, *, params: DoubletParams | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Scrublet-style doublet scores of one sample's raw counts.

    Returns
    -------
    scores (cells), predicted doublets (bool, cells) and a dict with the threshold and parameters.
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the products here are thin (cells x 40); multi-threaded BLAS spent 10x
    # longer synchronising than computing on a shared 2-core machine (QR of 5,000 x 40: 0.5 s vs 5 ms)
    with threadpool_limits(1, user_api="blas"):
        return _doublet_scores(X, params or DoubletParams())


def _doublet_scores(X: sp.csr_matrix, p: DoubletParams) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    X = sp.csr_matrix(X, dtype=np.float32)
    n = X.shape[0]
    if n < p.min_cells:
        return np.zeros(n), np.zeros(n, bool), {"skipped": f"fewer than {p.min_cells} cells", "threshold": float("nan")}
    rng = np.random.default_rng(p.seed)
    n_sim = round(n * p.sim_ratio)
    pairs = rng.integers(0, n, size=(n_sim, 2))
    S = X[pairs[:, 0]] + X[pairs[:, 1]]
    target = float(np.median(np.ravel(X.sum(axis=1)))) or 1.0
    Zo = _normalize(X, target, log=p.log_transform)
    genes = _hvg(Zo, p.n_hvg)
    Zo = Zo[:, genes]
    Zs = _normalize(S, target, log=p.log_transform)[:, genes]
    W, mu = _pca(Zo, p.n_pcs, p.seed)
    P = np.vstack([_project(Zo, W, mu), _project(Zs, W, mu)])
    k = p.k or max(1, round(0.5 * float(np.sqrt(n))))
    r = n_sim / n
    k_adj = round(k * (1 + r))
    # every observed cell, and a sample of simulated ones (enough for the threshold's histogram)
    sim_q = n + np.sort(rng.choice(n_sim, min(n_sim, p.max_sim_queries), replace=False))
    queries = np.concatenate([np.arange(n), sim_q])
    nbr = _knn(P, k_adj, queries)
    is_sim = nbr >= n
    nd = is_sim.sum(1).astype(float)
    # scrublet's Bayesian score: simulated-neighbour share corrected for the simulation ratio
    q = (nd + 1) / (k_adj + 2)
    rho = p.expected_rate
    score = q * rho / r / (1 - rho - q * (1 - rho - rho / r))
    obs_score, sim_score = score[:n], score[n:]
    thr = _threshold(sim_score)
    pred = obs_score > thr
    detectable = float((sim_score > thr).mean())
    # scrublet's summary: the overall doublet rate implied by the calls and the share of simulated
    # doublets the threshold can detect (homotypic doublets are invisible to any expression method)
    est = float(pred.mean() / detectable) if detectable > 0 else float("nan")  # scrublet's own, unsteady
    # a steadier estimate for the per-sample check: cells scoring above the median simulated
    # doublet, doubled (half of all detectable doublets score above that median by construction)
    med = float(np.median(sim_score))
    est_median = float(min(1.0, 2 * (obs_score > med).mean()))
    return (
        obs_score,
        pred,
        {
            "threshold": thr,
            "detectable_fraction": detectable,
            "estimated_rate": est,
            "estimated_rate_median": est_median,
            "k": k,
            "n_sim": n_sim,
            "n_hvg": len(genes),
            "n_pcs": int(W.shape[1]),
            "expected_rate": rho,
        },
    )


def _threshold(sim_score: np.ndarray) -> float:
    """Scrublet's automatic threshold: the valley of the bimodal simulated-score histogram."""
    from skimage.filters import threshold_minimum, threshold_otsu

    try:
        return float(threshold_minimum(sim_score))
    except RuntimeError:  # unimodal histogram: fall back to Otsu
        return float(threshold_otsu(sim_score))
