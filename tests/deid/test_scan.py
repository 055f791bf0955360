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
        root / "data" / "clinical.parquet"
    )
    (root / "reports" / "run.log").write_text("INFO clinical: 2 records, 0 quarantined\n", encoding="utf-8")
    nb = {"cells": [{"cell_type": "code", "outputs": [{"text": "ok 007 rows"}], "source": "x"}], "metadata": {}}
    (root / "reports" / "clinical.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return root


def _plant(root: Path) -> None:
    pd.DataFrame({"patient": ["PTAAAA", "PTBBBB"], "note": ["ok", "患者张三丰复查"], "mrn": [1, 1]}).to_parquet(
        root / "data" / "leaky.parquet"
    )
    (root / "data" / "site.csv").write_bytes("patient,name\nPTAAAA,李四\n".encode("gb18030"))
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "run()",
                "outputs": [
                    {
                        "output_type": "error",
                        "ename": "KeyError",
                        "evalue": "'ZY20230001'",
                        "traceback": ["KeyError: 'ZY20230001'"],
                    }
                ],
            }
        ],
        "metadata": {},
    }
    (root / "reports" / "imaging.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (root / "reports" / "figure_13812345678.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (root / "reports" / "plot.html").write_text(
        '<script>var d={"name":"' + "".join(f"\\u{ord(c):04x}" for c in "王五") + '"}</script>', encoding="utf-8"
    )
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
    adata = ad.AnnData(
        np.zeros((2, 2), dtype=np.float32),
        obs=pd.DataFrame({"sample": pd.Categorical(["S1", "110101199003074518"])}, index=["c1", "c2"]),
    )
    adata.uns["provenance"] = {"source": "export of 张三丰"}
    adata.write_h5ad(tmp_path / "cells.h5ad")
    got = {(h.path, h.identifier) for h in scan_bundle(tmp_path, IDS)}
    assert ("calls.vcf.gz", 4) in got
    assert ("export.zip/<redacted>", 2) in got  # a folder inside the zip named after a patient
    assert ("export.zip/table.csv", 5) in got
    assert ("cells.h5ad", 6) in got and ("cells.h5ad", 1) in got


def test_large_files_are_read_in_overlapping_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import curation.deid._scanformats as formats  # the chunked reader

    monkeypatch.setattr(formats, "CHUNK", 16)
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


# --- token boundaries (issue 10 part 6) ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("0.1111111111111111", False),  # a float in a plotly figure
        ("-11111111", False),
        ("[-11111111]", False),
        ("11111111.5", False),
        ("211111111", False),
        ("111111112", False),
        ("a11111111b", True),  # only digits, a decimal point or a sign end a number
        ("MRN11111111", True),
        ("id 11111111, next", True),
        ("11111111.dcm", True),  # a point followed by no digit is no decimal point
        ("ZY-11111111", True),  # a hyphen after a letter is a separator, not a sign
        ("x\\u4e0011111111", True),  # the character before is the escaped one, not the digit 0
    ],
)
def test_numeric_identifier_matches_only_as_a_whole_number(text: str, found: bool) -> None:
    from curation.deid.scan import Matcher

    assert Matcher([(1, "11111111")]).in_text(text) == ({1} if found else set())


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("AP001X", False),  # a gene name
        ("AP001187.1", False),
        ("P0012", False),
        ("%41P001", False),  # %41 is A
        ("P001", True),
        ("p001_ct.dcm", True),
        ("患者P001复查", True),  # Chinese text has no spaces
        ("\\u5f20P001", True),
        ("line\\nP001 ok", True),  # JSON \n is white space
        ("(P001)", True),
    ],
)
def test_alphanumeric_identifier_matches_only_at_word_boundaries(text: str, found: bool) -> None:
    from curation.deid.scan import Matcher

    assert Matcher([(1, "P001")]).in_text(text) == ({1} if found else set())


def test_separator_only_and_short_identifiers_are_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("^^^^ and ---- and 007 and Li", encoding="utf-8")
    result = scan_bundle(tmp_path, ["^^^^", "----", "007", "Li^", "张", "ZY20230001"])
    assert result == []
    assert result.skipped == {"separators": 2, "short": 3}
    assert result.skipped_numbers == [1, 2, 3, 4, 5]
    assert result.n_identifiers == 1
    assert "5 identifier(s) not searched" in result.describe_skipped()


def test_surrounding_separators_are_not_part_of_the_pattern() -> None:
    from curation.deid.scan import Matcher, classify

    assert classify("^Zhang^San^^") == ("Zhang^San", "word")
    assert classify(" 010-12345678 ") == ("010-12345678", "numeric")
    assert classify("张三") == ("张三", "anywhere")
    assert Matcher([(1, "Zhang^San^^^")]).in_text("PN: ZHANG^SAN") == {1}


def test_cjk_name_inside_cjk_text_is_found(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("主诉：患者张三丰于本院复查，家属李四陪同。", encoding="utf-8")
    (tmp_path / "gb.csv").write_bytes("备注\n患者张三丰复查\n".encode("gb18030"))
    got = {(h.path, h.identifier) for h in scan_bundle(tmp_path, IDS)}
    assert got == {("note.txt", 1), ("note.txt", 2), ("gb.csv", 1)}


def test_identifier_in_a_file_name_on_boundaries(tmp_path: Path) -> None:
    (tmp_path / "P001_ct.dcm.txt").write_text("x", encoding="utf-8")
    (tmp_path / "AP001X.txt").write_text("x", encoding="utf-8")
    (tmp_path / "11111111.png").write_bytes(b"x")
    hits = scan_bundle(tmp_path, ["P001", "11111111"])
    assert sorted((h.path, h.location, h.identifier) for h in hits) == [
        ("<redacted>", "file name", 1),
        ("<redacted>", "file name", 2),
    ]
    assert sorted(hits.paths) == ["11111111.png", "P001_ct.dcm.txt"]
    assert set(hits.paths.values()) == {"<redacted>"}


def test_json_html_and_url_escapes_are_still_found(tmp_path: Path) -> None:
    esc = "".join(f"\\u{ord(c):04x}" for c in "张三丰")
    (tmp_path / "fig.html").write_text(
        f'<script>{{"text":"{esc}","id":"P001","v":[0.1111111111111111, 11111111]}}</script>'
        "<p>&#26446;&#22235;</p><a href='x/%E7%8E%8B%E4%BA%94'>",
        encoding="utf-8",
    )
    hits = scan_bundle(tmp_path, [*IDS, "P001", "11111111"])
    assert {h.identifier for h in hits} == {1, 2, 7, 9, 10}
    assert {h.location.split(" (")[1] for h in hits} == {"json-escape)", "html-entity)", "url-encoded)", "ascii)"}


def test_gb18030_text_with_an_id_next_to_a_chinese_character(tmp_path: Path) -> None:
    # 丟 is 0x81 0x47 ("G") in GB18030, 𠀀 ends in 0x36 ("6"): a trail byte is no letter or digit
    data = "病人丟ZY20230001丟\n𠀀P001\n".encode("gb18030")
    assert b"GZY20230001" in data and b"6P001" in data
    (tmp_path / "gb.csv").write_bytes(data)
    got = {(h.identifier, h.location) for h in scan_bundle(tmp_path, ["ZY20230001", "P001"])}
    assert got == {(1, "line 1 (ascii)"), (2, "line 2 (ascii)")}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_files(tmp_path: Path, encoding: str) -> None:
    text = "姓名,住院号,备注\r\n张三丰,ZY20230001,ok\r\n" + "x,y,z\r\n" * 20
    (tmp_path / "export.csv").write_bytes(text.encode(encoding))  # "utf-16" writes a BOM
    (tmp_path / "export.bin").write_bytes(text.encode(encoding))  # no text suffix
    hits = scan_bundle(tmp_path, IDS)
    got = {(h.path, h.identifier) for h in hits}
    assert got == {("export.csv", 1), ("export.csv", 4), ("export.bin", 1), ("export.bin", 4)}
    label = "utf-16-le" if encoding == "utf-16" else encoding  # Python writes the BOM little-endian here
    assert {h.location for h in hits if h.path == "export.csv"} == {f"line 2 ({label})"}


def test_chunk_edges_do_not_change_the_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import curation.deid._scanformats as formats  # the chunked reader

    text = "v=[0.1111111111111111, 3]\nid 11111111.\nAP001X P001\n"
    (tmp_path / "a.log").write_text(text, encoding="utf-8")
    expected = {(h.location, h.identifier) for h in scan_bundle(tmp_path, ["11111111", "P001"])}
    assert expected == {("line 2 (ascii)", 1), ("line 3 (ascii)", 2)}
    for size in range(4, 40):  # every alignment of the chunk edges with the matches
        monkeypatch.setattr(formats, "CHUNK", size)
        assert {(h.location, h.identifier) for h in scan_bundle(tmp_path, ["11111111", "P001"])} == expected, size


def test_arrow_value_edges_are_boundaries() -> None:
    import pyarrow as pa

    from curation.deid.scan import Matcher

    m = Matcher([(1, "P001"), (2, "11111111")])
    arr = pa.array(["A", "P001", "AP001X", "0.11111111", "11111111", "P001 x", None, "x11111111"])
    assert sorted(m.in_arrow(arr)) == [(1, 1), (4, 2), (5, 1), (7, 2)]


# --- no false alarm on real data -------------------------------------------------------------


def test_no_false_alarm_on_plotly_floats_and_gene_names(tmp_path: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    ids = ["11111111", "22222222", "P001", "P002", "AP00", "^^^^"]
    rng = np.random.default_rng(0)
    values = [1 / 9, 2 / 9, -11111111.5, 0.22222222, *rng.random(200)]
    fig = go.Figure(go.Scatter(x=list(range(len(values))), y=values, text=["AP001187.1"] * len(values)))
    (tmp_path / "fig.html").write_text(fig.to_html(include_plotlyjs=False), encoding="utf-8")
    assert "0.1111111111111111" in (tmp_path / "fig.html").read_text(encoding="utf-8")
    pd.DataFrame(
        {"gene": ["AP001187.1", "AP002498.1", "RP11-P0012", "AP001059.2"], "score": [0.11111111, 0.5, 0.25, 0.75]}
    ).to_parquet(tmp_path / "genes.parquet")
    result = scan_bundle(tmp_path, ids)
    assert result == []
    assert result.skipped == {"separators": 1}


def test_pydicom_test_files_deidentified_raise_no_false_alarm(tmp_path: Path) -> None:
    """Each test file's own patient and staff identifiers, searched in its de-identified copy."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_files

    from curation.deid.dicom import deidentify
    from curation.deid.keys import Keyring
    from curation.errors import DeidError

    keywords = (
        "PatientName",
        "OtherPatientNames",
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "PatientBirthDate",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "OperatorsName",
        "NameOfPhysiciansReadingStudy",
    )
    key = Keyring(b"k" * 32)
    ids: set[str] = set()
    n = 0
    for i, f in enumerate(get_testdata_files()):
        if f.endswith((".py", ".json", ".txt", ".gz", ".bz2", ".zip", ".pyc")):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # test files are malformed on purpose; warnings quote values
            try:
                ds = pydicom.dcmread(f)
                out = deidentify(ds, keyring=key, patient_pseudonym="PTTEST01", date_shift_days=-10)
                out.save_as(tmp_path / f"{i:04d}.dcm", enforce_file_format=True)
            except (DeidError, pydicom.errors.InvalidDicomError, OSError, ValueError, TypeError, AttributeError):
                continue
            for kw in keywords:
                v = ds.get(kw)
                for x in v if isinstance(v, pydicom.multival.MultiValue) else [v]:
                    if x not in (None, ""):
                        ids.add(str(x))
                        ids.update(g.replace("^", " ").strip() for g in str(x).split("="))
        n += 1
    assert n > 50 and len(ids) > 30
    # the substring scan found '^^^^' (a PatientName) and a numeric ID inside longer numbers here
    result = scan_bundle(tmp_path, sorted(i for i in ids if i))
    assert [str(h) for h in result] == []
    assert result.skipped.get("separators")


def test_cli_names_the_lines_of_skipped_identifiers(tmp_path: Path) -> None:
    root = _clean_bundle(tmp_path / "bundle")
    ids = tmp_path / "identifiers.txt"
    ids.write_text("ZY20230001\n^^^^\n\n007\n", encoding="utf-8")
    res = CliRunner().invoke(scan_phi, [str(root), "--identifiers", str(ids)])
    assert res.exit_code == 0
    assert (
        "2 identifier(s) not searched (1 shorter than 4 letters or digits, 1 only separators or punctuation): "
        "lines 2, 4 of identifiers.txt" in res.output
    )
    assert "clean: 3 files, 1 identifiers searched, 2 skipped" in res.output
