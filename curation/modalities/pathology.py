"""Pathology modality: pathology-system exports -> one record per specimen with IHC results.

Specimen numbers are hospital identifiers: they become the keyed token ``specimen``. The report
text is free text: dropped unless the source allow-lists it (``options: {keep_free_text: [report_text]}``),
and then scrubbed of names, IDs and phone numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import dictionary
from ..quality import Check, CheckResult, Dimension, Outcome, Severity, Threshold, combine, failures, run
from ..quality import checks as qc
from . import _tabular as tab
from . import _timeliness as tl
from ._options import TabularOptions
from ._tabular_checks import checks_for
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

__all__ = [
    "check_histology_ihc",
    "check_report_delay",
    "checks",
    "figures",
    "identifiers",
    "load",
    "standardize",
    "write",
]

SPEC = ModalitySpec(
    name="pathology",
    label="Pathology",
    formats=("csv", "tsv", "excel", "parquet"),
    notebook="pathology.ipynb",
    dictionary="pathology",
    order=30,
    options=TabularOptions,
    needs=("clinical",),  # its diagnosis anchors, in dates.mode: relative
    description="Pathology reports: histologic type, grade, IHC (PD-L1, Ki-67, ALK, ROS1, TTF-1, p40)",
)

NAME = "pathology"
PATIENT = tab.PATIENT
TOKENS = {"specimen_id": "specimen"}

# Immunoprofiles that contradict the histologic type (WHO 2021 thoracic tumours: p40 is specific for
# squamous differentiation, TTF-1 for adenocarcinoma; squamous cell carcinoma is TTF-1 negative).
IHC_RULES: list[tuple[str, dict[str, str], str, str]] = [
    ("squamous_cell_carcinoma", {"ttf1": "positive"}, "ttf1", "squamous cell carcinoma with TTF-1 positive"),
    (
        "adenocarcinoma",
        {"p40": "positive", "ttf1": "negative"},
        "ttf1",
        "adenocarcinoma with p40 positive and TTF-1 negative (squamous immunoprofile)",
    ),
    ("small_cell_carcinoma", {"p40": "positive"}, "p40", "small cell carcinoma with p40 positive"),
]


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the pathology report sources."""
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Standardize the pathology table (specimen ids tokenized)."""
    return tab.standardize(data, ctx=ctx, tokens=TOKENS)


def check_histology_ihc(data: ModalityData, ctx: Context) -> Outcome:
    """Immunoprofiles that contradict the histologic type (:data:`IHC_RULES`)."""
    p = data.tables["pathology"]
    parts = []
    if "histology" in p.columns:
        for histology, markers, blame, rule in IHC_RULES:
            if not set(markers) <= set(p.columns):
                continue
            sel = p["histology"] == histology
            bad = sel.copy()
            for marker, value in markers.items():
                bad &= p[marker] == value
            bad = bad.fillna(False).astype(bool)
            parts.append(
                Outcome(
                    int((sel & p[list(markers)].notna().all(axis=1)).sum()),
                    failures=failures(p, bad, field=blame, rule=rule),
                )
            )
    return combine(parts)


def check_report_delay(data: ModalityData, ctx: Context) -> Outcome:
    """Reports signed out more than the target after the specimen was collected."""
    return tl.check_delay(
        data.tables["pathology"],
        "specimen_date",
        "report_date",
        max_days=tl.targets(ctx).pathology_report_days,
        target="timeliness.pathology_report_days",
        what="pathology reports",
        supply="map the export's report date column to report_date (cohort.yaml `columns:`)",
    )


CHECKS = (
    Check(
        "consistency.histology_ihc",
        Dimension.CONSISTENCY,
        check_histology_ihc,
        description="IHC markers agree with the histologic type (WHO 2021)",
    ),
    Check(
        "uniqueness.specimen",
        Dimension.UNIQUENESS,
        lambda data, ctx: qc.check_unique(data.tables["pathology"], ["specimen"], field="specimen_id"),
        description="one record per specimen",
    ),
    Check(
        "timeliness.report_delay",
        Dimension.TIMELINESS,
        check_report_delay,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="report signed out within timeliness.pathology_report_days of specimen collection",
    ),
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Run the pathology checks."""
    return run(checks_for(NAME, CHECKS), data, ctx, modality=NAME, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """The pathology figures, by title."""
    from ..report import figures as fig

    p = data.tables["pathology"]
    rng = {f.name: (f.min, f.max) for f in dictionary.fields(NAME, "pathology")}
    hist = p.get("histology", pd.Series(dtype="string"))
    out = {
        "Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME)),
        "Histology by site": fig.category_bars(hist, title="Histologic type by site", by=p.get("site")),
        "PD-L1 TPS": fig.distribution(
            p.get("pdl1_tps", pd.Series(dtype=float)),
            title="PD-L1 tumour proportion score",
            plausible=rng["pdl1_tps"],
            unit="%",
        ),
        "Ki-67": fig.distribution(
            p.get("ki67", pd.Series(dtype=float)), title="Ki-67 index", plausible=rng["ki67"], unit="%"
        ),
    }
    for marker in ("ttf1", "p40"):
        if marker in p.columns:
            out[f"{marker.upper()} by histology"] = fig.category_bars(
                hist, title=f"{marker.upper()} by histologic type", by=p[marker]
            )
    return out


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """Write the standardized pathology table (and its specimens) into the bundle."""
    return tab.write(data, ctx=ctx, extra={"pathology": ["specimen"]})
