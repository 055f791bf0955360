"""Plotly figures of the immune modality. Each builder takes tidy frames and returns a Figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...report.figures import PALETTE

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..base import ModalityData

MAX_POINTS = 20_000  # scatter plots subsample beyond this so reports stay light
UNITS = {
    "total_counts": "total counts (UMI)",
    "n_genes_by_counts": "genes detected",
    "pct_counts_mt": "% mitochondrial",
    "pct_counts_in_top_20_genes": "% counts in top 20 genes",
    "pct_counts_ribo": "% ribosomal",
    "pct_counts_hb": "% hemoglobin",
}

VIOLIN_METRICS = {
    "total_counts": ("threshold_min_total_counts", "threshold_max_total_counts"),
    "n_genes_by_counts": ("threshold_min_n_genes", "threshold_max_n_genes"),
    "pct_counts_mt": (None, "threshold_max_pct_counts_mt"),
    "pct_counts_in_top_20_genes": (None, "threshold_max_pct_counts_in_top_20_genes"),
    "pct_counts_ribo": (None, None),
    "pct_counts_hb": (None, None),
}


def _sub(df: pd.DataFrame, n: int = MAX_POINTS) -> pd.DataFrame:
    return df.sample(n, random_state=0) if len(df) > n else df


def plot_qc_violins(obs: pd.DataFrame, qc: pd.DataFrame) -> go.Figure:
    """Violins of each QC metric per sample with the sample's thresholds drawn as red ticks."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = [m for m in VIOLIN_METRICS if m in obs]
    fig = make_subplots(
        rows=len(metrics), cols=1, subplot_titles=[UNITS.get(m, m) for m in metrics], vertical_spacing=0.05
    )
    samples = list(qc["sample"]) if len(qc) else sorted(obs["sample"].astype(str).unique())
    o = _sub(obs)
    for r, m in enumerate(metrics, start=1):
        for s in samples:
            y = o.loc[o["sample"].astype(str) == s, m]
            fig.add_trace(
                go.Violin(
                    x=[s] * len(y),
                    y=y,
                    name=s,
                    showlegend=False,
                    points=False,
                    line_width=1,
                    spanmode="hard",
                    width=0.8,
                    fillcolor="rgba(0,114,178,0.35)",
                    line_color="#0072B2",
                ),
                row=r,
                col=1,
            )
        lo_col, hi_col = VIOLIN_METRICS[m]
        for col in (lo_col, hi_col):
            if col and col in qc:
                fig.add_trace(
                    go.Scatter(
                        x=qc["sample"],
                        y=qc[col],
                        mode="markers",
                        showlegend=False,
                        marker={"symbol": "line-ew-open", "size": 30, "color": "#D55E00", "line": {"width": 2}},
                        name="threshold",
                        hovertemplate="%{x}: %{y:.1f}<extra>threshold</extra>",
                    ),
                    row=r,
                    col=1,
                )
    for r, m in enumerate(metrics, start=1):
        fig.update_yaxes(title_text=UNITS.get(m, m), row=r, col=1)
    fig.update_xaxes(title_text="sample (token)", row=len(metrics), col=1)
    # overlay: one violin per sample fills its own category (grouped, 7 samples drew as hairlines)
    fig.update_layout(
        height=230 * len(metrics),
        title="QC metrics per sample (orange ticks: thresholds applied)",
        margin={"t": 60},
        violinmode="overlay",
        template="plotly_white",
        meta={"caption": "Distribution of each QC metric per sample; cells beyond an orange tick were removed."},
    )
    return fig


def plot_qc_scatter(obs: pd.DataFrame, qc: pd.DataFrame) -> go.Figure:
    """Total counts against genes detected per sample, coloured by the QC rule that removed the
    cell, with the sample's count and gene thresholds drawn as dashed lines."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    o = _sub(obs).assign(
        qc_rule=lambda d: d["qc_rule"].astype(str).replace("", "kept"), sample=lambda d: d["sample"].astype(str)
    )
    samples = list(qc["sample"]) if len(qc) else sorted(o["sample"].unique())
    ncol = min(4, max(1, len(samples)))
    nrow = -(-len(samples) // ncol)
    fig = make_subplots(
        rows=nrow, cols=ncol, subplot_titles=samples, shared_yaxes=True, horizontal_spacing=0.03, vertical_spacing=0.08
    )
    rules = ["kept", *sorted(set(o["qc_rule"]) - {"kept"})]
    colors = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(rules)}
    th = qc.set_index("sample") if len(qc) else pd.DataFrame()
    for i, s in enumerate(samples):
        r, c = i // ncol + 1, i % ncol + 1
        d = o[o["sample"] == s]
        for rule in rules:
            dd = d[d["qc_rule"] == rule]
            if len(dd):
                fig.add_trace(
                    go.Scattergl(
                        x=dd["total_counts"],
                        y=dd["n_genes_by_counts"],
                        mode="markers",
                        name=rule,
                        legendgroup=rule,
                        showlegend=i == 0 or rule not in set(o.loc[o["sample"].isin(samples[:i]), "qc_rule"]),
                        marker={"size": 3, "color": colors[rule], "opacity": 0.6},
                    ),
                    row=r,
                    col=c,
                )
        if s in th.index:
            for col in ("threshold_min_total_counts", "threshold_max_total_counts"):
                v = th.at[s, col] if col in th else np.nan
                if pd.notna(v) and v > 0:
                    # data units: plotly places shapes on a log axis at the data value
                    fig.add_vline(x=float(v), line={"dash": "dash", "color": "#D55E00", "width": 1}, row=r, col=c)
            for col in ("threshold_min_n_genes", "threshold_max_n_genes"):
                v = th.at[s, col] if col in th else np.nan
                if pd.notna(v) and v > 0:
                    fig.add_hline(y=float(v), line={"dash": "dash", "color": "#D55E00", "width": 1}, row=r, col=c)
    fig.update_xaxes(type="log", title_text="total counts (UMI)")
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="genes detected", col=1)
    fig.update_layout(
        title="Counts vs genes per cell, by QC outcome (dashed: thresholds)",
        height=300 * nrow,
        template="plotly_white",
        meta={
            "caption": "Each dot is a cell, coloured by the QC rule that removed it; dashed lines "
            "are the sample's count and gene thresholds."
        },
    )
    return fig


def plot_umap(obs: pd.DataFrame, umap: np.ndarray, *, color: str, title: str) -> go.Figure:
    import plotly.express as px

    df = obs[[color]].copy()  # umap: NaN rows for cells that failed QC (not embedded)
    df["UMAP1"], df["UMAP2"] = umap[:, 0], umap[:, 1]
    df = _sub(df.dropna(subset=["UMAP1"]))
    if not pd.api.types.is_numeric_dtype(df[color]):
        df[color] = df[color].astype(str)
    kw = (
        {"color_continuous_scale": "Cividis"}
        if pd.api.types.is_numeric_dtype(df[color])
        else {"color_discrete_sequence": PALETTE}
    )
    fig = px.scatter(df, x="UMAP1", y="UMAP2", color=color, title=title, opacity=0.7, render_mode="webgl", **kw)
    fig.update_traces(marker={"size": 3})
    # no scaleanchor: with a fixed height it squeezed the embedding into a corner of the plot area
    fig.update_layout(
        xaxis={"showticklabels": False, "title": "UMAP 1"},
        yaxis={"showticklabels": False, "title": "UMAP 2"},
        height=520,
        template="plotly_white",
        meta={"caption": "Cells that passed QC, embedded by UMAP; axes have no unit."},
    )
    return fig


def marker_dots(adata: Any, table: dict[str, Any]) -> pd.DataFrame:
    """Tidy marker table for the dot plot: mean log expression and fraction expressing per type."""
    ok = adata.obs["qc_pass"].to_numpy()
    L = adata.layers.get("log1p_norm") if "log1p_norm" in adata.layers else None
    if L is None or ok.sum() == 0:
        return pd.DataFrame(columns=["cell_type", "gene", "mean", "fraction"])
    genes = [g for ct in table["cell_types"].values() for g in ct["markers"][:3]]
    genes = [g for g in dict.fromkeys(genes) if g in adata.var_names]
    idx = [adata.var_names.get_loc(g) for g in genes]
    sub = L[ok][:, idx]
    ct = adata.obs.loc[ok, "cell_type"].astype(str).to_numpy()
    rows = []
    for t in pd.unique(ct):
        m = sub[ct == t]
        mean = np.ravel(m.mean(axis=0))
        frac = np.ravel((m > 0).mean(axis=0))
        rows += [
            {"cell_type": t, "gene": g, "mean": float(a), "fraction": float(f)}
            for g, a, f in zip(genes, mean, frac, strict=True)
        ]
    return pd.DataFrame(rows)


def plot_marker_dots(dots: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    fig = px.scatter(
        dots,
        x="gene",
        y="cell_type",
        size="fraction",
        color="mean",
        size_max=14,
        color_continuous_scale="Cividis",
        title="Marker genes by cell type (size: fraction expressing)",
        labels={"gene": "marker gene", "cell_type": "cell type", "mean": "mean log expression"},
    )
    fig.update_layout(
        xaxis={"tickangle": -60},
        height=500,
        template="plotly_white",
        meta={
            "caption": "Dot size: share of the type's cells expressing the gene; colour: mean "
            "log-normalized expression."
        },
    )
    return fig


def plot_composition(comp: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    fig = px.bar(
        comp.assign(label=comp["sample"] + " (" + comp["tissue"] + ")"),
        x="label",
        y="fraction",
        color="cell_type",
        hover_data=["n_cells", "patient"],
        title="Cell-type composition per sample",
        color_discrete_sequence=PALETTE,
        labels={"fraction": "share of cells", "cell_type": "cell type"},
    )
    fig.update_layout(
        barmode="stack",
        xaxis_title="sample (tissue)",
        yaxis_tickformat=".0%",
        template="plotly_white",
        meta={"caption": "Share of each cell type among the sample's cells that passed QC."},
    )
    return fig


def plot_sex(sex: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    # log10(CPM + 1) on linear axes: log axes dropped every sample with a zero for XIST or chrY
    d = sex.assign(
        x=np.log10(pd.to_numeric(sex["chry_cpm"], errors="coerce").fillna(0) + 1),
        y=np.log10(pd.to_numeric(sex["xist_cpm"], errors="coerce").fillna(0) + 1),
    )
    fig = px.scatter(
        d,
        x="x",
        y="y",
        color="inferred_sex",
        symbol="tissue",
        hover_data=["sample", "patient", "n_cells", "chry_cpm", "xist_cpm"],
        title="Sex per sample: XIST vs chrY genes (non-epithelial cells)",
        labels={"x": "chrY genes, log10(CPM + 1)", "y": "XIST, log10(CPM + 1)", "inferred_sex": "inferred sex"},
        color_discrete_sequence=PALETTE,
    )
    fig.update_traces(marker={"size": 10})
    fig.update_layout(
        template="plotly_white",
        meta={
            "caption": "Female samples sit high on XIST and low on chrY "
            "genes, male samples the reverse; a sample between "
            "them is undetermined."
        },
    )
    return fig


def plot_clonotypes(obs: pd.DataFrame) -> go.Figure:
    """Clonotype expansion: cells per clone-size class, per sample."""
    import plotly.express as px

    o = obs[obs["chain_pairing"].astype(str) != "no_ir"].copy()
    size = pd.to_numeric(o["clone_id_size"], errors="coerce")
    o["expansion"] = pd.cut(size, [0, 1, 2, 5, 20, np.inf], labels=["1", "2", "3-5", "6-20", ">20"])
    g = o.groupby(["sample", "expansion"], observed=True).size().rename("n_cells").reset_index()
    g["sample"] = g["sample"].astype(str)
    fig = px.bar(
        g,
        x="sample",
        y="n_cells",
        color="expansion",
        title="Clonotype expansion (cells per clone size)",
        labels={"sample": "sample (token)", "n_cells": "cells", "expansion": "clone size"},
        color_discrete_sequence=PALETTE,
    )
    fig.update_layout(template="plotly_white", meta={"caption": "Cells with a V(D)J call, by the size of their clone."})
    return fig


FIGURES = (
    "QC metrics per sample",
    "Counts vs genes",
    "UMAP by cell type",
    "UMAP by sample",
    "UMAP by % mitochondrial",
    "Marker dot plot",
    "Composition",
    "Sex check",
    "Clonotype expansion",
)


def placeholder(title: str, note: str) -> go.Figure:
    """An empty figure that says why there is nothing to draw (so notebooks can always show it)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=250)
    return fig


def all_figures(data: ModalityData) -> dict[str, go.Figure]:
    from ._typing import load_markers

    a = data.objects.get("adata")
    qc = data.tables.get("qc", pd.DataFrame())
    figs: dict[str, go.Figure] = {}
    if a is None:  # every sample quarantined: the notebook still shows each view, saying why it is empty
        return {k: placeholder(k, "no sample was loaded (see the quarantine table)") for k in FIGURES}
    obs = a.obs
    figs["QC metrics per sample"] = plot_qc_violins(obs, qc)
    figs["Counts vs genes"] = plot_qc_scatter(obs, qc)
    u = np.asarray(a.obsm["X_umap"]) if "X_umap" in a.obsm else None
    for key, color in (
        ("UMAP by cell type", "cell_type"),
        ("UMAP by sample", "sample"),
        ("UMAP by % mitochondrial", "pct_counts_mt"),
    ):
        figs[key] = (
            plot_umap(obs, u, color=color, title=key)
            if u is not None
            else placeholder(key, "UMAP not computed (options.processing.umap: false, or too few cells)")
        )
    dots = marker_dots(a, load_markers())
    figs["Marker dot plot"] = plot_marker_dots(dots) if len(dots) else placeholder("Marker dot plot", "no typed cells")
    comp = data.tables.get("composition", pd.DataFrame())
    figs["Composition"] = plot_composition(comp) if len(comp) else placeholder("Composition", "no cells passed QC")
    sex = data.tables.get("sample_sex", pd.DataFrame())
    figs["Sex check"] = plot_sex(sex) if len(sex) else placeholder("Sex check", "no samples")
    figs["Clonotype expansion"] = (
        plot_clonotypes(obs)
        if "chain_pairing" in obs
        else placeholder("Clonotype expansion", "no V(D)J contigs given (sample sheet column vdj)")
    )
    return figs
