"""Dask scaling table: the DICOM header index in file chunks and single-cell QC per sample on 1, 2, 4 workers.

A LocalCluster of N single-threaded worker processes (N = 1, 2, 4) runs the same tasks: the imaging
header parser (``curation.modalities.imaging._walk.parse_chunk``) over chunks of CT files, and the
single-cell QC pass (``curation.modalities.immune._qc.qc_metrics``) over samples read from .npz files,
as ``curation run --executor dask`` would hand them to a cluster whose workers share a file system.
On 2 cores, expect no gain past 2 workers: the table is for the method (speed-up = time(1) / time(N)).
Inputs are written once outside the timing; each worker compiles numba's kernel before the timing.

    .venv/bin/python bench/bench_dask.py [--files 2000] [--samples 8] [--cells 5000] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CHUNK = 250  # files per task (the indexer's own chunks are of this order)


def index_chunk(paths: list[str]) -> int:
    """Parse one chunk of DICOM files on a worker; the number of rows."""
    from curation.modalities.imaging._walk import FileRef, parse_chunk

    return len(parse_chunk([FileRef(Path(p).name, p) for p in paths]))


def qc_sample(path: str) -> int:
    """Read one sample's matrix and run the QC pass on a worker; the number of cells."""
    import scipy.sparse as sp
    from bench_immune_qc import N_GENES, gene_names

    from curation.modalities.immune._qc import qc_metrics

    X = sp.load_npz(path).tocsr()
    return len(qc_metrics(X, gene_names(N_GENES)))


def _warm() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "curation" / "numba"))
    sys.path.insert(0, str(HERE))
    from bench_immune_qc import N_GENES, gene_names, make_matrix

    from curation.modalities.immune._qc import qc_metrics

    qc_metrics(make_matrix(50, 100), gene_names(N_GENES))  # numba compiles (or loads its cache) here


def timed(client: Any, fn: Any, items: list[Any]) -> float:
    t = time.perf_counter()
    client.gather(client.map(fn, items, pure=False))
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--cells", type=int, default=5000, help="cells per sample")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    import dask
    import scipy.sparse as sp
    from bench_imaging import write_files
    from bench_immune_qc import make_matrix
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        files = [str(p) for p in write_files(Path(tmp) / "ct", args.files)]
        chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
        samples = []
        for s in range(args.samples):
            path = Path(tmp) / f"sample{s}.npz"
            sp.save_npz(path, make_matrix(args.cells, 2000, seed=s), compressed=False)
            samples.append(str(path))
        print(
            f"{args.files:,} CT files in {len(chunks)} chunks; {args.samples} samples of {args.cells:,} cells; "
            f"{os.cpu_count()} cores"
        )
        print(
            f"{'workers':>7} {'DICOM index s':>14} {'files/s':>9} {'speed-up':>8} "
            f"{'QC per sample s':>16} {'cells/s':>9} {'speed-up':>8}"
        )
        base: dict[str, float] = {}
        for n in [int(w) for w in args.workers.split(",")]:
            with (
                dask.config.set({"distributed.worker.daemon": False}),
                LocalCluster(
                    n_workers=n, threads_per_worker=1, dashboard_address=None, silence_logs=logging.CRITICAL
                ) as cluster,
                Client(cluster) as client,
            ):
                client.run(_warm)
                timed(client, index_chunk, chunks[:n])  # page cache and imports, outside the timing
                t_idx = timed(client, index_chunk, chunks)
                t_qc = timed(client, qc_sample, samples)
            base.setdefault("idx", t_idx)
            base.setdefault("qc", t_qc)
            cells = args.samples * args.cells
            print(
                f"{n:>7} {t_idx:14.2f} {args.files / t_idx:9,.0f} {base['idx'] / t_idx:8.2f} "
                f"{t_qc:16.2f} {cells / t_qc:9,.0f} {base['qc'] / t_qc:8.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
