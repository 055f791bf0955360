"""Screening figures (plotly, from the indicator tables): forest plots of each indicator by site, arm
and risk group, ROC curves, Bland-Altman of nodule size, the AI vs expert agreement heatmap and the
risk score's calibration. Each takes tidy frames and returns a figure, never showing or saving it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ._indicators import Indicators

FOREST = ("sensitivity", "specificity", "ppv", "npv", "recall_rate", "detection_rate", "early_stage_share")


def all_figures(ind: Indicators, verdicts: pd.DataFrame) -> dict[str, go.Figure]:
    """Every figure of the screening report, by title."""
    figs: dict[str, go.Figure] = {"Indicators against their targets": plot_verdicts(verdicts)}
    acc = ind.accuracy[ind.accuracy["test"] == "screening"]
    for name in FOREST:
        sub = acc[acc["indicator"] == name]
        if sub["estimate"].notna().any():
            figs[f"Forest plot: {name.replace('_', ' ')} of screening"] = plot_forest(sub, title=name)
    agr = ind.agreement[ind.agreement["indicator"].isin(["kappa_lung_rads", "kappa_nodule_type", "icc_size"])]
    if agr["estimate"].notna().any():
        figs["Forest plot: AI vs expert agreement"] = plot_forest(agr, title="AI vs expert agreement", by="indicator")
    if len(ind.roc):
        figs["ROC curves"] = plot_roc(ind.roc, ind.discrimination)
    ba = ind.agreement[(ind.agreement["stratum"] == "overall") & ind.agreement["indicator"].str.startswith("ba_")]
    if ind.pairs is not None and len(ba) and "size_mm_ai" in ind.pairs.columns:
        est = dict(zip(ba["indicator"], ba["estimate"], strict=True))
        figs["Bland-Altman: nodule size"] = plot_bland_altman(
            ind.pairs,
            pd.Series(
                {
                    "bias": est.get("ba_bias_size_mm"),
                    "loa_low": est.get("ba_loa_low_size_mm"),
                    "loa_high": est.get("ba_loa_high_size_mm"),
                },
                dtype="float64",
            ),
        )
    if len(ind.confusion) and ind.confusion["count"].sum():
        figs["AI vs expert Lung-RADS"] = plot_confusion(ind.confusion, "read_lung_rads")
        figs["AI vs expert nodule type"] = plot_confusion(ind.confusion, "nodule_type")
    if len(ind.calibration):
        figs["Risk score calibration"] = plot_calibration(ind.calibration)
    return figs


def plot_verdicts(verdicts: pd.DataFrame) -> go.Figure:
    """Each targeted indicator: estimate and interval, coloured by verdict (the verdict-first view)."""
    import plotly.graph_objects as go

    v = verdicts.dropna(subset=["estimate"])
    colour = v["verdict"].map({"pass": "#2a9d8f", "fail": "#e76f51"}).fillna("#999999")
    label = v["indicator"] + " (" + v["test"] + ")"
    fig = go.Figure(
        go.Scatter(
            x=v["estimate"],
            y=label,
            mode="markers",
            marker={"color": colour, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (v["ci_high"] - v["estimate"]).astype(float),
                "arrayminus": (v["estimate"] - v["ci_low"]).astype(float),
            },
            text=v["verdict"] + " · target " + v["target"],
            hovertemplate="%{y}: %{x:.3f}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Indicators against their targets (95% CI)",
        meta={
            "caption": "Each targeted indicator overall with its 95% interval; green meets its target, orange does not."
        },
        xaxis_title="estimate",
        yaxis={"autorange": "reversed", "title": {"text": "indicator (test)"}},
        height=max(300, 28 * len(v) + 120),
    )
    return fig


def _count(v: object) -> str:
    return "" if pd.isna(v) else f"{float(v):.0f}"  # type: ignore[arg-type]


def plot_forest(df: pd.DataFrame, *, title: str, by: str = "") -> go.Figure:
    """Estimate and interval per stratum and group (overall first), one row each."""
    import plotly.graph_objects as go

    d = df.dropna(subset=["estimate"]).copy()
    d["label"] = (d[by] + " · " if by else "") + d["stratum"] + ": " + d["group"]
    counts = [f"{_count(k)}/{_count(n)}" for k, n in zip(d["numerator"], d["denominator"], strict=True)]
    fig = go.Figure(
        go.Scatter(
            x=d["estimate"],
            y=d["label"],
            mode="markers",
            marker={"size": 9, "color": "#264653"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (d["ci_high"] - d["estimate"]).astype(float),
                "arrayminus": (d["estimate"] - d["ci_low"]).astype(float),
            },
            text=counts,
            hovertemplate="%{y}: %{x:.3f} (%{text})<extra></extra>",
        )
    )
    overall = d.loc[d["stratum"] == "overall", "estimate"]
    if len(overall) and not by:
        fig.add_vline(x=float(overall.iloc[0]), line_dash="dot", line_color="#999999")
    fig.update_layout(
        title=f"{title.replace('_', ' ')} by site, arm and risk group (95% CI)",
        meta={"caption": "Estimate and 95% interval overall and per stratum; the dotted line is the overall estimate."},
        xaxis_title="estimate",
        yaxis={"autorange": "reversed", "title": {"text": "stratum: group"}},
        height=max(300, 26 * len(d) + 120),
    )
    return fig


def plot_roc(roc: pd.DataFrame, disc: pd.DataFrame) -> go.Figure:
    """ROC curve of each marker and of the risk score (overall), AUC and interval in the legend."""
    import plotly.graph_objects as go

    fig = go.Figure()
    auc = disc[disc["stratum"] == "overall"].set_index("test")
    for test, d in roc[roc["stratum"] == "overall"].groupby("test", sort=True):
        a = auc.loc[test] if test in auc.index else None
        name = test if a is None else f"{test}: AUC {a['estimate']:.2f} ({a['ci_low']:.2f}-{a['ci_high']:.2f})"
        fig.add_trace(go.Scatter(x=d["fpr"], y=d["tpr"], mode="lines", name=name))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#999999"}, showlegend=False)
    )
    fig.update_layout(
        title="ROC curves (overall)",
        meta={
            "caption": "ROC of each marker against pathology within the window, and of the risk score; AUC with its "
            "bootstrap interval in the legend."
        },
        xaxis_title="1 - specificity (false-positive rate)",
        yaxis_title="sensitivity (true-positive rate)",
    )
    return fig


def plot_bland_altman(pairs: pd.DataFrame, ba: pd.Series) -> go.Figure:
    """AI minus expert nodule size against their mean, with the bias and limits of agreement."""
    import plotly.graph_objects as go

    x, y = pairs["size_mm_ai"].astype(float), pairs["size_mm_expert"].astype(float)
    fig = go.Figure(
        go.Scattergl(x=(x + y) / 2, y=x - y, mode="markers", marker={"size": 5, "opacity": 0.5}, name="nodules")
    )
    for key, dash in (("bias", "solid"), ("loa_low", "dash"), ("loa_high", "dash")):
        if key in ba and np.isfinite(ba[key]):
            fig.add_hline(y=float(ba[key]), line_dash=dash, annotation_text=f"{key} {ba[key]:.2f} mm")
    fig.update_layout(
        title="Bland-Altman: AI vs expert nodule size",
        meta={
            "caption": "Each dot a nodule read by both; solid line the mean difference (bias), dashed lines the "
            "95% limits of agreement."
        },
        xaxis_title="mean of the two reads (mm)",
        yaxis_title="AI - expert (mm)",
    )
    return fig


def plot_confusion(conf: pd.DataFrame, field: str) -> go.Figure:
    """Counts of AI (rows) against expert (columns) categories: the agreement heatmap."""
    import plotly.graph_objects as go

    c = conf[conf["field"] == field]
    levels = list(dict.fromkeys(c["ai"]))
    z = c.pivot(index="ai", columns="expert", values="count").reindex(index=levels, columns=levels)
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=levels,
            y=levels,
            colorscale="Blues",
            text=z.to_numpy(),
            texttemplate="%{text}",
            hovertemplate="AI %{y} · expert %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"AI vs expert reads: {field.replace('_', ' ')}",
        meta={"caption": "Nodules by the AI reader's category (rows) and the expert's (columns); the diagonal agrees."},
        xaxis_title="expert",
        yaxis={"autorange": "reversed", "title": {"text": "AI"}},
    )
    return fig


def plot_calibration(cal: pd.DataFrame) -> go.Figure:
    """Observed cancer rate (Wilson interval) against the mean predicted risk, per decile."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(
            x=cal["predicted"],
            y=cal["observed"],
            mode="markers+lines",
            name="deciles",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": cal["ci_high"] - cal["observed"],
                "arrayminus": cal["observed"] - cal["ci_low"],
            },
        )
    )
    top = float(max(cal["predicted"].max(), cal["ci_high"].max(), 0.01))
    fig.add_trace(
        go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "#999999"}, showlegend=False)
    )
    fig.update_layout(
        title="Risk score calibration by decile",
        meta={
            "caption": "Observed cancer rate (Wilson 95% interval) against the mean predicted risk per decile; "
            "the dotted line is perfect calibration."
        },
        xaxis_title="mean predicted risk",
        yaxis_title="observed cancer rate",
    )
    return fig
