"""Exposure modality: the macro-exposure questionnaire (smoking, occupational and environmental
exposures, family history, alcohol) -> one record per patient."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import dictionary
from ..quality import Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures, run
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
    "check_questionnaire_age",
    "check_smoking",
    "checks",
    "figures",
    "identifiers",
    "load",
    "standardize",
    "write",
]

SPEC = ModalitySpec(
    name="exposure",
    label="Exposure",
    formats=("csv", "tsv", "excel", "parquet"),
    notebook="exposure.ipynb",
    dictionary="exposure",
    order=10,
    options=TabularOptions,
    needs=("clinical",),  # its diagnosis anchors, in dates.mode: relative
    description="Questionnaire: smoking, occupational and environmental exposures, family history",
)

NAME = "exposure"
PATIENT = tab.PATIENT
YES_NO = ("secondhand_smoke", "asbestos", "radon", "silica", "diesel", "cooking_fumes", "family_history_lung_cancer")


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the exposure questionnaire sources."""
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Standardize the exposure table."""
    return tab.standardize(data, ctx=ctx)


def check_smoking(data: ModalityData, ctx: Context) -> Outcome:
    """Never smokers with pack-years or a quit date; current smokers with years since quitting."""
    e = data.tables["exposure"]
    if "smoking_status" not in e.columns:
        return Outcome(0)
    status = e["smoking_status"]
    frames = []
    rules = [
        ("never", "pack_years", lambda s: s > 0, "never smoker with pack-years above 0"),
        ("never", "years_since_quit", lambda s: s.notna(), "never smoker with years since quitting"),
        ("current", "years_since_quit", lambda s: s > 0, "current smoker with years since quitting"),
    ]
    for value, field, test, rule in rules:
        if field not in e.columns:
            continue
        vals = pd.to_numeric(e[field], errors="coerce")
        bad = ((status == value) & test(vals)).fillna(False).astype(bool)
        frames.append(failures(e, bad, field=field, rule=rule))
    return Outcome(int(status.notna().sum()), failures=frames)


def check_questionnaire_age(data: ModalityData, ctx: Context) -> Outcome:
    """Questionnaires filled in further from the patient's diagnosis than the target (either way): the
    exposures they report are remembered, or were lived, at another time than the cancer's."""
    e = data.tables["exposure"]
    dx = tl.diagnosis_dates(ctx)
    if dx is None:
        if "questionnaire_date" in e.columns:
            return Outcome(0, message="not applicable: no diagnosis dates in the bundle (run clinical into it first)")
        dx = pd.Series(dtype="datetime64[ns]")
    view = e.assign(diagnosis_date=pd.to_datetime(e[PATIENT].map(dx)))
    return tl.check_delay(
        view,
        "diagnosis_date",
        "questionnaire_date",
        absolute=True,
        max_days=tl.targets(ctx).questionnaire_days,
        target="timeliness.questionnaire_days",
        what="questionnaires",
        supply="map the questionnaire's date column to questionnaire_date (cohort.yaml `columns:`)",
    )


CHECKS = (
    Check(
        "consistency.smoking_pack_years",
        Dimension.CONSISTENCY,
        check_smoking,
        description="smoking status agrees with pack-years and years since quitting",
    ),
    Check(
        "uniqueness.patient",
        Dimension.UNIQUENESS,
        lambda data, ctx: qc.check_unique(data.tables["exposure"], [PATIENT], field="admission_number"),
        description="one questionnaire per patient",
    ),
    Check(
        "timeliness.questionnaire_age",
        Dimension.TIMELINESS,
        check_questionnaire_age,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="questionnaire filled in within timeliness.questionnaire_days of diagnosis",
    ),
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Run the exposure checks."""
    return run(checks_for(NAME, CHECKS), data, ctx, modality=NAME, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """The exposure figures, by title."""
    from ..report import figures as fig

    e = data.tables["exposure"]
    rng = {f.name: (f.min, f.max) for f in dictionary.fields(NAME, "exposure")}
    status = e.get("smoking_status", pd.Series(dtype="string"))
    return {
        "Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME)),
        "Smoking status by site": fig.category_bars(
            status, title="Smoking status by site", order=["never", "former", "current"], by=e.get("site")
        ),
        "Pack-years": fig.distribution(
            e.get("pack_years", pd.Series(dtype=float)),
            title="Pack-years",
            plausible=rng["pack_years"],
            unit="pack-years",
        ),
        "Residence PM2.5": fig.distribution(
            e.get("residence_pm25", pd.Series(dtype=float)),
            title="Residence PM2.5 (annual mean)",
            plausible=rng["residence_pm25"],
            unit="ug/m3",
        ),
        "Exposures": fig.exposure_summary(e, YES_NO),
        "Household fuel": fig.category_bars(
            e.get("household_fuel", pd.Series(dtype="string")), title="Household fuel", by=e.get("site")
        ),
    }


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """Write the standardized exposure table into the bundle."""
    return tab.write(data, ctx=ctx)
