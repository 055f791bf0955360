"""`curation run`: plan notebook runs, execute them in parallel, then assemble the bundle.

Order of a run::

    validate cohort.yaml and the secret      (ConfigError -> exit 2 before anything runs)
    begin (curation.security)                (folder owner-only; the previous run's record -> history/;
                                              run.json `status: running`; audit.jsonl run_start)
    step notebooks, in parallel              (every registered modality with sources, then the steps
                                              with SPEC.stage == "cohort" and a notebook: cross-modality,
                                              collection report); each starts once the steps named in
                                              its SPEC.needs have ended (curation.run.plan)
    quality/*.parquet merged                 (checks, failures, quarantine, ledger)
    reports/index.html, run.json, datapackage.json
    leak scan                                (curation.deid.scan, with every modality's identifiers)
    fail closed                              (leaking files -> <out>.withheld/; check privacy.leak_scan;
                                              index.html, run.json, datapackage.json rewritten and scanned)
    manifest-sha256.txt                      (it covers everything above, nothing withheld)
    end (curation.security)                  (modes 0700/0600; audit.jsonl run_end with the manifest's
                                              checksum; curation verify: a problem makes the exit at least 2)

Exit status: 0 no check failed; 1 a check failed (or errored); 2 a configuration error or a
notebook that could not run; 3 not releasable: the leak scan found an identifier (those files
were moved to ``<out>.withheld/``), a file it could not read, or a modality whose identifiers
could not be collected. 3 wins over 2 and 1: privacy decides whether the bundle may leave.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import CohortConfig
from ..deid.keys import Keyring, keyring_for
from ..deid.registry import IdentifierRegistry
from ..io.bundle import Bundle
from ..modalities import registry
from ..modalities.registry import load_cohort
from ..parallel import using
from ..security.session import RunSecurity
from ..security.verify import Verification
from ._record import (
    NotebookStatus,
    bundle_summary,
    exit_status,
    notebook_statuses,
    run_record,
    steps_record,
    summary_line,
)
from .cluster import lost_worker
from .executors import JobResult, NotebookJob, make_executor, run_notebook_job
from .incremental import (
    STEPS,
    Previous,
    decisions_digest,
    input_checksums,
    read_previous,
    reusable,
    step_keys,
    versions,
)
from .plan import members, notebooks_dir, plan
from .privacy import MAX_LEAK_LINES, Privacy, add_privacy_check, fail_closed
from .quality import checks_of, clear_stale, drop_foreign, merge_quality
from .reloads import IdentifierReloads, identifier_sizes, identifier_values
from .withhold import Withheld, withheld_dir

__all__ = [
    "NotebookStatus",
    "RunOutcome",
    "exit_status",
    "identifier_sizes",
    "identifier_values",
    "input_checksums",
    "merge_quality",
    "notebooks_dir",
    "plan",
    "run_cohort",
    "versions",
]


Progress = Callable[[str], None]
log = logging.getLogger(__name__)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - the run's progress lines are its CLI output


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
    verification: Verification | None = None  # curation verify, at the end of the run

    @property
    def statuses(self) -> dict[str, str]:
        """Each notebook's verdict, by step name."""
        return {n.name: n.verdict for n in self.notebooks}


# --------------------------------------------------------------------------- the run


def run_cohort(
    cohort: Path,
    *,
    out: Path | None = None,
    only: list[str] | None = None,
    jobs: int | None = None,
    notebooks: Path | None = None,
    progress: Progress | None = _stderr,
    operator: str | None = None,
    force: bool = False,
    executor: str | None = None,
    scheduler: str | None = None,
) -> RunOutcome:
    """Run every notebook of a cohort and assemble the output bundle.

    Parameters
    ----------
    cohort
        Path of cohort.yaml.
    out
        Bundle folder; default: the cohort's ``output``.
    only
        Steps (modalities, or ``crossmodal`` / ``collection_report``) to run; default: every modality
        with sources, then the cross-modality step and the collection report. A step's needs left
        out are read from the bundle as an earlier run left them.
    jobs
        Notebooks run at once; default: ``executor.jobs`` of cohort.yaml.
    notebooks
        Folder of the notebooks; default: :func:`notebooks_dir`.
    progress
        Called with one line per event (default: stderr); None for silence.
    operator
        Who runs it, for the audit trail; default the OS user.
    force
        Run every step, even those whose inputs have not changed since the previous run (by default
        those are reused from the bundle: :mod:`curation.run.incremental`).
    executor, scheduler
        ``local`` or ``dask``, and a Dask scheduler's address (default: ``executor`` of cohort.yaml;
        dask without an address starts a LocalCluster for the run: :mod:`curation.run.cluster`).

    Raises
    ------
    ConfigError
        cohort.yaml, a source path or the secret is wrong; nothing has run.
    """
    say = progress or (lambda _line: None)
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    config = load_cohort(cohort)
    if executor or scheduler:  # the command line wins over cohort.yaml (and run.json records what ran)
        config.executor = config.executor.model_copy(
            update={"kind": executor or "dask", "address": scheduler or config.executor.address}
        )
    keyring = keyring_for(config)  # a missing secret stops the run before any notebook starts
    out = Path(out).resolve() if out else config.output_dir.resolve()
    bundle = Bundle(out)
    stages = plan(config, out=out, only=only, notebooks=notebooks, cell_timeout_s=config.executor.timeout_s)
    planned = [j for s in stages for j in s]
    n_jobs = jobs or config.executor.jobs
    t_keys = time.perf_counter()
    # before the previous run's record is archived: may its steps be reused? (verifies the bundle)
    previous = Previous(why="--force") if force else read_previous(out)
    all_steps = members(config, notebooks=notebooks)
    extra = {"key": keyring.fingerprint, "versions": versions(), "decisions": decisions_digest(config, out)}
    keys = step_keys(config, planned, members=all_steps, previous=previous, extra=extra)
    keys_s = round(time.perf_counter() - t_keys, 2)
    # owner-only folder, the previous run to history/, run.json `running`, audit run_start: before any write
    sec = RunSecurity.begin(
        config,
        keyring,
        out,
        started=started,
        operator=operator,
        parameters={"only": only or [], "jobs": n_jobs, "executor": config.executor.kind, "force": force},
    )
    drop_foreign(bundle, set(all_steps))
    from ..report.html import write_plotly_asset

    write_plotly_asset(out / "reports")

    say(f"curation: {len(planned)} notebook(s) of cohort {config.cohort.name!r} with {n_jobs} worker(s) -> {out}")
    results: dict[str, JobResult] = {}
    merged = IdentifierRegistry()  # the cohort's, from every source modality's identifiers() hook
    scan = _scanner()
    # input checksums are I/O-bound: hash them in a thread while the notebooks run
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curation-checksums")
    checksums = hasher.submit(_timed, input_checksums, config, keyring)
    hasher.shutdown(wait=False)
    # every modality with sources (they all import: load_cohort checked them against their SPEC)
    id_names = [n for n in registry.names() if config.sources.get(n)]
    pool = make_executor(config.executor.kind, jobs=n_jobs, address=config.executor.address)
    reloads = IdentifierReloads(pool, str(config.path), id_names if scan is not None else [], jobs=n_jobs)
    try:
        reused = _reused(planned, keys, previous, reloads, merged, keyring=keyring, say=say)
        clear_stale(bundle, [j.name for j in planned if j.name not in reused])
        _run_jobs(pool, planned, bundle, results, feed=reloads.feed, say=say, reused=reused)
        reloads.submit_rest()
        t_stages = time.perf_counter()
        identifiers, missing = reloads.collect(merged, say=say)  # missing: modality -> why not collected
        wait_s = time.perf_counter() - t_stages
    except BaseException:
        # Ctrl-C or a crash of the runner itself: drop queued notebooks, let running ones end
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    cluster = getattr(pool, "client", None)  # a Dask cluster stays up for the leak scan's file groups
    if cluster is None:
        pool.shutdown(wait=True)

    timings: dict[str, Any] = {
        "step_keys_s": keys_s,
        "notebooks_s": round(time.perf_counter() - t0 - wait_s, 2),
        "identifiers_wait_s": round(wait_s, 2),  # after the last notebook, for the leak scan's reloads
        "identifiers_load_s": reloads.load_s,  # per modality, in the workers
    }
    inputs, timings["input_checksums_s"] = checksums.result()
    try:
        with using(cluster):  # curation.parallel
            return _assemble(
                config,
                keyring,
                bundle,
                planned,
                results,
                identifiers,
                scan,
                inputs,
                sec,
                started=started,
                t0=t0,
                only=only,
                jobs=n_jobs,
                say=say,
                timings=timings,
                missing=missing,
                id_sizes=identifier_sizes(merged),
                id_fingerprint=merged.fingerprint(keyring),
                steps=steps_record(keys, reused, previous, sec.run_id, planned),
            )
    finally:
        if cluster is not None:
            pool.shutdown(wait=True)


def _reused(
    planned: list[NotebookJob],
    keys: dict[str, str],
    previous: Previous,
    reloads: IdentifierReloads,
    merged: IdentifierRegistry,
    *,
    keyring: Keyring,
    say: Progress,
) -> dict[str, JobResult]:
    """The planned steps taken from the bundle: same key as in the previous run, and the same identifiers.

    The identifiers are collected first (the leak scan needs them anyway) only when some step's key
    is unchanged; the registry's keyed fingerprint must equal the previous run's.
    """
    if not previous.usable:
        if previous.why not in ("no previous run", "--force"):
            say(f"  reuse: none ({previous.why})")
        return {}
    candidates = [j for j in planned if (previous.steps.get(j.name) or {}).get("key") == keys[j.name]]
    if not candidates:
        return {}
    reloads.submit_rest()
    _, missing = reloads.collect(merged, say=say)
    if missing:
        say("  reuse: none (the identifiers of every source could not be collected)")
        return {}
    fingerprint = merged.fingerprint(keyring)
    out: dict[str, JobResult] = {}
    for j in candidates:
        if reusable(j, keys[j.name], previous, identifier_fingerprint=fingerprint):
            out[j.name] = JobResult(
                j.name, "ok", datetime.now().astimezone().isoformat(timespec="seconds"), 0.0, rendered=True, reused=True
            )
    if len(out) < len(candidates) and fingerprint != previous.identifier_fingerprint:
        say("  reuse: none (the sources' identifiers changed: every step scrubs with all of them)")
    return out


def _run_jobs(
    executor: Any,
    planned: list[NotebookJob],
    bundle: Bundle,
    results: dict[str, JobResult],
    *,
    feed: Callable[[set[Future[JobResult]]], None],
    say: Progress,
    reused: dict[str, JobResult] | None = None,
) -> None:
    """Run the planned notebooks: a job starts once the jobs it needs have ended (whatever their outcome: a
    step reports what it could not read); ready jobs go to the pool in plan order. ``feed`` may hand the
    pool other work while it would idle. A job in ``reused`` ends at once with that result."""
    reused = reused or {}
    done = 0
    pending = list(planned)
    running: dict[Future[JobResult], NotebookJob] = {}
    ended: set[str] = set()
    while pending or running:
        started_now = []
        ready = [j for j in pending if all(n in ended for n in j.needs)]
        while ready:
            for j in ready:
                pending.remove(j)
                if j.name in reused:
                    results[j.name] = reused[j.name]
                    ended.add(j.name)
                    done += 1
                    say(f"  [{done}/{len(planned)}] {j.name}: {_verdict(bundle, j.name, reused[j.name])} (reused)")
                    continue
                if j.notebook.is_file():
                    running[executor.submit(run_notebook_job, j)] = j
                    started_now.append(j.name)
                    continue
                results[j.name] = _missing(j)
                ended.add(j.name)
                done += 1
                say(f"  [{done}/{len(planned)}] {j.name}: error - {results[j.name].error_type}")
            ready = [j for j in pending if all(n in ended for n in j.needs)]
        if started_now:
            say(f"  started: {', '.join(started_now)}")
        feed(set(running))
        if not running:
            break  # (pending jobs wait for nothing left: plan() orders needs without circles)
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in finished:
            j = running.pop(fut)
            res = _result_of(fut, j)
            results[j.name] = res
            ended.add(j.name)
            done += 1
            verdict = _verdict(bundle, j.name, res)
            say(
                f"  [{done}/{len(planned)}] {j.name}: {verdict} ({res.duration_s:.1f} s)"
                + (f" - {res.error_type} in cell {res.error_cell}" if res.status == "error" else "")
            )


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args), round(time.perf_counter() - t0, 2)


def _missing(job: NotebookJob) -> JobResult:
    return JobResult(
        job.name,
        "error",
        datetime.now().astimezone().isoformat(timespec="seconds"),
        0.0,
        error_type=f"notebook {job.notebook.name} not found in {job.notebook.parent}",
    )


def _result_of(fut: Future[JobResult], job: NotebookJob) -> JobResult:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - a dead worker is one notebook's error, not the run's
        lost = lost_worker(exc, job.name)
        if lost is not None:  # ... unless Dask gave up on it: a bundle without that step must not verify
            raise lost from None
        return JobResult(
            job.name,
            "error",
            datetime.now().astimezone().isoformat(timespec="seconds"),
            0.0,
            error_type=type(exc).__name__,
        )


def _scanner() -> Any:
    """The leak-scan module, or None when it cannot be imported (the bundle is then not releasable)."""
    try:
        from ..deid import scan
    except ImportError:
        return None
    return scan


def _verdict(bundle: Bundle, name: str, res: JobResult) -> str:
    if res.status == "error":
        return "error"
    from ..report.index import verdict_of

    checks = checks_of(bundle, name)
    return verdict_of(checks) if checks is not None else "not_applicable"


# --------------------------------------------------------------------------- assembly


def _assemble(
    config: CohortConfig,
    keyring: Keyring,
    bundle: Bundle,
    planned: list[NotebookJob],
    results: dict[str, JobResult],
    identifiers: set[str],
    scan: Any,
    inputs: list[dict[str, Any]],
    sec: RunSecurity,
    *,
    started: datetime,
    t0: float,
    only: list[str] | None,
    jobs: int,
    say: Progress,
    timings: dict[str, Any],
    missing: dict[str, str] | None = None,
    id_sizes: dict[str, int] | None = None,
    id_fingerprint: str = "",
    steps: dict[str, dict[str, Any]] | None = None,
) -> RunOutcome:
    from ..report.index import render_index

    root = bundle.root
    merge_quality(bundle)
    statuses, rows = notebook_statuses(bundle, planned, results)
    ended = datetime.now().astimezone()
    missing = dict(missing or {})
    folder = f"{withheld_dir(root).name}/"
    index_html, run_json = root / "reports" / "index.html", root / "run.json"
    names = {j.name for j in planned}

    def write_outputs(privacy: Privacy, skip: set[str]) -> None:
        """index.html, run.json and datapackage.json, except those withheld in this run."""
        nonlocal index_html, run_json
        from .. import dictionary
        from ..report.delta import summary as delta_summary

        timings["total_s"] = round(time.perf_counter() - t0, 2)  # the last write is scanned too: no rewrite after
        summary = bundle_summary(
            config,
            bundle,
            planned,
            started=started,
            ended=ended,
            duration_s=time.perf_counter() - t0,
            leak_note=privacy.note,
        )
        # a finding names file, place and the identifier's number, never the identifier
        summary["leaks"] = [str(f) for f in privacy.findings[:MAX_LEAK_LINES]]
        summary["more_leaks"] = max(0, len(privacy.findings) - MAX_LEAK_LINES)
        summary["privacy"] = privacy.banner()
        summary["reused"] = [s.name for s in statuses if s.reused]  # steps taken from the bundle, not run
        summary["delta"] = delta_summary(root, run_id=sec.run_id)  # what changed since the previous run
        if "reports/index.html" not in skip:
            index_html = bundle.write_text(
                "reports/index.html",
                render_index(
                    rows,
                    cohort=config.cohort.name,
                    description=config.cohort.description,
                    summary=summary,
                    language=config.report.language,
                ),
            )
        record: dict[str, Any] = {}
        if "run.json" not in skip:
            record = run_record(
                config,
                keyring,
                statuses,
                started=started,
                ended=ended,
                only=only,
                jobs=jobs,
                out=root,
                leak_note=privacy.note,
                inputs=inputs,
                timings=timings,
                exit_code=exit_status(statuses, privacy.findings, releasable=privacy.releasable),
            )
            record[STEPS] = steps or {}
            record.update(sec.record(finished=privacy is not pending))
            record.update(
                releasable=privacy.releasable,
                withheld=[w.path for w in privacy.withheld],
                leak_scan_detail={
                    **privacy.record(),
                    "identifier_classes": id_sizes or {},
                    # keyed: says whether two runs saw the same identifiers,
                    # and nothing about them without the key
                    "identifier_fingerprint": id_fingerprint,
                },
            )
            run_json = bundle.write_json("run.json", record)
        if "datapackage.json" not in skip:
            bundle.write_datapackage(name=config.cohort.name, describe=dictionary.describe)
        if privacy is not pending and "collection_report" in names and "run.json" not in skip:
            # the collection report ran before the scan: completed with its result (rescanned with GENERATED)
            from ..modalities.collection_report import finalize

            finalize(config, root, record, skip=skip | {w.path for w in privacy.withheld})

    # until the scan has said otherwise, the bundle is not known to be clean
    pending = Privacy(releasable=False, note="pending (the leak scan has not run yet)", missing=missing, folder=folder)
    write_outputs(pending, set())
    if scan is None:
        privacy = Privacy(
            releasable=False,
            note="not run (curation.deid.scan could not be imported): the bundle is not known to be clean",
            missing=missing,
            folder=folder,
        )
        add_privacy_check(bundle, privacy)
        write_outputs(privacy, set())
    else:
        privacy = fail_closed(
            scan,
            bundle,
            identifiers,
            missing=missing,
            write_outputs=write_outputs,
            started=started,
            say=say,
            timings=timings,
        )
    bundle.write_manifest()  # last, after every move: it lists nothing withheld

    leaks = privacy.findings
    exit_code = exit_status(statuses, leaks, releasable=privacy.releasable)
    t_verify = time.perf_counter()
    verified = sec.end(exit_code=exit_code, releasable=privacy.releasable, withheld=[w.path for w in privacy.withheld])
    say(
        f"  verify: {'ok' if verified.ok else f'{len(verified.problems)} problem(s)'} "
        f"({verified.n_files} files, {time.perf_counter() - t_verify:.1f} s)"
    )
    for problem in verified.problems:
        say(f"  VERIFY: {problem}")
    if not verified.ok and exit_code < 2:
        exit_code = 2  # the bundle is not what the run wrote: not a finished bundle
    summary = summary_line(
        statuses, privacy, exit_code=exit_code, folder=folder, report=index_html if index_html.is_file() else run_json
    )
    say(summary)
    return RunOutcome(
        exit_code,
        root,
        index_html,
        run_json,
        statuses,
        leaks,
        summary,
        releasable=privacy.releasable,
        withheld=privacy.withheld,
        verification=verified,
    )
