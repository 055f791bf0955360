"""Source options shared by the tabular modalities (clinical, pathology, exposure, lab).

``sources.<modality>[i].options`` in cohort.yaml, validated when the cohort loads (an unknown key is
refused with a "did you mean", a bad value is named with its key) and read as typed attributes
(``src.options.header_row``) by :mod:`curation.modalities._tabular`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import Options


class RowFilter(Options):
    """Which rows of a source to keep by the text of one of its columns (stripped, case-insensitive)."""

    in_: tuple[str, ...] | None = Field(None, alias="in", description="keep rows whose value is one of these")
    not_in: tuple[str, ...] | None = Field(None, description="drop rows whose value is one of these")
    table: str | None = Field(
        None,
        min_length=1,
        description="keep the rows out of this table only (a wide export: "
        "treatment rows marked 'no' still give the patient)",
    )

    @model_validator(mode="after")
    def _one(self) -> RowFilter:
        if (self.in_ is None) == (self.not_in is None):
            raise PydanticCustomError("row_filter", "give exactly one of `in` or `not_in` (a list of values)")
        return self


class RelativeDates(Options):
    """Dates given as a number of days (or weeks) from a per-patient index event, as GDC/TCGA
    exports give them (days_to_birth, days_to_death, days_to_last_follow_up from the diagnosis).

    The day counts are kept as ``<field>_days_from_index`` (no date, so no shift is needed); a date
    is derived (index date + days, then shifted like every date) only where ``index`` holds a full
    date. The date checks compare the day counts when there is no date.
    """

    fields: dict[str, str] = Field(
        ...,
        min_length=1,
        description="source column -> dictionary date field, e.g. {days_to_death: death_date, "
        "days_to_last_follow_up: last_followup_date, days_to_birth: birth_date}",
    )
    event: str = Field(
        "diagnosis_date",
        min_length=1,
        description="the dictionary date field that is day 0 (GDC/TCGA: the diagnosis); it is counted "
        "present at day 0 for every record of the source",
    )
    index: str | None = Field(
        None,
        min_length=1,
        description="source column giving each patient's index date (a full date: dates are derived) or "
        "only its year (e.g. year_of_diagnosis: no date is derived, the year bounds the timeliness check); "
        "omit when the export gives neither",
    )
    unit: Literal["days", "weeks"] = Field("days", description="unit of the counts")


class TabularOptions(Options):
    """Options of a csv / tsv / excel / parquet export."""

    header_row: int = Field(
        1, ge=1, description="1-based line (or sheet row) of the header; title lines above it are skipped"
    )
    sep: str | None = Field(
        None, min_length=1, description="delimiter of a csv / tsv file (default: a comma for csv, a tab for tsv)"
    )
    decimal: str = Field(
        ".",
        description='number locale: "." (1,234.5) or "," (1.234,5); a separator that does '
        "not follow it is reported, never guessed",
    )
    where: dict[str, RowFilter] = Field(
        default_factory=dict,
        description="row filter by source column, e.g. "
        "{treatment_or_therapy: {not_in: [no]}}; the rows it drops are counted in "
        "the ledger as excluded (rule where:<column>)",
    )
    relative_dates: RelativeDates | None = Field(
        None,
        description="dates given as days from a per-patient index event (GDC/TCGA days_to_*): "
        "{fields: {days_to_death: death_date}, index: year_of_diagnosis}",
    )
    keep_free_text: tuple[str, ...] = Field(
        (),
        description="free-text fields (phi: free_text in the dictionary) "
        "kept, scrubbed of identifiers; the others are dropped",
    )

    @field_validator("decimal")
    @classmethod
    def _decimal_mark(cls, v: str) -> str:
        if v not in (".", ","):
            raise PydanticCustomError("decimal_mark", 'is not a decimal mark; use "." (1,234.5) or "," (1.234,5)')
        return v
