"""Processing (normalize, log1p, HVG, PCA, neighbours, UMAP, Leiden) and marker-score cell typing."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata as ad

MARKERS = Path(__file__).resolve().parents[2] / "dictionary" / "immune_markers.yaml"


@cache
def load_markers(path: str | None = None) -> dict[str, Any]:
    """The marker table (cell types with markers and Cell Ontology ids, gene sets, sex genes)."""
    import yaml

    return yaml.safe_load(Path(path or MARKERS).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ProcessParams:
    target_sum: float = 1e4
    n_top_genes: int = 2000
    n_pcs: int = 30
    n_neighbors: int = 15
    neighbors_method: str = "gauss"  # or "umap" (scanpy's default; slow to compile, see process)
    leiden_resolution: float = 1.0
    umap: bool = True
    umap_epochs: int = 200  # umap's default is 500 below 10,000 cells; 200 reads the same in a QC report
    seed: int = 0
    min_score: float | None = None  # None: the marker table's min_score
    min_margin: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: ("none" if v is None else v) for k, v in asdict(self).items()}


def process(adata: ad.AnnData, p: ProcessParams) -> ad.AnnData:
    """Normalize, log1p, HVG, PCA, neighbours, UMAP and Leiden on a copy holding counts in X.

    Returns the processed copy (X log-normalized, counts in ``layers['counts']``).
    """
    import scanpy as sc

    a = adata.copy()
    a.layers["counts"] = a.X.copy()
    sc.pp.normalize_total(a, target_sum=p.target_sum)
    sc.pp.log1p(a)
    n = a.n_obs
    if n < 10:
        return a
    verbosity = sc.settings.verbosity
    sc.settings.verbosity = 0  # scanpy notes that the graph is not umap's: expected, see below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy/numba chatter on tiny or sparse samples; results unaffected
        n_top = min(p.n_top_genes, a.n_vars)
        sc.pp.highly_variable_genes(a, n_top_genes=n_top, flavor="seurat")
        n_pcs = max(2, min(p.n_pcs, n - 1, int(a.var["highly_variable"].sum()) - 1))
        sc.pp.pca(a, n_comps=n_pcs, mask_var="highly_variable", random_state=p.seed)
        # Gaussian-kernel connectivities: umap's fuzzy_simplicial_set is not numba-cached and costs
        # ~25 s of compilation in every fresh kernel; Leiden and the UMAP layout work on either graph
        sc.pp.neighbors(
            a, n_neighbors=min(p.n_neighbors, n - 1), n_pcs=n_pcs, random_state=p.seed, method=p.neighbors_method
        )
        sc.tl.leiden(
            a, resolution=p.leiden_resolution, random_state=p.seed, flavor="igraph", n_iterations=2, directed=False
        )
        if p.umap:
            sc.tl.umap(a, random_state=p.seed, maxiter=p.umap_epochs)
    sc.settings.verbosity = verbosity
    return a


def score_cell_types(a: ad.AnnData, p: ProcessParams, *, table: dict[str, Any] | None = None) -> pd.DataFrame:
    """Marker-gene scores per cell type (``sc.tl.score_genes`` on log-normalized X), best type,
    confidence (margin over the runner-up) and "unassigned" below the thresholds.

    Returns
    -------
    One row per cell: ``cell_type``, ``cell_type_ontology_term_id``, ``cell_type_score``,
    ``cell_type_confidence``, ``exhaustion_score``, ``cytotoxicity_score`` (NaN outside T/NK cells),
    ``proliferation_score``.
    """
    import scanpy as sc

    t = table or load_markers()
    min_score = p.min_score if p.min_score is not None else float(t["min_score"])
    min_margin = p.min_margin if p.min_margin is not None else float(t["min_margin"])
    names = list(t["cell_types"])
    genes = set(a.var_names)
    scores = np.full((a.n_obs, len(names)), -np.inf)
    out = pd.DataFrame(index=a.obs_names)

    def _score(markers: list[str], key: str) -> np.ndarray | None:
        use = [g for g in markers if g in genes]
        if not use or a.n_obs < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # score_genes warns on genes missing from a panel
            sc.tl.score_genes(a, use, score_name=key, random_state=p.seed, ctrl_size=min(50, a.n_vars - len(use)))
        return a.obs.pop(key).to_numpy(dtype=float)

    for j, name in enumerate(names):
        s = _score(t["cell_types"][name]["markers"], "_score")
        if s is not None:
            scores[:, j] = s
    order = np.argsort(-scores, axis=1)
    best = scores[np.arange(a.n_obs), order[:, 0]] if a.n_obs else np.array([])
    second = scores[np.arange(a.n_obs), order[:, 1]] if a.n_obs and len(names) > 1 else np.full(a.n_obs, -np.inf)
    with np.errstate(invalid="ignore"):  # no marker measured: -inf - -inf, masked just below
        margin = np.where(np.isfinite(second), best - second, best)
    ok = np.isfinite(best) & (best >= min_score) & (margin >= min_margin)
    label = np.where(ok, np.array(names, dtype=object)[order[:, 0]] if a.n_obs else [], t["unassigned"]["label"])
    cl = {n: t["cell_types"][n]["ontology_id"] for n in names}
    out["cell_type"] = pd.Categorical(label, categories=[*names, t["unassigned"]["label"]])
    out["cell_type_ontology_term_id"] = [cl.get(x, t["unassigned"]["ontology_id"]) for x in label]
    out["cell_type_score"] = np.where(np.isfinite(best), best, np.nan)
    out["cell_type_confidence"] = np.where(np.isfinite(margin), margin, np.nan)
    lineage = {n: t["cell_types"][n].get("lineage", "") for n in names}
    tnk = np.array([lineage.get(x, "") in ("T", "NK") for x in label])
    for gs in ("exhaustion", "cytotoxicity"):
        s = _score(t["gene_sets"][gs], "_score")
        out[f"{gs}_score"] = np.where(tnk, s, np.nan) if s is not None else np.nan
    s = _score(t.get("proliferation", []), "_score")
    out["proliferation_score"] = s if s is not None else np.nan
    return out


def composition(obs: pd.DataFrame) -> pd.DataFrame:
    """Cells per sample and cell type (QC-passing cells), with fractions: composition.parquet."""
    cols = [
        "sample",
        "patient",
        "tissue",
        "timepoint",
        "cell_type",
        "cell_type_ontology_term_id",
        "n_cells",
        "fraction",
    ]
    o = obs[obs["qc_pass"]]
    if o.empty:
        return pd.DataFrame(columns=cols)
    g = (
        o.groupby(
            ["sample", "patient", "tissue", "timepoint", "cell_type", "cell_type_ontology_term_id"], observed=True
        )
        .size()
        .rename("n_cells")
        .reset_index()
    )
    g["fraction"] = g["n_cells"] / g.groupby("sample", observed=True)["n_cells"].transform("sum")
    for c in ("sample", "patient", "tissue", "timepoint", "cell_type", "cell_type_ontology_term_id"):
        g[c] = g[c].astype(str)
    g["n_cells"] = g["n_cells"].astype("int64")
    return g[cols].sort_values(["sample", "n_cells"], ascending=[True, False]).reset_index(drop=True)


def population_types(population: str, table: dict[str, Any] | None = None) -> tuple[set[str], list[str]]:
    """The cell types a sorted population keeps (``CD3+``; ``CD3+ CD8+``: the types every marker
    allows), and the markers the table's ``sorted_populations`` does not know."""
    import re

    t = table or load_markers()
    known = {k.upper(): v for k, v in (t.get("sorted_populations") or {}).items()}
    lineage = {n: c.get("lineage", "") for n, c in t["cell_types"].items()}
    allowed: set[str] | None = None
    unknown = []
    for marker in (m for m in re.split(r"[\s,;/]+", population.strip()) if m):
        rule = known.get(marker.upper())
        if rule is None:
            unknown.append(marker)
            continue
        lineages = rule.get("lineages") or []
        types = set(rule.get("cell_types") or []) | {n for n, lin in lineage.items() if lin in lineages}
        allowed = types if allowed is None else allowed & types
    return allowed or set(), unknown
