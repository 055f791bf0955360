"""Check model, record ledger and generic checks shared by every modality.

A check is declared once (:class:`Check`: id, dimension, function, severity, threshold); its
function returns an :class:`Outcome` whose failing records come from :func:`failures`; :func:`run`
runs declarations in isolation, applies cohort.yaml thresholds and returns the :class:`CheckResult`
rows of quality/checks.parquet.
"""

from .ledger import Ledger, LedgerEntry, Quarantine
from .model import (
    STRICT,
    WARN_ONLY,
    Check,
    CheckResult,
    Dimension,
    Outcome,
    Severity,
    Threshold,
    Verdict,
    combine,
    error_result,
    failures,
    failures_frame,
    failures_of,
    make_result,
    results_frame,
    run,
    sites_frame,
    worst_verdict,
)
from .reasons import Reason

__all__ = [
    "STRICT",
    "WARN_ONLY",
    "Check",
    "CheckResult",
    "Dimension",
    "Ledger",
    "LedgerEntry",
    "Outcome",
    "Quarantine",
    "Reason",
    "Severity",
    "Threshold",
    "Verdict",
    "combine",
    "error_result",
    "failures",
    "failures_frame",
    "failures_of",
    "make_result",
    "results_frame",
    "run",
    "sites_frame",
    "worst_verdict",
]
