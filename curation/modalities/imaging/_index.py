"""Parallel, isolated header indexing.

Files are parsed in chunks by a pool of worker processes. A parser crash on one file is caught
per file (reason code ``unreadable``); a worker that dies or hangs is caught per chunk by a
timeout, after which the pool is torn down, finished chunks are kept, and the chunk that timed out
is re-parsed one file per fresh process, so only the file that hangs ends up quarantined
(``timeout``). Memory is bounded by reading headers only (at most 1 MiB per file, pixel data never)
and, on Linux, an address-space limit in every worker.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._walk import FileRef, parse_chunk

log = logging.getLogger(__name__)

CHUNK_SIZE = 200
WORKER_MEMORY_BYTES = 4 << 30
STARTUP_TIMEOUT = 120.0  # a fresh process imports the parser before its file's clock starts


def _limit_memory(limit: int) -> None:
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # not Linux, or not allowed: the byte caps still hold
        pass


def _context() -> Any:
    # forkserver: workers fork from a clean server process (no threads inherited from a Jupyter
    # kernel, no copy of the parent's memory) yet start in milliseconds after the first one.
    try:
        ctx = mp.get_context("forkserver")
    except ValueError:
        return mp.get_context("spawn")
    # imported once in the server, inherited by every worker (only before the server starts)
    ctx.set_forkserver_preload(
        ["curation.modalities.imaging._walk", "curation.modalities.imaging._image", "pydicom", "numpy"]
    )
    return ctx


@contextmanager
def _importable_main() -> Iterator[None]:
    """Start workers without re-running the caller's ``__main__``.

    Worker processes only need this package's parser functions. multiprocessing would otherwise
    re-import the main script in every new process: an unguarded script starts the indexing again,
    and ``python - <<EOF`` / ``-c`` have no main file at all, so the workers would die at start-up.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _isolated_one(parse: Callable[[list[FileRef]], list[dict[str, Any]]], ref: FileRef, conn: Any, memory: int) -> None:
    _limit_memory(memory)
    try:
        conn.send("ready")  # the file's time starts now, not at process start-up
        conn.send(parse([ref])[0])
    finally:
        conn.close()


def _timeout_row(ref: FileRef, what: str) -> dict[str, Any]:
    return {
        "relpath": ref.relpath,
        "ok": False,
        "reason": "timeout",
        "detail": what,
        "path": "",
        "fields": None,
        "size": 0,
    }


def _per_file(
    refs: list[FileRef], *, parse: Callable[[list[FileRef]], list[dict[str, Any]]], timeout: float, memory: int
) -> list[dict[str, Any]]:
    """Parse each file in its own fresh process; kill the ones that overrun ``timeout``."""
    ctx = _context()
    rows = []
    for ref in refs:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_isolated_one, args=(parse, ref, send, memory), daemon=True)
        with _importable_main():
            proc.start()
        send.close()
        row = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:  # wait for the process to start
            if recv.poll(0.05) or not proc.is_alive():
                break
        try:
            started = recv.poll(0) and recv.recv() == "ready"
        except EOFError:
            started = False
        deadline = time.monotonic() + (timeout if started else 0)
        answered = not started
        while time.monotonic() < deadline:
            if recv.poll(0.05):
                answered = True
                break
            if not proc.is_alive():  # died without answering: it crashed on this file
                answered = True
                break
        if answered and recv.poll(0):
            try:
                row = recv.recv()
            except EOFError:
                row = None
        proc.join(0 if not answered else 5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
        if row is None:
            row = _timeout_row(ref, f"header parse took over {timeout:.0f} s")
            if answered:  # the process ended without an answer: it crashed on this file
                row.update(reason="unreadable", detail=f"parser process died (exit {proc.exitcode})")
        rows.append(row)
    return rows


def index_refs(
    refs: list[FileRef],
    *,
    jobs: int = 2,
    chunk_size: int = CHUNK_SIZE,
    chunk_timeout: float | None = None,
    file_timeout: float = 20.0,
    memory: int = WORKER_MEMORY_BYTES,
    parse: Callable[[list[FileRef]], list[dict[str, Any]]] = parse_chunk,
) -> list[dict[str, Any]]:
    """Parse every file's header; one result row per file, in input order.

    On the run's Dask cluster (``curation run --executor dask``) the chunks go to its workers, which
    read the files by their paths (:mod:`curation.parallel`); a chunk whose worker dies or that overruns
    ``chunk_timeout`` there is parsed here file by file. Otherwise a local pool parses them.

    Parameters
    ----------
    refs
        Files to parse.
    jobs
        Worker processes.
    chunk_size
        Files per task: large enough to amortize inter-process traffic, small enough to re-run
        file by file when it times out.
    chunk_timeout
        Seconds a chunk may take once the previous one returned (default: 30 s + 50 ms per file).
    file_timeout
        Seconds one file may take when a timed-out chunk is re-parsed file by file.
    memory
        Address-space limit of each worker process, in bytes (Linux).
    parse
        The chunk parser (a module-level function, so worker processes can import it).
    """
    from functools import partial

    from ...parallel import map_chunks

    timeout = chunk_timeout if chunk_timeout is not None else 30.0 + 0.05 * chunk_size
    # on the run's Dask cluster when it has one (a chunk that fails or overruns there is parsed here file
    # by file); else this machine's pool of isolated processes
    return map_chunks(
        parse,
        refs,
        chunk=chunk_size,
        timeout=timeout,
        fallback=partial(_per_file, parse=parse, timeout=file_timeout, memory=memory),
        local=partial(_in_pool, jobs=jobs, timeout=timeout, file_timeout=file_timeout, memory=memory, parse=parse),
    )


def _in_pool(
    chunks: list[list[FileRef]],
    *,
    jobs: int,
    timeout: float,
    file_timeout: float,
    memory: int,
    parse: Callable[[list[FileRef]], list[dict[str, Any]]],
) -> list[list[dict[str, Any]]]:
    """Each chunk's rows, parsed by a local pool of ``jobs`` processes (see :func:`index_refs`)."""
    results: dict[int, list[dict[str, Any]]] = {}
    suspects: list[int] = []
    remaining = list(range(len(chunks)))
    ctx = _context()
    while remaining:
        with _importable_main():
            pool = ctx.Pool(processes=max(1, min(jobs, len(remaining))), initializer=_limit_memory, initargs=(memory,))
        asyncs = {i: pool.apply_async(parse, (chunks[i],)) for i in remaining}
        timed_out: int | None = None
        for i in remaining:
            try:
                results[i] = asyncs[i].get(timeout=timeout)
            except mp.TimeoutError:
                timed_out = i
                break
            except Exception:  # noqa: BLE001 - a chunk whose worker failed is re-run file by file
                suspects.append(i)
        if timed_out is None:
            pool.close()
            pool.join()
            break
        log.warning(
            "a chunk of %d files timed out after %.0f s; re-parsing it file by file", len(chunks[timed_out]), timeout
        )
        for i in remaining:
            if i not in results and i != timed_out and asyncs[i].ready():
                try:
                    results[i] = asyncs[i].get(0)
                except Exception:  # noqa: BLE001
                    suspects.append(i)
        pool.terminate()
        pool.join()
        suspects.append(timed_out)
        remaining = [i for i in remaining if i not in results and i not in suspects]
    t0 = time.monotonic()
    for i in suspects:
        results[i] = _per_file(chunks[i], parse=parse, timeout=file_timeout, memory=memory)
    if suspects:
        log.info("re-parsed %d suspect chunk(s) file by file in %.1f s", len(suspects), time.monotonic() - t0)
    return [results[i] for i in range(len(chunks))]
