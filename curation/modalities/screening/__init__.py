"""Screening modality: a lung-cancer screening programme (participants with or without cancer, LDCT
rounds, AI and expert reads, screening biomarkers, follow-up outcomes) and the guideline's validation
indicators with their counts and 95% intervals, judged against targets declared in cohort.yaml.

Tables go through the shared tabular pipeline (pseudonyms, shifted dates, reader ids as keyed
tokens); the indicators are computed on the standard tables (:mod:`._indicators`) and written to
``data/screening/indicators/<family>.parquet``. In ``dates.mode: relative`` the dates count from
each participant's enrolment, since most participants have no diagnosis to count from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ... import dictionary
from ...quality import CheckResult, run
from .. import _tabular as tab
from .._tabular_checks import checks_for
from ..base import ModalityData, ModalitySpec
from ._checks import CHECKS, INDICATORS
from ._options import ScreeningOptions, indicator_options

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ...deid.registry import IdentifierRegistry
    from ..base import Context, Source
    from ._indicators import Indicators

SPEC = ModalitySpec(
    name="screening",
    label="Screening",
    formats=("csv", "tsv", "excel", "parquet"),
    notebook="screening.ipynb",
    dictionary="screening",
    order=60,
    options=ScreeningOptions,
    extra="screening",
    description="Lung-cancer screening programme: participants, LDCT rounds, AI and expert reads, "
    "biomarkers, follow-up; sensitivity, specificity, PPV, agreement with 95% CIs",
)

__all__ = [
    "CHECKS",
    "SPEC",
    "checks",
    "figures",
    "identifiers",
    "indicators",
    "load",
    "standardize",
    "verdicts",
    "write",
]

NAME = "screening"
TOKENS = {"reader_id": "reader"}  # a reader is written as a keyed token, never by its staff or device number
ANCHOR = ("participants", "enrolment_date")


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read every screening export (participants, rounds, reads, biomarkers, follow-up) as text."""
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Standard tables: participant pseudonyms, shifted dates, reader ids as keyed tokens."""
    return tab.standardize(data, ctx=ctx, tokens=TOKENS)


def indicators(data: ModalityData, *, ctx: Context) -> Indicators:
    """Every indicator table (computed once per run and kept in ``data.objects``)."""
    from ._indicators import compute

    if INDICATORS not in data.objects:
        data.objects[INDICATORS] = compute(data.tables, indicator_options(ctx.config))
    got: Indicators = data.objects[INDICATORS]
    return got


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """The shared tabular checks, the consistency checks, each indicator against its target, CI widths."""
    return run(checks_for(NAME, CHECKS), data, ctx, modality=NAME, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """Completeness, the verdicts, forest plots, ROC, Bland-Altman, agreement heatmaps, calibration."""
    from ...report import figures as fig
    from ._figures import all_figures

    return {
        "Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME)),
        **all_figures(indicators(data, ctx=ctx), verdicts(data, ctx=ctx)),
    }


def verdicts(data: ModalityData, *, ctx: Context) -> pd.DataFrame:
    """The verdict-first table: each overall indicator with its counts, interval, target and verdict."""
    from ._checks import verdict_table

    return verdict_table(indicators(data, ctx=ctx), indicator_options(ctx.config))


def _write_anchors(anchors: pd.Series, *, ctx: Context) -> Path:
    """The (shifted) enrolment date each participant's day counts start from, where the cross-modality
    step reads it back (``quality/anchors/screening.parquet``, like clinical's diagnosis dates)."""
    import pyarrow as pa

    a = anchors.dropna()
    table = pd.DataFrame({tab.PATIENT: a.index.astype(str), ANCHOR[1]: pd.to_datetime(a).dt.date.to_numpy()})
    schema = pa.schema([pa.field(tab.PATIENT, pa.string()), pa.field(ANCHOR[1], pa.date32())])
    return ctx.bundle.write_parquet(f"quality/anchors/{NAME}.parquet", table, schema=schema)


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """The standard tables (reader tokens kept), then one Parquet file per indicator family."""
    relative = ctx.config.dates.mode == "relative"
    written = []
    anchors = None
    if relative:  # days since enrolment: a participant without cancer has no diagnosis date
        p = data.tables.get(ANCHOR[0], pd.DataFrame())
        anchors = p.groupby(tab.PATIENT)[ANCHOR[1]].min() if len(p) else pd.Series(dtype="datetime64[ns]")
        written.append(_write_anchors(anchors, ctx=ctx))
    for table, df in data.tables.items():
        out, schema = tab.output_frame(
            df, dictionary.fields(NAME, table), extra=["reader"] if table == "reads" else [], relative_to=anchors
        )
        written.append(ctx.bundle.write_parquet(f"data/{NAME}/{table}.parquet", out, schema=schema))
    written.append(ctx.bundle.write_parquet(f"data/{NAME}/missing_reasons.parquet", tab.missing_reasons(data.tables)))
    ind = indicators(data, ctx=ctx)
    for name, df in ind.tables().items():
        written.append(ctx.bundle.write_parquet(f"data/{NAME}/indicators/{name}.parquet", df.reset_index(drop=True)))
    written.append(ctx.bundle.write_parquet(f"data/{NAME}/indicators/verdicts.parquet", verdicts(data, ctx=ctx)))
    return written
