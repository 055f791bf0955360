"""The parts of cohort.yaml below its top level (sites, sources, secret, dates, thresholds, privacy,
security, consent, executor, exports, timeliness, report), as pydantic models.

Private: import them from :mod:`curation.config`, which re-exports every one.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CohortInfo(_Strict):
    name: str = Field(description="short cohort name, used in report titles")
    description: str = ""


class Site(_Strict):
    id: str = Field(description="site code used in sources and reports, e.g. A")
    name: str = ""
    region: str = Field("", description="province or region (a quasi-identifier for k-anonymity)")
    id_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions of this site's local identifier shapes (MRN, admission, "
        "pathology numbers), removed from free text wherever they appear",
    )


class PrivacyConfig(_Strict):
    """How free text is scrubbed (identifier fields are always removed)."""

    id_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions of identifier shapes used by every site, as sites[].id_patterns",
    )
    detect_names: bool = Field(
        True, description="also remove Chinese and pinyin person names no source lists (name detector)"
    )


class SourceConfig(_Strict):
    """One raw export feeding one modality."""

    path: str = Field(description="file, folder or glob, relative to cohort.yaml")
    format: str
    site: str | None = None
    table: str | None = Field(None, description="standard table this source feeds, when a modality has several")
    encoding: str = Field("auto", description="auto, utf-8, utf-8-sig, gb18030, gbk ...")
    sheet: str | int | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="source header -> dictionary field")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="field -> {source value: standard value}"
    )
    missing: dict[str, str] = Field(default_factory=dict, description="null token -> missing reason")
    options: dict[str, Any] = Field(default_factory=dict, description="modality-specific options")


class SecretConfig(_Strict):
    """Where the pseudonymization key comes from; never the key itself."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> SecretConfig:
        if bool(self.env) == bool(self.file):
            msg = "give exactly one of secret.env (an environment variable name) or secret.file (a key file path)"
            raise ValueError(msg)
        return self


class DatesConfig(_Strict):
    mode: Literal["shift", "relative"] = Field(
        "shift", description="shift: per-patient keyed shift; relative: days since diagnosis"
    )
    max_shift_days: int = Field(365, ge=1, le=3650)


class ThresholdOverride(_Strict):
    warn: float = Field(0.0, ge=0, le=1)
    fail: float = Field(0.0, ge=0, le=1)
    author: str = Field("", description="who decided this override (recorded in the bundle's audit trail)")
    reason: str = Field("", description="why (recorded in the bundle's audit trail)")


class SecurityConfig(_Strict):
    """Who may read the bundle (curation.security)."""

    group: str | None = Field(
        None,
        description="a group that may read the bundle (folders 0750, files 0640 with that group); "
        "default: owner-only (folders 0700, files 0600)",
    )


class WithdrawnPatient(_Strict):
    """A patient whose consent is withdrawn, by the raw identifier the site's exports carry."""

    site: str = Field("", description="the site whose exports carry the id")
    id: str = Field(description="MRN or admission number as the site exports it (quote it: leading zeros)")
    modalities: list[str] = Field(
        default_factory=list, description="withdrawn from these modalities only; default every modality"
    )
    date: str = Field("", description="date of the withdrawal (recorded)")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ConsentConfig(_Strict):
    """Consent withdrawn: those patients are excluded from every modality at load (curation.security.consent)."""

    withdrawn: list[WithdrawnPatient] = Field(default_factory=list)
    table: str | None = Field(
        None, description="CSV of withdrawals (columns site, id; optional modalities, date), relative to cohort.yaml"
    )


class ExecutorConfig(_Strict):
    kind: Literal["local", "dask"] = "local"
    jobs: int = Field(2, ge=1, le=256)
    address: str | None = Field(None, description="dask scheduler address when kind is dask")
    timeout_s: int = Field(1800, ge=10, description="time limit of one notebook cell (papermill applies it per cell)")


ExportTarget = Literal["fhir", "omop", "cbioportal", "cellxgene"]


class ExportsConfig(_Strict):
    """Which interoperability exports a run writes into the bundle (``exports/<target>/``)."""

    targets: list[ExportTarget] = Field(
        default_factory=list,
        description="fhir, omop, cbioportal, cellxgene; `exports: [fhir, omop]` is short for "
        "`exports: {targets: [fhir, omop]}`",
    )
    panel_size_mb: float | None = Field(
        None,
        gt=0,
        description="territory of the sequencing panel in megabases, for TMB (mutations per Mb) in the "
        "cBioPortal export; TMB is left empty without it",
    )
    assay: str = Field(
        "EFO:0009922",
        pattern=r"^EFO:\d{7}$",
        description="EFO term of the single-cell assay for the CELLxGENE export (default 10x 3' v3)",
    )

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, v: Any) -> Any:
        return {"targets": v} if isinstance(v, list) else v


class TimelinessConfig(_Strict):
    """Timeliness targets, in days: each source modality's timeliness check measures a turnaround or a
    currency against one of them (the check named in each description). A record over its target is
    late, not wrong."""

    pathology_report_days: int = Field(
        10,
        ge=0,
        le=3650,
        description="pathology report at most this many days after specimen collection "
        "(pathology.timeliness.report_delay)",
    )
    sequencing_turnaround_days: int = Field(
        21,
        ge=0,
        le=3650,
        description="sequencing report at most this many days after the sample was collected "
        "(genomics.timeliness.turnaround)",
    )
    questionnaire_days: int = Field(
        90,
        ge=0,
        le=3650,
        description="exposure questionnaire within this many days of diagnosis, before or after "
        "(exposure.timeliness.questionnaire_age)",
    )
    imaging_study_days: int = Field(
        90,
        ge=0,
        le=3650,
        description="imaging study at most this many days before diagnosis: an older one does not "
        "show the tumour at diagnosis (imaging.timeliness.study_age)",
    )
    single_cell_processing_days: int = Field(
        2,
        ge=0,
        le=3650,
        description="single-cell library made at most this many days after the sample was "
        "collected (immune.timeliness.processing_delay)",
    )
    followup_interval_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="a living patient's last contact at most this many days before the data "
        "cutoff; older is lost to follow-up (clinical.timeliness.followup_currency)",
    )
    entry_days: int = Field(
        365,
        ge=0,
        le=3650,
        description="EMR record entered at most this many days after diagnosis (clinical.timeliness.entry_delay)",
    )
    data_cutoff: date | None = Field(
        None,
        description="the date follow-up is current to, YYYY-MM-DD (default: the latest last contact of the cohort)",
    )


ReportLanguage = Literal["zh", "en", "both"]


class ReportConfig(_Strict):
    """How the reviewer reports read (curation.report)."""

    language: ReportLanguage = Field(
        "both",
        description="zh (Chinese), en (English) or both (a switch on every page, offline, no reload; "
        "the PDF prints both)",
    )
    purpose: str = Field("", description="why the data are collected (the collection report's first section)")
    period: str = Field(
        "",
        description="the collection period, e.g. 2019-01 to 2023-12 (default: the range of "
        "diagnosis dates in the data, as shifted)",
    )
    retention: str = Field("", description="how long the bundle is kept and where it is archived (collection report)")
    corrective_actions: str = Field(
        "corrective_actions.yaml",
        description="file beside cohort.yaml of corrective actions per failing check "
        "(owner, action, due, status), read by every run",
    )
