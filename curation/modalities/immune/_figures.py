"""Plotly figures of the immune modality. Each builder takes tidy frames and returns a Figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..base import ModalityData

MAX_POINTS = 20_000  # scatter plots subsample beyond this so reports stay light

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
    fig = make_subplots(rows=len(metrics), cols=1, subplot_titles=metrics, vertical_spacing=0.04)
    samples = list(qc["sample"]) if len(qc) else sorted(obs["sample"].astype(str).unique())
    o = _sub(obs)
    for r, m in enumerate(metrics, start=1):
        for s in samples:
            y = o.loc[o["sample"].astype(str) == s, m]
            fig.add_trace(
                go.Violin(x=[s] * len(y), y=y, name=s, showlegend=False, points=False, line_width=1, spanmode="hard"),
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
                        marker={"symbol": "line-ew-open", "size": 30, "color": "red", "line": {"width": 2}},
                        name="threshold",
                        hovertemplate="%{x}: %{y:.1f}<extra>threshold</extra>",
                    ),
                    row=r,
                    col=1,
                )
    fig.update_layout(
        height=230 * len(metrics), title="QC metrics per sample (red: thresholds applied)", margin={"t": 60}
    )
    return fig


def plot_qc_scatter(obs: pd.DataFrame, qc: pd.DataFrame) -> go.Figure:
    """Total counts against genes detected per sample, coloured by the QC rule that removed the
    cell, with the sample's count and gene thresholds drawn as dashed lines."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
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
    colors = {r: qualitative.Plotly[i % 10] for i, r in enumerate(rules)}
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
                    fig.add_vline(x=float(np.log10(v)), line={"dash": "dash", "color": "red", "width": 1}, row=r, col=c)
            for col in ("threshold_min_n_genes", "threshold_max_n_genes"):
                v = th.at[s, col] if col in th else np.nan
                if pd.notna(v) and v > 0:
                    fig.add_hline(y=float(np.log10(v)), line={"dash": "dash", "color": "red", "width": 1}, row=r, col=c)
    fig.update_xaxes(type="log", title_text="total counts")
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="genes detected", col=1)
    fig.update_layout(title="Counts vs genes per cell, by QC outcome (red dashes: thresholds)", height=300 * nrow)
    return fig


def plot_umap(obs: pd.DataFrame, umap: np.ndarray, *, color: str, title: str) -> go.Figure:
    import plotly.express as px

    df = obs[[color]].copy()  # umap: NaN rows for cells that failed QC (not embedded)
    df["UMAP1"], df["UMAP2"] = umap[:, 0], umap[:, 1]
    df = _sub(df.dropna(subset=["UMAP1"]))
    if not pd.api.types.is_numeric_dtype(df[color]):
        df[color] = df[color].astype(str)
    fig = px.scatter(df, x="UMAP1", y="UMAP2", color=color, title=title, opacity=0.7)
    fig.update_traces(marker={"size": 3})
    fig.update_layout(xaxis={"showticklabels": False}, yaxis={"showticklabels": False, "scaleanchor": "x"})
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
        color_continuous_scale="Reds",
        title="Marker genes by cell type (size: fraction expressing)",
    )
    fig.update_layout(xaxis={"tickangle": -60}, height=500)
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
    )
    fig.update_layout(barmode="stack", xaxis_title="sample (tissue)", yaxis_tickformat=".0%")
    return fig


def plot_sex(sex: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    fig = px.scatter(
        sex,
        x="chry_cpm",
        y="xist_cpm",
        color="inferred_sex",
        symbol="tissue",
        hover_data=["sample", "patient", "n_cells"],
        log_x=True,
        log_y=True,
        title="Sex per sample: XIST vs chrY genes (counts per million, non-epithelial cells)",
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
    return px.bar(g, x="sample", y="n_cells", color="expansion", title="Clonotype expansion (cells per clone size)")


FIGURES = ("QC metrics per sample", "Counts vs genes", "UMAP by cell type", "UMAP by sample",
           "UMAP by % mitochondrial", "Marker dot plot", "Composition", "Sex check", "Clonotype expansion")


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
