"""Report building blocks: figure display that works in JupyterLab and in offline HTML.

``show(fig)`` emits two representations: plotly's own mimetype (drawn by JupyterLab) and an HTML
div that expects ``Plotly`` to be loaded once per page. The HTML renderer of executed notebooks
(curation.report.html) adds plotly.js once, from a file beside the reports, never from a CDN.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def figure_bundle(fig: go.Figure) -> dict[str, Any]:
    return {
        "application/vnd.plotly.v1+json": json.loads(fig.to_json()),
        "text/html": fig.to_html(full_html=False, include_plotlyjs=False,
                                 config={"displaylogo": False, "responsive": True}),
    }


def show(fig: go.Figure) -> None:
    """Display one plotly figure (never opens a browser, never writes a file)."""
    from IPython.display import display

    display(figure_bundle(fig), raw=True)


def show_all(figs: dict[str, go.Figure]) -> None:
    """Display figures in order, each under a small heading."""
    from IPython.display import Markdown, display

    for title, fig in figs.items():
        display(Markdown(f"#### {title}"))
        show(fig)


def show_table(df: pd.DataFrame, *, max_rows: int = 50) -> None:
    """Display a table, truncated with a note, so reports stay readable."""
    from IPython.display import Markdown, display

    display(df.head(max_rows))
    if len(df) > max_rows:
        display(Markdown(f"*{len(df) - max_rows} more rows in the output bundle*"))
