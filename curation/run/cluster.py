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

A worker that dies mid-job (killed, out of memory) is replaced by its nanny and the scheduler runs
the job again elsewhere (``distributed.scheduler.allowed-failures`` times); past that the job's
future raises ``KilledWorker`` and the runner records the step as an error (exit 2) naming it, so a
run never ends with a bundle that silently lacks a step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ..errors import ConfigError, CurationError
from .workenv import init_worker

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
    """Run ``fn`` on a Dask worker with the environment a local pool worker gets (numba cache, Agg)."""
    init_worker()  # idempotent: environment defaults only
    return fn(*args)


class DaskExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask distributed client.

    Parameters
    ----------
    address
        A running scheduler (``tcp://host:8786``); None starts a LocalCluster of ``workers``
        processes, closed by :meth:`shutdown`.
    workers
        Worker processes of the LocalCluster (one thread each: a notebook job is one kernel).
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

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return str(self.client.scheduler.address)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args)`` on a worker; a :class:`concurrent.futures.Future` of its result."""
        if kwargs:
            msg = "DaskExecutor.submit takes positional arguments only"
            raise TypeError(msg)
        return self._executor.submit(_on_worker, fn, *args)  # type: ignore[no-any-return]

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:  # type: ignore[override]
        """Stop taking jobs; close the client, and the LocalCluster if the run started one."""
        if cancel_futures:
            for fut in list(getattr(self._executor, "_futures", ())):
                fut.cancel()
        self._executor.shutdown(wait=wait)
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
