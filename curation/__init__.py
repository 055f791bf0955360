"""curation: turn raw multimodal tumor data into a curated, de-identified, standardized cohort."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import CohortConfig
from .errors import ConfigError, CurationError, MissingInput, SourceError, ValidationFailed
from .modalities import curate
from .modalities.registry import load_cohort

__all__ = [
    "CohortConfig",
    "ConfigError",
    "CurationError",
    "MissingInput",
    "SourceError",
    "ValidationFailed",
    "__version__",
    "curate",
    "load_cohort",
]
