"""Run over run: what changed in the checks since the bundle's previous run.

A run moves the previous run's run.json and quality/checks.parquet to ``history/<run-id>/`` before
it writes anything (:mod:`curation.security.history`). The collection report and index.html compare
this run's checks with the latest run kept there (:func:`previous_run`, :func:`compare`): checks newly
failing, fixed, better or worse, counts that moved, checks new or gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..security.verify import HISTORY
from .i18n import N_

__all__ = ["KINDS", "Delta", "PreviousRun", "compare", "previous_run", "summary"]

CHECKS = "quality/checks.parquet"
# verdicts from best to worst: moving right is worse
RANK = {"not_applicable": 0, "pass": 1, "warn": 2, "fail": 3, "error": 4}
FAILING = ("fail", "error")
# change kinds, in the order the reports list them
KINDS = (
    N_("newly failing"),
    N_("worse"),
    N_("count moved"),
    N_("better"),
    N_("fixed"),
    N_("new check"),
    N_("check gone"),
)
COLUMNS = [
    "change",
    "check_id",
    "modality",
    "dimension",
    "verdict_before",
    "verdict",
    "n_failed_before",
    "n_failed",
    "n_checked_before",
    "n_checked",
]


@dataclass
class PreviousRun:
    """The run a bundle held before this one: its id, when it started, its checks, its exit status."""

    run_id: str
    started: str
    checks: pd.DataFrame
    exit_code: int | None = None


def previous_run(root: Path, *, before: str = "") -> PreviousRun | None:
    """The latest run kept under ``history/`` (one whose id sorts before ``before``, a run id, when
    given); None when there is none."""
    folder = root / HISTORY
    if not folder.is_dir():
        return None
    for run in sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True):
        if before and run.name >= before:
            continue
        checks = run / CHECKS
        if not checks.is_file():
            continue
        try:
            record: dict[str, Any] = json.loads((run / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        return PreviousRun(
            run.name,
            str(record.get("started", run.name)),
            _one_per_check(pd.read_parquet(checks)),
            exit_code=record.get("exit_code"),
        )
    return None


def _one_per_check(checks: pd.DataFrame) -> pd.DataFrame:
    """A checks table of an older bundle held per-site rows (``site`` not empty): they are not checks."""
    if "site" in checks:
        checks = checks[checks["site"].fillna("").astype(str).eq("")]
    return checks


@dataclass
class Delta:
    """What changed between two runs' checks: one row per check that changed (:data:`COLUMNS`)."""

    previous: PreviousRun
    changes: pd.DataFrame
    verdicts: dict[str, tuple[int, int]] = field(default_factory=dict)  # verdict -> (checks before, now)

    def counts(self) -> dict[str, int]:
        """Checks per kind of change, in report order (kinds with none left out)."""
        got = self.changes["change"].value_counts()
        return {k: int(got[k]) for k in KINDS if got.get(k)}


def _kind(before: str | None, after: str | None, n_before: int, n_after: int) -> str:
    if before is None:
        return "new check"
    if after is None:
        return "check gone"
    if after in FAILING and before not in FAILING:
        return "newly failing"
    if before in FAILING and after not in FAILING and after != "warn":
        return "fixed"
    if RANK.get(after, 0) > RANK.get(before, 0):
        return "worse"
    if RANK.get(after, 0) < RANK.get(before, 0):
        return "better"
    return "count moved" if n_before != n_after else ""


def compare(checks: pd.DataFrame, previous: PreviousRun) -> Delta:
    """This run's checks (one row per check) against the previous run's."""
    keys = ["check_id", "verdict", "n_failed", "n_checked", "modality", "dimension"]
    now = _one_per_check(checks).reindex(columns=keys)
    then = previous.checks.reindex(columns=keys)
    both = now.merge(then, on="check_id", how="outer", suffixes=("", "_before"), indicator=True)
    rows = []
    for r in both.to_dict("records"):
        after = r["verdict"] if r["_merge"] != "right_only" else None
        before = r["verdict_before"] if r["_merge"] != "left_only" else None
        n_after = int(r["n_failed"]) if after is not None else 0
        n_before = int(r["n_failed_before"]) if before is not None else 0
        kind = _kind(before, after, n_before, n_after)
        if not kind:
            continue
        rows.append(
            {
                "change": kind,
                "check_id": r["check_id"],
                "modality": r["modality"] if after is not None else r["modality_before"],
                "dimension": r["dimension"] if after is not None else r["dimension_before"],
                "verdict_before": before or "",
                "verdict": after or "",
                "n_failed_before": n_before,
                "n_failed": n_after,
                "n_checked_before": int(r["n_checked_before"]) if before is not None else 0,
                "n_checked": int(r["n_checked"]) if after is not None else 0,
            }
        )
    changes = pd.DataFrame(rows, columns=COLUMNS)
    if len(changes):
        order = {k: i for i, k in enumerate(KINDS)}
        changes = (
            changes.assign(_o=changes["change"].map(order))
            .sort_values(["_o", "check_id"])
            .drop(columns="_o")
            .reset_index(drop=True)
        )
    counted = {v: (int((then["verdict"] == v).sum()), int((now["verdict"] == v).sum())) for v in RANK}
    return Delta(previous, changes, {v: n for v, n in counted.items() if any(n)})


def summary(root: Path, *, run_id: str) -> dict[str, Any] | None:
    """What changed since the previous run of the bundle, for index.html: its start, changes by kind,
    checks per verdict before and now, the changed checks; None without an earlier run."""
    previous = previous_run(root, before=run_id)
    path = root / CHECKS
    if previous is None or not path.is_file():
        return None
    d = compare(pd.read_parquet(path), previous)
    return {
        "started": previous.started,
        "counts": d.counts(),
        "verdicts": d.verdicts,
        "changes": d.changes.to_dict("records"),
    }
