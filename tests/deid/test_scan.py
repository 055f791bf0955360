from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from curation.deid.cli import scan_phi
from curation.deid.scan import LeakHit, scan_bundle

IDS = ["张三丰", "李四", "Zhang^Sanfeng", "ZY20230001", "13812345678", "110101199003074518", "王五", "007"]


def _clean_bundle(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "reports").mkdir()
    pd.DataFrame({"patient": ["PTAAAA", "PTBBBB"], "age": [61, 70], "icd10": ["C34.1", "C34.9"]}).to_parquet(
        root / "data" / "clinical.parquet")
    (root / "reports" / "run.log").write_text("INFO clinical: 2 records, 0 quarantined\n", encoding="utf-8")
    nb = {"cells": [{"cell_type": "code", "outputs": [{"text": "ok 007 rows"}], "source": "x"}], "metadata": {}}
    (root / "reports" / "clinical.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return root


def _plant(root: Path) -> None:
    pd.DataFrame({"patient": ["PTAAAA", "PTBBBB"], "note": ["ok", "患者张三丰复查"], "mrn": [1, 1]}).to_parquet(
        root / "data" / "leaky.parquet")
    (root / "data" / "site.csv").write_bytes("patient,name\nPTAAAA,李四\n".encode("gb18030"))
    nb = {"cells": [{"cell_type": "code", "source": "run()", "outputs": [
        {"output_type": "error", "ename": "KeyError", "evalue": "'ZY20230001'",
         "traceback": ["KeyError: 'ZY20230001'"]}]}], "metadata": {}}
    (root / "reports" / "imaging.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (root / "reports" / "figure_13812345678.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (root / "reports" / "plot.html").write_text(
        '<script>var d={"name":"' + "".join(f"\\u{ord(c):04x}" for c in "王五") + '"}</script>', encoding="utf-8")
    (root / "reports" / "index.html").write_text('<a href="data/%E6%9D%8E%E5%9B%9B.csv">x</a>', encoding="utf-8")
    with h5py.File(root / "data" / "immune.h5ad", "w") as f:
        obs = f.create_group("obs")
        obs.create_dataset("_index", data=np.array([b"cell1", b"110101199003074518-1"]))
        f.create_dataset("X", data=np.zeros((2, 3)))
    _dicom(root / "data" / "img.dcm")


def _dicom(path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SpecificCharacterSet = "GB18030"
    ds.PatientName = "Zhang^Sanfeng=张^三丰"
    ds.PatientID = "PTAAAA"
    ds.save_as(path)


def test_clean_bundle_has_no_hits(tmp_path: Path) -> None:
    assert scan_bundle(_clean_bundle(tmp_path), IDS) == []


def test_planted_leaks_are_all_caught(tmp_path: Path) -> None:
    root = _clean_bundle(tmp_path)
    _plant(root)
    hits = scan_bundle(root, IDS)
    got = {(h.path, h.identifier) for h in hits}
    assert ("data/leaky.parquet", 1) in got  # name in a Parquet cell
    assert ("data/site.csv", 2) in got  # GB18030 bytes in a CSV
    assert ("data/img.dcm", 3) in got and ("data/img.dcm", 1) in got  # PN alphabetic and ideographic
    assert ("reports/imaging.ipynb", 4) in got  # ID in a notebook traceback
    assert any(h.location == "file name" and h.identifier == 5 for h in hits)  # phone in a file name
    assert ("reports/plot.html", 7) in got  # JSON-escaped name in a plotly figure
    assert ("reports/index.html", 2) in got  # URL-encoded name in a link
    assert ("data/immune.h5ad", 6) in got  # resident ID in obs names
    assert not any(h.identifier == 8 for h in hits)  # "007" is too short to search
    locs = {h.location for h in hits if h.path == "data/img.dcm"}
    assert {"PatientName (alphabetic)", "PatientName (ideographic)"} <= locs
    text = "\n".join(str(h) for h in hits)
    for ident in IDS[:7]:
        assert ident not in text
    assert "<redacted>" in text  # the file name with the phone number is not printed


def test_cli_exit_status_and_output(tmp_path: Path) -> None:
    root = _clean_bundle(tmp_path / "bundle")
    ids = tmp_path / "identifiers.txt"
    ids.write_text("\n".join(IDS) + "\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(scan_phi, [str(root), "--identifiers", str(ids)])
    assert res.exit_code == 0, res.output
    _plant(root)
    res = runner.invoke(scan_phi, [str(root), "--identifiers", str(ids)])
    assert res.exit_code == 1
    assert "LEAK data/site.csv" in res.output and "line 2 of identifiers.txt" in res.output
    for ident in IDS[:7]:
        assert ident not in res.output


def test_unreadable_file_is_not_called_clean(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "ZY20230001.csv").symlink_to(tmp_path / "nowhere.csv")  # a dangling link: its name still counts
    hits = scan_bundle(tmp_path, ["ZY20230001"])
    got = {(h.path, h.identifier): h.location for h in hits}
    assert "unreadable" in got[("broken.parquet", 0)]
    assert got[("<redacted>", 1)] == "file name"
    assert all(isinstance(h, LeakHit) for h in hits)


def test_backends_agree() -> None:
    from curation.deid.scan import Matcher

    ids = list(enumerate(IDS, start=1))
    data = ("x 张三丰 y ZY20230001 z " + "李四").encode("utf-8") + "李四".encode("gb18030") + b" zy20230001"
    found = {b: sorted(Matcher(ids, backend=b).search(data)) for b in ("rs", "pyahocorasick", "regex")}
    assert found["rs"] == found["pyahocorasick"] == found["regex"]
    assert {no for _, no, _ in found["rs"]} == {1, 2, 4}


def test_arrow_search_ignores_matches_across_cells() -> None:
    import pyarrow as pa

    from curation.deid.scan import Matcher

    m = Matcher([(1, "ZY20230001")])
    assert list(m.in_arrow(pa.array(["ZY2023", "0001", None, "x zy20230001 y"]))) == [(3, 1)]


def test_compressed_and_anndata_outputs(tmp_path: Path) -> None:
    import gzip
    import zipfile

    ad = pytest.importorskip("anndata")
    (tmp_path / "calls.vcf.gz").write_bytes(gzip.compress(b"##SAMPLE=<ID=ZY20230001>\n"))
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.writestr("李四/notes.txt", "ok")
        zf.writestr("table.csv", "patient,phone\nPTA,13812345678\n")
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32),
                       obs=pd.DataFrame({"sample": pd.Categorical(["S1", "110101199003074518"])},
                                        index=["c1", "c2"]))
    adata.uns["provenance"] = {"source": "export of 张三丰"}
    adata.write_h5ad(tmp_path / "cells.h5ad")
    got = {(h.path, h.identifier) for h in scan_bundle(tmp_path, IDS)}
    assert ("calls.vcf.gz", 4) in got
    assert ("export.zip/<redacted>", 2) in got  # a folder inside the zip named after a patient
    assert ("export.zip/table.csv", 5) in got
    assert ("cells.h5ad", 6) in got and ("cells.h5ad", 1) in got


def test_large_files_are_read_in_overlapping_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import curation.deid.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 16)
    text = "line one\n" * 3 + "x ZY20230001 and 张三丰\n" + "tail\n" * 5
    (tmp_path / "big.log").write_text(text, encoding="utf-8")
    (tmp_path / "big.csv").write_bytes(("a,b\n" * 7 + "李四,1\n").encode("gb18030"))
    hits = scan_bundle(tmp_path, IDS)
    assert [(h.path, h.location, h.identifier) for h in hits] == [
        ("big.csv", "line 8 (gb18030)", 2),
        ("big.log", "line 4 (ascii)", 4),
        ("big.log", "line 4 (utf-8)", 1),
    ]


def test_dicom_header_with_undeclared_gb18030_name(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        # a hospital system wrote GB18030 bytes without declaring the character set
        ds.add_new(0x00081030, "LO", "李四".encode("gb18030").decode("latin-1"))
        ds.save_as(tmp_path / "x.dcm")
    assert ("x.dcm", 2) in {(h.path, h.identifier) for h in scan_bundle(tmp_path, IDS)}
