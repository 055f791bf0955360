"""The privacy corpus and the independent byte search are what the acceptance test stands on: test them.

The truth must list every identifier the corpus writes (and nothing it does not), the byte search
must find each of them in the raw sources (its recall), the planted variant must hold the same
records as the control, and every place and form the issue names must really be planted.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from . import bytescan
from .corpus import (
    ALL_MODALITIES,
    ALLOW_LISTED,
    CODED,
    PATIENTS,
    PHI_NONE,
    SEED,
    TABULAR,
    UNMAPPED,
    Corpus,
    build,
    insert_many,
    resident_id,
)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, planted_corpus: Corpus) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    planted_corpus.write(root)
    return root


def test_same_seed_same_corpus(planted_corpus: Corpus) -> None:
    again = build(SEED, planted=True)
    assert again.truth.values == planted_corpus.truth.values
    assert [t.rows for t in again.tables] == [t.rows for t in planted_corpus.tables]
    other = build(SEED + 1, planted=True)
    assert {p.mrn for p in other.patients}.isdisjoint({p.mrn for p in planted_corpus.patients})


def test_control_holds_the_same_records(planted_corpus: Corpus, control_corpus: Corpus) -> None:
    """Plants are insertions into free text: every other cell, every row and every identity is equal."""
    assert [p.mrn for p in control_corpus.patients] == [p.mrn for p in planted_corpus.patients]
    assert [(t.path, t.sheet, t.header, len(t.rows)) for t in control_corpus.tables] == \
        [(t.path, t.sheet, t.header, len(t.rows)) for t in planted_corpus.tables]
    for tc, tp in zip(control_corpus.tables, planted_corpus.tables, strict=True):
        for rc, rp in zip(tc.rows, tp.rows, strict=True):
            for h, c, p in zip(tc.header, rc, rp, strict=True):
                if h not in tc.slots:
                    assert c == p, f"{tc.path} {h}: a cell that is no free-text slot differs"
                elif tc.slots[h] != CODED:
                    it = iter(p)
                    assert all(ch in it for ch in c), f"{tc.path} {h}: the planted text does not contain the control's"
    assert not control_corpus.truth.planted()
    assert set(control_corpus.truth.values) <= set(planted_corpus.truth.values)


def test_resident_ids_carry_a_valid_check_character(planted_corpus: Corpus) -> None:
    for p in planted_corpus.patients:
        rid = p.resident_id
        # ISO 7064 MOD 11-2 written out independently: weights are 2^(17-i) mod 11
        total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(rid[:17]))
        assert rid[17] == "10X98765432"[total % 11]
        assert rid[6:14] == f"{p.birth:%Y%m%d}"
        assert int(rid[16]) % 2 == (1 if p.person.sex == "M" else 0)
    # the example printed in GB 11643-1999 itself
    assert resident_id("110105", dt.date(1949, 12, 31), 2) == "11010519491231002X"


def test_truth_is_written_and_found_by_the_byte_search(written: Path, planted_corpus: Corpus) -> None:
    """The byte search's recall: each identifier of the truth is found somewhere in the raw sources."""
    found = {f.index for f in bytescan.scan(written / "raw", planted_corpus.truth.values)}
    missing = [i for i in range(len(planted_corpus.truth.values)) if i not in found]
    assert not missing, f"identifier(s) listed in the truth but not found in the sources: {missing}"


def test_every_place_the_issue_names_is_planted(planted_corpus: Corpus) -> None:
    places = {p for v in planted_corpus.truth.values for p in planted_corpus.truth.places(v)}
    text = {p for p in places if p.startswith("text:")}
    for modality in ALL_MODALITIES:
        assert any(p.startswith(f"text:{modality}:") for p in text), f"nothing planted in {modality} text"
    for needle in ("StudyDescription", "SeriesDescription", "ImageComments", "ProtocolName", ":obs", ":uns",
                   ".vcf:header", "样本信息.csv", "samples.csv", "报告", "治疗方案", "具体方案", "结果", "肺癌家族史",
                   "备注"):
        assert any(needle in p for p in text), f"nothing planted in {needle}"
    kinds = {k for s in planted_corpus.slots() for k in [s.kind]}
    assert kinds == {PHI_NONE, ALLOW_LISTED, UNMAPPED, CODED}
    for modality in TABULAR:
        assert planted_corpus.slots(modalities=[modality]), modality
    names = [p for p in places if p.startswith("name:")]
    assert any("随访_" in p for p in names) and any("raw/dicom" in p for p in names) and any(".vcf" in p for p in names)


def test_every_form_is_planted(planted_corpus: Corpus) -> None:
    planted = set(planted_corpus.truth.planted())
    forms = {
        "OUYANG Xiaoming": re.compile(r"^[A-Z]+ [A-Z][a-z]+$"),
        "Ouyang-Xiaoming": re.compile(r"^[A-Z][a-z]+-[A-Z][a-z]+$"),
        "XIAOMING OUYANG": re.compile(r"^[A-Z]+ [A-Z]+$"), "ouyangxiaoming": re.compile(r"^[a-z]{5,}$"),
        "mobile 138-1234-5678": re.compile(r"^1\d{2}-\d{4}-\d{4}$"),
        "mobile +86 139 1234 5678": re.compile(r"^\+86 1\d{2} \d{4} \d{4}$"),
        "full-width mobile": re.compile(r"^[１-９][０-９]{10}$"),
        "landline (0571)8765-4321": re.compile(r"^\(0\d{2,3}\)\d{4}-\d{4}$"),
        "resident ID": re.compile(r"^\d{17}[\dX]$"), "birth 1961年3月7日": re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$"),
        "birth 1961/3/7": re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$"), "birth 19610307": re.compile(r"^19\d{6}$"),
        "MRN ZY2024-00731": re.compile(r"^ZY\d{4}-\d{5}$"), "outpatient MZ0098731": re.compile(r"^MZ\d{7}$"),
        "10-digit MRN": re.compile(r"^\d{10}$"), "address": re.compile(r"^.+省.+市.+区.+路\d+号\d+栋\d+室$"),
        "e-mail": re.compile(r"^\S+@\S+$"),
    }
    missing = [label for label, rx in forms.items() if not any(rx.match(v) for v in planted)]
    assert not missing, f"forms never planted in text: {missing}"
    compound = {"欧阳", "司马", "诸葛", "上官"}
    assert {p.surname for p in PATIENTS} >= compound
    cjk = [v for v in planted if re.fullmatch(r"[\u4e00-\u9fff]+", v)]
    assert {len(v) for v in cjk} >= {2, 3, 4, 5}, "names of 2 to 5 characters (given names of 1 to 3)"
    kinds = {planted_corpus.truth.kind(v) for v in planted}
    assert {"patient_name", "relative_name", "staff_name", "patient_name_pinyin", "staff_name_pinyin"} <= kinds


def test_insert_keeps_words_and_numbers_whole() -> None:
    out = insert_many("3.95 ng/mL", [(0.1, "13812345678"), (0.5, "OUYANG Xiaoming")])
    assert "3.95" in out and "ng/mL" in out and "13812345678" in out and "OUYANG Xiaoming" in out
    assert re.search(r"(?<![\d.])13812345678(?!\d)", out)
    both = insert_many("奥希替尼", [(0.5, "欧阳晓明"), (0.5, "ZY2024-00731")])
    assert "欧阳晓明" in both and "ZY2024-00731" in both


def test_cohort_yaml_is_valid(written: Path) -> None:
    from curation.config import load_cohort

    cfg = load_cohort(written / "cohort.yaml")
    assert set(cfg.sources) == set(ALL_MODALITIES)
    assert cfg.id_patterns == [r"ZY\d{4}-\d{5}", r"MZ\d{7}"]


def test_dicom_files_hold_identifiers_where_real_exports_do(written: Path) -> None:
    import pydicom

    files = sorted((written / "raw" / "dicom").rglob("*.dcm"))
    assert len(files) == 20
    ds = pydicom.dcmread(files[-1])
    assert ds.SpecificCharacterSet in ("GB18030", "ISO_IR 192")
    assert ds.PatientName.ideographic and ds.PatientName.phonetic
    assert ds.RequestAttributesSequence[0].RequestingPhysician
    assert ds.ContentSequence[0].ContentSequence[0].PersonName
    assert ds.OtherPatientIDsSequence[0].PatientID.startswith("MZ")
    assert ds.AccessionNumber and ds.ImageComments and ds.ProtocolName
    charsets = {pydicom.dcmread(f, stop_before_pixels=True).SpecificCharacterSet for f in files}
    assert charsets == {"GB18030", "ISO_IR 192"}


def test_single_cell_files_hold_raw_counts_and_identifiers(written: Path) -> None:
    import anndata as ad
    import numpy as np

    files = sorted((written / "raw" / "singlecell").rglob("*.h5ad"))
    assert len(files) == 2
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="anndata")
        a = ad.read_h5ad(files[0])
    x = a.X.data
    assert np.all(x >= 0) and np.all(np.mod(x, 1) == 0) and 200 <= a.n_obs <= 400 and 200 <= a.n_vars <= 400
    assert a.var_names.str.startswith("MT-").sum() >= 5
    assert {"donor", "donor_pinyin", "note"} <= set(a.obs.columns)
    assert {"operator", "donor", "notes"} <= set(a.uns)
    sheet = pd.read_csv(written / "raw" / "singlecell" / "samples.csv", dtype=str)
    assert {"姓名", "联系电话"} <= set(sheet.columns)


def test_byte_search_boundaries_encodings_and_formats(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = ["19610307", "欧阳晓明", "OUYANG Xiaoming"]
    s = bytescan.Searcher(ids)
    assert s.find(b"0.19610307") == set() and s.find(b"119610307") == set() and s.find(b"x19610307y") == {0}
    assert s.find(b"\\u53f719610307") == {0}
    assert s.find("欧阳晓明".encode("gb18030")) == {1} and s.find("欧阳晓明".encode("utf-16-le")) == {1}
    assert s.find(b"\\u6b27\\u9633\\u6653\\u660e") == {1} and s.find(b"&#27431;&#38451;&#26195;&#26126;") == {1}
    assert s.find(b"ouyang xiaoming") == {2}
    pq.write_table(pa.table({"note": ["x" * 50 + "欧阳晓明" + "y" * 50] * 200}), tmp_path / "t.parquet",
                   compression="zstd")
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"OUYANG Xiaoming"))
    (tmp_path / "欧阳晓明").mkdir()
    buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sheet.xml", "<t>19610307</t>")
    (tmp_path / "b.xlsx").write_bytes(buf.getvalue())
    found = {(f.path, f.index) for f in bytescan.scan(tmp_path, ids)}
    assert ("t.parquet", 1) in found and ("a.gz", 2) in found and ("<#1>", 1) in found and ("b.xlsx", 0) in found
