"""Report building blocks: figure and table display that work in JupyterLab and in offline HTML.

``show(fig)`` emits two representations: plotly's own mimetype (drawn by JupyterLab) and an HTML
div that expects ``Plotly`` to be loaded once per page, with the figure's caption under it. The HTML
renderer of executed notebooks (curation.report.html) adds plotly.js once, from a file beside the
reports, never from a CDN, and a static image of each figure. ``review(run)`` is the reviewer's first
screen of a modality (:mod:`curation.report.review`); tables show failing rows first, text wrapped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .review import review

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["caption", "figure_bundle", "review", "show", "show_all", "show_table"]


def caption(fig: go.Figure) -> str:
    """The figure's caption sentence (``layout.meta.caption``), empty when it has none."""
    meta = fig.layout.meta
    return str(meta.get("caption", "")) if isinstance(meta, dict) else ""


def figure_bundle(fig: go.Figure, *, language: str = "both") -> dict[str, Any]:
    """plotly's mimetype and an HTML div (plotly.js loaded once per page) with the caption under it."""
    from markupsafe import Markup

    from .figures import translated
    from .i18n import translator

    text = caption(fig)
    fig = translated(fig, language=language)  # plotly draws the titles: they cannot follow the switch
    div = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})
    if text:
        div = Markup('<figure class="cr-figure">{}<figcaption>{}</figcaption></figure>').format(
            Markup(div), translator(language)._(text)
        )
    return {"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": str(div)}


def show(fig: go.Figure, *, language: str = "both") -> None:
    """Display one plotly figure with its caption (never opens a browser, never writes a file)."""
    from IPython.display import display

    display(figure_bundle(fig, language=language), raw=True)


def show_all(figs: dict[str, go.Figure], *, language: str = "both") -> None:
    """Display figures in order; each carries its own title (no second heading above it)."""
    for fig in figs.values():
        show(fig, language=language)


def show_table(df: pd.DataFrame, *, max_rows: int = 50, run: Any = None, language: str | None = None) -> None:
    """Display a table: rows that did not pass first (a ``verdict`` column), the passing ones counted
    and folded; text wrapped and left-aligned; source keys with their site and table (``run``); long
    tables cut with a note (the bundle holds them whole)."""
    from IPython.display import HTML, display

    from .tables import table_html

    lang = language or getattr(
        getattr(getattr(getattr(run, "ctx", None), "config", None), "report", None), "language", "both"
    )
    display(
        HTML(
            table_html(
                df, max_rows=max_rows, config=getattr(getattr(run, "ctx", None), "config", None), language=str(lang)
            )
        )
    )
