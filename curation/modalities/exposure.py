"""Exposure modality: the macro-exposure questionnaire (smoking, occupational and environmental
exposures, family history, alcohol) -> one record per patient."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import dictionary
from ..quality import CheckResult, Dimension, make_result, run_checks
from ..quality import checks as qc
from . import _tabular as tab
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

SPEC = ModalitySpec(name="exposure", label="Exposure", formats=("csv", "tsv", "excel", "parquet"),
                    notebook="exposure.ipynb", dictionary="exposure", order=10,
                    description="Questionnaire: smoking, occupational and environmental exposures, family history")

NAME = "exposure"
PATIENT = tab.PATIENT
YES_NO = ("secondhand_smoke", "asbestos", "radon", "silica", "diesel", "cooking_fumes", "family_history_lung_cancer")


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    return tab.standardize(data, ctx=ctx)


def _smoking_check(data: ModalityData) -> CheckResult:
    """Never smokers with pack-years or a quit date; current smokers with years since quitting."""
    check_id = f"{NAME}.consistency.smoking_pack_years"
    e = data.tables["exposure"]
    if "smoking_status" not in e.columns:
        return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=0)
    status = e["smoking_status"]
    frames = []
    rules = [("never", "pack_years", lambda s: s > 0, "never smoker with pack-years above 0"),
             ("never", "years_since_quit", lambda s: s.notna(), "never smoker with years since quitting"),
             ("current", "years_since_quit", lambda s: s > 0, "current smoker with years since quitting")]
    n = int((status.notna()).sum())
    for value, field, test, rule in rules:
        if field not in e.columns:
            continue
        vals = pd.to_numeric(e[field], errors="coerce")
        bad = ((status == value) & test(vals)).fillna(False).astype(bool)
        if bad.any():
            frames.append(qc._fail(check_id, NAME, e, bad, field, rule))
    return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=n,
                       failures=pd.concat(frames, ignore_index=True) if frames else None)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    e = data.tables["exposure"]
    specs = [
        *tab.generic_checks(data, NAME),
        (f"{NAME}.consistency.smoking_pack_years", Dimension.CONSISTENCY, lambda: _smoking_check(data)),
        (f"{NAME}.uniqueness.patient", Dimension.UNIQUENESS,
         lambda: qc.check_unique(e, [PATIENT], check_id=f"{NAME}.uniqueness.patient", modality=NAME,
                                 field="admission_number")),
    ]
    return run_checks(specs, NAME, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    from ..report import figures as fig

    e = data.tables["exposure"]
    rng = {f.name: (f.min, f.max) for f in dictionary.fields(NAME, "exposure")}
    status = e.get("smoking_status", pd.Series(dtype="string"))
    return {
        "Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME)),
        "Smoking status by site": fig.category_bars(status, title="Smoking status by site",
                                                    order=["never", "former", "current"], by=e.get("site")),
        "Pack-years": fig.distribution(e.get("pack_years", pd.Series(dtype=float)), title="Pack-years",
                                       plausible=rng["pack_years"], unit="pack-years"),
        "Residence PM2.5": fig.distribution(e.get("residence_pm25", pd.Series(dtype=float)),
                                            title="Residence PM2.5 (annual mean)", plausible=rng["residence_pm25"],
                                            unit="ug/m3"),
        "Exposures": fig.exposure_summary(e, YES_NO),
        "Household fuel": fig.category_bars(e.get("household_fuel", pd.Series(dtype="string")),
                                            title="Household fuel", by=e.get("site")),
    }


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    return tab.write(data, ctx=ctx)
