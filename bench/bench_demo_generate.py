"""Generate the 120-patient demo cohort and report time and size against the targets.

Targets (issue 3): 120 patients in under 30 s on 2 cores; the raw folder under 150 MB.
Run: .venv/bin/python bench/bench_demo_generate.py [--patients N] [--seed S]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

TARGET_S = 30.0
TARGET_MB = 150.0


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from curation.demo.generate import generate

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        t0 = time.perf_counter()
        generate(out, patients=args.patients, seed=args.seed)
        elapsed = time.perf_counter() - t0
        raw = out / "raw"
        total = _size_mb(raw)
        print(f"demo generate: {args.patients} patients, seed {args.seed}")
        print(f"  time      {elapsed:7.1f} s    target < {TARGET_S:.0f} s   {'ok' if elapsed < TARGET_S else 'MISSED'}")
        print(f"  raw size  {total:7.1f} MB   target < {TARGET_MB:.0f} MB  {'ok' if total < TARGET_MB else 'MISSED'}")
        for sub in sorted(p for p in raw.iterdir() if p.is_dir()):
            n = sum(1 for p in sub.rglob("*") if p.is_file())
            print(f"    {sub.name:<12} {_size_mb(sub):7.2f} MB  {n:6d} files")
        t0 = time.perf_counter()
        generate(Path(tmp) / "own", patients=args.patients, seed=args.seed, external=())
        own = time.perf_counter() - t0
        print(f"  of which site exports + genomics {own:5.1f} s, imaging + immune generators {elapsed - own:5.1f} s")
    return 0 if elapsed < TARGET_S and total < TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
