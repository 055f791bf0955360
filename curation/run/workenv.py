"""The environment every notebook kernel of a worker inherits, in a local pool or on a Dask worker."""

from __future__ import annotations

from pathlib import Path

__all__ = ["init_worker"]


def init_worker() -> None:
    """Environment every kernel of this worker inherits.

    numba (under scanpy's neighbours / scrublet) JIT-compiles for ~45 s in every fresh process
    unless its cache persists; kernels are fresh processes, so the cache goes to a user folder.
    """
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curation" / "numba"
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))
    os.environ.setdefault("MPLBACKEND", "Agg")  # no display in batch runs
