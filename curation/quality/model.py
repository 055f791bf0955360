"""The one check model every modality reports through.

A check looks at ``n_checked`` items, finds ``n_failed`` of them failing, and turns the failing
fraction into a verdict through a :class:`Threshold`. Failing records are identified only by
pseudonym, row number and field, never by the raw value of an identifying field.
"""

from __future__ import annotations

import enum
import logging
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

__all__ = [
    "FAILURE_COLUMNS",
    "SITE_COLUMNS",
    "STRICT",
    "WARN_ONLY",
    "Check",
    "CheckResult",
    "Dimension",
    "Outcome",
    "Severity",
    "Threshold",
    "Verdict",
    "combine",
    "concat_failures",
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

log = logging.getLogger(__name__)

SAMPLE_SIZE = 20
FAILURE_COLUMNS = ["check_id", "modality", "pseudonym", "row", "field", "rule"]
PATIENT, ROW = "patient", "_line"  # the columns failing records are named by (pseudonym, source row)


class Dimension(enum.StrEnum):
    """Quality dimensions of the guideline, plus conformance and uniqueness."""

    COMPLETENESS = "completeness"
    ACCURACY = "accuracy"
    CONFORMANCE = "conformance"
    CONSISTENCY = "consistency"
    TIMELINESS = "timeliness"
    UNIQUENESS = "uniqueness"


class Verdict(enum.StrEnum):
    """What a check's failing fraction means against its threshold (``error``: the check crashed)."""

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
        """``not_applicable`` when nothing was checked, else pass, warn or fail by the failing fraction."""
        if n_checked == 0:
            return Verdict.NOT_APPLICABLE
        rate = n_failed / n_checked
        if n_failed == 0 or rate <= self.warn:
            return Verdict.PASS
        if rate <= self.fail:
            return Verdict.WARN
        return Verdict.FAIL

    def describe(self) -> str:
        """The threshold as reports show it (``warn>0.00% fail>5.00%``)."""
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
    site: str = ""  # set on a per-site breakdown only (an item of ``by_site``), never on a check
    by_site: list[CheckResult] = field(default_factory=list)  # the same check per site, counts only

    @property
    def sample(self) -> pd.DataFrame:
        """The first failing records, the ones checks.parquet and the reports show."""
        return self.failures.head(SAMPLE_SIZE)

    def to_row(self) -> dict[str, Any]:
        """One row of quality/checks.parquet (one per check: its sites are in :meth:`site_rows`)."""
        sample = [
            {
                "pseudonym": str(r.pseudonym),
                "row": int(r.row) if pd.notna(r.row) else -1,
                "field": str(r.field),
                "rule": str(r.rule),
            }
            for r in self.sample.itertuples(index=False)
        ]
        return {
            "check_id": self.check_id,
            "modality": self.modality,
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

    def site_rows(self) -> list[dict[str, Any]]:
        """Rows of quality/checks_by_site.parquet: this check's counts and verdict at each site."""
        return [
            {
                "check_id": self.check_id,
                "modality": self.modality,
                "site": s.site,
                "dimension": str(self.dimension),
                "severity": str(self.severity),
                "n_checked": int(s.n_checked),
                "n_failed": int(s.n_failed),
                "fail_rate": (s.n_failed / s.n_checked) if s.n_checked else 0.0,
                "verdict": str(s.verdict),
                "message": s.message,
            }
            for s in self.by_site
        ]


def _as_list(values: str | Iterable[Any]) -> str | list[Any]:
    return values if isinstance(values, str) else list(values)


def _as_column(values: Iterable[Any] | None) -> list[Any] | np.ndarray | None:
    """A failure column's values: a column or index as its array (numbers kept numeric, anything else
    as objects), without a Python step per value (a timeliness check can fail 100k records); any
    other iterable as a list."""
    if values is None:
        return None
    if isinstance(values, pd.Series | pd.Index):
        numeric = isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf"
        return values.to_numpy() if numeric else values.to_numpy(dtype=object)
    return list(values)


def failures(
    df: pd.DataFrame | None = None,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
    *,
    field: str | Iterable[Any] = "",
    rule: str | Iterable[Any] = "",
    pseudonym: Iterable[Any] | None = None,
    row: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """The failing records of a check, one row each: pseudonym, source row, field and rule.

    The one way failures are built. The check id and modality columns stay empty: the runner fills
    them in from the declaration (:class:`Check`), so a check function never repeats them.

    Parameters
    ----------
    df
        The records the check looked at: the failing ones (``mask``) are named by their ``patient``
        pseudonym and their source row (``_line``, else the index). Without ``df``, ``pseudonym``
        and ``row`` name them (default ``""`` and -1: a file or a source, not a record).
    mask
        Which records of ``df`` fail (default: all of them).
    field, rule
        The field to blame and the rule broken: one for all, or one per failing record.
    pseudonym, row
        One per failing record; with ``df``, they replace its columns.

    Returns
    -------
    A frame with :data:`FAILURE_COLUMNS`.
    """
    field, rule = _as_list(field), _as_list(rule)
    if df is not None:
        sub = df if mask is None else df.loc[mask if isinstance(mask, pd.Series) else np.asarray(mask, dtype=bool)]
        if pseudonym is None:
            pseudonym = sub[PATIENT] if PATIENT in sub.columns else [""] * len(sub)
        if row is None:
            row = sub[ROW] if ROW in sub.columns else sub.index
    pseudonym, row = _as_column(pseudonym), _as_column(row)
    n = next((len(v) for v in (pseudonym, row, field, rule) if isinstance(v, list | np.ndarray)), 0)
    out = pd.DataFrame(index=range(n))
    out["check_id"] = ""
    out["modality"] = ""
    out["pseudonym"] = pd.Series(pseudonym if pseudonym is not None else [""] * n, dtype="string").fillna("")
    if isinstance(row, np.ndarray) and row.dtype.kind in "iuf":
        rows = pd.Series(row)  # source rows as numbers already: no detour through objects
    else:
        rows = pd.Series(row if row is not None else [-1] * n, dtype=object)
    out["row"] = pd.to_numeric(rows, errors="coerce").fillna(-1).astype("int64")
    out["field"] = field
    out["rule"] = rule
    return out[FAILURE_COLUMNS]


def failures_frame(
    check_id: str,
    modality: str,
    *,
    pseudonym: Iterable[Any] | None = None,
    row: Iterable[Any] | None = None,
    field: str | Iterable[str] = "",
    rule: str | Iterable[str] = "",
) -> pd.DataFrame:
    """:func:`failures` with the check id and modality filled in, for a result built by hand
    (a test, a step outside the modalities). Declared checks use :func:`failures`."""
    return failures(pseudonym=pseudonym, row=row, field=field, rule=rule).assign(check_id=check_id, modality=modality)


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
    """Build a result and derive its verdict from the threshold (the runner's last step; by hand
    only for results outside a declaration, e.g. in tests)."""
    if failures is None:
        failures = pd.DataFrame(columns=FAILURE_COLUMNS)
    if n_failed is None:
        n_failed = len(failures)
    verdict = threshold.verdict(n_checked, n_failed)
    if not message:
        message = f"{n_failed} of {n_checked} failing"
    return CheckResult(
        check_id=check_id,
        modality=modality,
        dimension=Dimension(dimension),
        n_checked=int(n_checked),
        n_failed=int(n_failed),
        verdict=verdict,
        message=message,
        severity=severity,
        threshold=threshold,
        failures=failures,
        site=site,
    )


def error_result(check_id: str, modality: str, dimension: Dimension, *, exc: BaseException) -> CheckResult:
    """A check that crashed: verdict error, never pass. The message holds the exception type and
    the last frame's location only, since exception text can quote raw values."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return CheckResult(
        check_id=check_id,
        modality=modality,
        dimension=Dimension(dimension),
        n_checked=0,
        n_failed=0,
        verdict=Verdict.ERROR,
        message=f"check crashed: {type(exc).__name__}{where}",
        severity=Severity.CRITICAL,
    )


Failures: TypeAlias = pd.DataFrame | Sequence[pd.DataFrame] | None


def concat_failures(frames: Failures) -> pd.DataFrame | None:
    """One failures frame from several (None when there is none): the one place they are joined."""
    if frames is None or isinstance(frames, pd.DataFrame):
        return frames
    parts = [f for f in frames if f is not None and len(f)]
    return pd.concat(parts, ignore_index=True) if parts else None


@dataclass(frozen=True, eq=False)
class Outcome:
    """What a check function found: how many items it looked at and which of them fail.

    ``failures`` is a frame from :func:`failures` or a list of them; ``n_failed`` defaults to the
    number of failure rows (give it when a record fails several ways, or counts stand for rows
    not listed). ``site`` marks a per-site breakdown (counts only): it is folded into the check's
    result (:attr:`CheckResult.by_site`), never a check of its own. Id, modality, dimension,
    severity and threshold come from the :class:`Check` that declared the function.
    """

    n_checked: int
    _: KW_ONLY
    failures: Failures = None
    message: str = ""
    site: str = ""
    n_failed: int | None = None

    @property
    def frame(self) -> pd.DataFrame | None:
        """The failures as one frame (None when there is none)."""
        return concat_failures(self.failures)

    @property
    def count(self) -> int:
        """Failing items: ``n_failed`` if given, else the failure rows."""
        if self.n_failed is not None:
            return int(self.n_failed)
        frame = self.frame
        return 0 if frame is None else len(frame)


def combine(outcomes: Iterable[Outcome], *, message: str = "") -> Outcome:
    """One outcome from the parts of a check (several tables, rules or date pairs)."""
    parts = list(outcomes)
    frames = [f for o in parts if (f := o.frame) is not None]
    return Outcome(
        sum(o.n_checked for o in parts), failures=frames, n_failed=sum(o.count for o in parts), message=message
    )


CheckFn = Callable[..., Outcome | Iterable[Outcome]]
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


@dataclass(frozen=True)
class Check:
    """One check, declared once: its id (without the modality), dimension, function, severity and
    default threshold.

    ``fn`` gets the runner's inputs (a modality's checks: ``data, ctx``) and returns an
    :class:`Outcome` or a list of them (an overall one and per-site breakdowns). The result's id is
    ``<modality>.<id>``; cohort.yaml ``thresholds`` override the default threshold by that id.

    >>> Check("consistency.vital_status", Dimension.CONSISTENCY, lambda df: Outcome(len(df))).check_id("clinical")
    'clinical.consistency.vital_status'
    """

    id: str
    dimension: Dimension
    fn: CheckFn = field(repr=False)
    _: KW_ONLY
    severity: Severity = Severity.MAJOR
    threshold: Threshold = STRICT
    description: str = ""

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            msg = f"check id {self.id!r}: expected dotted lower-case words such as 'consistency.vital_status'"
            raise ValueError(msg)
        object.__setattr__(self, "dimension", Dimension(self.dimension))

    def check_id(self, modality: str) -> str:
        """The id of this check's results in ``modality``: ``<modality>.<id>``."""
        return f"{modality}.{self.id}"

    def result(self, outcome: Outcome, *, modality: str, threshold: Threshold | None = None) -> CheckResult:
        """The :class:`CheckResult` of one outcome, its verdict from ``threshold`` (default: the declared one)."""
        check_id = self.check_id(modality)
        frame = outcome.frame
        if frame is not None:
            frame = frame.assign(check_id=check_id, modality=modality)
        return make_result(
            check_id,
            modality,
            self.dimension,
            n_checked=outcome.n_checked,
            failures=frame,
            n_failed=outcome.n_failed,
            message=outcome.message,
            severity=self.severity,
            threshold=threshold or self.threshold,
            site=outcome.site,
        )

    def run(self, *inputs: Any, modality: str, thresholds: Mapping[str, Threshold] | None = None) -> list[CheckResult]:
        """Call ``fn(*inputs)`` in isolation: a crash is one result with verdict ``error``, never a pass."""
        check_id = self.check_id(modality)
        try:
            got = self.fn(*inputs)
        except Exception as exc:  # noqa: BLE001 - the point is to turn any crash into a verdict
            log.warning("check %s crashed: %s", check_id, type(exc).__name__)
            return [error_result(check_id, modality, self.dimension, exc=exc)]
        threshold = (thresholds or {}).get(check_id)
        outcomes = [got] if isinstance(got, Outcome) else list(got)
        results = [self.result(o, modality=modality, threshold=threshold) for o in outcomes]
        overall = [r for r in results if not r.site]
        sites = [r for r in results if r.site]
        if not overall:  # breakdowns without their check: a bug of the check, never a pass
            log.warning("check %s gave per-site outcomes without the overall one", check_id)
            return [error_result(check_id, modality, self.dimension, exc=ValueError("no overall outcome"))]
        # one check, one result: its sites are a breakdown of the first (overall) outcome
        overall[0].by_site = sites
        return overall


def run(
    checks: Iterable[Check],
    *inputs: Any,
    modality: str,
    thresholds: Mapping[str, Threshold] | None = None,
) -> list[CheckResult]:
    """Run declared checks on ``inputs``, each in isolation, into the results the reports read.

    Parameters
    ----------
    checks
        The declarations, in report order.
    *inputs
        What every check function gets (a modality's checks: ``data, ctx``).
    modality
        Prefix of the check ids and the results' modality.
    thresholds
        cohort.yaml overrides by check id; the one place they are applied.
    """
    return [r for check in checks for r in check.run(*inputs, modality=modality, thresholds=thresholds)]


def results_frame(results: Iterable[CheckResult]) -> pd.DataFrame:
    """Tidy table of check results, the content of quality/checks.parquet: one row per check."""
    rows = [r.to_row() for r in results]
    cols = list(CheckResult("x", "x", Dimension.ACCURACY, 0, 0, Verdict.PASS, "").to_row())
    return pd.DataFrame(rows, columns=cols)


SITE_COLUMNS = [
    "check_id",
    "modality",
    "site",
    "dimension",
    "severity",
    "n_checked",
    "n_failed",
    "fail_rate",
    "verdict",
    "message",
]


def sites_frame(results: Iterable[CheckResult]) -> pd.DataFrame:
    """Per-site breakdowns of the checks, the content of quality/checks_by_site.parquet (a check's
    row in checks.parquet is the one that counts; these rows say where its failures are)."""
    rows = [row for r in results for row in r.site_rows()]
    return pd.DataFrame(rows, columns=SITE_COLUMNS).astype({"n_checked": "int64", "n_failed": "int64"})


def failures_of(results: Iterable[CheckResult]) -> pd.DataFrame:
    """All failing records of all checks (quality/failures.parquet)."""
    frames = [r.failures for r in results if len(r.failures)]
    if not frames:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return df.astype({"pseudonym": "string", "field": "string", "rule": "string"})


def worst_verdict(verdicts: Iterable[str]) -> Verdict:
    """The worst of several verdicts (error > fail > warn > pass > not applicable): a run's or a modality's."""
    order = [Verdict.NOT_APPLICABLE, Verdict.PASS, Verdict.WARN, Verdict.FAIL, Verdict.ERROR]
    worst = Verdict.NOT_APPLICABLE
    for v in verdicts:
        if order.index(Verdict(v)) > order.index(worst):
            worst = Verdict(v)
    return worst
