"""Parallel work inside a step: on the run's Dask cluster when the run has one, in this process otherwise.

:func:`map_chunks` is the one way a modality hands out the parallel part of its work (the DICOM header
index in file chunks, single-cell QC and doublets per sample, the leak scan per file group). Where
it finds the run's Dask client:

- a :func:`using` block: the runner, for the work it does itself (the end-of-run leak scan);
- a task on a Dask worker (:func:`distributed.get_worker` answers): that worker's client;
- the environment variable :data:`SCHEDULER_ENV`: a notebook's kernel, a child process of the Dask
  worker that runs the notebook job (:class:`curation.run.cluster.DaskExecutor` sets it on the worker);
  one client per process, connected on first use.

With none of these (a local run, a notebook in JupyterLab) the chunks run here, through ``local``
when the caller has its own pool (the header index's isolated processes) or one after the other.
Results come back in input order whichever path ran them, so both give the same values.

What a task carries: the functions are importable module-level functions (workers unpickle them by
name); the chunks carry file paths on a file system every worker sees (the cohort's inputs, the
bundle) or arrays already read, never the keyring. A task that raises sends its exception back to
be raised here: Dask logs failed tasks with their arguments, and those can name a patient's file.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["SCHEDULER_ENV", "dask_client", "init_worker", "leave_pool", "map_chunks", "using"]

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)

SCHEDULER_ENV = "CURATION_DASK_SCHEDULER"  # set on a run's Dask workers: their notebook kernels inherit it
_CLIENT: ContextVar[Any] = ContextVar("curation_dask_client", default=None)
_PROCESS_CLIENT: dict[str, Any] = {}  # scheduler address -> this process's client (a kernel's)
_LOCK = threading.Lock()
_SECEDED = threading.local()  # on: this worker thread has left its pool (leave_pool)


def init_worker() -> None:
    """Environment of a worker (a local pool's, a Dask worker's) and of every kernel it starts.

    numba (under scanpy's neighbours / scrublet, the QC kernel) JIT-compiles for ~45 s in every fresh
    process unless its cache persists; kernels are fresh processes, so the cache goes to a user folder.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curation" / "numba"
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))
    os.environ.setdefault("MPLBACKEND", "Agg")  # no display in batch runs


@contextmanager
def using(client: Any) -> Iterator[None]:
    """Within the block, :func:`map_chunks` sends its chunks to ``client`` (None: run them here)."""
    token = _CLIENT.set(client)
    try:
        yield
    finally:
        _CLIENT.reset(token)


def _on_dask_worker() -> Any:
    if "distributed" not in sys.modules:  # a Dask worker has it imported; a local run need not import it
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not in a task on a worker
        return None


def dask_client() -> Any:
    """The run's Dask client as seen from here, or None (see the module's docstring for the order)."""
    got = _CLIENT.get()
    if got is not None:
        return got
    if _on_dask_worker() is not None:
        from distributed import get_client

        return get_client()
    address = os.environ.get(SCHEDULER_ENV)
    if not address:
        return None
    with _LOCK:
        client = _PROCESS_CLIENT.get(address)
        if client is None or client.status not in ("running", "connecting"):
            try:
                from distributed import Client

                client = Client(address, set_as_default=False, timeout=30)
            except (ImportError, OSError) as exc:  # the chunks run here: slower, the same values
                log.warning("no Dask scheduler answers at %s=%s (%s); parallel work runs locally",
                            SCHEDULER_ENV, address, type(exc).__name__)  # fmt: skip
                return None
            _PROCESS_CLIENT[address] = client
    return client


class _Raised:
    """A task's exception, sent back as its value (Dask would log a failed task with its arguments)."""

    def __init__(self, exc: BaseException) -> None:
        try:
            import pickle

            pickle.dumps(exc)
            self.exc: BaseException = exc
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its type is what is left
            self.exc = RuntimeError(f"{type(exc).__name__} on a Dask worker")


def _task(fn: Callable[..., list[Any]], chunk: list[Any], *shared: Any) -> Any:
    """Run ``fn`` on one chunk on a worker, with the environment a local pool's worker gets."""
    init_worker()  # environment defaults only (numba's cache folder, Agg)
    try:
        return fn(chunk, *shared)
    except Exception as exc:  # noqa: BLE001 - raised again where map_chunks was called
        return _Raised(exc)


@contextmanager
def leave_pool() -> Iterator[None]:
    """In a task on a Dask worker: its thread leaves the worker's pool for the block (once), so that the
    chunks it waits for find a thread there too (else a one-thread worker would wait for itself)."""
    if _on_dask_worker() is None or getattr(_SECEDED, "on", False):
        yield
        return
    from distributed import rejoin, secede

    secede()
    _SECEDED.on = True
    try:
        yield
    finally:
        _SECEDED.on = False
        rejoin()


def map_chunks(
    fn: Callable[..., list[R]],
    items: Sequence[T],
    *,
    chunk: int = 1,
    shared: tuple[Any, ...] = (),
    timeout: float | None = None,
    fallback: Callable[[list[T]], list[R]] | None = None,
    local: Callable[[list[list[T]]], list[list[R]]] | None = None,
) -> list[R]:
    """``fn(chunk, *shared)`` for each chunk of ``chunk`` items, concatenated in input order.

    Parameters
    ----------
    fn
        A module-level function (workers import it by name) returning a list for its chunk.
    items
        The work: paths on a file system every worker sees, or data already read.
    chunk
        Items per task.
    shared
        Arguments every task gets (a matcher, parameters): sent once to each worker, not with each task.
    timeout
        On a cluster, seconds a chunk may take once the previous one returned; a chunk over it, whose
        workers died or whose ``fn`` raised is computed by ``fallback`` here (without one: the error is
        raised here: :class:`TimeoutError`, the cluster's, or ``fn``'s own).
    fallback
        Computes one failed chunk here (the header index: file by file, each in a fresh process).
    local
        Computes every chunk when there is no cluster (a pool of the caller's); default one after
        the other in this process.
    """
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), max(1, chunk))]
    if not chunks:
        return []
    client = dask_client()
    if client is None:
        done = local(chunks) if local is not None else [fn(c, *shared) for c in chunks]
        return [r for part in done for r in part]
    name = getattr(fn, "__name__", "chunk")
    run = uuid.uuid4().hex[:12]
    keys = [f"curation_{name}-{run}-{i}" for i in range(len(chunks))]  # no data in a key: keys are logged
    with leave_pool():
        # the data go straight to the workers (in the task graph, through the scheduler, Dask warns past ~10 MB)
        held = [client.scatter(s, broadcast=True, hash=False) for s in shared] if shared else []
        sent = client.scatter(chunks, hash=False)
        futures = client.map(_task, [fn] * len(chunks), sent, *[[h] * len(chunks) for h in held], key=keys)
        out: list[R] = []
        try:
            for c, fut in zip(chunks, futures, strict=True):
                try:
                    got = fut.result(timeout=timeout)
                    if isinstance(got, _Raised):
                        raise got.exc
                except Exception as exc:  # fn raised; or a timeout, or KilledWorker (the chunk's workers died)
                    if fallback is None:
                        raise
                    log.warning("a chunk of %d item(s) of %s failed on the cluster (%s); computed here",
                                len(c), name, type(exc).__name__)  # fmt: skip
                    fut.cancel()
                    got = fallback(c)
                out.extend(got)
        finally:
            client.cancel([f for f in futures if not f.done()])
            del futures, held, sent  # released on the cluster
    return out
