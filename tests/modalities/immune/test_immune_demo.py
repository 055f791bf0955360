"""The demo generator: deterministic, small, 10x layouts scanpy reads, identifiers logged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from .conftest import KEY, roster


def _generate(root: Path, n: int = 6, **kw):  # type: ignore[no-untyped-def]
    from curation.deid.keys import Keyring
    from curation.demo._core import DemoLog
    from curation.demo.immune import generate

    log = DemoLog()
    sources = generate(roster(n), root, rng=np.random.default_rng(7), log=log, keyring=Keyring(KEY.encode()), **kw)
    return sources, log


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "raw").rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    _generate(tmp_path / "a", 3, cells=(80, 100))
    _generate(tmp_path / "b", 3, cells=(80, 100))
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")


def test_default_demo_is_small_and_readable(tmp_path: Path) -> None:
    import scanpy as sc

    sources, log = _generate(tmp_path)
    files = [p for p in (tmp_path / "raw").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert {s["format"] for s in sources["immune"]} == {"10x", "10x_h5", "h5ad"}
    sheet = pd.read_csv(tmp_path / "raw" / "singlecell" / "samples.csv", dtype=str)
    assert list(sheet.columns) == ["sample_id", "admission_number", "site", "tissue", "timepoint"]
    assert set(sheet["tissue"]) == {"tumor", "blood"}
    assert set(sheet["sample_id"]) | set(sheet["admission_number"]) <= log.identifiers
    h5 = next((tmp_path / "raw" / "singlecell").glob("*/filtered_feature_bc_matrix.h5"))
    a = sc.read_10x_h5(h5)
    assert a.var["gene_ids"].str.match(r"^ENSG\d{11}$").all() and 300 <= a.n_obs <= 800
    assert {"MT-CO1", "RPL3", "HBB", "XIST", "RPS4Y1", "CD3E", "CD14", "MS4A1"} <= set(a.var_names)
    kinds = {d.kind: d.expect for d in log.defects}
    assert kinds == {
        "mostly_empty_droplets": "immune.accuracy.empty_droplets",
        "doublets": "immune.accuracy.doublets",
        "high_mito_dying_cells": "immune.accuracy.mitochondrial",
        "scaled_matrix": "quarantine:not_raw_counts",
    }
