"""The collection report's screening forest plots: sensitivity, specificity, PPV and NPV of LDCT
screening overall, per site and per arm, each with its 95% interval, drawn by the screening
notebook's own forest plot (:func:`curation.modalities.screening._figures.plot_forest`) with its
words in the report's language(s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .i18n import N_

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["FOREST_TITLES", "screening_forests"]

# indicator -> the figure's title (gettext message ids: the figure is drawn in the report's language)
FOREST_TITLES = {
    "sensitivity": N_("Sensitivity of LDCT screening by site and arm (95% CI)"),
    "specificity": N_("Specificity of LDCT screening by site and arm (95% CI)"),
    "ppv": N_("Positive predictive value of LDCT screening by site and arm (95% CI)"),
    "npv": N_("Negative predictive value of LDCT screening by site and arm (95% CI)"),
}
STRATA = {"overall": N_("overall"), "site": N_("site"), "arm": N_("arm")}
CAPTION = N_(
    "Estimate and 95% interval of LDCT screening against the pathology gold standard, overall, per site "
    "and per arm; the dotted line is the overall estimate. The hover shows the counts it comes from."
)


def screening_forests(root: Path, *, language: str = "both") -> dict[str, go.Figure]:
    """One forest plot per accuracy indicator of LDCT screening (``screening_forest_<indicator>``),
    from data/screening/indicators/accuracy.parquet; none without a screening programme."""
    from ..modalities.screening._figures import plot_forest
    from .figures import LAYOUT, _words, with_caption

    path = root / "data" / "screening" / "indicators" / "accuracy.parquet"
    if not path.is_file():
        return {}
    acc = pd.read_parquet(path)
    if not {"indicator", "test", "stratum", "group", "estimate", "ci_low", "ci_high"} <= set(acc.columns):
        return {}
    for col in ("numerator", "denominator"):  # the counts in the hover; blank when the table lacks them
        if col not in acc.columns:
            acc[col] = float("nan")
    w = lambda msgid: _words(msgid, language)  # noqa: E731
    acc = acc[acc["test"].astype(str).eq("screening") & acc["stratum"].astype(str).isin(list(STRATA))]
    out: dict[str, go.Figure] = {}
    for name, title in FOREST_TITLES.items():
        sub = acc[acc["indicator"].astype(str).eq(name)].copy()
        if not sub["estimate"].notna().any():
            continue
        order = {s: i for i, s in enumerate(STRATA)}
        sub = sub.sort_values("stratum", key=lambda s: s.astype(str).map(order), kind="stable")
        sub["group"] = [
            w(N_("all")) if s == "overall" else str(g) for s, g in zip(sub["stratum"], sub["group"], strict=True)
        ]
        overall = sub.loc[sub["stratum"].astype(str).eq("overall"), "estimate"].dropna()
        sub["stratum"] = sub["stratum"].astype(str).map(lambda s: w(STRATA[s]))
        fig = plot_forest(sub, title=name)
        if len(overall):  # the caption's dotted line (plot_forest finds "overall" only before translation)
            fig.add_vline(x=float(overall.iloc[0]), line_dash="dot", line_color="#999999")
        fig.update_layout(
            title=w(title).replace(" / ", "<br>"),  # both languages: one line each, never cut at the edge
            xaxis={"title": w(N_("estimate (95% CI)")), "range": [0, 1.02]},
            yaxis={"autorange": "reversed", "title": {"text": w(N_("stratum: group"))}, "automargin": True},
            **LAYOUT,
        )
        fig.update_layout(margin={"t": 80 if language == "both" else 50})
        out[f"screening_forest_{name}"] = with_caption(fig, CAPTION)
    return out
