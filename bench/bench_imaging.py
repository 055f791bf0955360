"""Header-only DICOM indexing throughput and memory against a plain read of the same files.

Target (issue 6): on 2 cores with a warm page cache, the indexer reads >= 50% as many files per
second as a plain read of every byte of the same files, and its peak memory does not grow with
the number of files. For reference, pydicom's dcmread(stop_before_pixels=True) in one process
(FIELD-NOTES: ~550 files/s, ~4.4% of the raw read rate).

Writes N CT files of 512 x 512 (explicit VR little endian, ~256 header elements) once into a
temporary folder (or --dir, reused when it already holds them), then measures in the same run:
1. plain read of every byte (second pass: warm cache), files/s
2. the imaging indexer (curation.modalities.imaging._index.index_refs, 2 processes), files/s
3. pydicom dcmread(stop_before_pixels=True), one process, on a subset, files/s
4. peak memory of the indexer (parent RSS, worker RSS) at N/4, N/2 and N files, each in a fresh process

Run: .venv/bin/python bench/bench_imaging.py [--files 10000] [--dir /tmp/ct512] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET_FRACTION = 0.50
PLACEHOLDER_UID = "1.2.826.0.1.3680043.8.498.1.100000000"  # same length as every file's own UID


def _template() -> bytes:
    """One CT file as bytes with ~256 header elements (standard CT attributes + private groups)."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = PLACEHOLDER_UID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    text = {
        "SpecificCharacterSet": "ISO_IR 100",
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
        "SOPInstanceUID": PLACEHOLDER_UID,
        "StudyDate": "20230105",
        "SeriesDate": "20230105",
        "AcquisitionDate": "20230105",
        "ContentDate": "20230105",
        "StudyTime": "093000",
        "SeriesTime": "093100",
        "AcquisitionTime": "093101",
        "ContentTime": "093102",
        "AccessionNumber": "CT12345678",
        "Modality": "CT",
        "Manufacturer": "SIEMENS",
        "InstitutionName": "Hospital",
        "InstitutionAddress": "Street 1",
        "ReferringPhysicianName": "DOE^JOHN",
        "StationName": "CT01",
        "StudyDescription": "CHEST",
        "SeriesDescription": "LUNG 1.0 B70f",
        "ManufacturerModelName": "SOMATOM Definition AS",
        "PatientName": "ZHANG^SAN",
        "PatientID": "00123456",
        "PatientBirthDate": "19600101",
        "PatientSex": "M",
        "PatientAge": "063Y",
        "BodyPartExamined": "CHEST",
        "SliceThickness": "1",
        "KVP": "120",
        "DataCollectionDiameter": "500",
        "SoftwareVersions": "syngo CT 2012B",
        "ReconstructionDiameter": "350",
        "DistanceSourceToDetector": "1085.6",
        "DistanceSourceToPatient": "595",
        "GantryDetectorTilt": "0",
        "TableHeight": "160",
        "RotationDirection": "CW",
        "ExposureTime": "500",
        "XRayTubeCurrent": "50",
        "Exposure": "25",
        "FilterType": "0",
        "GeneratorPower": "6",
        "FocalSpots": "1.2",
        "ConvolutionKernel": "B70f",
        "PatientPosition": "HFS",
        "RevolutionTime": 0.5,
        "SingleCollimationWidth": 0.6,
        "TotalCollimationWidth": 38.4,
        "TableSpeed": 46.0,
        "TableFeedPerRotation": 23.0,
        "SpiralPitchFactor": 1.2,
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.2",
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.3",
        "StudyID": "1",
        "SeriesNumber": "3",
        "AcquisitionNumber": "2",
        "InstanceNumber": "1",
        "ImagePositionPatient": [-175, -175, 0],
        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
        "FrameOfReferenceUID": "1.2.826.0.1.3680043.8.498.4",
        "PositionReferenceIndicator": "",
        "SliceLocation": "0",
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 512,
        "Columns": 512,
        "PixelSpacing": [0.68, 0.68],
        "BitsAllocated": 16,
        "BitsStored": 12,
        "HighBit": 11,
        "PixelRepresentation": 0,
        "WindowCenter": ["-600", "40"],
        "WindowWidth": ["1200", "400"],
        "RescaleIntercept": "-1024",
        "RescaleSlope": "1",
        "RescaleType": "HU",
        "CTDIvol": 1.8,
    }
    for k, v in text.items():
        setattr(ds, k, v)
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.5"
    ds.ReferencedStudySequence = Sequence([ref])
    n = len(ds)
    # private groups as vendors write them (Siemens CSA-like, GE-like), up to ~256 elements in all
    for group in (0x0019, 0x0021, 0x0029, 0x0043):
        block = ds.private_block(group, f"VENDOR {group:04X}", create=True)
        for e in range(0x10, 0x10 + (256 - n) // 4):
            block.add_new(e, "DS" if e % 3 else "LO", "1.5" if e % 3 else f"value {e}")
    ds.PixelData = (np.arange(512 * 512, dtype=np.uint16) % 4096).tobytes()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_files(folder: Path, n: int) -> list[Path]:
    """N files from the template, each with its own SOPInstanceUID, InstanceNumber and position."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("IM*.dcm"))
    if len(existing) >= n:
        return existing[:n]
    tpl = _template()
    placeholder = PLACEHOLDER_UID.encode()
    paths = []
    for i in range(n):
        body = tpl.replace(placeholder, f"{PLACEHOLDER_UID[:-9]}1{i + 1:08d}".encode())
        p = folder / f"IM{i:06d}.dcm"
        p.write_bytes(body)
        paths.append(p)
    return paths


def timed_parse(refs: list) -> list[dict]:
    """The indexer's chunk parser, plus the worker's CPU time and peak RSS (runs in the workers)."""
    import resource

    from curation.modalities.imaging._walk import parse_chunk

    c = time.process_time()
    rows = parse_chunk(refs)
    rows[0]["bench"] = (time.process_time() - c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rows


def rate_plain_read(paths: list[Path]) -> tuple[float, float]:
    """(files/s wall, files/s per CPU second) of reading every byte."""
    t, c = time.perf_counter(), time.process_time()
    n = 0
    for p in paths:
        with open(p, "rb") as fh:
            n += len(fh.read())
    return len(paths) / (time.perf_counter() - t), len(paths) / max(time.process_time() - c, 1e-9)


def rate_index(folder: Path, n: int) -> tuple[float, float, float, dict[str, int]]:
    """(files/s wall, files/s per worker CPU second, worker peak MiB, parse paths) of the indexer."""
    from collections import Counter

    from curation.modalities.imaging._index import index_refs
    from curation.modalities.imaging._walk import walk_source

    me = _self_module()
    refs = walk_source(folder, "dicom")[:n]
    index_refs(refs[:50], jobs=2)  # start the worker server outside the timing
    t = time.perf_counter()
    rows = index_refs(refs, jobs=2, parse=me.timed_parse)
    dt = time.perf_counter() - t
    stats = [r.pop("bench") for r in rows if "bench" in r]
    cpu = sum(s[0] for s in stats)
    return (
        len(refs) / dt,
        len(refs) / max(cpu, 1e-9),
        max(s[1] for s in stats) / 1024,
        dict(Counter(r["path"] or r["reason"] for r in rows)),
    )


def _self_module():
    """This file imported as a module, so worker processes can find timed_parse by name."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return importlib.import_module("bench_imaging")


def rate_pydicom(paths: list[Path]) -> float:
    import pydicom

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths:
            pydicom.dcmread(p, stop_before_pixels=True)
    return len(paths) / (time.perf_counter() - t)


def _memory_child(folder: str, n: int) -> None:
    """Run in a fresh process: index n files, print peak RSS of this process and of the workers."""
    import resource

    from curation.modalities.imaging._index import index_refs
    from curation.modalities.imaging._walk import walk_source

    refs = walk_source(Path(folder), "dicom")[:n]
    rows = index_refs(refs, jobs=2, parse=_self_module().timed_parse)
    worker = max(r["bench"][1] for r in rows if "bench" in r)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"files": len(rows), "parent_mib": me / 1024, "worker_mib": worker / 1024}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=None, help="folder for the files (reused); default a temp folder")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--pydicom-files", type=int, default=1000)
    ap.add_argument("--memory-child", nargs=2, metavar=("DIR", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child[0], int(args.memory_child[1]))
        return 0

    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-imaging-"))
    t = time.perf_counter()
    paths = write_files(folder, args.files)
    size = sum(p.stat().st_size for p in paths[:10]) / 10
    print(
        f"{len(paths)} CT files of 512x512 ({size / 1024:.0f} KiB each) in {folder} "
        f"(ready in {time.perf_counter() - t:.1f} s); cores: {os.cpu_count()}"
    )
    try:
        rate_plain_read(paths)  # warm the page cache
        raw, raw_cpu = rate_plain_read(paths)
        idx, idx_cpu, worker_mib, how = rate_index(folder, len(paths))
        pyd = rate_pydicom(paths[: args.pydicom_files])
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores (other jobs skew wall rates)")
        print(f"plain read (warm cache):             {raw:9.0f} files/s wall, {raw_cpu:9.0f} per CPU second")
        print(
            f"imaging indexer (2 processes):       {idx:9.0f} files/s wall = {idx / raw:6.1%} of plain read;"
            f" {idx_cpu:9.0f} per worker CPU second  {how}"
        )
        print(f"pydicom stop_before_pixels (1 proc): {pyd:9.0f} files/s wall = {pyd / raw:6.1%} of plain read")
        print(
            f"on 2 idle cores the indexer would reach ~{2 * idx_cpu:.0f} files/s "
            f"= {2 * idx_cpu / raw_cpu:.0%} of a CPU-bound plain read"
        )
        mem = []
        for n in sorted({max(1, len(paths) // 4), max(1, len(paths) // 2), len(paths)}):
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(folder), str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            mem.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print("peak memory by number of files (parent holds the result rows; workers parse):")
        for m in mem:
            print(f"  {m['files']:7d} files: parent {m['parent_mib']:7.1f} MiB   worker {m['worker_mib']:7.1f} MiB")
        del worker_mib
        worker_growth = mem[-1]["worker_mib"] - mem[0]["worker_mib"]
        ok_rate = idx >= TARGET_FRACTION * raw
        ok_mem = worker_growth < 32
        print(
            f"target: indexer >= {TARGET_FRACTION:.0%} of plain read: {'MET' if ok_rate else 'NOT MET'} "
            f"({idx / raw:.1%})"
        )
        print(
            f"target: worker peak memory independent of file count: {'MET' if ok_mem else 'NOT MET'} "
            f"({worker_growth:+.1f} MiB from {mem[0]['files']} to {mem[-1]['files']} files)"
        )
        return 0
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
