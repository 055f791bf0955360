"""What a run records of itself: each notebook's status (run.json and the index rows), the summary
of the bundle shown on index.html, run.json's record, the exit status and the run's last line.

Private to :mod:`curation.run.runner`, which re-exports :class:`NotebookStatus` and :func:`exit_status`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import CohortConfig
from ..deid.keys import Keyring
from ..io.bundle import Bundle
from ..modalities import registry
from .executors import JobResult, NotebookJob
from .incremental import Previous, versions
from .privacy import Privacy
from .quality import checks_of

if TYPE_CHECKING:
    from ..report.index import IndexRow

EXIT_NOT_RELEASABLE = 3


@dataclass
class NotebookStatus:
    """How one notebook of the run ended (also a row of run.json and index.html)."""

    name: str
    label: str
    status: str  # ok | error
    verdict: str  # worst check verdict, or error when the notebook could not run
    duration_s: float = 0.0
    kernel_start_s: float | None = None
    import_s: float | None = None
    render_s: float | None = None
    ipynb: str = ""  # relative to the bundle root
    html: str = ""
    n_checks: int = 0
    checks: dict[str, int] = field(default_factory=dict)  # verdict -> count
    error: str = ""
    error_cell: int | None = None
    reused: bool = False  # taken from the bundle as the previous run left it (curation.run.incremental)


def notebook_statuses(
    bundle: Bundle, planned: list[NotebookJob], results: dict[str, JobResult]
) -> tuple[list[NotebookStatus], list[IndexRow]]:
    """How each notebook ended, for run.json and for the index (a row each)."""
    from ..report.index import IndexRow, checks_by_dimension, verdict_of

    root = bundle.root
    statuses: list[NotebookStatus] = []
    rows: list[IndexRow] = []
    for job in planned:
        res = results[job.name]
        checks = checks_of(bundle, job.name)
        label = job.title.split(" · ")[0]
        error = res.error_type
        if res.status == "ok" and checks is None and job.name in registry.names():
            # a modality notebook that ran but wrote no checks did not do its job
            res.status, error = "error", f"wrote no quality/checks/{job.name}.parquet"
        verdict = "error" if res.status == "error" else (verdict_of(checks) if checks is not None else "not_applicable")
        html_rel = job.html.relative_to(root / "reports").as_posix() if res.rendered else ""
        st = NotebookStatus(
            name=job.name,
            label=label,
            status=res.status,
            verdict=verdict,
            duration_s=res.duration_s,
            kernel_start_s=res.kernel_start_s,
            import_s=res.import_s,
            render_s=res.render_s,
            ipynb=job.output.relative_to(root).as_posix() if job.output.is_file() else "",
            reused=res.reused,
            html=job.html.relative_to(root).as_posix() if res.rendered else "",
            n_checks=0 if checks is None else len(checks),
            checks=dict(Counter(checks["verdict"])) if checks is not None else {},
            error=error,
            error_cell=res.error_cell,
        )
        statuses.append(st)
        rows.append(
            IndexRow(
                name=job.name,
                label=label,
                status=st.status,
                verdict=verdict,
                duration_s=res.duration_s,
                html=html_rel,
                ipynb=(f"{job.name}.ipynb" if st.ipynb else ""),
                failed_by_dimension=checks_by_dimension(checks) if checks is not None else {},
                n_checks=st.n_checks,
                error=error,
                error_cell=res.error_cell,
                reused=res.reused,
                # the failing cell's code is shown; the exception text is not (it can quote data values)
                error_source=res.error_source[:2000],
            )
        )
    return statuses, rows


def summary_line(statuses: list[NotebookStatus], privacy: Privacy, *, exit_code: int, folder: str, report: Path) -> str:
    """The run's last line: notebooks, checks by verdict, leaks, releasability, exit status, the report."""
    leaks = privacy.findings
    verdicts = Counter(v for s in statuses for v, n in s.checks.items() for _ in range(n))
    nb_status = Counter(s.status for s in statuses)
    n_reused = sum(s.reused for s in statuses)
    return (
        f"curation run: {len(statuses)} notebook(s) ({nb_status.get('ok', 0)} ok, "
        f"{nb_status.get('error', 0)} error"
        + (f", {n_reused} reused" if n_reused else "")
        + "); checks: "
        + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none")
        + (f"; {len(leaks)} leak finding(s)" if leaks else "")
        + ("" if privacy.releasable else f"; NOT RELEASABLE ({len(privacy.withheld)} path(s) withheld to {folder})")
        + f"; exit {exit_code} -> {report}"
    )


def exit_status(statuses: list[NotebookStatus], leaks: list[Any], *, releasable: bool = True) -> int:
    """3 if the bundle is not releasable (a leak was found, or the scan could not vouch for it);
    else 2 if a notebook could not run; else 1 if a check failed or errored; else 0."""
    if leaks or not releasable:
        return EXIT_NOT_RELEASABLE
    if any(s.status == "error" for s in statuses):
        return 2
    if any(s.checks.get("fail") or s.checks.get("error") for s in statuses):
        return 1
    return 0


def run_record(
    config: CohortConfig,
    keyring: Keyring,
    statuses: list[NotebookStatus],
    *,
    started: datetime,
    ended: datetime,
    only: list[str] | None,
    jobs: int,
    out: Path,
    leak_note: str,
    exit_code: int,
    inputs: list[dict[str, Any]],
    timings: dict[str, Any],
) -> dict[str, Any]:
    return {
        "cohort": {"name": config.cohort.name, "file": config.path.name, "sha256": config.checksum()},
        "parameters": {
            "only": only or [],
            "jobs": jobs,
            "executor": config.executor.kind,
            "out": str(out),
            "notebook_parameters": ["cohort", "out"],
        },
        "versions": versions(),
        "key_fingerprint": keyring.fingerprint,
        "started": started.isoformat(timespec="seconds"),
        "ended": ended.isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "notebooks": [asdict(s) for s in statuses],
        "leak_scan": leak_note,
        "timings": timings,
        "inputs": inputs,
    }


def bundle_summary(
    config: CohortConfig,
    bundle: Bundle,
    planned: list[NotebookJob],
    *,
    started: datetime,
    ended: datetime,
    duration_s: float,
    leak_note: str,
) -> dict[str, Any]:
    from .. import __version__
    from ..report.index import patients_per_modality

    root = bundle.root
    checks = _read(root / "quality" / "checks.parquet")
    quarantine = _read(root / "quality" / "quarantine.parquet")
    failures = _read(root / "quality" / "failures.parquet")
    ledger = _read(root / "quality" / "ledger.parquet")
    # steps that took records in (sources, or a ledger: cross-modality); not the collection report
    counted = set(ledger["modality"]) if "modality" in ledger else set()
    names = [j.name for j in planned if config.sources.get(j.name) or j.name in counted]
    patients = patients_per_modality(root, names)
    modalities = []
    for name in names:
        first = ledger[ledger["modality"] == name] if "modality" in ledger else ledger.iloc[0:0]
        # records entering a modality: the first stage's n_in, summed over its sources
        records_in = None
        if len(first):
            stage0 = first["stage"].iloc[0]
            records_in = int(first.loc[first["stage"] == stage0, "n_in"].sum())
        modalities.append(
            {
                "name": name,
                "label": registry.spec(name).label,
                "patients": patients.get(name),
                "records_in": records_in,
                "quarantined": int((quarantine["modality"] == name).sum()) if "modality" in quarantine else 0,
                "failing": int((failures["modality"] == name).sum()) if "modality" in failures else 0,
            }
        )
    order = ["fail", "error", "warn", "pass", "not_applicable"]
    counts = Counter(checks["verdict"]) if "verdict" in checks else Counter()
    return {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "ended": ended.strftime("%H:%M"),
        "duration_s": duration_s,
        "version": __version__,
        "sites": ", ".join(s.name or s.id for s in config.sites),
        "checks": {v: counts[v] for v in order if counts.get(v)},
        "quarantined": len(quarantine),
        "leak_scan": leak_note,
        "modalities": modalities,
    }


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def steps_record(
    keys: dict[str, str], reused: dict[str, JobResult], previous: Previous, run_id: str, planned: list[NotebookJob]
) -> dict[str, dict[str, Any]]:
    """run.json `steps`: each step's key, whether it was reused, and the run whose outputs the bundle holds."""
    now = {j.name for j in planned}
    out: dict[str, dict[str, Any]] = {}
    for name, key in keys.items():
        before = previous.steps.get(name) or {}
        if name in now:
            ran_in = str(before.get("run_id") or previous.run_id) if name in reused else run_id
            out[name] = {"key": key, "reused": name in reused, "run_id": ran_in}
        elif before:
            out[name] = {**before, "reused": True}  # not planned now (--only): the bundle keeps its outputs
    return out
