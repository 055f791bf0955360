"""Dask distributed as the run's executor: notebook jobs go to a cluster's workers.

``executor.kind: dask`` (or ``curation run --executor dask``) with no address starts a
:class:`distributed.LocalCluster` of ``jobs`` single-threaded worker processes for the run and
closes it at the end; with ``executor.address`` (``--scheduler ADDRESS``) the run connects to a
running scheduler and leaves it running.

Workers read the cohort's inputs and write the bundle through the paths of cohort.yaml: on more than
one machine, every worker must see the cohort folder and the bundle at the same paths (a shared file
system: NFS, Lustre, GPFS). Jobs carry only those paths (``cohort``, ``out``), never data. Jobs start
processes of their own (notebook kernels, the DICOM header index's pool): start the workers of a
cluster with ``DASK_DISTRIBUTED__WORKER__DAEMON=False`` (the LocalCluster of a run does it itself).

Inside a job, a step's parallel work (the DICOM header index in file chunks, single-cell QC and doublets
per sample) goes to the same cluster through :func:`curation.parallel.map_chunks`: a job sets
:data:`~curation.parallel.SCHEDULER_ENV` on its worker for the notebook's kernel, and its thread leaves
the worker's pool while the kernel runs, so that one-thread workers run the job's chunks instead of
waiting for them. ``jobs`` bounds the jobs running at once (the rest wait in the executor, as in a local
pool), whatever the cluster's threads. The runner keeps the cluster up for the leak scan's file groups.

A worker that dies mid-job (killed, out of memory) is replaced by its nanny and the scheduler runs
the job again elsewhere (``distributed.scheduler.allowed-failures`` times); past that the job's
future raises ``KilledWorker`` and the runner records the step as an error (exit 2) naming it, so a
run never ends with a bundle that silently lacks a step.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any

from ..errors import ConfigError, CurationError
from ..parallel import SCHEDULER_ENV, init_worker, leave_pool

__all__ = ["DaskExecutor", "WorkerLost", "lost_worker"]

INSTALL = "pip install 'curation[dask]' (or: pip install distributed)"


class WorkerLost(CurationError):
    """A job was lost with the workers that ran it: the run stops unfinished (its bundle does not verify)."""


def lost_worker(exc: BaseException, step: str) -> WorkerLost | None:
    """The error to stop the run with when ``exc`` says Dask gave up on ``step`` after its workers died."""
    if type(exc).__name__ != "KilledWorker":
        return None
    msg = (
        f"step {step}: its Dask workers died while running it (KilledWorker, after "
        "distributed.scheduler.allowed-failures retries); the run stops unfinished and its bundle does not "
        "verify. Give the workers more memory or fewer jobs, then run again (finished steps are reused)"
    )
    return WorkerLost(msg)


def _on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` on a Dask worker with the environment a local pool worker gets (numba cache, Agg).

    The job's thread leaves the worker's pool while it runs: a notebook's work happens in its kernel
    (a child process), whose chunks (:func:`curation.parallel.map_chunks`) then find a free thread
    here too; the kernel finds the scheduler through :data:`~curation.parallel.SCHEDULER_ENV`.
    How many jobs run at once the executor decides (``jobs``), not the workers' threads.
    """
    from distributed import get_worker

    init_worker()  # idempotent: environment defaults only
    os.environ[SCHEDULER_ENV] = str(get_worker().scheduler.address)
    with leave_pool():
        return fn(*args)


class DaskExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask distributed client.

    Parameters
    ----------
    address
        A running scheduler (``tcp://host:8786``); None starts a LocalCluster of ``workers``
        processes, closed by :meth:`shutdown`.
    workers
        Worker processes of the LocalCluster (one thread each: a notebook job is one kernel), and the
        jobs that run at once on any cluster (the others wait here, as in a local pool).
    """

    def __init__(self, address: str | None = None, *, workers: int = 2) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            msg = f"executor.kind: dask needs the distributed package; install it with: {INSTALL}"
            raise ConfigError(msg) from None
        self.cluster: Any = None
        if address is None:
            import dask

            # a job may start processes of its own (the DICOM header index's pool): not a daemon's right
            with dask.config.set({"distributed.worker.daemon": False}):
                self.cluster = LocalCluster(
                    n_workers=max(1, workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,  # no web server on a machine that holds patient data
                    silence_logs=logging.ERROR,
                )
        try:
            self.client: Any = Client(self.cluster if self.cluster is not None else address)
        except OSError as exc:
            self._close_cluster()
            msg = (
                f"executor.address {address!r}: no Dask scheduler answers there ({type(exc).__name__}); "
                "start one (dask scheduler) or leave the address out for a local cluster"
            )
            raise ConfigError(msg) from None
        self._executor = self.client.get_executor(pure=False)  # the same job twice runs twice
        self._limit = max(1, workers)
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._running: set[Future[Any]] = set()
        self._lock = threading.RLock()

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return str(self.client.scheduler.address)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args)`` on a worker; a :class:`concurrent.futures.Future` of its result."""
        if kwargs:
            msg = "DaskExecutor.submit takes positional arguments only"
            raise TypeError(msg)
        outer: Future[Any] = Future()
        with self._lock:
            self._queue.append((outer, fn, args))
        self._pump()
        return outer

    def _pump(self) -> None:
        """Hand queued jobs to the cluster while fewer than ``workers`` run."""
        with self._lock:
            while self._queue and len(self._running) < self._limit:
                outer, fn, args = self._queue.popleft()
                if not outer.set_running_or_notify_cancel():
                    continue
                inner: Future[Any] = self._executor.submit(_on_worker, fn, *args)
                self._running.add(inner)
                inner.add_done_callback(partial(self._done, outer=outer))

    def _done(self, inner: Future[Any], *, outer: Future[Any]) -> None:
        with self._lock:
            self._running.discard(inner)
        if inner.cancelled():
            outer.set_exception(CurationError("the job was cancelled on the Dask cluster"))
        elif (exc := inner.exception()) is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(inner.result())
        self._pump()

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:  # type: ignore[override]
        """Stop taking jobs; close the client, and the LocalCluster if the run started one."""
        if cancel_futures:
            with self._lock:
                queued, self._queue = list(self._queue), deque()
            for outer, _, _ in queued:
                outer.cancel()
            for fut in list(getattr(self._executor, "_futures", ())):
                fut.cancel()
        self._executor.shutdown(wait=wait)
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
