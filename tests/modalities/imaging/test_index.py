"""Indexing: every file ends indexed or quarantined; hangs and crashes are isolated per file."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file

from curation.modalities.imaging._index import index_refs
from curation.modalities.imaging._walk import FileRef, parse_chunk, walk_source


def hanging_or_crashing_parser(refs: list[FileRef]) -> list[dict[str, Any]]:
    """A parser that hangs on files named hang* and kills its process on files named crash*."""
    for r in refs:
        name = Path(r.path).name
        if name.startswith("hang"):
            time.sleep(3600)
        if name.startswith("crash"):
            os._exit(3)
    return parse_chunk(refs)


def test_every_pydicom_test_file_is_indexed_or_quarantined() -> None:
    root = Path(get_testdata_file("CT_small.dcm")).parent
    refs = walk_source(root, "dicom")
    rows = index_refs(refs, jobs=2, chunk_size=64)
    assert [r["relpath"] for r in rows] == [r.relpath for r in refs]
    assert all(r["ok"] or r["reason"] for r in rows)
    reasons = {r["relpath"]: r["reason"] for r in rows if not r["ok"]}
    assert reasons["MR_truncated.dcm"] == "truncated"
    assert reasons["README.txt"] == "not_dicom"
    assert sum(r["ok"] for r in rows) > 120


def test_a_hanging_and_a_crashing_file_cost_only_themselves(tmp_path: Path) -> None:
    good = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    for name in ("a.dcm", "b.dcm", "crash.dcm", "hang.dcm", "z.dcm"):
        (tmp_path / name).write_bytes(good)
    refs = walk_source(tmp_path, "dicom")
    t0 = time.monotonic()
    rows = index_refs(refs, jobs=2, chunk_size=3, chunk_timeout=2, file_timeout=1, parse=hanging_or_crashing_parser)
    assert time.monotonic() - t0 < 60
    by = {r["relpath"]: r for r in rows}
    assert by["hang.dcm"]["reason"] == "timeout"
    assert by["crash.dcm"]["reason"] == "unreadable"
    assert all(by[n]["ok"] for n in ("a.dcm", "b.dcm", "z.dcm"))


def test_zip_archives_are_walked(tmp_path: Path) -> None:
    arc = tmp_path / "export.zip"
    with zipfile.ZipFile(arc, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(get_testdata_file("CT_small.dcm"), "P1/IM1.dcm")
        zf.write(get_testdata_file("MR_truncated.dcm"), "P1/IM2.dcm")
        zf.writestr("P1/readme.txt", "hello")
    refs = walk_source(tmp_path, "zip")
    rows = index_refs(refs, jobs=1)
    by = {r["relpath"]: r for r in rows}
    assert by["export.zip/P1/IM1.dcm"]["ok"] and by["export.zip/P1/IM1.dcm"]["fields"]["Rows"] == 128
    assert by["export.zip/P1/IM2.dcm"]["reason"] == "truncated"
    assert by["export.zip/P1/readme.txt"]["reason"] == "not_dicom"


def test_dicomdir_lists_its_files_and_missing_ones(tmp_path: Path) -> None:
    import shutil

    src = Path(get_testdata_file("DICOMDIR")).parent
    dst = tmp_path / "media"
    shutil.copytree(src, dst)
    refs = walk_source(dst / "DICOMDIR", "dicomdir")
    assert len(refs) > 10
    victim = next(r for r in refs if r.relpath != "DICOMDIR")
    Path(victim.path).unlink()
    rows = index_refs(walk_source(dst / "DICOMDIR", "dicomdir"), jobs=1)
    by = {r["relpath"]: r for r in rows}
    assert by[victim.relpath]["reason"] == "missing_file"
    assert by["DICOMDIR"]["ok"]  # parsed, then excluded as a directory (not an instance) by load()


def test_compressed_slices_decode_through_pixel_plugins() -> None:
    from curation.modalities.imaging._image import image_chunk

    names = [
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "JPEGLSNearLossless_16.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ]
    refs = [FileRef(n, get_testdata_file(n)) for n in names]
    rows = image_chunk(refs)
    failed = [r["relpath"] for r in rows if not r["ok"]]
    assert not failed
    assert all(r["thumb_lung"] for r in rows)


def test_curate_reads_dicomdir_and_zip_sources(tmp_path: Path) -> None:
    import shutil

    import yaml

    import curation

    shutil.copytree(Path(get_testdata_file("DICOMDIR")).parent, tmp_path / "media")
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        for n in ("CT_small.dcm", "MR_truncated.dcm"):
            zf.write(get_testdata_file(n), f"P1/{n}")
    (tmp_path / "k.key").write_text("ef" * 32)
    (tmp_path / "k.key").chmod(0o600)  # the run refuses a key file others can read
    srcs = [
        {"site": "A", "path": "media/DICOMDIR", "format": "dicomdir", "options": {"image_qc": False}},
        {"site": "A", "path": "export.zip", "format": "zip", "options": {"image_qc": False}},
    ]
    cfg = {"cohort": {"name": "t"}, "sources": {"imaging": srcs}, "output": "out", "secret": {"file": "k.key"}}
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(cfg))
    run = curation.curate("imaging", tmp_path / "cohort.yaml")
    led = run.ledger.set_index(["stage", "source"])
    assert led.loc[("index", "imaging[0]"), "excluded_by_rule"] == "dicomdir=1"
    assert led.loc[("index", "imaging[0]"), "n_accepted"] > 20
    assert led.loc[("index", "imaging[1]"), "quarantined_by_reason"] == "truncated=1"
    assert run.ledger["balanced"].all()


def test_curate_survives_every_pydicom_test_file(tmp_path: Path) -> None:
    """Index, series QC, image QC and export over pydicom's deliberately odd files: no crash,
    no check in error, every file accounted for."""
    import yaml

    import curation

    (tmp_path / "k.key").write_text("ef" * 32)
    (tmp_path / "k.key").chmod(0o600)  # the run refuses a key file others can read
    src = str(Path(get_testdata_file("CT_small.dcm")).parent)
    cfg = {
        "cohort": {"name": "t"},
        "output": "out",
        "secret": {"file": "k.key"},
        "sources": {"imaging": [{"site": "P", "path": src, "format": "dicom", "options": {"export": True}}]},
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(cfg))
    run = curation.curate("imaging", tmp_path / "cohort.yaml")
    assert not (run.checks["verdict"] == "error").any()
    assert run.ledger["balanced"].all()
    reasons = set(run.quarantine["reason"])
    assert {"not_dicom", "missing_meta", "truncated", "duplicate_sop_instance_uid"} <= reasons
    assert "export_failed" not in reasons
