"""The privacy corpus and the independent byte search are what the acceptance test stands on: test them.

The truth must list every identifier the corpus writes, the byte search must find each of them in
the raw sources (its recall), the planted variant must hold the same records as the control, and
every place and form the issue names must really be planted. Failures go through ``check`` (no
assertion introspection: it would print the compared identifiers).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from . import bytescan
from .conftest import check
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
    check(again.truth.values == planted_corpus.truth.values, "the same seed gave another truth list")
    check([t.rows for t in again.tables] == [t.rows for t in planted_corpus.tables], "the same seed gave other rows")
    other = build(SEED + 1, planted=True)
    check(
        {p.mrn for p in other.patients}.isdisjoint({p.mrn for p in planted_corpus.patients}),
        "another seed gave the same MRNs",
    )


def test_control_holds_the_same_records(planted_corpus: Corpus, control_corpus: Corpus) -> None:
    """Plants are insertions into free text: every other cell, every row and every identity is equal."""
    check(
        [p.mrn for p in control_corpus.patients] == [p.mrn for p in planted_corpus.patients],
        "control and planted patients differ",
    )
    check(
        [(t.path, t.sheet, t.header, len(t.rows)) for t in control_corpus.tables]
        == [(t.path, t.sheet, t.header, len(t.rows)) for t in planted_corpus.tables],
        "control and planted tables differ in shape",
    )
    for k, (tc, tp) in enumerate(zip(control_corpus.tables, planted_corpus.tables, strict=True)):
        for r, (rc, rp) in enumerate(zip(tc.rows, tp.rows, strict=True)):
            for h, c, p in zip(tc.header, rc, rp, strict=True):
                if h not in tc.slots:
                    check(c == p, f"table {k} row {r} column {h}: a cell that is no free-text slot differs")
                elif tc.slots[h] != CODED:
                    it = iter(p)
                    check(all(ch in it for ch in c), f"table {k} row {r} column {h}: planted text lost the control's")
    check(not control_corpus.truth.planted(), "the control has identifiers in text")
    check(
        set(control_corpus.truth.values) <= set(planted_corpus.truth.values),
        "the control writes identifiers the planted corpus does not",
    )


def test_resident_ids_carry_a_valid_check_character(planted_corpus: Corpus) -> None:
    for p in planted_corpus.patients:
        rid = p.resident_id
        # ISO 7064 MOD 11-2 written out independently: weights are 2^(17-i) mod 11
        total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(rid[:17]))
        check(rid[17] == "10X98765432"[total % 11], f"patient {p.no}: wrong check character")
        check(rid[6:14] == f"{p.birth:%Y%m%d}", f"patient {p.no}: birth date not in the ID")
        check(int(rid[16]) % 2 == (1 if p.person.sex == "M" else 0), f"patient {p.no}: sex digit wrong")
    # the example printed in GB 11643-1999 itself
    check(resident_id("110105", dt.date(1949, 12, 31), 2) == "11010519491231002X", "the standard's example")


def test_truth_is_written_and_found_by_the_byte_search(written: Path, planted_corpus: Corpus) -> None:
    """The byte search's recall: each identifier of the truth is found somewhere in the raw sources."""
    found = {f.index for f in bytescan.scan(written / "raw", planted_corpus.truth.values)}
    missing = [i for i in range(len(planted_corpus.truth.values)) if i not in found]
    check(not missing, f"identifier(s) listed in the truth but not found in the sources: {missing}")


def test_every_place_the_issue_names_is_planted(planted_corpus: Corpus) -> None:
    places = {p for v in planted_corpus.truth.values for p in planted_corpus.truth.places(v)}
    text = {p for p in places if p.startswith("text:")}
    for modality in ALL_MODALITIES:
        check(any(p.startswith(f"text:{modality}:") for p in text), f"nothing planted in {modality} text")
    for needle in (
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
        "ProtocolName",
        ":obs",
        ":uns",
        ".vcf:header",
        "样本信息.csv",
        "samples.csv",
        "报告",
        "治疗方案",
        "具体方案",
        "结果",
        "肺癌家族史",
        "备注",
    ):
        check(any(needle in p for p in text), f"nothing planted in {needle}")
    kinds = {s.kind for s in planted_corpus.slots()}
    check(kinds == {PHI_NONE, ALLOW_LISTED, UNMAPPED, CODED}, f"slot kinds: {sorted(kinds)}")
    for modality in TABULAR:
        check(planted_corpus.slots(modalities=[modality]), f"no free-text slot in {modality}")
    names = [p for p in places if p.startswith("name:")]
    for needle in ("随访_", "raw/dicom", ".vcf", ".h5ad"):
        check(any(needle in p for p in names), f"no identifier in a file or folder name like {needle}")


def test_every_form_is_planted(planted_corpus: Corpus) -> None:
    planted = set(planted_corpus.truth.planted())
    forms = {
        "OUYANG Xiaoming": r"[A-Z]+ [A-Z][a-z]+",
        "Ouyang-Xiaoming": r"[A-Z][a-z]+-[A-Z][a-z]+",
        "XIAOMING OUYANG": r"[A-Z]+ [A-Z]+",
        "ouyangxiaoming": r"[a-z]{5,}",
        "mobile 138-1234-5678": r"1\d{2}-\d{4}-\d{4}",
        "mobile +86 139 1234 5678": r"\+86 1\d{2} \d{4} \d{4}",
        "full-width mobile": r"[１-９][０-９]{10}",
        "landline (0571)8765-4321": r"\(0\d{2,3}\)\d{4}-\d{4}",
        "resident ID": r"\d{17}[\dX]",
        "birth 1961年3月7日": r"\d{4}年\d{1,2}月\d{1,2}日",
        "birth 1961/3/7": r"\d{4}/\d{1,2}/\d{1,2}",
        "birth 19610307": r"19\d{6}",
        "MRN ZY2024-00731": r"ZY\d{4}-\d{5}",
        "outpatient MZ0098731": r"MZ\d{7}",
        "10-digit MRN": r"\d{10}",
        "address": r".+省.+市.+区.+路\d+号\d+栋\d+室",
        "e-mail": r"\S+@\S+",
    }
    missing = [label for label, rx in forms.items() if not any(re.fullmatch(rx, v) for v in planted)]
    check(not missing, f"forms never planted in text: {missing}")
    check({p.surname for p in PATIENTS} >= {"欧阳", "司马", "诸葛", "上官"}, "compound surnames missing")
    lengths = {len(v) for v in planted if re.fullmatch(r"[\u4e00-\u9fff]+", v)}
    check(lengths >= {2, 3, 4, 5}, f"Chinese names planted by length: {sorted(lengths)}; want 2 to 5")
    kinds = {planted_corpus.truth.kind(v) for v in planted}
    want = {"patient_name", "relative_name", "staff_name", "patient_name_pinyin", "staff_name_pinyin"}
    check(want <= kinds, f"kinds never planted: {sorted(want - kinds)}")


def test_insert_keeps_words_and_numbers_whole() -> None:
    value, word = "13987654320", "QIN Shihuang"  # made up for this test, in no corpus list
    out = insert_many("3.95 ng/mL", [(0.1, value), (0.5, word)])
    check(all(x in out for x in ("3.95", "ng/mL", value, word)), "a word, number or value was cut")
    check(re.search(rf"(?<![\d.]){value}(?!\d)", out), "a number was glued to the inserted value")
    both = insert_many("奥希替尼", [(0.5, "秦始皇"), (0.5, "ZY2000-00001")])
    check("秦始皇" in both and "ZY2000-00001" in both, "two values at one place cut each other")


def test_cohort_yaml_is_valid(written: Path) -> None:
    from curation.config import load_cohort

    cfg = load_cohort(written / "cohort.yaml")
    check(set(cfg.sources) == set(ALL_MODALITIES), f"sources: {sorted(cfg.sources)}")
    check(cfg.id_patterns == [r"ZY\d{4}-\d{5}", r"MZ\d{7}"], "site ZJ declares its MRN shapes")


def test_dicom_files_hold_identifiers_where_real_exports_do(written: Path) -> None:
    import pydicom

    files = sorted((written / "raw" / "dicom").rglob("*.dcm"))
    check(len(files) == 20, f"{len(files)} DICOM files, want 20")
    ds = pydicom.dcmread(files[-1])
    check(bool(ds.PatientName.ideographic) and bool(ds.PatientName.phonetic), "PatientName lacks a component group")
    check(bool(ds.RequestAttributesSequence[0].RequestingPhysician), "no PN in RequestAttributesSequence")
    check(bool(ds.ContentSequence[0].ContentSequence[0].PersonName), "no PN two sequences deep")
    check(str(ds.OtherPatientIDsSequence[0].PatientID).startswith("MZ"), "no second MRN in OtherPatientIDsSequence")
    check(bool(ds.AccessionNumber) and bool(ds.ImageComments) and bool(ds.ProtocolName), "descriptions missing")
    charsets = {pydicom.dcmread(f, stop_before_pixels=True).SpecificCharacterSet for f in files}
    check(charsets == {"GB18030", "ISO_IR 192"}, f"character sets: {sorted(charsets)}")


def test_single_cell_files_hold_raw_counts_and_identifiers(written: Path) -> None:
    import anndata as ad
    import numpy as np

    files = sorted((written / "raw" / "singlecell").rglob("*.h5ad"))
    check(len(files) == 2, f"{len(files)} h5ad files, want 2")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="anndata")
        a = ad.read_h5ad(files[0])
    x = a.X.data
    check(bool(np.all(x >= 0) and np.all(np.mod(x, 1) == 0)), "X is not raw integer counts")
    check(200 <= a.n_obs <= 400 and 200 <= a.n_vars <= 400, f"{a.n_obs} cells x {a.n_vars} genes")
    check(a.var_names.str.startswith("MT-").sum() >= 5, "too few MT- genes")
    check({"donor", "donor_pinyin", "note"} <= set(a.obs.columns), "obs lacks the planted columns")
    check({"operator", "donor", "notes"} <= set(a.uns), "uns lacks the planted entries")
    sheet = pd.read_csv(written / "raw" / "singlecell" / "samples.csv", dtype=str)
    check({"姓名", "联系电话"} <= set(sheet.columns), "the sample sheet lacks its name and phone columns")


def test_byte_search_boundaries_encodings_and_formats(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    date, name, latin = "19000101", "秦始皇", "QIN Shihuang"  # made up for this test, in no corpus list
    s = bytescan.Searcher([date, name, latin])
    check(s.find(b"0.19000101") == set() and s.find(b"119000101") == set(), "digits inside a number matched")
    check(s.find(b"x19000101y") == {0} and s.find(b"\\u53f719000101") == {0}, "a bounded date was missed")
    for enc in ("utf-8", "gb18030", "utf-16-le", "utf-16-be"):
        check(s.find(name.encode(enc)) == {1}, f"a name in {enc} was missed")
    check(s.find(b"\\u79e6\\u59cb\\u7687") == {1} and s.find(b"&#31206;&#22987;&#30343;") == {1}, "escapes missed")
    check(s.find(latin.lower().encode()) == {2}, "a lower-case Latin name was missed")
    pq.write_table(pa.table({"note": ["x" * 50 + name + "y" * 50] * 200}), tmp_path / "t.parquet", compression="zstd")
    (tmp_path / "a.gz").write_bytes(gzip.compress(latin.encode()))
    (tmp_path / name).mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sheet.xml", f"<t>{date}</t>")
    (tmp_path / "b.xlsx").write_bytes(buf.getvalue())
    found = {(f.path, f.index) for f in bytescan.scan(tmp_path, [date, name, latin])}
    want = {("t.parquet", 1), ("a.gz", 2), ("<#1>", 1), ("b.xlsx", 0)}
    check(want <= found, f"missed: {sorted(want - found)}")
