"""One exception hierarchy for the whole package.

Messages name what was wrong, where (file, key, row, field, DICOM tag) and how to fix it,
and never quote the value of an identifying field.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CurationError",
    "DeidError",
    "MissingDependency",
    "MissingInput",
    "SourceError",
    "ValidationFailed",
]


class CurationError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(CurationError):
    """cohort.yaml (or a file it names) is wrong; the run cannot start. Exit status 2."""


class SourceError(CurationError):
    """A source file cannot be read as declared."""


class DeidError(CurationError):
    """A de-identification step failed; the item it was applied to is quarantined."""


class MissingInput(CurationError):
    """A step reads what another step writes into the bundle (``SPEC.needs``), and that step has not
    written it yet; the message names the step to run first."""


class ValidationFailed(CurationError):
    """Checks failed in a way that must stop the caller."""


class MissingDependency(CurationError):
    """An optional dependency of a modality is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; install it with: pip install 'curation[{extra}]'")
