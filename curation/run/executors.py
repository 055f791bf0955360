"""Where notebook runs execute: a long-lived local process pool by default, Dask when asked.

The interface is :class:`concurrent.futures.Executor` (``submit`` -> future, ``shutdown``), so a
Dask cluster plugs in through ``distributed.Client(address).get_executor()`` without touching the
runner. Jobs are plain picklable dataclasses; the worker function executes one notebook with the
papermill API (a kernel per notebook, but papermill and nbconvert are imported once per worker
process) and renders it to HTML in-process.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import re
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from ..parallel import init_worker

__all__ = [
    "JobResult",
    "NotebookJob",
    "collect_identifiers_job",
    "make_executor",
    "report_language",
    "run_notebook_job",
    "stable_ids",
    "timings",
]

# Imported once in the fork server, so each worker starts with them loaded (~3 s saved per worker).
PRELOAD = ["papermill", "nbconvert", "nbformat", "curation.report.html", "curation.report.review"]


@dataclass(frozen=True)
class NotebookJob:
    """One notebook run: inputs, where its outputs go, and the only parameters it gets."""

    name: str
    title: str
    notebook: Path
    output: Path  # executed .ipynb
    html: Path
    parameters: dict[str, str]  # only `cohort` and `out`: never identifiers or secrets
    plotly_src: str = "assets/plotly.min.js"
    cwd: Path | None = None
    cell_timeout_s: int | None = None
    kernel_name: str | None = None
    needs: tuple[str, ...] = ()  # jobs of the same run that must end before this one starts (SPEC.needs)


@dataclass
class JobResult:
    """What a worker sends back: status and timings, never data values."""

    name: str
    status: str  # ok | error
    started: str
    duration_s: float
    kernel_start_s: float | None = None
    import_s: float | None = None
    error_type: str = ""
    error_cell: int | None = None  # index of the failing cell in the executed notebook
    error_source: str = ""  # source code of the failing cell (code, not data)
    rendered: bool = False
    render_s: float | None = None
    render_error: str = ""
    reused: bool = False  # taken from the bundle, not run (curation.run.incremental)


def make_executor(kind: str = "local", *, jobs: int = 2, address: str | None = None) -> Executor:
    """The executor of a run.

    Parameters
    ----------
    kind
        ``local`` (a process pool of ``jobs`` workers) or ``dask`` (the Dask distributed scheduler at
        ``address``, or without one a LocalCluster of ``jobs`` workers for this run; inputs and the
        bundle folder must be on a file system every worker sees: :mod:`curation.run.cluster`).
    """
    if kind == "dask":
        from .cluster import DaskExecutor

        return DaskExecutor(address, workers=jobs)
    # forkserver: workers fork from a clean server that preloaded papermill/nbconvert, never from a
    # parent that may hold threads (a JupyterLab kernel, a test runner).
    ctx: BaseContext
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
    else:  # Windows: spawn, each worker imports papermill itself once
        ctx = mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=init_worker)


@cache
def _kernel_manager_class() -> type:
    """A kernel manager that talks to its kernel over Unix sockets rather than localhost TCP.

    Notebook outputs carry patient-level data; local IPC keeps them off the network stack (and
    stops ipykernel's warning about unencrypted TCP on every notebook). TCP remains the fallback
    on Windows and where the runtime folder's path is too long for a socket name.
    """
    import os
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import default

    use_ipc = os.name == "posix" and len(jupyter_runtime_dir()) < 60

    class LocalKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if use_ipc else "tcp"

        @default("ip")
        def _ip_default(self) -> str:
            if self.transport != "ipc":
                return super()._ip_default()
            # one socket prefix per kernel: the library default ("kernel-ipc" in the working
            # folder) would be shared by kernels running at the same time
            runtime = jupyter_runtime_dir()
            os.makedirs(runtime, mode=0o700, exist_ok=True)
            return os.path.join(runtime, f"kernel-{uuid.uuid4().hex[:16]}-ipc")

    return LocalKernelManager


def _is_import_cell(source: str) -> bool:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(ln.startswith(("import ", "from ")) for ln in lines)


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def timings(nb: Any) -> tuple[float | None, float | None]:
    """Kernel start (papermill start -> first cell start) and import time (import-only cells).

    Read from the metadata papermill records in every executed notebook.
    """
    start = nb.metadata.get("papermill", {}).get("start_time")
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(
        (
            c.metadata.get("papermill", {}).get("start_time")
            for c in code
            if c.metadata.get("papermill", {}).get("start_time")
        ),
        None,
    )
    imports = [c.metadata.get("papermill", {}).get("duration") for c in code if _is_import_cell(c.source)]
    import_s = sum(d for d in imports if isinstance(d, (int, float))) if imports else None
    return _seconds(start, first), import_s


def run_notebook_job(job: NotebookJob) -> JobResult:
    """Execute one notebook with papermill and render it; never raises for a failing notebook.

    A failing notebook keeps its executed copy (papermill's error banner and traceback) and is
    rendered like any other, so the reviewer can see where it stopped.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from ..report.html import render_file
    from ..report.paths import clean_notebook
    from ..report.review import modality_label

    # papermill warns on every `name: type = ""  # help` line whose help text holds "=", and then
    # calls the parameters it could not parse "unknown": noise, since only cohort and out are passed
    logging.getLogger("papermill").setLevel(logging.ERROR)
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    result = JobResult(job.name, "ok", started, 0.0)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(job.notebook),
            str(job.output),
            parameters=dict(job.parameters),
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            cwd=str(job.cwd) if job.cwd else None,
            execution_timeout=job.cell_timeout_s,
            kernel_name=job.kernel_name,
            kernel_manager_class=_kernel_manager_class(),
            # jupyter_client interrupts every kernel it shuts down, and ipykernel logs that as an
            # ERROR on the run's stderr; the kernel's own log adds nothing a cell error does not show
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as exc:
        result.status, result.error_type = "error", exc.ename
        result.error_cell, result.error_source = exc.cell_index, exc.source
    except Exception as exc:  # noqa: BLE001 - a dead kernel or missing file is an error row, not a crash
        result.status, result.error_type = "error", type(exc).__name__
    result.duration_s = round(time.perf_counter() - t0, 3)
    if job.output.is_file():
        try:
            nb = nbformat.read(job.output, as_version=4)
            result.kernel_start_s, result.import_s = timings(nb)
            if result.status == "error" and result.error_cell is None:
                result.error_cell, result.error_source = _failing_cell(nb)
            nb = stable_ids(nb, job.name)
            t1 = time.perf_counter()
            # the notebook kept in the bundle names no machine path (parameters relative to cohort.yaml)
            cohort = Path(job.parameters.get("cohort") or job.notebook)
            clean_notebook(
                nb,
                base=job.cwd or cohort.parent,
                out=Path(job.parameters.get("out") or job.output.parent.parent),
                name=job.name,
            )
            nbformat.write(nb, job.output)
            label, _, cohort_name = job.title.partition(" · ")
            render_file(
                job.output,
                job.html,
                title=modality_label(job.name, label),
                plotly_src=job.plotly_src,
                language=report_language(cohort),
                cohort=cohort_name,
            )
            result.render_s = round(time.perf_counter() - t1, 3)
            result.rendered = True
        except Exception as exc:  # noqa: BLE001 - rendering problems are reported, the run goes on
            result.render_error = type(exc).__name__
    return result


# random ids an executed notebook holds: papermill's injected cell id (8 hex), plotly's figure div ids
# (uuid4), ipywidgets' model ids (32 hex, also keys of the widget state and IPY_MODEL_ references);
# replaced by ids derived from the step and their order, so that two runs on the same inputs give
# notebooks and reports that differ only in times and durations
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_MODEL_ID = re.compile(r'"model_id": "([0-9a-f]{32})"')
_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def stable_ids(nb: Any, name: str) -> Any:
    """``nb`` with its random ids (injected cell, plotly divs, widget models) made deterministic."""
    import json

    import nbformat

    for i, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = f"injected-parameters-{i}"
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    # widget models in the order the cells show them, then the models they reference (by attribute name)
    order: list[str] = []
    queue = [m for c in nb.cells for m in _MODEL_ID.findall(json.dumps(c.get("outputs", []), sort_keys=True))]
    while queue:
        m = queue.pop(0)
        if m not in order:
            order.append(m)
            queue += _MODEL_REF.findall(json.dumps(state.get(m, {}), sort_keys=True))
    rest = [k for k in state if k not in order and re.fullmatch(r"[0-9a-f]{32}", k)]
    order += sorted(rest, key=lambda k: _MODEL_REF.sub("", json.dumps(state[k], sort_keys=True)))
    seen: dict[str, str] = {
        m: hashlib.sha256(f"{name}\x1fmodel\x1f{i}".encode()).hexdigest()[:32] for i, m in enumerate(order)
    }
    n_models = len(seen)

    def derived(m: re.Match[str]) -> str:
        got = seen.get(m.group(0))
        if got is None:  # a uuid, in the order the notebook's text holds them (cells first)
            digest = hashlib.sha256(f"{name}\x1fuuid\x1f{len(seen) - n_models}".encode()).hexdigest()
            got = seen[m.group(0)] = str(uuid.UUID(digest[:32], version=4))
        return got

    alternatives = [_UUID, *(re.escape(m) for m in order)]
    pattern = re.compile(r"(?<![0-9a-f])(?:" + "|".join(alternatives) + r")(?![0-9a-f])")
    text = pattern.sub(derived, nbformat.writes(nb))
    return nbformat.reads(text, as_version=4) if seen else nb


def report_language(cohort: Path) -> str:
    """``report.language`` of a cohort.yaml (read without validating the rest: the run did that)."""
    import yaml

    try:
        raw = yaml.safe_load(cohort.read_text(encoding="utf-8")) or {}
        got = (raw.get("report") or {}).get("language", "both")
    except (OSError, yaml.YAMLError, AttributeError):
        return "both"
    return got if got in ("zh", "en", "both") else "both"


def _failing_cell(nb: Any) -> tuple[int | None, str]:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.metadata.get("papermill", {}).get("exception"):
            return i, cell.source
    return None, ""


def collect_identifiers_job(cohort: str, name: str) -> tuple[Any, float]:
    """Identifiers of one modality's raw sources, for the leak scan (memory only), and the seconds
    it took to load them: a set of strings, or an identifier registry (``scan_values()``); the
    runner reads either through :func:`curation.run.runner.identifier_values`."""
    from ..modalities import collect_identifiers
    from ..modalities.registry import load_cohort

    t0 = time.perf_counter()
    found = collect_identifiers(load_cohort(cohort), name)
    return found, round(time.perf_counter() - t0, 3)
