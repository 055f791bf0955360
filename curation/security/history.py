"""Versioned runs: a re-run keeps what the previous run said about itself in ``history/<run-id>/``.

Before a run writes anything, the previous run's run.json, manifest-sha256.txt, merged check
results (quality/checks.parquet) and audit trail move to ``history/<run-id>/``; data files are then
replaced by the new run. What is kept is what a run-over-run comparison and an audit need, not a
second copy of the data. The new audit trail continues the archived one (its first ``prev`` is the
hash of the archived trail's last line), so the chain spans every run of the bundle.

``curation history BUNDLE`` lists the runs, oldest first, with their verdicts.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..io.bundle import AUDIT, MANIFEST
from .access import secure_dir
from .verify import FINISHED, HISTORY, RUN_JSON

__all__ = ["archive_previous", "new_run_id", "runs"]

CHECKS = "quality/checks.parquet"
KEPT = (RUN_JSON, MANIFEST, CHECKS, AUDIT)


def new_run_id(started: datetime) -> str:
    """A run's id: its start time in UTC, to the second (sorts in run order; a folder name)."""
    return started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def archive_previous(root: Path, *, group: str | None = None) -> Path | None:
    """Move the previous run's run.json, manifest, checks and audit trail to ``history/<run-id>/``.

    Returns the folder, or None when the bundle holds no previous run. A run id already taken (two
    runs in the same second, or a run.json without one) gets a ``-2``, ``-3`` ... suffix.
    """
    root = Path(root)
    present = [rel for rel in KEPT if (root / rel).is_file()]
    if not present:
        return None
    run_id = _previous_id(root)
    target = root / HISTORY / run_id
    n = 1
    while target.exists():
        n += 1
        target = root / HISTORY / f"{run_id}-{n}"
    for rel in present:
        dest = target / rel
        secure_dir(dest.parent, top=root, group=group)
        os.replace(root / rel, dest)
    return target


def _previous_id(root: Path) -> str:
    try:
        record = json.loads((root / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        record = {}
    run_id = str(record.get("run_id") or "") if isinstance(record, dict) else ""
    if run_id and "/" not in run_id and run_id not in (".", ".."):
        return run_id
    # a run.json of an older curation (no run_id), or none: the time its files were last written
    mtime = max((root / rel).stat().st_mtime for rel in KEPT if (root / rel).is_file())
    return new_run_id(datetime.fromtimestamp(mtime, UTC))


def runs(root: str | Path) -> list[dict[str, Any]]:
    """Every run of the bundle, oldest first: id, start, end, status, exit code, releasable, checks by
    verdict, and whether it is the current one."""
    root = Path(root)
    folders = sorted(p for p in (root / HISTORY).glob("*") if p.is_dir())
    out = [_summary(p, p.name, current=False) for p in folders]
    if (root / RUN_JSON).is_file():
        out.append(_summary(root, "", current=True))
    return out


def _summary(folder: Path, name: str, *, current: bool) -> dict[str, Any]:
    try:
        record = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        record = {}
    checks: dict[str, int] = {}
    for nb in record.get("notebooks") or []:
        for verdict, n in (nb.get("checks") or {}).items():
            checks[verdict] = checks.get(verdict, 0) + int(n)
    return {
        "run_id": record.get("run_id") or name,
        "current": current,
        "started": record.get("started", ""),
        "ended": record.get("ended", ""),
        "status": record.get("status") or ("unknown" if record else "no run.json"),
        "exit_code": record.get("exit_code"),
        "releasable": record.get("releasable"),
        "checks": checks,
        "verdict": _verdict(record, checks),
        "operator": (record.get("security") or {}).get("operator", ""),
    }


def _verdict(record: dict[str, Any], checks: dict[str, int]) -> str:
    if not record:
        return "unknown"
    if record.get("status") != FINISHED:
        return "did not finish"
    if record.get("releasable") is False:
        return "not releasable"
    for v in ("error", "fail", "warn"):
        if checks.get(v):
            return v
    return "pass"
