"""Benchmark: the FHIR export (mCODE) of a large curated bundle.

Target: 200,000 patients with their conditions and TNM stages and 1,000,000 tumour-marker results
exported (NDJSON per resource type and transaction Bundles) in under 60 s and under 4 GiB peak memory
on 2 cores. The curated Parquet tables are generated first (not timed); each export runs in a fresh
child process pinned to 2 cores, so its time and peak RSS are its own. The median of the runs is the
figure.

    .venv/bin/python bench/bench_fhir.py [--patients 200000] [--labs 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_S = 60.0
TARGET_GIB = 4.0
ANALYTES = {"CEA": "ng/mL", "CYFRA21-1": "ng/mL", "NSE": "ng/mL", "ProGRP": "pg/mL", "SCC": "ng/mL", "CA125": "U/mL"}


def make_bundle(root: Path, patients: int, labs: int, seed: int = 0) -> None:
    """Curated tables as the modalities write them: pseudonyms, shifted dates, dictionary codes."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"PT{i:012d}" for i in range(patients)], dtype="string")
    dx = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, patients), unit="D")
    data = root / "data"
    for sub in ("clinical", "lab"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    (root / "quality" / "anchors").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"patient": ids, "diagnosis_date": dx.date}).to_parquet(root / "quality/anchors/clinical.parquet")
    pd.DataFrame(
        {
            "patient": ids,
            "sex": pd.Series(rng.choice(["male", "female"], patients), dtype="string"),
            "birth_year": pd.Series(dx.year - rng.integers(35, 89, patients), dtype="Int64"),
        }
    ).to_parquet(data / "clinical/patients.parquet")
    pd.DataFrame(
        {
            "patient": ids,
            "vital_status": pd.Series(rng.choice(["alive", "dead"], patients), dtype="string"),
            "last_followup_date": (dx + pd.to_timedelta(rng.integers(30, 2000, patients), unit="D")).date,
        }
    ).to_parquet(data / "clinical/outcomes.parquet")
    pd.DataFrame(
        {
            "patient": ids,
            "diagnosis_date": dx.date,
            "icd10": pd.Series(rng.choice(["C34.1", "C34.3", "C34.9", "C34.2"], patients), dtype="string"),
            "icdo3_topography": pd.Series(rng.choice(["C34.1", "C34.3", "C34.9"], patients), dtype="string"),
            "icdo3_morphology": pd.Series(rng.choice(["8140/3", "8070/3", "8041/3"], patients), dtype="string"),
            "laterality": pd.Series(rng.choice(["left", "right"], patients), dtype="string"),
            "histology": pd.Series(rng.choice(["adenocarcinoma", "squamous_cell_carcinoma"], patients), dtype="string"),
        }
    ).to_parquet(data / "clinical/conditions.parquet")
    pd.DataFrame(
        {
            "patient": ids,
            "ct": pd.Series(rng.choice(["T1a", "T1b", "T2a", "T3", "T4"], patients), dtype="string"),
            "cn": pd.Series(rng.choice(["N0", "N1", "N2", "N3"], patients), dtype="string"),
            "cm": pd.Series(rng.choice(["M0", "M1a", "M1c"], patients), dtype="string"),
            "stage_group": pd.Series(rng.choice(["IA2", "IIB", "IIIA", "IVA"], patients), dtype="string"),
            "ajcc_edition": pd.Series(["8"] * patients, dtype="string"),
        }
    ).to_parquet(data / "clinical/staging.parquet")
    who = np.sort(rng.integers(0, patients, labs))
    analyte = rng.choice(list(ANALYTES), labs)
    value = np.round(rng.lognormal(1, 0.8, labs), 2)
    pd.DataFrame(
        {
            "patient": ids.to_numpy()[who],
            "analyte": pd.Series(analyte, dtype="string"),
            "value": pd.Series(value.astype(str), dtype="string"),
            "collected_date": (dx[who] + pd.to_timedelta(rng.integers(-30, 1500, labs), unit="D")).date,
            "value_num": value,
            "censored": pd.Series(np.where(value < 0.6, "below_limit", "none"), dtype="string"),
            "unit_std": pd.Series(pd.Series(analyte).map(ANALYTES), dtype="string"),
            "ref_low": 0.0,
            "ref_high": 5.0,
            "abnormal": pd.Series(np.where(value > 5, "high", "normal"), dtype="string"),
        }
    ).to_parquet(data / "lab/results.parquet")


CHILD = """
import json, os, resource, sys, time
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
t0 = time.perf_counter()
from pathlib import Path
from curation.export import export
r = export("fhir", Path(sys.argv[1]), to=Path(sys.argv[2]))
took = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
size = sum(p.stat().st_size for p in Path(sys.argv[2]).iterdir()) / 1e9
print(json.dumps({"seconds": took, "peak_gib": rss, "counts": r.counts, "gb": size, "files": len(r.files)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200_000)
    ap.add_argument("--labs", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-fhir-") as tmp:
        t = time.perf_counter()
        make_bundle(Path(tmp) / "bundle", args.patients, args.labs)
        print(
            f"bundle: {args.patients:,} patients, {args.labs:,} lab results, generated in "
            f"{time.perf_counter() - t:.1f} s"
        )
        for i in range(args.repeat):
            to = Path(tmp) / f"fhir-{i}"
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(Path(tmp) / "bundle"), str(to)],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(r)
            print(
                f"  run {i + 1}: {r['seconds']:.1f} s, peak {r['peak_gib']:.2f} GiB, {r['gb']:.2f} GB in "
                f"{r['files']} files"
            )
    secs = statistics.median(r["seconds"] for r in runs)
    gib = statistics.median(r["peak_gib"] for r in runs)
    print(f"resources: {runs[-1]['counts']}")
    ok_t, ok_m = secs < TARGET_S, gib < TARGET_GIB
    print(f"FHIR export (median of {len(runs)}): {secs:.1f} s (target < {TARGET_S:.0f} s) {'OK' if ok_t else 'MISSED'}")
    print(f"peak memory (median RSS): {gib:.2f} GiB (target < {TARGET_GIB:.0f} GiB) {'OK' if ok_m else 'MISSED'}")
    return 0 if ok_t and ok_m else 1


if __name__ == "__main__":
    sys.exit(main())
