"""Source options of the imaging modality (``sources.imaging[i].options`` in cohort.yaml)."""

from __future__ import annotations

from pydantic import Field

from ..base import Options
from ._index import CHUNK_SIZE


class ImagingOptions(Options):
    """Options of a DICOM folder, DICOMDIR or zip source."""

    export: bool = Field(
        False, description="also write a de-identified DICOM copy (PS3.15) with a regenerated DICOMDIR to the bundle"
    )
    nodules: str | None = Field(None, min_length=1, description="reader annotations (CSV), relative to cohort.yaml")
    jobs: int = Field(2, ge=1, le=256, description="worker processes that parse the headers")
    chunk_size: int = Field(CHUNK_SIZE, ge=1, description="files per worker task")
    image_qc: bool = Field(True, description="measure a few sampled slices per series (air / water HU, noise)")
