"""Benchmark: QC metrics of a single-cell matrix too large for memory, out of core.

Target (issue 7): 1,000,000 cells x 20,000 genes QC'd with peak memory under 8 GiB. In memory as
CSR that matrix is ~15.6 GiB (2,000 genes detected per cell), so it is written to an .h5ad block by
block (never whole in memory) and QC'd by :func:`curation.modalities.immune._qc.qc_metrics_h5ad`,
one block of cells at a time, in a fresh child process whose peak RSS is its own. The on-disk
file for 1,000,000 cells is ~15 GB: run the full size where the disk and time allow, or a smaller
``--cells`` and read the printed per-cell figures (time is linear in cells; memory is one block).

    .venv/bin/python bench/bench_immune_scale.py [--cells 200000] [--chunk 50000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_GIB = 8.0
N_GENES = 20_000
PER_CELL = 2_000


def write_h5ad(path: Path, n_cells: int, *, block: int = 20_000, seed: int = 0) -> int:
    """A CSR .h5ad written block by block: each cell draws one gene from each of 2,000 bins."""
    import anndata as ad
    import h5py
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_immune_qc import gene_names

    rng = np.random.default_rng(seed)
    width = N_GENES // PER_CELL
    nnz = n_cells * PER_CELL
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = (n_cells, N_GENES)
        data = g.create_dataset("data", shape=(nnz,), dtype="float32", chunks=(1 << 20,))
        indices = g.create_dataset("indices", shape=(nnz,), dtype="int32", chunks=(1 << 20,))
        g.create_dataset("indptr", data=np.arange(0, nnz + 1, PER_CELL, dtype=np.int64))
        base = (np.arange(PER_CELL, dtype=np.int32) * width)[None, :]
        for s in range(0, n_cells, block):
            n = min(block, n_cells - s)
            idx = base + rng.integers(0, width, size=(n, PER_CELL), dtype=np.int32)
            vals = (rng.negative_binomial(1, 0.4, size=n * PER_CELL) + 1).astype(np.float32)
            a, b = s * PER_CELL, (s + n) * PER_CELL
            indices[a:b] = idx.ravel()
            data[a:b] = vals
        ad.io.write_elem(f, "obs", pd.DataFrame(index=pd.Index([f"c{i}" for i in range(n_cells)])))
        ad.io.write_elem(f, "var", pd.DataFrame(index=pd.Index(gene_names(N_GENES))))
        for k in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            ad.io.write_elem(f, k, {})
    return nnz


CHILD = """
import json, os, resource, sys, time
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.expanduser("~/.cache/curation/numba"))
from curation.modalities.immune._qc import qc_metrics_h5ad
path, chunk = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
df = qc_metrics_h5ad(path, chunk=chunk)
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": dt, "cells": len(df), "peak_gib": peak,
                  "median_total": float(df["total_counts"].median()), "nan": int(df["total_counts"].isna().sum())}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the .h5ad here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "big.h5ad"
        t = time.perf_counter()
        nnz = write_h5ad(path, args.cells)
        t_write = time.perf_counter() - t
        in_memory_gib = nnz * 8 / 2**30  # float32 data + int32 indices, as CSR in memory
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(args.chunk)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size_gib = path.stat().st_size / 2**30
    n = args.cells
    print(
        f"matrix: {n:,} cells x {N_GENES:,} genes, {PER_CELL:,} per cell: {in_memory_gib:.2f} GiB as CSR in memory, "
        f"{size_gib:.2f} GiB on disk (written in blocks in {t_write:.0f} s)"
    )
    print(
        f"chunked QC ({args.chunk:,} cells per block): {r['seconds']:.1f} s, {n / r['seconds']:,.0f} cells/s, "
        f"peak RSS {r['peak_gib']:.2f} GiB (target < {TARGET_GIB:.0f} GiB)"
    )
    if n < 1_000_000:
        print(
            f"extrapolated to 1,000,000 cells (linear in cells; memory is one block, not the matrix): "
            f"~{1_000_000 / n * r['seconds']:.0f} s, peak RSS ~{r['peak_gib']:.2f} GiB + "
            f"{(1_000_000 - n) * 8 * 20 / 2**30:.2f} GiB of result table"
        )
    ok = r["cells"] == n and r["nan"] == 0 and r["peak_gib"] < TARGET_GIB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
