"""Check model, record ledger and generic checks shared by every modality."""

from .ledger import Ledger, LedgerEntry, Quarantine
from .model import (
    STRICT,
    WARN_ONLY,
    CheckResult,
    Dimension,
    Severity,
    Threshold,
    Verdict,
    error_result,
    failures_frame,
    failures_of,
    make_result,
    results_frame,
    run_checks,
    worst_verdict,
)

__all__ = [
    "STRICT", "WARN_ONLY",
    "CheckResult", "Dimension", "Ledger", "LedgerEntry", "Quarantine", "Severity", "Threshold",
    "Verdict", "error_result", "failures_frame", "failures_of", "make_result", "results_frame",
    "run_checks", "worst_verdict",
]
