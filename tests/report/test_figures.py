from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from curation.report import figures as fig


def test_completeness_heatmap() -> None:
    df = pd.DataFrame(
        {
            "table": "t",
            "field": ["a", "a", "a"],
            "site": ["A", "B", "all"],
            "n": 1,
            "n_present": 1,
            "n_not_applicable": 0,
            "completeness": [1.0, 0.5, 0.75],
        }
    )
    f = fig.completeness_heatmap(df)
    assert list(f.data[0].x) == ["A", "B", "all"] and list(f.data[0].y) == ["t.a"]
    assert isinstance(fig.completeness_heatmap(pd.DataFrame()), go.Figure)


def test_distribution_marks_out_of_range() -> None:
    f = fig.distribution(pd.Series([1, 2, 3, 200]), title="x", plausible=(0, 150))
    assert [t.name for t in f.data] == ["plausible", "outside range"]
    assert list(f.data[1].x) == [200]


def test_category_bars_and_stacked() -> None:
    f = fig.category_bars(pd.Series(["IB", "IA1", None]), title="s", order=["IA1", "IB"])
    assert list(f.data[0].x) == ["IA1", "IB", "(missing)"]
    g = fig.category_bars(pd.Series(["a", "b"]), title="s", by=pd.Series(["x", "y"]))
    assert len(g.data) == 2


def test_km_by_stage() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"days": rng.integers(1, 1000, 40), "event": rng.random(40) < 0.5, "stage": ["I"] * 20 + ["IV"] * 20}
    )
    f = fig.km_by_stage(df)
    assert [t.name for t in f.data if t.showlegend is not False] == ["I (n=20)", "IV (n=20)"]
    assert fig.km_by_stage(df.iloc[:0]).layout.annotations


def test_treatment_timelines_and_exposures() -> None:
    d = pd.Timestamp("2023-01-01")
    t = pd.DataFrame(
        {
            "patient": ["P1", "P1", "P2"],
            "treatment_type": ["surgery", "chemotherapy", "targeted"],
            "treatment_start": [d, d + pd.Timedelta(days=30), d],
            "treatment_end": [d, d + pd.Timedelta(days=90), pd.NaT],
        }
    )
    f = fig.treatment_timelines(t, pd.Series({"P1": d - pd.Timedelta(days=10), "P2": d}))
    assert {tr.name for tr in f.data} == {"surgery", "chemotherapy", "targeted"}
    e = pd.DataFrame({"asbestos": ["yes", "no", None], "radon": ["no", "no", "unknown"]})
    assert len(fig.exposure_summary(e, ["asbestos", "radon", "absent"]).data) == 4


def test_exposure_summary_shows_missing_reasons() -> None:
    e = pd.DataFrame({"radon": ["no", None, None], "radon__missing": [None, "not_collected", None]})
    names = {t.name for t in fig.exposure_summary(e, ["radon"]).data}
    assert names == {"no", "(not_collected)", "(missing)"}


def test_figure_words_follow_the_report_language() -> None:
    """Titles, axis titles, trace names and notes that are catalogue messages are drawn translated
    (plotly draws them, so both languages read 中文 / English); other text and the input stay as they are."""
    from curation.report import figure_bundle
    from curation.report.figures import distribution, empty_figure, translated

    fig = distribution(pd.Series([1.0, 2.0, 3.0, 100.0]), title="CEA", plausible=(0, 50))
    both = translated(fig, language="both")
    assert both.layout.title.text == "CEA"  # not a message: a field's label, as given
    assert both.layout.yaxis.title.text == "记录 / records"
    assert [t.name for t in both.data] == ["合理 / plausible", "超出范围 / outside range"]
    assert both.layout.annotations[0].text == "合理范围 / plausible range"
    assert translated(fig, language="zh").layout.yaxis.title.text == "记录"
    assert translated(fig, language="en").layout.yaxis.title.text == "records"
    assert fig.layout.yaxis.title.text == "records"  # the input is not changed
    assert translated(empty_figure("Completeness by field and site"), language="zh").layout.title.text == (
        "各字段、各中心的完整性"
    )
    shown = figure_bundle(fig, language="zh")
    assert shown["application/vnd.plotly.v1+json"]["layout"]["yaxis"]["title"]["text"] == "记录"
    assert "<figcaption>" in shown["text/html"] and "合理范围" in shown["text/html"]
