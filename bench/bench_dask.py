"""Dask scaling table: the modalities' own parallel code paths on 1, 2 and 4 LocalCluster workers.

Each row starts a LocalCluster of N single-threaded, non-daemonic worker processes (N = 1, 2, 4) and
times, inside ``curation.parallel.using(client)`` (how a run hands a step its cluster):

- the DICOM header index: ``curation.modalities.imaging._index.index_refs`` over CT files in chunks of
  ``--chunk`` files, each chunk parsed on a worker that reads the files by path (one shared file system);
- single-cell QC and doublets per sample: ``curation.modalities.immune._standardize._qc_samples``, the
  modality's own loop (tokens here, metrics, MAD outliers, empty droplets and doublet scores per sample
  on the workers, one task per sample);
- the leak scan per file group: ``curation.deid.scan.scan_bundle`` over the CT files and the samples'
  matrices with 1,000 identifiers.

The ``local`` row is the same code with no cluster (the header index's own process pool of 2, the QC
loop and the scan one after the other), the path of ``curation run`` with the local executor. On 2
cores, expect no gain past 2 workers: the table is for the method (speed-up = time(1) / time(N)).
Inputs are written once outside the timing; every worker loads numba's cache and reads the files once
before the timing.

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
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "curation" / "numba"))


def _warm() -> None:
    """In each worker process: numba's kernels (QC metrics, doublets) compiled or loaded from their cache, and
    the QC code imported, before the timing (outside a task: computed right here)."""
    sys.path.insert(0, str(HERE))
    from curation.modalities.base import ModalityData
    from curation.modalities.immune._standardize import _qc_samples

    samples, ctx = samples_of(None, 1, 400)
    _qc_samples(samples, ctx, data=ModalityData("immune"))


def samples_of(folder: Path | None, n: int, cells: int) -> tuple[list[Any], Any]:
    """``n`` RawSamples of ``cells`` cells x 20,000 genes (synthetic counts), and a context holding a keyring;
    each sample also written to ``folder`` (for the leak scan)."""
    import anndata as ad
    import pandas as pd
    from bench_immune_qc import N_GENES, gene_names, make_matrix

    from curation.deid.keys import Keyring
    from curation.modalities.immune._load import RawSample
    from curation.modalities.immune._options import ImmuneOptions

    genes = gene_names(N_GENES)
    var = pd.DataFrame({"gene_ids": [f"ENSG{i:011d}" for i in range(N_GENES)], "feature_name": genes}, index=genes)
    out = []
    for s in range(n):
        X = make_matrix(cells, 2000, seed=s)
        a = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"{i:016d}-1" for i in range(cells)]), var=var)
        if folder is not None:
            a.write_h5ad(folder / f"sample{s}.h5ad")
        out.append(
            RawSample("bench", f"f{s}", f"S{s:04d}", f"AD{s:06d}", "A", "tumor", "baseline", s, a, "X", ImmuneOptions())
        )
    ctx = SimpleNamespace(keyring=Keyring(b"0123456789abcdef0123456789abcdef"), decisions={})
    return out, ctx


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=250, help="files per header-index task")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--cells", type=int, default=5000, help="cells per sample")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    import dask
    from bench_imaging import write_files
    from distributed import Client, LocalCluster

    from curation.deid import scan
    from curation.modalities.base import ModalityData
    from curation.modalities.imaging._index import index_refs
    from curation.modalities.imaging._walk import FileRef
    from curation.modalities.immune._standardize import _qc_samples
    from curation.parallel import using

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        refs = [FileRef(p.name, str(p)) for p in write_files(root / "ct", args.files)]
        samples, ctx = samples_of(root, args.samples, args.cells)
        ids = [f"P{i:07d}" for i in range(1000)]
        matcher = scan.Matcher(list(enumerate(ids, start=1)))
        _warm()
        mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
        print(
            f"{args.files:,} CT files in chunks of {args.chunk}; {args.samples} samples of {args.cells:,} cells; "
            f"leak scan of {mb:.0f} MB; {os.cpu_count()} cores"
        )
        print(
            f"{'workers':>7} {'DICOM index s':>13} {'files/s':>8} {'speed-up':>8} {'QC+doublets s':>13} "
            f"{'cells/s':>8} {'speed-up':>8} {'leak scan s':>11} {'MB/s':>6} {'speed-up':>8}"
        )

        def row(label: str, client: Any) -> tuple[float, float, float]:
            with using(client):
                t_idx = timed(lambda: index_refs(refs, jobs=2, chunk_size=args.chunk))
                t_qc = timed(lambda: _qc_samples(samples, ctx, data=ModalityData("immune")))
                t_scan = timed(lambda: scan.scan_bundle(root, matcher))
            return t_idx, t_qc, t_scan

        base: tuple[float, float, float] | None = None
        cells = args.samples * args.cells
        for n in ["local", *args.workers.split(",")]:
            if n == "local":
                t = row(n, None)
            else:
                with (
                    dask.config.set({"distributed.worker.daemon": False}),
                    LocalCluster(
                        n_workers=int(n),
                        threads_per_worker=1,
                        dashboard_address=None,
                        silence_logs=logging.CRITICAL,
                    ) as cluster,
                    Client(cluster) as client,
                ):
                    client.run(_warm)
                    with using(client):  # imports and the page cache on every worker, outside the timing
                        index_refs(refs[: args.chunk * int(n)], chunk_size=args.chunk)
                    t = row(n, client)
                    base = base or t
            up = [f"{b / x:8.2f}" if base else f"{'-':>8}" for b, x in zip(base or t, t, strict=True)]
            print(
                f"{n:>7} {t[0]:13.2f} {args.files / t[0]:8,.0f} {up[0]} {t[1]:13.2f} "
                f"{cells / t[1]:8,.0f} {up[1]} {t[2]:11.2f} {mb / t[2]:6.1f} {up[2]}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
