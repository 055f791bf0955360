"""Clinical modality (placeholder until the clinical issue lands: SPEC only)."""

from __future__ import annotations

from .base import ModalitySpec

SPEC = ModalitySpec(name="clinical", label="Clinical", formats=("csv", "tsv", "excel", "parquet"),
                    notebook="clinical.ipynb", dictionary="clinical", order=20)
