"""Forked worker processes that share a large input (each scrubs parts of it with its own sentence cache)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._engine import Scrubber
    from ._known import Known


def _can_fork() -> bool:
    import multiprocessing as mp
    import threading

    # forking a process that runs other threads (a Jupyter kernel, a test runner) can deadlock: there the
    # texts are scrubbed in this process, as the run's executors avoid fork for the same reason
    return "fork" in mp.get_all_start_methods() and not mp.current_process().daemon and threading.active_count() == 1


# in a worker: what it shares with the process that forked it
_FORKED: tuple[Scrubber, Sequence[str], Known | None, list[tuple[int, int]], Any] | None = None


def _share(sc: Scrubber, texts: Sequence[str], known: Known | None, parts: list[tuple[int, int]], nxt: Any) -> None:
    global _FORKED
    _FORKED = (sc, texts, known, parts, nxt)


def _scrub_parts() -> dict[int, list[str]]:
    """Scrub parts until none is left, taking the next one from the counter shared by every process."""
    assert _FORKED is not None
    sc, texts, known, parts, nxt = _FORKED
    done: dict[int, list[str]] = {}
    while True:
        with nxt.get_lock():
            i = nxt.value
            nxt.value += 1
        if i >= len(parts):
            return done
        lo, hi = parts[i]
        done[i] = sc._scrub_texts(texts[lo:hi], known)


def _scrub_forked(sc: Scrubber, texts: Sequence[str], known: Known | None, workers: int) -> list[str]:
    """Scrub ``texts`` in ``workers`` processes: this one and ``workers - 1`` forked ones, which inherit the
    scrubber and the texts. The texts are cut into parts of about as many characters, a few per process;
    each process takes the next part left until none is (a busier core takes fewer), with its own sentence
    cache, and sends back scrubbed texts only."""
    import multiprocessing as mp

    n_parts = workers * 4
    total = sum(map(len, texts))
    parts: list[tuple[int, int]] = []
    lo = acc = 0
    for i, t in enumerate(texts):
        acc += len(t)
        if acc * n_parts >= total * (len(parts) + 1):
            parts.append((lo, i + 1))
            lo = i + 1
    if lo < len(texts):
        parts.append((lo, len(texts)))
    ctx = mp.get_context("fork")
    nxt = ctx.Value("i", 0)
    # forked workers get the initializer's arguments by inheritance, not pickling; scrubbing is pure Python
    # and regular expressions, so there are no BLAS or OpenMP threads to pin per worker
    with ctx.Pool(workers - 1, initializer=_share, initargs=(sc, texts, known, parts, nxt)) as pool:
        pending = [pool.apply_async(_scrub_parts) for _ in range(workers - 1)]
        _share(sc, texts, known, parts, nxt)
        try:
            done = _scrub_parts()
        finally:
            _share_none()
        for p in pending:
            done.update(p.get())
    return [t for i in range(len(parts)) for t in done[i]]


def _share_none() -> None:
    global _FORKED
    _FORKED = None
