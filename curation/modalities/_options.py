"""Source options shared by the tabular modalities (clinical, pathology, exposure, lab).

``sources.<modality>[i].options`` in cohort.yaml, validated when the cohort loads (an unknown key is
refused with a "did you mean", a bad value is named with its key) and read as typed attributes
(``src.options.header_row``) by :mod:`curation.modalities._tabular`.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from .base import Options


class TabularOptions(Options):
    """Options of a csv / tsv / excel / parquet export."""

    header_row: int = Field(1, ge=1, description="1-based line (or sheet row) of the header; title lines above it "
                                                 "are skipped")
    sep: str | None = Field(None, min_length=1, description="delimiter of a csv / tsv file (default: a comma for "
                                                            "csv, a tab for tsv)")
    decimal: str = Field(".", description='number locale: "." (1,234.5) or "," (1.234,5); a separator that does '
                                          "not follow it is reported, never guessed")
    keep_free_text: tuple[str, ...] = Field((), description="free-text fields (phi: free_text in the dictionary) "
                                                            "kept, scrubbed of identifiers; the others are dropped")

    @field_validator("decimal")
    @classmethod
    def _decimal_mark(cls, v: str) -> str:
        if v not in (".", ","):
            raise PydanticCustomError("decimal_mark", 'is not a decimal mark; use "." (1,234.5) or "," (1.234,5)')
        return v
