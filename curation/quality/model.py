"""The one check model every modality reports through.

A check looks at ``n_checked`` items, finds ``n_failed`` of them failing, and turns the failing
fraction into a verdict through a :class:`Threshold`. Failing records are identified only by
pseudonym, row number and field, never by the raw value of an identifying field.
"""

from __future__ import annotations

import enum
import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

SAMPLE_SIZE = 20
FAILURE_COLUMNS = ["check_id", "modality", "pseudonym", "row", "field", "rule"]


class Dimension(enum.StrEnum):
    """Quality dimensions of the guideline, plus conformance and uniqueness."""

    COMPLETENESS = "completeness"
    ACCURACY = "accuracy"
    CONFORMANCE = "conformance"
    CONSISTENCY = "consistency"
    TIMELINESS = "timeliness"
    UNIQUENESS = "uniqueness"


class Verdict(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"


class Severity(enum.StrEnum):
    """How much a failure of this check matters for using the data."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Threshold:
    """Failing fractions above which a check warns and fails.

    ``Threshold(warn=0, fail=0)`` (the default) fails on any failing record;
    ``Threshold(warn=0, fail=0.05)`` warns up to 5 % failing and fails above.
    """

    warn: float = 0.0
    fail: float = 0.0

    def verdict(self, n_checked: int, n_failed: int) -> Verdict:
        if n_checked == 0:
            return Verdict.NOT_APPLICABLE
        rate = n_failed / n_checked
        if n_failed == 0 or rate <= self.warn:
            return Verdict.PASS
        if rate <= self.fail:
            return Verdict.WARN
        return Verdict.FAIL

    def describe(self) -> str:
        return f"warn>{self.warn:.2%} fail>{self.fail:.2%}"


STRICT = Threshold(0.0, 0.0)
WARN_ONLY = Threshold(0.0, 1.0)


@dataclass
class CheckResult:
    """Outcome of one check over one modality (or across modalities)."""

    check_id: str
    modality: str
    dimension: Dimension
    n_checked: int
    n_failed: int
    verdict: Verdict
    message: str
    severity: Severity = Severity.MAJOR
    threshold: Threshold = STRICT
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    site: str = ""

    @property
    def sample(self) -> pd.DataFrame:
        return self.failures.head(SAMPLE_SIZE)

    def to_row(self) -> dict[str, Any]:
        sample = [
            {"pseudonym": str(r.pseudonym), "row": int(r.row) if pd.notna(r.row) else -1,
             "field": str(r.field), "rule": str(r.rule)}
            for r in self.sample.itertuples(index=False)
        ]
        return {
            "check_id": self.check_id,
            "modality": self.modality,
            "site": self.site,
            "dimension": str(self.dimension),
            "severity": str(self.severity),
            "n_checked": int(self.n_checked),
            "n_failed": int(self.n_failed),
            "fail_rate": (self.n_failed / self.n_checked) if self.n_checked else 0.0,
            "threshold_warn": float(self.threshold.warn),
            "threshold_fail": float(self.threshold.fail),
            "verdict": str(self.verdict),
            "message": self.message,
            "sample": sample,
        }


def failures_frame(
    check_id: str,
    modality: str,
    *,
    pseudonym: Iterable[Any] | None = None,
    row: Iterable[Any] | None = None,
    field: str | Iterable[str] = "",
    rule: str | Iterable[str] = "",
) -> pd.DataFrame:
    """Build the failing-records table of a check (one row per failing record)."""
    cols: dict[str, Any] = {}
    if pseudonym is not None:
        cols["pseudonym"] = list(pseudonym)
    if row is not None:
        cols["row"] = list(row)
    n = len(next(iter(cols.values()))) if cols else 0
    df = pd.DataFrame(cols, index=range(n))
    df["pseudonym"] = df.get("pseudonym", pd.Series([""] * n)).astype("string").fillna("")
    df["row"] = pd.to_numeric(df.get("row", pd.Series([-1] * n)), errors="coerce").fillna(-1).astype("int64")
    df["field"] = field if isinstance(field, str) else list(field)
    df["rule"] = rule if isinstance(rule, str) else list(rule)
    df["check_id"] = check_id
    df["modality"] = modality
    return df[FAILURE_COLUMNS]


def make_result(
    check_id: str,
    modality: str,
    dimension: Dimension,
    *,
    n_checked: int,
    failures: pd.DataFrame | None = None,
    n_failed: int | None = None,
    message: str = "",
    severity: Severity = Severity.MAJOR,
    threshold: Threshold = STRICT,
    site: str = "",
) -> CheckResult:
    """Build a result and derive its verdict from the threshold."""
    if failures is None:
        failures = pd.DataFrame(columns=FAILURE_COLUMNS)
    if n_failed is None:
        n_failed = len(failures)
    verdict = threshold.verdict(n_checked, n_failed)
    if not message:
        message = f"{n_failed} of {n_checked} failing"
    return CheckResult(
        check_id=check_id, modality=modality, dimension=Dimension(dimension),
        n_checked=int(n_checked), n_failed=int(n_failed), verdict=verdict, message=message,
        severity=severity, threshold=threshold, failures=failures, site=site,
    )


def error_result(check_id: str, modality: str, dimension: Dimension, exc: BaseException) -> CheckResult:
    """A check that crashed: verdict error, never pass. The message holds the exception type and
    the last frame's location only, since exception text can quote raw values."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return CheckResult(
        check_id=check_id, modality=modality, dimension=Dimension(dimension),
        n_checked=0, n_failed=0, verdict=Verdict.ERROR,
        message=f"check crashed: {type(exc).__name__}{where}",
        severity=Severity.CRITICAL,
    )


def run_checks(
    specs: Sequence[tuple[str, Dimension, Callable[[], CheckResult | list[CheckResult]]]],
    modality: str,
    *,
    thresholds: dict[str, Threshold] | None = None,
) -> list[CheckResult]:
    """Run check callables in isolation: a crashing check becomes verdict ``error``.

    ``thresholds`` (from cohort.yaml) override a check's default threshold by check id.
    """
    out: list[CheckResult] = []
    for check_id, dimension, fn in specs:
        try:
            res = fn()
        except Exception as exc:  # noqa: BLE001 - the point is to turn any crash into a verdict
            log.warning("check %s crashed: %s", check_id, type(exc).__name__)
            out.append(error_result(check_id, modality, dimension, exc))
            continue
        for r in res if isinstance(res, list) else [res]:
            out.append(apply_threshold(r, thresholds or {}))
    return out


def apply_threshold(result: CheckResult, thresholds: dict[str, Threshold]) -> CheckResult:
    """Re-derive the verdict when cohort.yaml overrides this check's threshold."""
    t = thresholds.get(result.check_id)
    if t is None or result.verdict is Verdict.ERROR:
        return result
    result.threshold = t
    result.verdict = t.verdict(result.n_checked, result.n_failed)
    return result


def results_frame(results: Iterable[CheckResult]) -> pd.DataFrame:
    """Tidy table of check results, the content of quality/checks.parquet."""
    rows = [r.to_row() for r in results]
    cols = list(CheckResult("x", "x", Dimension.ACCURACY, 0, 0, Verdict.PASS, "").to_row())
    return pd.DataFrame(rows, columns=cols)


def failures_of(results: Iterable[CheckResult]) -> pd.DataFrame:
    """All failing records of all checks (quality/failures.parquet)."""
    frames = [r.failures for r in results if len(r.failures)]
    if not frames:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return df.astype({"pseudonym": "string", "field": "string", "rule": "string"})


def worst_verdict(verdicts: Iterable[str]) -> Verdict:
    order = [Verdict.NOT_APPLICABLE, Verdict.PASS, Verdict.WARN, Verdict.FAIL, Verdict.ERROR]
    worst = Verdict.NOT_APPLICABLE
    for v in verdicts:
        if order.index(Verdict(v)) > order.index(worst):
            worst = Verdict(v)
    return worst
