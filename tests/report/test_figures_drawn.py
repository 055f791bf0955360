"""What the figures draw, read from the figure objects (running a cell proves nothing about it):
threshold shapes in data units inside the axis range, a visible point per trace on its axes, titles
and axis titles present, captions, the colour-blind-safe palette."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("plotly")

from curation.modalities.immune import _figures as imf
from curation.report import caption
from curation.report import figures as rf


def _obs(n: int = 400, samples: tuple[str, ...] = ("SA1", "SA2", "SA3")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    counts = rng.lognormal(8, 0.5, n)
    return pd.DataFrame(
        {
            "sample": rng.choice(samples, n),
            "total_counts": counts,
            "n_genes_by_counts": counts**0.8,
            "pct_counts_mt": rng.uniform(0, 15, n),
            "pct_counts_in_top_20_genes": rng.uniform(10, 40, n),
            "qc_rule": rng.choice(["", "", "", "max_pct_mt"], n),
        }
    )


def _qc(samples: tuple[str, ...] = ("SA1", "SA2", "SA3")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": list(samples),
            "threshold_min_total_counts": 750.0,
            "threshold_max_total_counts": 20000.0,
            "threshold_min_n_genes": 300.0,
            "threshold_max_n_genes": 6000.0,
            "threshold_max_pct_counts_mt": 10.0,
            "threshold_max_pct_counts_in_top_20_genes": 35.0,
        }
    )


def _titled(fig) -> None:  # type: ignore[no-untyped-def]
    assert fig.layout.title.text, "a figure without a title"
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis"))]
    assert any(fig.layout[a].title.text for a in axes if a.startswith("x")), "no x-axis title"
    assert any(fig.layout[a].title.text for a in axes if a.startswith("y")), "no y-axis title"
    assert caption(fig), "no caption"


def test_count_gene_thresholds_are_drawn_at_their_value_on_log_axes() -> None:
    fig = imf.plot_qc_scatter(_obs(), _qc())
    _titled(fig)
    xs = [s.x0 for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1]
    ys = [s.y0 for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]
    assert 750.0 in xs and 20000.0 in xs and 300.0 in ys  # data units (plotly takes data values on log axes)
    assert fig.layout.xaxis.type == "log"
    data_x = np.concatenate([np.asarray(t.x, dtype=float) for t in fig.data])
    assert min(xs) < data_x.max() and max(xs) > data_x.min(), "thresholds outside the drawn range"


def test_qc_violins_fill_their_category_and_thresholds_are_visible() -> None:
    fig = imf.plot_qc_violins(_obs(), _qc())
    _titled(fig)
    assert fig.layout.violinmode == "overlay"  # grouped violins of 7 samples drew as hairlines
    violins = [t for t in fig.data if t.type == "violin"]
    assert violins and all(t.width and t.width >= 0.5 for t in violins)
    ticks = [t for t in fig.data if t.type == "scatter"]
    assert ticks and all(len(t.y) for t in ticks)


def test_sex_scatter_keeps_samples_with_a_zero() -> None:
    sex = pd.DataFrame(
        {
            "sample": ["S1", "S2", "S3"],
            "patient": ["P1", "P2", "P3"],
            "tissue": "tumor",
            "n_cells": 500,
            "chry_cpm": [0.0, 120.0, 3.0],
            "xist_cpm": [900.0, 0.0, 0.0],
            "inferred_sex": ["female", "male", "undetermined"],
        }
    )
    fig = imf.plot_sex(sex)
    _titled(fig)
    assert fig.layout.xaxis.type in (None, "linear", "-")
    shown = sum(int(np.isfinite(np.asarray(t.x, dtype=float)).sum()) for t in fig.data)
    assert shown == 3, "every sample is drawn (a log axis dropped those with a zero)"


def test_umap_uses_the_whole_plot_area() -> None:
    obs = pd.DataFrame({"cell_type": ["T", "B"] * 50})
    fig = imf.plot_umap(
        obs, np.random.default_rng(1).normal(size=(100, 2)), color="cell_type", title="UMAP by cell type"
    )
    _titled(fig)
    assert fig.layout.yaxis.scaleanchor is None
    for t in fig.data:
        assert len(t.x) > 0


def test_distribution_labels_its_axis_with_the_quantity() -> None:
    fig = rf.distribution(
        pd.Series([50, 60, 70, 200]), title="Age at diagnosis", plausible=(18, 105), xlabel="age at diagnosis (years)"
    )
    _titled(fig)
    assert fig.layout.xaxis.title.text == "age at diagnosis (years)"
    assert fig.layout.xaxis.title.text != "value"


def test_collection_figures_are_titled_captioned_and_colour_blind_safe() -> None:
    sections = {
        "reconciliation": pd.DataFrame(
            {
                "modality": ["clinical"],
                "stage": ["load"],
                "n_in": [10],
                "n_accepted": [8],
                "n_quarantined": [1],
                "n_excluded": [1],
                "balanced": [True],
            }
        ),
        "quality_by_dimension": pd.DataFrame(
            {"dimension": ["completeness"], "pass": [5], "warn": [1], "fail": [1], "error": [0], "not_applicable": [0]}
        ),
        "quarantine_by_reason": pd.DataFrame(
            {"modality": ["clinical"], "reason": ["malformed_line"], "records": [1], "values": [0]}
        ),
    }
    figs = rf.collection_figures(sections, language="both")
    assert set(figs) == {"reconciliation", "quality", "quarantine"}
    for fig in figs.values():
        _titled(fig)
        assert " / " in fig.layout.title.text  # both languages: plotly draws text, no switch
        for t in fig.data:
            assert t.marker.color in {*rf.PALETTE, *rf.VERDICT_COLORS.values()}
