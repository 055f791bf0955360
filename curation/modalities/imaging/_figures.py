"""Imaging figures (plotly, from tidy frames) and the notebook's thumbnail views.

Thumbnails come from sampled slices in memory; series flagged BurnedInAnnotation = YES are never
shown (their pixels may carry names), and only pseudonyms label what is shown.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..base import ModalityData


def all_figures(series: pd.DataFrame, quarantine: pd.DataFrame, nodules: pd.DataFrame) -> dict[str, go.Figure]:
    figs: dict[str, go.Figure] = {}
    if len(series):
        figs["Series per site and fitness for nodule measurement"] = plot_fitness(series)
        figs["Slice spacing and thickness"] = plot_spacing(series)
        if "air_hu" in series:
            figs["HU calibration (air and water) per series"] = plot_hu(series)
            figs["Image noise in air per series"] = plot_noise(series)
    figs["Files set aside, by reason"] = plot_quarantine(quarantine)
    if len(nodules):
        figs["Lung-RADS category by reader"] = plot_lung_rads(nodules)
    return figs


def plot_fitness(series: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    df = series.assign(fit=series["fit_for_nodule_measurement"].map({True: "fit", False: "not fit"}))
    counts = df.groupby(["site", "fit"]).size().reset_index(name="series")
    return px.bar(
        counts,
        x="site",
        y="series",
        color="fit",
        barmode="stack",
        color_discrete_map={"fit": "#2a9d8f", "not fit": "#e76f51"},
    )


def plot_spacing(series: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    df = series.assign(problem=series["fitness_problems"].replace("", "none"))
    return px.scatter(
        df,
        x="slice_thickness_mm",
        y="spacing_mm",
        color="geometry",
        symbol="site",
        hover_data=["patient", "n_instances", "n_missing_slices", "problem"],
        labels={"slice_thickness_mm": "slice thickness (mm)", "spacing_mm": "median slice step (mm)"},
    )


def plot_hu(series: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    fig = px.scatter(
        series,
        x="air_hu",
        y="water_hu",
        color="site",
        hover_data=["patient", "modality"],
        labels={"air_hu": "air (HU)", "water_hu": "water-like peak (HU)"},
    )
    fig.add_vrect(x0=-1050, x1=-950, fillcolor="green", opacity=0.08, line_width=0)
    fig.add_hrect(y0=-60, y1=60, fillcolor="green", opacity=0.08, line_width=0)
    return fig


def plot_noise(series: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    fig = px.box(
        series,
        x="site",
        y="noise_hu",
        points="all",
        hover_data=["patient"],
        labels={"noise_hu": "noise in air (HU, robust SD)"},
    )
    fig.add_hline(y=60, line_dash="dash", annotation_text="warn above 60 HU")
    return fig


def plot_quarantine(quarantine: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    if quarantine.empty:
        counts = pd.DataFrame({"reason": ["(none)"], "files": [0], "stage": [""]})
    else:
        counts = quarantine.groupby(["stage", "reason"]).size().reset_index(name="files")
    return px.bar(counts, x="reason", y="files", color="stage")


def plot_lung_rads(nodules: pd.DataFrame) -> go.Figure:
    import plotly.express as px

    counts = nodules.groupby(["reader", "lung_rads"]).size().reset_index(name="nodules")
    return px.bar(
        counts,
        x="lung_rads",
        y="nodules",
        color="reader",
        barmode="group",
        category_orders={"lung_rads": ["2", "3", "4A", "4B"]},
        labels={"lung_rads": "Lung-RADS category", "reader": "reader (token)"},
    )


def _img(b64: str, title: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" title="{html.escape(title)}" style="margin:1px"/>'


def _shown_slices(data: ModalityData) -> pd.DataFrame:
    sl = data.objects.get("slices")
    if sl is None or sl.empty:
        return pd.DataFrame()
    series = data.tables["series"]
    hidden = set(series.loc[series["burned_in_annotation"], "series_uid"])
    return sl[sl["ok"] & ~sl["series_uid"].isin(hidden)]


def thumbnails_html(data: ModalityData, *, max_series: int = 60) -> str:
    series = data.tables["series"]
    sl = _shown_slices(data)
    if sl.empty:
        return "<p><em>no thumbnails (no decodable image series)</em></p>"
    mid = sl[sl["middle"]].drop_duplicates("series_uid").set_index("series_uid")
    rows: list[str] = []
    for r in series.itertuples():
        if r.series_uid not in mid.index or len(rows) >= max_series:
            continue
        t = mid.loc[r.series_uid]
        rows.append(
            f"<tr><td>{html.escape(str(r.patient))}</td><td>{html.escape(str(r.site))}</td>"
            f"<td>{html.escape(str(r.modality))} {r.n_instances} sl.</td>"
            f"<td>{_img(t['thumb_lung'], 'lung window')}</td>"
            f"<td>{_img(t['thumb_mediastinal'], 'mediastinal window')}</td></tr>"
        )
    n_hidden = int(series["burned_in_annotation"].sum())
    note = f"<p><em>{n_hidden} series withheld: BurnedInAnnotation YES</em></p>" if n_hidden else ""
    return (
        "<table><tr><th>patient</th><th>site</th><th>series</th><th>lung (-600/1500)</th>"
        "<th>mediastinal (40/400)</th></tr>" + "".join(rows) + "</table>" + note
    )


def _pick_series(data: ModalityData, series_uid: str | None) -> str | None:
    sl = _shown_slices(data)
    if sl.empty:
        return None
    if series_uid is not None:
        return series_uid if series_uid in set(sl["series_uid"]) else None
    counts = sl.groupby("series_uid").size()
    return str(counts.idxmax())


def slice_strip_html(data: ModalityData, *, series_uid: str | None = None) -> str:
    uid = _pick_series(data, series_uid)
    if uid is None:
        return "<p><em>no series to show</em></p>"
    sl = _shown_slices(data)
    sl = sl[sl["series_uid"] == uid].sort_values("slice")
    series = data.tables["series"].set_index("series_uid")
    who = html.escape(str(series.loc[uid, "patient"])) if uid in series.index else ""
    imgs = "".join(_img(r.thumb_lung, f"slice {r.slice + 1}") for r in sl.itertuples())
    return f"<p>{who}: sampled slices, lung window</p><div>{imgs}</div>"


def slice_viewer(data: ModalityData, *, series_uid: str | None = None) -> Any:
    import base64

    import ipywidgets as widgets

    from . import _sorted_slices
    from ._image import LUNG_WINDOW, png_b64, read_hu

    uid = _pick_series(data, series_uid)
    if uid is None:
        return widgets.HTML("<em>no series to show</em>")
    inst = data.tables["instances"]
    files = list(_sorted_slices(inst[inst["series_uid"] == uid])["file"])
    refs = data.objects["refs"]
    image = widgets.Image(format="png", width=256, height=256)
    slider = widgets.IntSlider(min=1, max=len(files), value=len(files) // 2 + 1, description="slice")

    def draw(change: Any = None) -> None:
        try:
            image.value = base64.b64decode(png_b64(read_hu(refs[files[slider.value - 1]], {}), LUNG_WINDOW, size=256))
        except Exception:  # noqa: BLE001 - an undecodable slice shows as blank, the check reports it
            image.value = b""

    slider.observe(draw, names="value")
    draw()
    return widgets.VBox([slider, image])
