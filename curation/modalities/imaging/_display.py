"""Imaging notebook helpers (display only): the series overview, thumbnails, slice strips and viewer.

The figure code is imported when called, so loading the modality does not import plotly or ipywidgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ..base import ModalityData

__all__ = ["SERIES_OVERVIEW", "series_overview", "slice_strip_html", "slice_viewer", "thumbnails_html"]

SERIES_OVERVIEW = [
    "patient",
    "site",
    "modality",
    "body_part",
    "n_instances",
    "geometry",
    "spacing_mm",
    "slice_thickness_mm",
    "n_missing_slices",
    "tilted",
    "kernel",
    "kvp",
    "ctdivol_mgy",
    "air_hu",
    "noise_hu",
    "fit_for_nodule_measurement",
    "fitness_problems",
    "burned_in_annotation",
]


def series_overview(data: ModalityData) -> pd.DataFrame:
    """The series table with the columns a curator reads first."""
    s = data.tables["series"]
    return s[[c for c in SERIES_OVERVIEW if c in s.columns]]


def thumbnails_html(data: ModalityData, *, max_series: int = 60) -> str:
    """One row per series: pseudonym, series, middle slice in lung and mediastinal windows."""
    from ._figures import thumbnails_html as _html

    return _html(data, max_series=max_series)


def slice_strip_html(data: ModalityData, *, series_uid: str | None = None) -> str:
    """The sampled slices of one series side by side (the static view of the slice widget)."""
    from ._figures import slice_strip_html as _html

    return _html(data, series_uid=series_uid)


def slice_viewer(data: ModalityData, *, series_uid: str | None = None) -> Any:
    """An ipywidgets slider over every slice of one series (live kernels only)."""
    from ._figures import slice_viewer as _viewer

    return _viewer(data, series_uid=series_uid)
