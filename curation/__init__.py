"""curation: turn raw multimodal tumor data into a curated, de-identified, standardized cohort."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import CohortConfig, load_cohort
from .errors import ConfigError, CurationError, SourceError, ValidationFailed
from .modalities import curate

__all__ = ["CohortConfig", "ConfigError", "CurationError", "SourceError", "ValidationFailed",
           "__version__", "curate", "load_cohort"]
