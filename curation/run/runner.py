"""`curation run`: plan notebook runs, execute them in parallel, then assemble the bundle.

Order of a run::

    validate cohort.yaml and the secret      (ConfigError -> exit 2 before anything runs)
    modality notebooks, in parallel          (one per registered modality with sources)
    cross-modality step(s)                   (registered with SPEC.stage == "cohort")
    collection_report                        (when notebooks/collection_report.ipynb exists)
    quality/*.parquet merged                 (checks, failures, quarantine, ledger)
    reports/index.html, run.json, datapackage.json
    leak scan                                (curation.deid.scan, when installed)
    manifest-sha256.txt                      (last: it covers everything above)

Exit status: 0 no check failed; 1 a check failed (or errored) or the leak scan found something;
2 a configuration error or a notebook that could not run.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import CohortConfig, load_cohort
from ..deid.keys import Keyring, keyring_for
from ..errors import ConfigError
from ..io.bundle import Bundle, sha256_file
from ..modalities import registry
from .executors import JobResult, NotebookJob, collect_identifiers_job, make_executor, run_notebook_job

# Notebooks that are not a modality and run last, in this order, when they exist.
LAST = (("collection_report", "Collection report"),)
MAX_LEAK_LINES = 20
QUALITY_KINDS = ("checks", "failures", "quarantine", "ledger")
VERSIONED = ("curation", "pandas", "pyarrow", "pydicom", "scanpy", "anndata", "papermill", "nbconvert", "plotly")

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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


@dataclass
class RunOutcome:
    """The result of :func:`run_cohort`."""

    exit_code: int
    out: Path
    index_html: Path
    run_json: Path
    notebooks: list[NotebookStatus]
    leaks: list[Any] = field(default_factory=list)
    summary: str = ""

    @property
    def statuses(self) -> dict[str, str]:
        return {n.name: n.verdict for n in self.notebooks}


# --------------------------------------------------------------------------- planning

def notebooks_dir() -> Path:
    """Where the notebooks live: $CURATION_NOTEBOOKS, the source checkout, or package data."""
    env = os.environ.get("CURATION_NOTEBOOKS")
    if env:
        return Path(env)
    pkg = Path(__file__).resolve().parents[1]
    checkout = pkg.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    return pkg / "notebooks"


def plan(config: CohortConfig, *, out: Path, only: list[str] | None = None,
         notebooks: Path | None = None, cell_timeout_s: int | None = None) -> list[list[NotebookJob]]:
    """Notebook runs in stages: the stage's jobs run in parallel, stages one after another.

    Raises
    ------
    ConfigError
        When ``only`` names something that is neither a modality with sources nor a later notebook.
    """
    nb_dir = notebooks or notebooks_dir()
    names = registry.names()
    sourced = [n for n in names if config.sources.get(n) and _stage(n) == "source"]
    # steps that read the other modalities' outputs; a module that does not import is skipped
    # here (a modality this cohort does not use must not stop the run)
    cohort_steps = [n for n in names if not config.sources.get(n) and _stage(n, strict=False) == "cohort"
                    and (nb_dir / registry.spec(n).notebook).is_file()]
    last = [(name, label) for name, label in LAST if (nb_dir / f"{name}.ipynb").is_file()]
    if only:
        allowed = sourced + cohort_steps + [name for name, _ in last]
        unknown = [m for m in only if m not in allowed]
        if unknown:
            msg = (f"--only {unknown[0]}: not a modality with sources in {config.path.name}; "
                   f"choose from {', '.join(allowed) or '(none)'}")
            raise ConfigError(msg)
    params = {"cohort": str(config.path), "out": str(out)}

    def job(name: str, label: str, notebook: Path) -> NotebookJob:
        return NotebookJob(name=name, title=f"{label} · {config.cohort.name}", notebook=notebook,
                           output=out / "reports" / f"{name}.ipynb", html=out / "reports" / f"{name}.html",
                           parameters=params, cwd=config.base_dir, cell_timeout_s=cell_timeout_s)

    def modality_job(name: str) -> NotebookJob:
        spec = registry.spec(name)
        return job(name, spec.label, nb_dir / spec.notebook)

    # source modalities in parallel; then steps that read their outputs (cross-modality); then the report
    stages = [[modality_job(n) for n in registry.ordered(sourced) if not only or n in only],
              [modality_job(n) for n in registry.ordered(cohort_steps) if not only or n in only]]
    stages += [[job(name, label, nb_dir / f"{name}.ipynb")] for name, label in last if not only or name in only]
    return [s for s in stages if s]


def _stage(name: str, *, strict: bool = True) -> str | None:
    """``source`` (reads raw exports) or ``cohort`` (reads other modalities' outputs).

    With ``strict=False`` a modality module that fails to import gives None instead of raising.
    """
    try:
        return getattr(registry.spec(name), "stage", "source")
    except Exception:
        if strict:
            raise
        log.warning("modality %s could not be imported; it is skipped", name)
        return None


# --------------------------------------------------------------------------- the run

def run_cohort(
    cohort: Path,
    *,
    out: Path | None = None,
    only: list[str] | None = None,
    jobs: int | None = None,
    notebooks: Path | None = None,
    progress: Progress | None = _stderr,
) -> RunOutcome:
    """Run every notebook of a cohort and assemble the output bundle.

    Parameters
    ----------
    cohort
        Path of cohort.yaml.
    out
        Bundle folder; default: the cohort's ``output``.
    only
        Modalities (or ``crossmodal`` / ``collection_report``) to run; default: all with sources,
        then the cross-modality step and the collection report.
    jobs
        Notebooks run at once; default: ``executor.jobs`` of cohort.yaml.
    notebooks
        Folder of the notebooks; default: :func:`notebooks_dir`.
    progress
        Called with one line per event (default: stderr); None for silence.

    Raises
    ------
    ConfigError
        cohort.yaml, a source path or the secret is wrong; nothing has run.
    """
    say = progress or (lambda _line: None)
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    config = load_cohort(cohort)
    keyring = keyring_for(config)  # a missing secret stops the run before any notebook starts
    out = Path(out).resolve() if out else config.output_dir.resolve()
    bundle = Bundle(out)
    stages = plan(config, out=out, only=only, notebooks=notebooks, cell_timeout_s=config.executor.timeout_s)
    planned = [j for s in stages for j in s]
    _clear_stale(bundle, [j.name for j in planned])
    members = planned if not only else [j for s in plan(config, out=out, notebooks=notebooks) for j in s]
    _drop_foreign(bundle, {j.name for j in members})
    from ..report.html import write_plotly_asset

    write_plotly_asset(out / "reports")

    n_jobs = jobs or config.executor.jobs
    say(f"curation: {len(planned)} notebook(s) of cohort {config.cohort.name!r} with {n_jobs} worker(s) -> {out}")
    results: dict[str, JobResult] = {}
    identifiers: set[str] = set()
    scan = _scanner()
    # input checksums are I/O-bound: hash them in a thread while the notebooks run
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curation-checksums")
    checksums = hasher.submit(_timed, input_checksums, config, keyring)
    hasher.shutdown(wait=False)
    id_names = [n for n in registry.names() if config.sources.get(n) and _stage(n, strict=False) == "source"]
    executor = make_executor(config.executor.kind, jobs=n_jobs, address=config.executor.address)
    try:
        done = 0
        # The leak scan covers the whole bundle, so it needs the identifiers of every configured
        # source, not only of the notebooks run now. Reloading them is fed to the pool only when a
        # worker would otherwise idle (the tail of a stage, beside the single cross-modality step).
        id_queue = list(id_names) if scan is not None else []
        id_futures: dict[str, Future[tuple[set[str], float]]] = {}
        load_s: dict[str, float] = {}

        def feed(running: set[Future[JobResult]]) -> None:
            busy = sum(not f.done() for f in running) + sum(not f.done() for f in id_futures.values())
            while id_queue and busy < n_jobs:
                name = id_queue.pop(0)
                id_futures[name] = executor.submit(collect_identifiers_job, str(config.path), name)
                busy += 1

        for stage in stages:
            for j in [j for j in stage if not j.notebook.is_file()]:
                results[j.name] = _missing(j)
                done += 1
                say(f"  [{done}/{len(planned)}] {j.name}: error - {results[j.name].error_type}")
            runnable = [j for j in stage if j.notebook.is_file()]
            futures = {executor.submit(run_notebook_job, j): j for j in runnable}
            if runnable:
                say(f"  started: {', '.join(j.name for j in runnable)}")
            feed(set(futures))
            for fut in _as_completed(futures):
                j = futures[fut]
                res = _result_of(fut, j)
                results[j.name] = res
                done += 1
                verdict = _verdict(bundle, j.name, res)
                say(f"  [{done}/{len(planned)}] {j.name}: {verdict} ({res.duration_s:.1f} s)"
                    + (f" - {res.error_type} in cell {res.error_cell}" if res.status == "error" else ""))
                feed(set(futures))
        for name in id_queue:
            id_futures[name] = executor.submit(collect_identifiers_job, str(config.path), name)
        t_stages = time.perf_counter()
        for name, id_fut in id_futures.items():
            try:
                found, load_s[name] = id_fut.result()
                identifiers |= found
            except Exception as exc:  # noqa: BLE001 - a modality that cannot load has nothing to scan for
                say(f"  leak scan: could not collect the identifiers of {name} ({type(exc).__name__})")
        wait_s = time.perf_counter() - t_stages
    except BaseException:
        # Ctrl-C or a crash of the runner itself: drop queued notebooks, let running ones end
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)

    timings: dict[str, Any] = {
        "notebooks_s": round(time.perf_counter() - t0 - wait_s, 2),
        "identifiers_wait_s": round(wait_s, 2),  # after the last notebook, for the leak scan's reloads
        "identifiers_load_s": load_s,  # per modality, in the workers
    }
    inputs, timings["input_checksums_s"] = checksums.result()
    return _assemble(config, keyring, bundle, planned, results, identifiers, scan, inputs,
                     started=started, t0=t0, only=only, jobs=n_jobs, say=say, timings=timings)


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args), round(time.perf_counter() - t0, 2)


def _missing(job: NotebookJob) -> JobResult:
    return JobResult(job.name, "error", datetime.now().astimezone().isoformat(timespec="seconds"), 0.0,
                     error_type=f"notebook {job.notebook.name} not found in {job.notebook.parent}")


def _as_completed(futures: dict[Future[JobResult], NotebookJob]) -> Iterable[Future[JobResult]]:
    from concurrent.futures import as_completed

    return as_completed(futures)


def _result_of(fut: Future[JobResult], job: NotebookJob) -> JobResult:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - a dead worker is one notebook's error, not the run's
        return JobResult(job.name, "error", datetime.now().astimezone().isoformat(timespec="seconds"), 0.0,
                         error_type=type(exc).__name__)


def _clear_stale(bundle: Bundle, names: list[str]) -> None:
    """A notebook about to run must not be judged by a previous run's quality files."""
    for name in names:
        for kind in QUALITY_KINDS:
            p = bundle.root / "quality" / kind / f"{name}.parquet"
            if p.is_file():
                p.unlink()


def _drop_foreign(bundle: Bundle, members: set[str]) -> None:
    """Quality files of a modality this cohort no longer has must not be merged into this run's."""
    for kind in QUALITY_KINDS:
        for p in (bundle.root / "quality" / kind).glob("*.parquet"):
            if p.stem not in members:
                p.unlink()


def _scanner() -> Callable[..., list[Any]] | None:
    try:
        from ..deid.scan import scan_bundle  # type: ignore[attr-defined]
    except ImportError:
        return None
    return scan_bundle  # type: ignore[no-any-return]


def _checks_of(bundle: Bundle, name: str) -> pd.DataFrame | None:
    p = bundle.root / "quality" / "checks" / f"{name}.parquet"
    return pd.read_parquet(p) if p.is_file() else None


def _verdict(bundle: Bundle, name: str, res: JobResult) -> str:
    if res.status == "error":
        return "error"
    from ..report.index import verdict_of

    checks = _checks_of(bundle, name)
    return verdict_of(checks) if checks is not None else "not_applicable"


# --------------------------------------------------------------------------- assembly

def _assemble(config: CohortConfig, keyring: Keyring, bundle: Bundle, planned: list[NotebookJob],
              results: dict[str, JobResult], identifiers: set[str], scan: Callable[..., list[Any]] | None,
              inputs: list[dict[str, Any]],
              *, started: datetime, t0: float, only: list[str] | None, jobs: int, say: Progress,
              timings: dict[str, Any]) -> RunOutcome:
    from ..report.index import IndexRow, checks_by_dimension, render_index, verdict_of

    root = bundle.root
    merge_quality(bundle)
    statuses: list[NotebookStatus] = []
    rows: list[IndexRow] = []
    for job in planned:
        res = results[job.name]
        checks = _checks_of(bundle, job.name)
        label = job.title.split(" · ")[0]
        error = res.error_type
        if res.status == "ok" and checks is None and job.name in registry.names():
            # a modality notebook that ran but wrote no checks did not do its job
            res.status, error = "error", f"wrote no quality/checks/{job.name}.parquet"
        verdict = "error" if res.status == "error" else (verdict_of(checks) if checks is not None else "not_applicable")
        html_rel = job.html.relative_to(root / "reports").as_posix() if res.rendered else ""
        st = NotebookStatus(
            name=job.name, label=label, status=res.status, verdict=verdict, duration_s=res.duration_s,
            kernel_start_s=res.kernel_start_s, import_s=res.import_s, render_s=res.render_s,
            ipynb=job.output.relative_to(root).as_posix() if job.output.is_file() else "",
            html=job.html.relative_to(root).as_posix() if res.rendered else "",
            n_checks=0 if checks is None else len(checks),
            checks=dict(Counter(checks["verdict"])) if checks is not None else {},
            error=error, error_cell=res.error_cell,
        )
        statuses.append(st)
        rows.append(IndexRow(
            name=job.name, label=label, status=st.status, verdict=verdict, duration_s=res.duration_s,
            html=html_rel, ipynb=(f"{job.name}.ipynb" if st.ipynb else ""),
            failed_by_dimension=checks_by_dimension(checks) if checks is not None else {},
            n_checks=st.n_checks, error=error, error_cell=res.error_cell,
            # the failing cell's code is shown; the exception text is not (it can quote data values)
            error_source=res.error_source[:2000],
        ))

    leaks: list[Any] = []
    ended = datetime.now().astimezone()

    def write_reports(leak_note: str, leaks: list[Any]) -> tuple[Path, Path]:
        summary = _summary(config, bundle, planned, started=started, ended=ended,
                           duration_s=time.perf_counter() - t0, leak_note=leak_note)
        # a finding names file, place and the identifier's number, never the identifier
        summary["leaks"] = [str(f) for f in leaks[:MAX_LEAK_LINES]]
        summary["more_leaks"] = max(0, len(leaks) - MAX_LEAK_LINES)
        index = bundle.write_text("reports/index.html", render_index(
            rows, cohort=config.cohort.name, description=config.cohort.description, summary=summary))
        run_json = bundle.write_json("run.json", _run_record(
            config, keyring, statuses, started=started, ended=ended, only=only, jobs=jobs, out=root,
            leak_note=leak_note, exit_code=exit_status(statuses, leaks), inputs=inputs, timings=timings))
        return index, run_json

    leak_note = "not run (curation.deid.scan is not installed)" if scan is None else "pending"
    index_html, run_json = write_reports(leak_note, [])
    from .. import dictionary

    bundle.write_datapackage(name=config.cohort.name, describe=dictionary.describe)
    if scan is not None:
        t1 = time.perf_counter()
        leaks = _scan(scan, root, identifiers)
        timings["leak_scan_s"] = round(time.perf_counter() - t1, 2)
        leak_note = (f"{len(leaks)} finding(s) in {len({str(getattr(f, 'path', f)) for f in leaks})} file(s)"
                     if leaks else f"clean ({len(identifiers)} identifier values searched)")
        say(f"  leak scan: {leak_note} ({timings['leak_scan_s']:.1f} s)")
        for finding in leaks[:MAX_LEAK_LINES]:
            say(f"  LEAK: {finding}")
        if len(leaks) > MAX_LEAK_LINES:
            say(f"  LEAK: ... and {len(leaks) - MAX_LEAK_LINES} more")
    timings["total_s"] = round(time.perf_counter() - t0, 2)
    index_html, run_json = write_reports(leak_note, leaks)
    bundle.write_manifest()

    exit_code = exit_status(statuses, leaks)
    verdicts = Counter(v for s in statuses for v, n in s.checks.items() for _ in range(n))
    nb_status = Counter(s.status for s in statuses)
    summary = (f"curation run: {len(statuses)} notebook(s) ({nb_status.get('ok', 0)} ok, "
               f"{nb_status.get('error', 0)} error); checks: "
               + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none")
               + (f"; {len(leaks)} leak finding(s)" if leaks else "")
               + f"; exit {exit_code} -> {index_html}")
    say(summary)
    return RunOutcome(exit_code, root, index_html, run_json, statuses, leaks, summary)


def _scan(scan: Callable[..., list[Any]], root: Path, identifiers: set[str]) -> list[Any]:
    """Run the leak scan over the bundle, skipping the vendored plotly.js (third-party code)."""
    import inspect

    from ..report.html import PLOTLY_ASSET

    ordered = sorted(identifiers)  # stable numbering of findings between runs
    if "exclude" in inspect.signature(scan).parameters:
        return list(scan(root, ordered, exclude=[root / "reports" / PLOTLY_ASSET]))
    return list(scan(root, ordered))


def exit_status(statuses: list[NotebookStatus], leaks: list[Any]) -> int:
    """2 if a notebook could not run; else 1 if a check failed or errored, or a leak was found; else 0."""
    if any(s.status == "error" for s in statuses):
        return 2
    if leaks or any(s.checks.get("fail") or s.checks.get("error") for s in statuses):
        return 1
    return 0


def merge_quality(bundle: Bundle) -> list[Path]:
    """quality/<kind>/*.parquet -> quality/<kind>.parquet, one table per kind for the whole run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for kind in QUALITY_KINDS:
        parts = sorted((bundle.root / "quality" / kind).glob("*.parquet"))
        tables = [pq.read_table(p) for p in parts]
        tables = [t for t in tables if t.num_columns]
        if not tables:
            if kind == "checks":
                from ..quality import results_frame

                written.append(bundle.write_parquet("quality/checks.parquet", results_frame([])))
            continue
        merged = pa.concat_tables(tables, promote_options="permissive")
        written.append(bundle.write_parquet(f"quality/{kind}.parquet", merged.to_pandas()))
    return written


def input_checksums(config: CohortConfig, keyring: Keyring) -> list[dict[str, Any]]:
    """sha256 of every input file, named by a keyed token of its path (raw names can hold identifiers)."""
    rows = []
    seen: set[Path] = set()
    for modality, sources in config.sources.items():
        for i in range(len(sources)):
            for top in config.source_files(modality, i):
                files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
                for f in files:
                    if f in seen:
                        continue
                    seen.add(f)
                    rel = Path(os.path.relpath(f, config.base_dir)).as_posix()
                    row: dict[str, Any] = {"modality": modality, "source": f"{modality}[{i}]",
                                           "file": keyring.token("file", rel)}
                    try:
                        row.update(bytes=f.stat().st_size, sha256=sha256_file(f))
                    except OSError as exc:  # recorded, not fatal: the modality quarantines it too
                        row.update(bytes=None, sha256=None, error=type(exc).__name__)
                    rows.append(row)
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _run_record(config: CohortConfig, keyring: Keyring, statuses: list[NotebookStatus], *, started: datetime,
                ended: datetime, only: list[str] | None, jobs: int, out: Path, leak_note: str,
                exit_code: int, inputs: list[dict[str, Any]], timings: dict[str, Any]) -> dict[str, Any]:
    return {
        "cohort": {"name": config.cohort.name, "file": config.path.name, "sha256": config.checksum()},
        "parameters": {"only": only or [], "jobs": jobs, "executor": config.executor.kind,
                       "out": str(out), "notebook_parameters": ["cohort", "out"]},
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


def _summary(config: CohortConfig, bundle: Bundle, planned: list[NotebookJob], *, started: datetime,
             ended: datetime, duration_s: float, leak_note: str) -> dict[str, Any]:
    from .. import __version__
    from ..report.index import patients_per_modality

    root = bundle.root
    checks = _read(root / "quality" / "checks.parquet")
    quarantine = _read(root / "quality" / "quarantine.parquet")
    failures = _read(root / "quality" / "failures.parquet")
    ledger = _read(root / "quality" / "ledger.parquet")
    names = [j.name for j in planned if j.name in registry.names()]
    patients = patients_per_modality(root, names)
    modalities = []
    for name in names:
        first = ledger[ledger["modality"] == name] if "modality" in ledger else ledger.iloc[0:0]
        # records entering a modality: the first stage's n_in, summed over its sources
        records_in = None
        if len(first):
            stage0 = first["stage"].iloc[0]
            records_in = int(first.loc[first["stage"] == stage0, "n_in"].sum())
        modalities.append({
            "label": registry.spec(name).label, "patients": patients.get(name),
            "records_in": records_in,
            "quarantined": int((quarantine["modality"] == name).sum()) if "modality" in quarantine else 0,
            "failing": int((failures["modality"] == name).sum()) if "modality" in failures else 0,
        })
    order = ["fail", "error", "warn", "pass", "not_applicable"]
    counts = Counter(checks["verdict"]) if "verdict" in checks else Counter()
    return {
        "started": started.strftime("%Y-%m-%d %H:%M"), "ended": ended.strftime("%H:%M"),
        "duration_s": duration_s, "version": __version__,
        "sites": ", ".join(s.name or s.id for s in config.sites),
        "checks": {v: counts[v] for v in order if counts.get(v)},
        "quarantined": len(quarantine), "leak_scan": leak_note, "modalities": modalities,
    }


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()
