"""Lab: the figures of the lab notebook (marker trajectories of a sample of patients, result
distributions against the reference range).

Private to :mod:`curation.modalities.lab`, which re-exports :func:`trajectories_frame`,
:func:`plot_trajectories` and :func:`plot_distributions`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import _tabular as tab
from ._lab_units import units

if TYPE_CHECKING:
    import plotly.graph_objects as go

PATIENT = tab.PATIENT


def trajectories_frame(df: pd.DataFrame, *, n: int = 12) -> pd.DataFrame:
    """Results of ``n`` patients (the first pseudonyms in sort order, so the pick is stable and
    carries no meaning) with days since each patient's first result."""
    if not len(df) or "collected_date" not in df:
        return pd.DataFrame(columns=[PATIENT, "analyte", "days", "value_num", "censored"])
    ok = df[df["value_num"].notna() & df["collected_date"].notna()]
    pick = sorted(ok[PATIENT].dropna().unique())[:n]
    sub = ok[ok[PATIENT].isin(pick)].copy()
    first = sub.groupby(PATIENT)["collected_date"].transform("min")
    sub["days"] = (sub["collected_date"] - first) / pd.Timedelta(days=1)
    return sub[[PATIENT, "analyte", "days", "value_num", "censored"]].sort_values([PATIENT, "analyte", "days"])


def plot_trajectories(
    traj: pd.DataFrame, *, title: str = "Tumor marker trajectories (sample of patients)"
) -> go.Figure:
    """One panel per analyte, one line per patient, log scale, the default upper reference limit dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..report.figures import empty_figure

    if traj.empty:
        return empty_figure(title)
    table = units()
    names = [a for a in table.analytes if a in set(traj["analyte"])]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{a} ({table.analytes[a].unit})" for a in names])
    palette = [
        "#4c78a8",
        "#f58518",
        "#54a24b",
        "#e45756",
        "#72b7b2",
        "#b279a2",
        "#ff9da6",
        "#9d755d",
        "#bab0ac",
        "#eeca3b",
        "#1f77b4",
        "#2ca02c",
    ]
    colors = {p: palette[i % len(palette)] for i, p in enumerate(sorted(traj[PATIENT].unique()))}
    for i, a in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        sub = traj[traj["analyte"] == a]
        for p, g in sub.groupby(PATIENT):
            fig.add_trace(
                go.Scatter(
                    x=g["days"],
                    y=g["value_num"],
                    mode="lines+markers",
                    name=str(p),
                    legendgroup=str(p),
                    showlegend=i == 0,
                    line={"color": colors[p]},
                    marker={
                        "symbol": [
                            "triangle-down" if x == "below_limit" else "triangle-up" if x == "above_limit" else "circle"
                            for x in g["censored"].fillna("none")
                        ]
                    },
                    hovertemplate=f"{p}<br>day %{{x:.0f}}: %{{y:.3g}}<extra>{a}</extra>",
                ),
                row=r,
                col=c,
            )
        hi = table.analytes[a].reference[1]
        if hi is not None:
            fig.add_hline(y=hi, line_dash="dash", line_color="#888", row=r, col=c)
        fig.update_yaxes(type="log", row=r, col=c)
        fig.update_xaxes(title_text="days since first result", row=r, col=c)
    fig.update_layout(
        title=title,
        height=320 * rows,
        template="plotly_white",
        legend={"title": "patient"},
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
    )
    return fig


def plot_distributions(df: pd.DataFrame, *, title: str = "Result distributions with the reference range") -> go.Figure:
    """Histogram of log10 results per analyte; the default reference range shaded green, values
    outside the plausible range marked in red below the axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..report.figures import empty_figure

    ok = df[df["value_num"].notna() & (df["value_num"] > 0)] if len(df) else df
    table = units()
    names = [a for a in table.analytes if len(ok) and a in set(ok["analyte"])]
    if not names:
        return empty_figure(title)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{a} (log10 {table.analytes[a].unit})" for a in names])
    for i, a in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        v = np.log10(ok.loc[ok["analyte"] == a, "value_num"].astype(float))
        fig.add_trace(go.Histogram(x=v, nbinsx=30, marker_color="#4c78a8", showlegend=False, name=a), row=r, col=c)
        lo, hi = table.analytes[a].reference
        lo_x = math.log10(lo) if lo else float(v.min())
        if hi:
            fig.add_vrect(
                x0=min(lo_x, math.log10(hi)),
                x1=math.log10(hi),
                fillcolor="#54a24b",
                opacity=0.15,
                line_width=0,
                row=r,
                col=c,
            )
            fig.add_vline(x=math.log10(hi), line_dash="dash", line_color="#54a24b", row=r, col=c)
        fig.update_xaxes(title_text=f"log10 {table.analytes[a].unit}", row=r, col=c)
    fig.update_layout(
        title=title, height=300 * rows, template="plotly_white", margin={"l": 60, "r": 20, "t": 70, "b": 50}
    )
    return fig
