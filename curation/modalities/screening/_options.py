"""Source options of the screening modality: the tabular options plus what the guideline's validation
indicators are judged against (``sources.screening[i].options`` in cohort.yaml).

Every screening source of a cohort normally declares the same targets; the first source that declares
any wins (:func:`indicator_options`), so a cohort may declare them once, on its participants source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from .._options import TabularOptions

if TYPE_CHECKING:
    from ...config import CohortConfig


class RiskRule(BaseModel):
    """The declared high-risk rule: age in [age_min, age_max] and pack-years >= pack_years, or a family history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    age_min: int = Field(50, ge=0, le=120, description="lowest age of the high-risk group (years)")
    age_max: int = Field(74, ge=0, le=120, description="highest age of the high-risk group (years)")
    pack_years: float = Field(
        20.0, ge=0, description="pack-years at or above which a smoker in the age band is high risk"
    )
    family_history: bool = Field(
        True,
        description="a first-degree family history of lung cancer in the age band also makes a participant high risk",
    )


class Targets(BaseModel):
    """Lower bounds an indicator's point estimate must reach (upper bounds for the rates that should be low)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitivity: float = Field(0.80, ge=0, le=1, description="screening sensitivity at least this")
    specificity: float = Field(0.80, ge=0, le=1, description="screening specificity at least this")
    ppv: float = Field(0.05, ge=0, le=1, description="positive predictive value of a positive screen at least this")
    npv: float = Field(0.99, ge=0, le=1, description="negative predictive value at least this")
    early_stage_share: float = Field(
        0.60, ge=0, le=1, description="stage I-II among screen-detected cancers at least this"
    )
    recall_rate: float = Field(0.30, ge=0, le=1, description="positive screens among rounds at most this")
    kappa_lung_rads: float = Field(
        0.60, ge=-1, le=1, description="AI vs expert weighted kappa on Lung-RADS at least this"
    )
    kappa_nodule_type: float = Field(0.60, ge=-1, le=1, description="AI vs expert kappa on nodule type at least this")
    icc_size: float = Field(0.75, ge=-1, le=1, description="AI vs expert ICC on nodule size at least this")
    auc_risk: float = Field(0.65, ge=0, le=1, description="AUC of the declared risk score at least this")
    scan_to_report_days: float = Field(14, ge=0, description="median days from LDCT to report at most this")
    sample_to_result_days: float = Field(
        14, ge=0, description="median days from sample to biomarker result at most this"
    )


class IndicatorOptions(BaseModel):
    """How the indicators are computed and judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(
        365,
        ge=1,
        description="follow-up window after a round's LDCT within which a "
        "pathology-confirmed cancer counts as that round's truth",
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="level of every confidence interval")
    max_ci_width: float = Field(
        0.30, gt=0, le=2, description="a proportion whose CI is wider than this gets a sample-size warning"
    )
    bootstrap: int = Field(
        1000, ge=0, le=100000, description="bootstrap resamples for kappa, AUC and ICC (0: analytic intervals only)"
    )
    seed: int = Field(20240601, description="seed of the bootstrap (same seed, same intervals)")
    risk_rule: RiskRule = Field(default_factory=RiskRule, description="the declared high-risk rule")
    targets: Targets = Field(default_factory=Targets, description="target of each indicator")


class ScreeningOptions(TabularOptions):
    """Options of a screening export: the tabular ones and the indicators' definition and targets."""

    indicators: IndicatorOptions | None = Field(
        None, description="window, CI level, targets and risk rule of the validation indicators (declare once)"
    )


def indicator_options(config: CohortConfig) -> IndicatorOptions:
    """The indicator options of the first screening source declaring them (defaults otherwise)."""
    for opts in ScreeningOptions.of(config, "screening"):
        if opts.indicators is not None:
            return opts.indicators
    return IndicatorOptions()
