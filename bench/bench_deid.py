"""De-identification and leak-scan throughput against their targets.

Targets (issue 4, for a run to stay dominated by I/O, not by privacy checks):
- DICOM de-identification: >= 150 files/s per core (pydicom parsing alone is ~600 files/s), with the
  run's scrubber (built once per run, before, and reported apart) cleaning the descriptions, and PN
  values in Chinese and pinyin as in the hospital's exports (a series' files share them)
- leak scan, text (logs, HTML, notebooks): >= 50 MB/s with 10,000 identifiers
- leak scan, Parquet string cells: >= 1,000,000 cells/s with 10,000 identifiers
- leak scan, DICOM headers: >= 150 files/s

Run: .venv/bin/python bench/bench_deid.py [--dicom 300] [--text-mb 50] [--cells 1000000]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
import warnings
from pathlib import Path


def _identifiers(n: int) -> list[str]:
    r = random.Random(3)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(r.choice(surnames) + "".join(r.choice(given) for _ in range(r.choice((1, 2)))))
        elif kind == 1:
            out.append(f"1{r.randint(3, 9)}{r.randrange(10**9):09d}")
        elif kind == 2:
            out.append(f"ZY{r.randrange(10**8):08d}")
        else:
            out.append(f"{r.randrange(10**17):017d}X")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dicom", type=int, default=300)
    ap.add_argument("--text-mb", type=int, default=50)
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--identifiers", type=int, default=10_000)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import pydicom
    from pydicom.data import get_testdata_file

    from curation.deid.dicom import deidentify
    from curation.deid.keys import Keyring
    from curation.deid.scan import scan_bundle
    from curation.deid.text import Scrubber

    ids = _identifiers(args.identifiers)
    key = Keyring(b"b" * 32)
    ct_small = str(get_testdata_file("CT_small.dcm"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = pydicom.dcmread(ct_small)
    rows: list[tuple[str, str, str, bool | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "dicom").mkdir()
        raw = Path(ct_small).read_bytes()
        sources = []
        for i in range(args.dicom):
            ds = pydicom.dcmread(io.BytesIO(raw))
            ds.SOPInstanceUID = f"{base.SOPInstanceUID}.{i}"
            ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, as exports with Chinese names declare
            ds.PatientName = "ZHANG^SANFENG=张三丰"
            ds.ReferringPhysicianName = "LI^SI=李四"
            ds.StudyDescription = f"CT 胸部平扫 ZHANG SANFENG {i // 100}"
            ds.ImageComments = "对比2023-03-05旧片，李四医师"
            sources.append(ds)
        t0 = time.perf_counter()
        scrubber = Scrubber()
        rows.append(
            (
                "  build the run's scrubber once (jieba lexicon, pinyin tables)",
                f"{time.perf_counter() - t0:.1f} s",
                "",
                None,
            )
        )
        t0 = time.perf_counter()
        outs = [
            deidentify(ds, keyring=key, patient_pseudonym="PTBENCH", date_shift_days=-17, scrubber=scrubber)
            for ds in sources
        ]
        dt = time.perf_counter() - t0
        rows.insert(
            0,
            (
                "DICOM de-identify (CT_small: 262 elements, 179 private)",
                f"{args.dicom / dt:,.0f} files/s",
                ">= 150 files/s",
                args.dicom / dt >= 150,
            ),
        )
        for i, out in enumerate(outs):
            out.save_as(root / "dicom" / f"{i:05d}.dcm", enforce_file_format=True)

        line = "INFO clinical: 120 records standardized, 3 quarantined (unparseable_date) PTAB12CD34EF56\n"
        text = (line * (args.text_mb * 1_000_000 // len(line))).encode()
        (root / "run.log").write_bytes(text)
        r = random.Random(5)
        cells = pd.DataFrame(
            {
                "patient": [f"PT{r.randrange(10**10):010d}" for _ in range(args.cells // 2)],
                "regimen": np.random.default_rng(1).choice(
                    ["pemetrexed+cisplatin", "osimertinib", "pembrolizumab"], args.cells // 2
                ),
            }
        )
        (root / "data").mkdir()
        cells.to_parquet(root / "data" / "t.parquet")

        for label, sub, size, unit, target in (
            ("scan text", "run.log", len(text) / 1e6, "MB", 50),
            ("scan Parquet cells", "data", args.cells, "cells", 1_000_000),
            ("scan DICOM headers", "dicom", args.dicom, "files", 150),
        ):
            one = root / "one"
            one.mkdir()
            (root / sub).rename(one / sub)  # scan one kind of file at a time
            t0 = time.perf_counter()
            hits = scan_bundle(one, ids)
            dt = time.perf_counter() - t0
            rate = size / dt
            rows.append(
                (
                    f"{label} ({len(ids):,} identifiers)",
                    f"{rate:,.0f} {unit}/s",
                    f">= {target:,} {unit}/s",
                    rate >= target and not hits,
                )
            )
            (one / sub).rename(root / sub)
            one.rmdir()

    width = max(len(r[0]) for r in rows)
    for name, got, goal, ok in rows:
        verdict = "" if ok is None else "OK" if ok else "MISSED"
        print(f"{name:<{width}}  {got:>18}  {'target ' + goal if goal else '':<25} {verdict}")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")
    return 0 if all(r[3] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
