"""Immune microenvironment (single-cell RNA, CITE-seq protein, V(D)J): ingest, QC, typing, output.

load         10x folders / 10x .h5 / .h5ad per sample, linked through the sample sheet
             (``options.samples``); raw counts detected (X, layers['counts'] or .raw); antibody
             capture split off; V(D)J contigs through scirpy. Still holds identifiers.
standardize  sample IDs -> tokens, admission numbers -> patient pseudonyms, barcodes stripped of
             anything but the 10x sequence; per-sample QC (metrics, MAD outliers, empty droplets,
             doublets), processing, marker-score typing, composition, sex per sample.
checks       per-sample QC verdicts, linkage, typing completeness, sex consistency, V(D)J pairing,
             de-identification of the AnnData.
write        data/immune/immune.h5ad (+ .h5mu with protein / V(D)J), composition.parquet,
             sample_sex.parquet, qc_samples.parquet.

Cells failing QC stay in the h5ad with ``qc_pass`` False and ``qc_rule`` naming the rule, so nothing
is lost; the ledger counts them as excluded (from analysis) by rule. They are not embedded or typed
(``cell_type`` "unassigned", ontology id "unknown", NaN in ``obsm``).

load lives in :mod:`._load`; standardize in :mod:`._standardize`, in three stages (QC, embedding,
typing) over :mod:`._qc`, :mod:`._doublets` and :mod:`._typing`; checks in :mod:`._checks`.

Source options (cohort.yaml ``sources.immune[i].options``, :class:`~._options.ImmuneOptions`)::

    samples: raw/singlecell/samples.csv   # sample_id, admission_number, site, tissue (tumor |
                                          # adjacent_normal | blood), timepoint[, path, raw_path, vdj]
    sample_key: sample                    # .h5ad holding several samples: the obs column of sample IDs
    genome: GRCh38                        # legacy multi-genome 10x .h5
    tissue: tumor                         # when there is no sample sheet
    qc: {max_pct_mt: 8, tissue: {tumor: {max_pct_mt: 15}}, sample: {<sample token>: {...}}}
    processing: {n_top_genes: 2000, leiden_resolution: 1.0, umap: true, ...}

Curator decisions (``decisions.yaml`` beside cohort.yaml, written by the notebook's widget or
``curation decide set``: settings ``immune.qc.tissue.<tissue>.<threshold>``, ``immune.qc.sample.<token>.<...>``)
override ``qc`` and ``processing``; the old form in the bundle is still read.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...quality import CheckResult, run
from ..base import Context, ModalityData, ModalitySpec
from ._decide import exclude
from ._load import RawSample, identifiers, load
from ._options import ImmuneOptions
from ._standardize import SCHEMA_VERSION, standardize

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = [
    "SCHEMA_VERSION",
    "SPEC",
    "RawSample",
    "checks",
    "exclude",
    "figures",
    "identifiers",
    "label_widget",
    "load",
    "relabel",
    "standardize",
    "threshold_widget",
    "thresholds_table",
    "write",
]

SPEC = ModalitySpec(
    name="immune",
    label="Immune microenvironment (single-cell)",
    formats=("10x", "10x_h5", "h5ad"),
    notebook="immune.ipynb",
    dictionary="immune_markers",
    outputs=("h5ad", "h5mu", "parquet"),
    extra="immune",
    order=70,
    options=ImmuneOptions,
    description="10x / h5ad single-cell RNA (+ CITE-seq, V(D)J): QC, immune cell typing, composition",
)


# ------------------------------------------------------------------------------------------ checks


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Per-sample QC verdicts, linkage, typing, sex, V(D)J pairing and de-identification."""
    from ._checks import CHECKS

    return run(CHECKS, data, ctx, modality=SPEC.name, thresholds=ctx.thresholds)


# ----------------------------------------------------------------------------------------- figures


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """QC violins and scatter with thresholds, UMAPs, marker dot plot, composition, sex, clonotypes."""
    from . import _figures

    return _figures.all_figures(data)


def relabel(data: ModalityData, labels: dict[str, str], *, ctx: Context) -> dict[str, str]:
    """Cell-type label corrections per Leiden cluster (curator decisions ``label immune.<cluster>``).

    The cells of each cluster get the label and its Cell Ontology id, and the composition table is
    rebuilt. Returns, per cluster, what happened (``"<n> cells: <old labels> -> <label>"``, or why not:
    a label the marker table does not know, a cluster this run does not have).
    """
    from ._typing import composition, load_markers

    adata = data.objects.get("adata")
    table = load_markers()
    known = {n: c["ontology_id"] for n, c in table["cell_types"].items()}
    known[table["unassigned"]["label"]] = table["unassigned"]["ontology_id"]
    out: dict[str, str] = {}
    if adata is None or "leiden" not in adata.obs:
        return dict.fromkeys(labels, "no clustered cells in this run")
    clusters = adata.obs["leiden"].astype(str)
    for cluster, label in labels.items():
        if label not in known:
            out[cluster] = f"not applied: {label!r} is not a cell type of the marker table ({', '.join(sorted(known))})"
            continue
        mask = (clusters == str(cluster)).to_numpy()
        if not str(cluster) or not mask.any():
            out[cluster] = f"not applied: no cluster {cluster} in this run"
            continue
        before = adata.obs.loc[mask, "cell_type"].astype(str).value_counts()
        if label not in adata.obs["cell_type"].cat.categories:
            adata.obs["cell_type"] = adata.obs["cell_type"].cat.add_categories([label])
        adata.obs.loc[mask, "cell_type"] = label
        adata.obs.loc[mask, "cell_type_ontology_term_id"] = known[label]
        was = ", ".join(f"{k} {v}" for k, v in before.items())
        out[cluster] = f"{int(mask.sum())} cells of cluster {cluster} ({was}) -> {label}"
    data.tables["composition"] = composition(adata.obs)
    return out


def thresholds_table(run: Any) -> pd.DataFrame:
    """The thresholds applied and cells removed per sample (the static view of the widget)."""
    from ._widget import thresholds_table as _t

    return _t(run)


def label_widget(run: Any) -> Any:
    """Correct the cell-type label of a Leiden cluster (cells and current labels shown), with author and reason."""
    from ._widget import label_widget as _w

    return _w(run)


def threshold_widget(run: Any) -> Any:
    """QC thresholds per tissue with their source; saves decisions (author, reason) and Apply re-runs the step."""
    from ._widget import threshold_widget as _w

    return _w(run)


# ------------------------------------------------------------------------------------------- write


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """immune.h5ad (+ immune.h5mu with protein / V(D)J) and the per-sample tables."""
    b = ctx.bundle
    out: list[Path] = []
    adata = data.objects.get("adata")
    if adata is not None:
        out.append(b.write_with("data/immune/immune.h5ad", lambda p: adata.write_h5ad(p, compression="gzip")))
        mods = {k: data.objects[k] for k in ("airr", "protein") if data.objects.get(k) is not None}
        if mods:
            import mudata as md

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy) are "experimental"
                md.set_options(pull_on_update=False)
                mdata = md.MuData({"gex": adata, **{("prot" if k == "protein" else k): v for k, v in mods.items()}})
                out.append(b.write_with("data/immune/immune.h5mu", lambda p: mdata.write(p)))
    for name in ("composition", "sample_sex"):
        if name in data.tables:
            out.append(b.write_parquet(f"data/immune/{name}.parquet", data.tables[name]))
    if "qc" in data.tables:
        out.append(b.write_parquet("data/immune/qc_samples.parquet", data.tables["qc"]))
    return out
