from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from curation.errors import SourceError
from curation.io.readers import apply_mapping, detect_encoding, read_table

TEXT = '住院号,姓名,诊断日期\n00123,张三,2023年1月5日\n00124,李四\n\n00125,王五,2023/1/5\n"00126","赵,六",20230105\n'


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030")],
)
def test_encoding_detected(tmp_path: Path, encoding: str, expected: str) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes(TEXT.encode(encoding))
    assert detect_encoding(p) == expected
    rt = read_table(p, format="csv")
    assert list(rt.frame.columns) == ["住院号", "姓名", "诊断日期", "_line"]
    assert rt.frame["住院号"].tolist() == ["00123", "00125", "00126"]  # leading zeros survive
    assert rt.frame["姓名"].tolist()[-1] == "赵,六"


def test_malformed_line_reported_with_its_line_number(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes(TEXT.encode("gb18030"))
    rt = read_table(p, format="csv", encoding="gb18030")
    assert [(b.line, b.expected, b.actual) for b in rt.bad_lines] == [(3, 3, 2)]
    assert rt.frame["_line"].tolist() == [2, 5, 6]  # physical lines: the blank line 4 is counted


def test_declared_wrong_encoding_names_the_fix(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes(TEXT.encode("gb18030"))
    with pytest.raises(SourceError, match=r"a.csv: cannot decode as utf-8.*encoding:"):
        read_table(p, format="csv", encoding="utf-8")


def test_tsv_duplicate_headers_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "a.tsv"
    p.write_bytes(b"case_id\tsubmitter_id\tsubmitter_id\r\nx\tTCGA-1\tTCGA-1_demo\r\n")
    rt = read_table(p, format="tsv")
    assert list(rt.frame.columns) == ["case_id", "submitter_id", "submitter_id.1", "_line"]
    assert rt.frame["submitter_id.1"].iloc[0] == "TCGA-1_demo"


def test_excel_strings_dates_and_serials(tmp_path: Path) -> None:
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Diagnosis Date"])
    ws.append(["00123", dt.datetime(2023, 1, 5)])
    ws.append(["00124", 44931])
    ws.append(["00125", None])
    p = tmp_path / "b.xlsx"
    wb.save(p)
    rt = read_table(p, format="excel")
    assert rt.frame["MRN"].tolist() == ["00123", "00124", "00125"]
    assert rt.frame["Diagnosis Date"].tolist() == ["2023-01-05 00:00:00", "44931", ""]
    assert rt.frame["_line"].tolist() == [2, 3, 4]


def test_parquet_as_text(tmp_path: Path) -> None:
    p = tmp_path / "c.parquet"
    pd.DataFrame({"mrn": ["007"], "n": [3], "d": pd.to_datetime(["2023-01-05"])}).to_parquet(p)
    rt = read_table(p, format="parquet")
    assert rt.frame.iloc[0].tolist() == ["007", "3", "2023-01-05", 1]


def test_unknown_format() -> None:
    with pytest.raises(SourceError, match="unsupported tabular format 'json'"):
        read_table("x.json", format="json")


def test_mapping_values_and_missing_reasons() -> None:
    df = pd.DataFrame(
        {
            "住院号": ["1", "2", "3", "4"],
            "性别": ["男", "女", "不详", ""],
            "备注": ["a", "b", "c", "d"],
            "sex": ["x"] * 4,
            "ecog": ["[Not Available]", "1", "/", "2"],
            "_line": [2, 3, 4, 5],
        }
    )
    out, unmapped = apply_mapping(
        df,
        columns={"住院号": "admission_number", "性别": "sex"},
        known={"admission_number", "sex", "ecog"},
        values={"sex": {"男": "male", "女": "female"}},
        missing={"不详": "unknown", "/": "not_applicable"},
    )
    assert unmapped == ["备注", "sex"]  # the mapped 性别 wins over a same-named column
    assert out["sex"].tolist() == ["male", "female", "", ""]
    assert out["sex__missing"].fillna("").tolist() == ["", "", "unknown", ""]
    assert out["ecog__missing"].fillna("").tolist() == ["not_collected", "", "not_applicable", ""]
    assert out["ecog"].tolist() == ["", "1", "", "2"]


def test_bad_missing_reason_rejected() -> None:
    df = pd.DataFrame({"a": ["x"], "_line": [2]})
    with pytest.raises(SourceError, match="reason\\(s\\) later not one of"):
        apply_mapping(df, columns={}, known={"a"}, missing={"?": "later"})


def test_excel_keeps_na_tokens_for_their_reasons(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "pT"])
    ws.append(["1", "N/A"])
    ws.append(["2", "NA"])
    p = tmp_path / "b.xlsx"
    wb.save(p)
    rt = read_table(p, format="excel")
    assert rt.frame["pT"].tolist() == ["N/A", "NA"]
    out, _ = apply_mapping(
        rt.frame,
        columns={"MRN": "admission_number", "pT": "pt"},
        known={"admission_number", "pt"},
        missing={"N/A": "not_applicable", "NA": "not_collected"},
    )
    assert out["pt__missing"].tolist() == ["not_applicable", "not_collected"]


def test_title_lines_above_the_header(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("导出时间：2024-01-01\n\n住院号,性别\n001,男\n002,女,多余\n", encoding="utf-8")
    rt = read_table(p, format="csv", header_row=3)
    assert list(rt.frame.columns) == ["住院号", "性别", "_line"]
    assert rt.frame["_line"].tolist() == [4] and [b.line for b in rt.bad_lines] == [5]


def test_a_damaged_line_is_quarantined_not_the_whole_file(tmp_path: Path) -> None:
    """One line with bytes that are not GB18030 (a damaged export) costs that line only."""
    from curation.io.readers import read_table

    good = "住院号,性别\nZY001,男\nZY002,女\nZY003,男\n".encode("gb18030")
    lines = good.split(b"\n")
    lines.insert(2, b"ZY009,\xff\xfe\x00")  # physical line 3
    p = tmp_path / "siteC.csv"
    p.write_bytes(b"\n".join(lines))
    for enc in ("auto", "gb18030"):
        rt = read_table(p, format="csv", encoding=enc)
        assert rt.encoding == "gb18030"
        assert rt.frame["住院号"].tolist() == ["ZY001", "ZY002", "ZY003"]
        assert rt.frame["_line"].tolist() == [2, 4, 5]
        assert [(b.line, b.reason) for b in rt.bad_lines] == [(3, "undecodable_line")]
        assert "re-export" in rt.bad_lines[0].describe("C")


def test_a_wrong_encoding_is_still_an_error(tmp_path: Path) -> None:
    import pytest

    from curation.errors import SourceError
    from curation.io.readers import read_table

    p = tmp_path / "siteC.csv"
    p.write_bytes("住院号,性别\nZY001,男\nZY002,女\n".encode("gb18030"))
    with pytest.raises(SourceError, match=r"siteC.csv: cannot decode as utf-8 .*fix `encoding:`"):
        read_table(p, format="csv", encoding="utf-8")


def test_one_occurrence_of_a_repeated_header_can_be_mapped(tmp_path: Path) -> None:
    """GDC repeats submitter_id for the case, the diagnosis and the treatment: `#N` picks one."""
    from curation.io.readers import merge_duplicate_headers

    p = tmp_path / "gdc.tsv"
    p.write_text(
        "submitter_id\tgender\tsubmitter_id\nTCGA-1\tmale\tTCGA-1_diag\nTCGA-2\tfemale\tTCGA-2_diag\n", encoding="utf-8"
    )
    rt = read_table(p, format="tsv")
    cols = {"submitter_id#1": "admission_number", "gender": "sex"}
    frame, conflicts = merge_duplicate_headers(rt.frame, rt.duplicates, columns=cols, known={"admission_number", "sex"})
    assert conflicts == {}
    df, _ = apply_mapping(frame, columns=cols, known={"admission_number", "sex"})
    assert df["admission_number"].tolist() == ["TCGA-1", "TCGA-2"]
    # without the occurrence, the copies disagree and every record is a conflict (never first-wins)
    _, conflicts = merge_duplicate_headers(
        rt.frame, rt.duplicates, columns={"submitter_id": "admission_number"}, known={"admission_number"}
    )
    assert conflicts["submitter_id"].all()


def test_map_values_of_arrow_strings_as_of_objects() -> None:
    from curation.io.readers import STR, map_values

    values = ["男", "女", None, "x", "男", ""]
    mapping = {"男": "male", "女": "female", "": "empty"}
    arrow = map_values(pd.Series(values, dtype=STR), mapping)
    objects = map_values(pd.Series(values, dtype=object), mapping)
    assert arrow.dtype == objects.dtype == STR
    assert arrow.tolist() == objects.tolist() == ["male", "female", pd.NA, pd.NA, "male", "empty"]
    assert map_values(pd.Series(values, dtype=STR), {}).isna().all()


def test_mapping_shares_the_columns_it_does_not_change() -> None:
    import pyarrow as pa

    from curation.io.readers import STR

    df = pd.DataFrame({"a": pd.array(["x", "y"], dtype=STR), "b": pd.array([" p ", "q"], dtype=STR), "_line": [2, 3]})
    out, _ = apply_mapping(df, columns={}, known={"a", "b"})
    assert out["b"].tolist() == ["p", "q"]
    assert pa.array(out["a"].array).buffers()[2].address == pa.array(df["a"].array).buffers()[2].address
