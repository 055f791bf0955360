"""Source options of the genomics modality (``sources.genomics[i].options`` in cohort.yaml)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_core import PydanticCustomError

from ..base import Options

SheetField = Literal[
    "sample_id", "admission_number", "site", "tissue", "specimen", "specimen_id", "collection_date", "report_date"
]


class GenomicsOptions(Options):
    """Options of a VCF / MAF / sequencing-QC source; the sample sheet applies to every source."""

    sample_sheet: str | None = Field(
        None,
        min_length=1,
        validation_alias=AliasChoices("sample_sheet", "samples"),
        description="CSV / TSV / Excel linking sample_id to admission_number and site (optional tissue, specimen, "
        "specimen_id: the pathology number the sample was cut from, collection_date, report_date), "
        "relative to cohort.yaml (also accepted as `samples`)",
    )
    sample_sheet_columns: dict[str, SheetField] = Field(
        default_factory=dict,
        description="sample-sheet header -> sample_id | admission_number | site | tissue | "
        "specimen | specimen_id | collection_date | report_date",
    )
    patient_id_pattern: str | None = Field(
        None,
        min_length=1,
        description="regular expression whose first group is the admission number inside a "
        "sample ID (TCGA barcodes), for samples the sheet does not list",
    )
    reference: Literal["GRCh38", "GRCh37"] | None = Field(
        None, description="genome build of the positions, for driver calls (default GRCh38)"
    )
    min_depth: float | None = Field(None, ge=0, description="QC: lowest mean target depth (default 100)")
    min_q30: float | None = Field(None, ge=0, le=100, description="QC: lowest % of bases >= Q30 (default 80)")
    min_target_100x: float | None = Field(
        None, ge=0, le=100, description="QC: lowest % of targets covered >= 100x (default 80)"
    )
    sep: str | None = Field(None, min_length=1, description="delimiter of a QC table (default: a tab)")

    @field_validator("patient_id_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise PydanticCustomError(
                    "regex",
                    "is not a valid regular expression ({error}); fix it (YAML single quotes keep backslashes)",
                    {"error": str(exc)},
                ) from None
        return v
