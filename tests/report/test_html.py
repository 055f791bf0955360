"""Executed notebooks to offline HTML: plotly.js once from a local file, no CDN, figures present."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import plotly.graph_objects as go
from nbformat.v4 import new_code_cell, new_notebook, new_output

from curation.report import figure_bundle
from curation.report.html import (
    PLOTLY_ASSET,
    render_file,
    render_notebook,
    strip_css_comments,
    strip_remote,
    write_plotly_asset,
)


def _executed_notebook(n_figures: int = 2) -> nbformat.NotebookNode:
    cells = []
    for i in range(n_figures):
        fig = go.Figure(go.Bar(x=["a", "b"], y=[i, i + 1]))
        cells.append(new_code_cell(f"show(fig{i})", outputs=[new_output("display_data", data=figure_bundle(fig))]))
    cells.append(new_code_cell("$x^2$", outputs=[new_output("display_data", data={"text/latex": "$x^2$"})]))
    return new_notebook(cells=cells)


def test_figures_use_one_local_plotly_and_no_cdn() -> None:
    html = render_notebook(_executed_notebook(3), title="Clinical")
    assert html.count(f'<script src="{PLOTLY_ASSET}"></script>') == 1
    assert html.count("Plotly.newPlot") == 3
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", html)
    assert "require.js" not in html and "mathjax" not in html.lower()
    assert "<title>Clinical</title>" in html
    assert '<a href="index.html">' in html and "all reports of this run" in html
    assert len(html) < 1_000_000  # plotly.js is not inlined


def test_plotly_asset_is_written_once(tmp_path: Path) -> None:
    asset = write_plotly_asset(tmp_path)
    assert asset == tmp_path / PLOTLY_ASSET
    mtime = asset.stat().st_mtime_ns
    write_plotly_asset(tmp_path)
    assert asset.stat().st_mtime_ns == mtime
    assert b"Plotly" in asset.read_bytes()[:5000] or asset.stat().st_size > 1_000_000


def test_render_file_writes_atomically(tmp_path: Path) -> None:
    nbformat.write(_executed_notebook(1), tmp_path / "x.ipynb")
    out = render_file(tmp_path / "x.ipynb", tmp_path / "reports" / "x.html", title="X")
    assert out.is_file()
    assert not list((tmp_path / "reports").glob("*.tmp"))


def test_strip_remote_removes_cdn_tags_only() -> None:
    html = (
        '<script src="https://cdn.example/require.js"></script><script src="assets/plotly.min.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/x.css"><a href="https://example.org">x</a>'
    )
    out = strip_remote(html)
    assert "cdn.example" not in out and "fonts.example" not in out
    assert 'src="assets/plotly.min.js"' in out and 'href="https://example.org"' in out


def test_css_comments_are_dropped_from_styles_only() -> None:
    html = "<style>/* a\ncomment */ .x { color: red; /* why */ }</style><p>/* text stays */</p>"
    assert strip_css_comments(html) == "<style> .x { color: red;  }</style><p>/* text stays */</p>"
    page = render_notebook(_executed_notebook(1), title="T")
    assert "consuming icons" not in page and ".jp-Notebook" in page
