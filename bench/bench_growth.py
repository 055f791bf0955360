"""Growth of each modality with its input: time and peak memory at 1x, 4x and 16x, and the fitted exponent.

Target (issue 17): cost grows linearly with records, files and cells: the exponent of a power-law fit
(time ~ n^k) is near 1.0, at most 1.15, for every modality. Sizes (16x is each modality's own benchmark):

    lab        LIS results (bench_lab.py's export)          62,500 / 250,000 / 1,000,000
    clinical   patients (bench_clinical.py's export)        12,500 /  50,000 /   200,000
    imaging    CT files indexed (bench_imaging.py's files)     250 /   1,000 /     4,000
    immune     cells QC'd (bench_immune_qc.py's matrix)      3,125 /  12,500 /    50,000

Each point runs in a fresh process (its peak RSS is its own) and times the modality's work only:
load + standardize + checks + write for the tables, the header index for DICOM (2 processes, warm
page cache: every file is written and read once before the first size), the QC pass for cells;
imports, generating the inputs and compiling are outside the timing. The imaging files are 512 x 512
CT (~0.5 MB each): 16x is 2 GB under a temporary folder. The cells' peak memory is the generator's
(a dense block of 10,000 x 20,000), not the QC pass's: read its exponent with that in mind.

    .venv/bin/python bench/bench_growth.py [--scale 1.0] [--only lab,clinical,imaging,immune]

``--scale 0.5`` runs every size at half (a quicker look; small sizes are dominated by fixed costs,
which pulls the exponent below 1; the clinical export needs at least 5,001 patients: scale >= 0.41).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MAX_EXPONENT = 1.15
FACTORS = (1, 4, 16)
BASE = {"lab": 62_500, "clinical": 12_500, "imaging": 250, "immune": 3_125}
UNIT = {"lab": "rows", "clinical": "patients", "imaging": "files", "immune": "cells"}

# the tables: bench_lab.py's and bench_clinical.py's child, timed per step (imports outside)
TABLE_CHILD = """
import json, resource, sys, time
from curation.config import load_cohort
from curation.modalities import make_context, registry, sources_of
name = sys.argv[2]
def run(path):
    cfg = load_cohort(path)
    ctx = make_context(cfg)
    mod = registry.get(name)
    t = time.perf_counter()
    data = mod.load(sources_of(cfg, name), ctx=ctx)
    data = mod.standardize(data, ctx=ctx)
    mod.checks(data, ctx=ctx)
    mod.write(data, ctx=ctx)
    return time.perf_counter() - t
run(sys.argv[3])  # the smallest size first: lazy imports and first-call costs outside the timing
dt = run(sys.argv[1])
print(json.dumps({"s": dt, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMAGING_CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench_imaging import timed_parse
from curation.modalities.imaging._index import index_refs
from curation.modalities.imaging._walk import walk_source
refs = walk_source(Path(sys.argv[1]), "dicom")[: int(sys.argv[2])]
index_refs(refs[:20], jobs=2)  # the worker server starts outside the timing
t = time.perf_counter()
rows = index_refs(refs, jobs=2, parse=timed_parse)
dt = time.perf_counter() - t
worker = max(r["bench"][1] for r in rows if "bench" in r) / 1024
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s": dt, "peak_mib": me + 2 * worker}))
"""

IMMUNE_CHILD = """
import json, os, resource, sys, time
from pathlib import Path
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "curation" / "numba"))
sys.path.insert(0, sys.argv[2])
from bench_immune_qc import N_GENES, gene_names, make_matrix
from curation.modalities.immune._qc import qc_metrics
names = gene_names(N_GENES)
X = make_matrix(int(sys.argv[1]), 2_000)
qc_metrics(X[:200], names)  # compile, or load from the numba cache
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
qc_metrics(X, names)
dt = time.perf_counter() - t
print(json.dumps({"s": dt, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "matrix_mib": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20, "before_mib": base}))
"""


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(name: str, n: int, tmp: Path, *, warm: int) -> dict[str, float]:
    """Seconds and peak MiB of one modality at size ``n`` (inputs generated outside the timing; a table
    modality first runs at size ``warm`` in the same process, untimed)."""
    if name in ("lab", "clinical"):
        import importlib

        bench = importlib.import_module(f"bench_{name}")
        cohorts = []
        for size in (n, warm):
            folder = tmp / f"{name}-{size}"
            if not folder.is_dir():
                folder.mkdir()
                bench.make_export(folder, size)
            cohorts.append(str(folder / "cohort.yaml"))
        return _child(TABLE_CHILD, cohorts[0], name, cohorts[1])
    if name == "imaging":
        from bench_imaging import write_files

        write_files(tmp / "ct", n)  # reused: the first n files of one folder
        return _child(IMAGING_CHILD, str(tmp / "ct"), str(n), str(HERE))
    return _child(IMMUNE_CHILD, str(n), str(HERE))


def exponent(sizes: list[int], values: list[float]) -> float:
    """k of the least-squares fit log(value) = log(c) + k log(n)."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1)")
    ap.add_argument("--only", default=",".join(BASE), help="modalities, comma-separated")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    print(f"{'modality':<10} {'size':>10} {'unit':<9} {'seconds':>8} {'per 1k':>8} {'peak MiB':>9}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        for name in names:
            sizes = [max(1, int(BASE[name] * f * args.scale)) for f in FACTORS]
            secs, peaks = [], []
            if name == "imaging":  # every size reads a warm page cache, as bench_imaging.py measures
                from bench_imaging import write_files

                for p in write_files(Path(tmp) / "ct", sizes[-1]):
                    p.read_bytes()
            for n in sizes:
                t = time.perf_counter()
                r = measure(name, n, Path(tmp), warm=sizes[0])
                secs.append(r["s"])
                peaks.append(r["peak_mib"])
                print(
                    f"{name:<10} {n:>10,} {UNIT[name]:<9} {r['s']:8.2f} {1000 * r['s'] / n:8.3f} {r['peak_mib']:9.0f}"
                    f"   ({time.perf_counter() - t:.0f} s with set-up)",
                    flush=True,
                )
            k, km = exponent(sizes, secs), exponent(sizes, peaks)
            worst = max(worst, k)
            verdict = "OK" if k <= MAX_EXPONENT else "MISSED"
            print(
                f"{name:<10} time ~ n^{k:.2f} (target <= {MAX_EXPONENT}) {verdict}; peak memory ~ n^{km:.2f}\n",
                flush=True,
            )
    print(
        f"worst time exponent: {worst:.2f} (target <= {MAX_EXPONENT}); wall times grow when other processes "
        "share the cores: compare exponents of one quiet run"
    )
    return 0 if worst <= MAX_EXPONENT else 1


if __name__ == "__main__":
    sys.exit(main())
