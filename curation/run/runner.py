"""`curation run`: plan notebook runs, execute them in parallel, then assemble the bundle.

Order of a run::

    validate cohort.yaml and the secret      (ConfigError -> exit 2 before anything runs)
    modality notebooks, in parallel          (one per registered modality with sources)
    cross-modality step(s)                   (registered with SPEC.stage == "cohort")
    collection_report                        (when notebooks/collection_report.ipynb exists)
    quality/*.parquet merged                 (checks, failures, quarantine, ledger)
    reports/index.html, run.json, datapackage.json
    leak scan                                (curation.deid.scan, with every modality's identifiers)
    fail closed                              (leaking files -> <out>.withheld/; check privacy.leak_scan;
                                              index.html, run.json, datapackage.json rewritten and scanned)
    manifest-sha256.txt                      (last: it covers everything above, nothing withheld)

Exit status: 0 no check failed; 1 a check failed (or errored); 2 a configuration error or a
notebook that could not run; 3 not releasable: the leak scan found an identifier (those files
were moved to ``<out>.withheld/``), a file it could not read, or a modality whose identifiers
could not be collected. 3 wins over 2 and 1: privacy decides whether the bundle may leave.
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
from .withhold import Withheld, withheld_dir, withhold

# Notebooks that are not a modality and run last, in this order, when they exist.
LAST = (("collection_report", "Collection report"),)
MAX_LEAK_LINES = 20
MAX_IDS_IN_REASON = 10
EXIT_NOT_RELEASABLE = 3
LEAK_CHECK = "privacy.leak_scan"
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
class Privacy:
    """What the leak scan says about the bundle: run.json's ``releasable``, index.html's banner, exit 3.

    Everything here names files by their display path (identifier-bearing components shown as
    ``<redacted>``) and identifiers by number, never by value.
    """

    releasable: bool
    note: str  # one line: run.json leak_scan, index.html
    ran: bool = False
    findings: list[Any] = field(default_factory=list)  # LeakHit
    withheld: list[Withheld] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # modality -> why its identifiers are missing
    skipped: dict[str, int] = field(default_factory=dict)  # identifiers not searched, by reason
    n_files: int = 0
    n_identifiers: int = 0
    folder: str = ""  # "<out>.withheld/", by name

    def record(self) -> dict[str, Any]:
        """The ``leak_scan_detail`` of run.json."""
        return {
            "ran": self.ran, "files": self.n_files, "identifiers": self.n_identifiers,
            "identifiers_skipped": self.skipped, "findings": len(self.findings),
            "identifiers_missing": dict(self.missing),
            "withheld": [asdict(w) for w in self.withheld],
            "withheld_folder": self.folder,
        }

    def banner(self) -> dict[str, Any]:
        """What index.html shows first."""
        return {"releasable": self.releasable, "note": self.note, "folder": self.folder,
                "missing": dict(self.missing), "withheld": [str(w) for w in self.withheld]}


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
    releasable: bool = False
    withheld: list[Withheld] = field(default_factory=list)

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
    id_sizes: Counter[str] = Counter()
    merged: Any = None  # the cohort's IdentifierRegistry when the hooks return registries
    missing: dict[str, str] = {}  # modality -> why its identifiers could not be collected
    scan = _scanner()
    # input checksums are I/O-bound: hash them in a thread while the notebooks run
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curation-checksums")
    checksums = hasher.submit(_timed, input_checksums, config, keyring)
    hasher.shutdown(wait=False)
    id_names = [n for n in registry.names() if config.sources.get(n) and _stage(n, strict=False) == "source"]
    # a modality with sources whose module does not import has identifiers nobody can collect
    missing.update({n: "its module could not be imported" for n in registry.names()
                    if config.sources.get(n) and _stage(n, strict=False) is None})
    executor = make_executor(config.executor.kind, jobs=n_jobs, address=config.executor.address)
    try:
        done = 0
        # The leak scan covers the whole bundle, so it needs the identifiers of every configured
        # source, not only of the notebooks run now. Reloading them is fed to the pool only when a
        # worker would otherwise idle (the tail of a stage, beside the single cross-modality step).
        id_queue = list(id_names) if scan is not None else []
        id_futures: dict[str, Future[tuple[Any, float]]] = {}
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
                identifiers |= identifier_values(found)
                if callable(getattr(found, "merge", None)):
                    merged = found if merged is None else merged.merge(found)
                else:
                    id_sizes.update(identifier_sizes(found))
            except Exception as exc:  # noqa: BLE001 - fail closed below: the bundle cannot be called clean
                missing[name] = f"{type(exc).__name__} while collecting them"
                say(f"  leak scan: could not collect the identifiers of {name} ({type(exc).__name__}); "
                    "the bundle will not be called clean")
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
                     started=started, t0=t0, only=only, jobs=n_jobs, say=say, timings=timings,
                     missing=missing, id_sizes=dict(id_sizes) if merged is None else merged.sizes(),
                     id_fingerprint=merged.fingerprint(keyring) if merged is not None else "")


def identifier_values(found: Any) -> set[str]:
    """The strings the leak scan searches, from what a modality's identifiers hook returned.

    Accepts a set (or any iterable) of strings, or an identifier registry with ``scan_values()``
    (:class:`curation.deid.registry.IdentifierRegistry`).
    """
    if found is None:
        return set()
    scan_values = getattr(found, "scan_values", None)
    values = scan_values() if callable(scan_values) else found
    return {str(v) for v in values if v is not None}


def identifier_sizes(found: Any) -> dict[str, int]:
    """Identifiers per class (``sizes()`` of a registry), or ``{}`` for a plain set."""
    sizes = getattr(found, "sizes", None)
    return {str(k): int(n) for k, n in sizes().items()} if callable(sizes) else {}


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


def _scanner() -> Any:
    """The leak-scan module, or None when it cannot be imported (the bundle is then not releasable)."""
    try:
        from ..deid import scan
    except ImportError:
        return None
    return scan


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
              results: dict[str, JobResult], identifiers: set[str], scan: Any,
              inputs: list[dict[str, Any]],
              *, started: datetime, t0: float, only: list[str] | None, jobs: int, say: Progress,
              timings: dict[str, Any], missing: dict[str, str] | None = None,
              id_sizes: dict[str, int] | None = None, id_fingerprint: str = "") -> RunOutcome:
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

    ended = datetime.now().astimezone()
    missing = dict(missing or {})
    folder = f"{withheld_dir(root).name}/"
    index_html, run_json = root / "reports" / "index.html", root / "run.json"

    def write_outputs(privacy: Privacy, skip: set[str]) -> None:
        """index.html, run.json and datapackage.json, except those withheld in this run."""
        nonlocal index_html, run_json
        from .. import dictionary

        timings["total_s"] = round(time.perf_counter() - t0, 2)  # the last write is scanned too: no rewrite after
        summary = _summary(config, bundle, planned, started=started, ended=ended,
                           duration_s=time.perf_counter() - t0, leak_note=privacy.note)
        # a finding names file, place and the identifier's number, never the identifier
        summary["leaks"] = [str(f) for f in privacy.findings[:MAX_LEAK_LINES]]
        summary["more_leaks"] = max(0, len(privacy.findings) - MAX_LEAK_LINES)
        summary["privacy"] = privacy.banner()
        if "reports/index.html" not in skip:
            index_html = bundle.write_text("reports/index.html", render_index(
                rows, cohort=config.cohort.name, description=config.cohort.description, summary=summary))
        if "run.json" not in skip:
            record = _run_record(config, keyring, statuses, started=started, ended=ended, only=only, jobs=jobs,
                                 out=root, leak_note=privacy.note, inputs=inputs, timings=timings,
                                 exit_code=exit_status(statuses, privacy.findings, releasable=privacy.releasable))
            record.update(releasable=privacy.releasable, withheld=[w.path for w in privacy.withheld],
                          leak_scan_detail={**privacy.record(), "identifier_classes": id_sizes or {},
                                            # keyed: says whether two runs saw the same identifiers,
                                            # and nothing about them without the key
                                            "identifier_fingerprint": id_fingerprint})
            run_json = bundle.write_json("run.json", record)
        if "datapackage.json" not in skip:
            bundle.write_datapackage(name=config.cohort.name, describe=dictionary.describe)

    # until the scan has said otherwise, the bundle is not known to be clean
    pending = Privacy(releasable=False, note="pending (the leak scan has not run yet)", missing=missing,
                      folder=folder)
    write_outputs(pending, set())
    if scan is None:
        privacy = Privacy(releasable=False, note="not run (curation.deid.scan could not be imported): "
                          "the bundle is not known to be clean", missing=missing, folder=folder)
        _add_privacy_check(bundle, privacy)
        write_outputs(privacy, set())
    else:
        privacy = _fail_closed(scan, bundle, identifiers, missing, write_outputs, started=started, say=say,
                               timings=timings)
    bundle.write_manifest()  # last, after every move: it lists nothing withheld

    leaks = privacy.findings
    exit_code = exit_status(statuses, leaks, releasable=privacy.releasable)
    verdicts = Counter(v for s in statuses for v, n in s.checks.items() for _ in range(n))
    nb_status = Counter(s.status for s in statuses)
    summary = (f"curation run: {len(statuses)} notebook(s) ({nb_status.get('ok', 0)} ok, "
               f"{nb_status.get('error', 0)} error); checks: "
               + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none")
               + (f"; {len(leaks)} leak finding(s)" if leaks else "")
               + ("" if privacy.releasable else
                  f"; NOT RELEASABLE ({len(privacy.withheld)} path(s) withheld to {folder})")
               + f"; exit {exit_code} -> {index_html if index_html.is_file() else run_json}")
    say(summary)
    return RunOutcome(exit_code, root, index_html, run_json, statuses, leaks, summary,
                      releasable=privacy.releasable, withheld=privacy.withheld)


# --------------------------------------------------------------------------- fail closed

GENERATED = ("reports/index.html", "run.json", "datapackage.json", "quality/checks.parquet",
             "quality/failures.parquet")


def _fail_closed(scan: Any, bundle: Bundle, identifiers: set[str], missing: dict[str, str],
                 write_outputs: Callable[[Privacy, set[str]], None], *, started: datetime, say: Progress,
                 timings: dict[str, Any]) -> Privacy:
    """Scan the bundle, move leaking files to ``<out>.withheld/``, record ``privacy.leak_scan``,
    rewrite the run's own outputs and scan those again (anything leaking there is withheld too).

    The run's own outputs can only repeat what the bundle held (a check message, a column name)
    or redacted paths; the second scan makes sure of it instead of assuming it.
    """
    from ..report.html import PLOTLY_ASSET

    root = bundle.root
    run = started.isoformat(timespec="seconds")
    t1 = time.perf_counter()
    # numbered in sorted order: a finding's number is stable between runs with the same identifiers
    matcher = scan.Matcher(list(enumerate(sorted(identifiers), start=1)))
    result = scan.scan_bundle(root, matcher, exclude=[root / "reports" / PLOTLY_ASSET])  # third-party code
    withheld = withhold(root, result.paths, _reasons(result), run=run)
    timings["leak_scan_s"] = round(time.perf_counter() - t1, 2)  # the whole bundle; the rescans are small
    privacy = Privacy(releasable=False, note="", ran=True, findings=list(result), withheld=withheld,
                      missing=dict(missing), skipped=dict(result.skipped), n_files=result.n_files,
                      n_identifiers=result.n_identifiers, folder=f"{withheld_dir(root).name}/")
    skip: set[str] = set()
    remerge = any(p == "quality" or p.startswith("quality/") for p in result.paths)
    for _ in range(len(GENERATED)):  # each round withholds at least one generated file, or ends
        privacy.releasable = not (privacy.findings or privacy.missing)
        privacy.note = _leak_note(privacy)
        if not skip & {"quality/checks.parquet", "quality/failures.parquet"}:
            if remerge:
                merge_quality(bundle)  # a withheld quality part must leave the merged tables too
            _add_privacy_check(bundle, privacy)
            remerge = True  # the next round starts again from the parts
        write_outputs(privacy, skip)
        again = scan.scan_bundle(root, matcher, paths=[root / p for p in GENERATED if (root / p).exists()])
        if not again:
            break
        privacy.findings += list(again)
        for w in withhold(root, again.paths, _reasons(again), run=run):
            # a rewritten output that leaks again: one entry per bundle path, its copies counted
            same = next((x for x in privacy.withheld if x.path == w.path and not x.error), None)
            if same is None or w.error:
                privacy.withheld.append(w)
            else:
                same.files += w.files
        skip |= set(again.paths)
    privacy.releasable = not (privacy.findings or privacy.missing)
    privacy.note = _leak_note(privacy)

    say(f"  leak scan: {privacy.note} ({time.perf_counter() - t1:.1f} s)")
    for finding in privacy.findings[:MAX_LEAK_LINES]:
        say(f"  LEAK: {finding}")
    if len(privacy.findings) > MAX_LEAK_LINES:
        say(f"  LEAK: ... and {len(privacy.findings) - MAX_LEAK_LINES} more")
    for w in privacy.withheld:
        say(f"  WITHHELD: {w} -> {privacy.folder}")
    if not privacy.releasable:
        say(f"  NOT RELEASABLE: see {LEAK_CHECK} in reports/index.html")
    return privacy


def _reasons(result: Any) -> dict[str, str]:
    """On-disk path -> why it is withheld, identifiers by number only."""
    out = {}
    for rel, numbers in result.found.items():
        ids = sorted(n for n in numbers if n)
        parts = ["not readable by the leak scan"] if 0 in numbers else []
        if ids:
            shown = ", ".join(f"#{n}" for n in ids[:MAX_IDS_IN_REASON])
            more = f" and {len(ids) - MAX_IDS_IN_REASON} more" if len(ids) > MAX_IDS_IN_REASON else ""
            parts.append(f"identifier{'s' if len(ids) > 1 else ''} {shown}{more}")
        out[rel] = "; ".join(parts)
    return out


def _leak_note(privacy: Privacy) -> str:
    """One line for run.json, index.html and the console; never "clean" while anything is unknown."""
    from ..deid.scan import MIN_LEN

    parts = [_missing_text(privacy.missing)] if privacy.missing else []
    if privacy.findings:
        moved = sum(1 for w in privacy.withheld if not w.error)
        parts.append(f"{len(privacy.findings)} finding(s) in {len(privacy.withheld)} path(s); {moved} withheld to "
                     f"{privacy.folder}" + ("" if moved == len(privacy.withheld) else
                                             f", {len(privacy.withheld) - moved} could not be moved"))
    elif not privacy.missing:
        parts.append(f"clean ({privacy.n_identifiers} identifier values searched)")
    n_skipped = sum(privacy.skipped.values())
    if n_skipped:
        parts.append(f"{n_skipped} identifier value(s) not searched (fewer than {MIN_LEN} letters or digits, "
                     "or only separators)")
    return "; ".join(parts)


def _missing_text(missing: dict[str, str]) -> str:
    return ("not known to be clean: the identifiers of "
            + ", ".join(f"{m} ({why})" for m, why in sorted(missing.items())) + " could not be collected")


def _add_privacy_check(bundle: Bundle, privacy: Privacy) -> None:
    """``privacy.leak_scan`` into quality/checks.parquet (and its failing paths into failures.parquet)."""
    import pyarrow as pa

    from ..quality import failures_of, results_frame

    result = privacy_check(privacy)
    for kind, frame in (("checks", results_frame([result])), ("failures", failures_of([result]))):
        path = bundle.root / "quality" / f"{kind}.parquet"
        if kind == "failures" and not len(frame):
            continue
        tables = [pa.Table.from_pandas(frame, preserve_index=False)]
        if path.is_file():
            import pyarrow.parquet as pq

            tables.insert(0, pq.read_table(path))
        merged = pa.concat_tables(tables, promote_options="permissive")
        bundle.write_parquet(f"quality/{kind}.parquet", merged.to_pandas())


def privacy_check(privacy: Privacy) -> Any:
    """The ``privacy.leak_scan`` check: critical; fails with every withheld path (redacted) and the
    identifier numbers; errors when the scan could not run or a modality's identifiers are missing."""
    from ..quality import Dimension, Severity, Verdict, failures_frame, make_result

    rows = privacy.withheld
    failures = failures_frame(LEAK_CHECK, "privacy", row=[-1] * len(rows), field=[w.path for w in rows],
                              rule=[w.reason + (f"; not moved: {w.error}" if w.error else "") for w in rows])
    if rows:
        shown = "; ".join(str(w) for w in rows[:5]) + (f"; ... and {len(rows) - 5} more" if len(rows) > 5 else "")
        message = f"{len(rows)} path(s) held identifiers and left the bundle for {privacy.folder}: {shown}"
    else:
        message = privacy.note
    if privacy.missing and rows:
        message = f"{_missing_text(privacy.missing)}; {message}"
    result = make_result(LEAK_CHECK, "privacy", Dimension.CONFORMANCE, n_checked=max(privacy.n_files, len(rows)),
                         failures=failures, message=message, severity=Severity.CRITICAL)
    if not privacy.ran or (privacy.missing and not rows):
        result.verdict = Verdict.ERROR  # the scan could not say: never a pass
    return result


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
