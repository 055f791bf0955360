"""Static SVGs of plotly figures are the same bytes run after run, and distinct figures on one page keep
distinct ids (their clip paths must not collide when inlined together)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from curation.report import chromium


@pytest.fixture(scope="module")
def plotly_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if chromium.find() is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    js = tmp_path_factory.mktemp("plotly") / "plotly.min.js"
    js.write_text(get_plotlyjs(), encoding="utf-8")
    return js


def _fig(title: str) -> dict[str, object]:
    fig = go.Figure([go.Bar(x=["a", "b"], y=[1, 2]), go.Scatter(x=["a", "b"], y=[2, 1])])
    fig.update_layout(title=title)
    return json.loads(fig.to_json())


def test_the_same_figure_gives_the_same_svg_in_two_calls(plotly_js: Path) -> None:
    first = chromium.snapshot([_fig("t")], plotly_js=plotly_js)[0]
    second = chromium.snapshot([_fig("t")], plotly_js=plotly_js)[0]
    assert first is not None
    assert first == second


def test_two_figures_have_distinct_ids_and_every_reference_resolves(plotly_js: Path) -> None:
    one, two = chromium.snapshot([_fig("one"), _fig("two")], plotly_js=plotly_js)
    assert one is not None and two is not None
    ids_one = set(re.findall(r'id="([^"]+)"', one))
    ids_two = set(re.findall(r'id="([^"]+)"', two))
    assert ids_one and not ids_one & ids_two
    for svg, ids in ((one, ids_one), (two, ids_two)):
        refs = set(re.findall(r"url\(#([^)]+)\)", svg))
        assert refs and refs <= ids
