"""CSV / TSV: every record accounted for by the independent, quote-aware count."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.io.readers import RawTable, SourceReadError, read_table

HEADER = "id,name,d"
ROWS = [f"{i},n{i},2023-01-0{i % 9 + 1}" for i in range(40)]


def _read(tmp_path: Path, text: str | bytes, **kw: object) -> RawTable:
    p = tmp_path / "x.csv"
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return read_table(p, format="csv", **kw)  # type: ignore[arg-type]


def _balanced(rt: RawTable) -> bool:
    return rt.n_records == len(rt.frame) + sum(b.count for b in rt.bad_lines)


def test_an_unclosed_quote_costs_its_line_not_the_rest_of_the_file(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[10] = '10,"n10,2023-01-02'  # physical line 12
    rt = _read(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert rt.n_records == 40 and len(rt.frame) == 39 and _balanced(rt)
    assert [(b.record, b.reason) for b in rt.bad_lines] == [("line 12", "unclosed_quote")]
    assert rt.frame["_line"].tolist() == [n for n in range(2, 42) if n != 12]
    assert rt.frame["name"].iloc[10] == "n11"
    assert "re-read" in rt.bad_lines[0].describe() or "read on their own" in rt.bad_lines[0].describe()


def test_two_stray_quotes_lines_apart_do_not_pair_up_into_one_record(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[10] = '10,"n10,2023-01-02'
    rows[29] = '29,n29",2023-01-03'  # closes the quote with the header's field count
    rt = _read(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert rt.n_records == 40 and len(rt.frame) == 39 and _balanced(rt)
    assert [b.line for b in rt.bad_lines] == [12]


def test_a_literal_quote_inside_a_field_does_not_swallow_lines(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[4] = '4,a"b,"c'  # an even count of quotes, and still a quote that opens at the end
    rt = _read(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert rt.n_records == 40 and len(rt.frame) == 39 and _balanced(rt)
    assert [(b.line, b.reason) for b in rt.bad_lines] == [(6, "unclosed_quote")]


def test_quoted_line_breaks_are_values_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    rt = _read(tmp_path, 'id,name,d\n1,"a\nb",x\n2,"y\u2028z",w\n3,q\x85r,s\n\n4,"p\r\nq",t\n')
    assert rt.frame["name"].tolist() == ["a\nb", "y\u2028z", "q\x85r", "p\nq"]
    assert rt.frame["_line"].tolist() == [2, 4, 5, 7]  # U+2028 and U+0085 split nothing
    assert rt.n_records == 4 and not rt.bad_lines


@pytest.mark.parametrize(
    ("text", "why"),
    [(b"", "0-byte file"), (b"\n\n", "blank file"), (b"id,name\n", "header only"), (b"id,name\r\n\r\n", "header only")],
)
def test_empty_sources_are_empty_tables_saying_why(tmp_path: Path, text: bytes, why: str) -> None:
    rt = _read(tmp_path, text)
    assert rt.n_records == 0 and len(rt.frame) == 0 and rt.empty == why


def test_header_only_tsv_keeps_its_columns(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_text("住院号\t性别\n", encoding="utf-8")
    rt = read_table(p, format="tsv")
    assert list(rt.frame.columns) == ["住院号", "性别", "_line"] and rt.empty == "header only"


def test_truncated_file_last_record_set_aside(tmp_path: Path) -> None:
    rt = _read(tmp_path, "\n".join([HEADER, *ROWS[:5]]) + '\n5,"n5')
    assert rt.n_records == 6 and len(rt.frame) == 5 and rt.bad_lines[0].reason == "unclosed_quote"
    rt = _read(tmp_path, "\n".join([HEADER, *ROWS[:5]]) + "\n5,n5")
    assert rt.n_records == 6 and [(b.line, b.reason) for b in rt.bad_lines] == [(7, "malformed_line")]


def test_nul_bytes_are_read_and_flagged(tmp_path: Path) -> None:
    rt = _read(tmp_path, "id,name,d\n1,a\x00b,x\n")
    assert rt.frame["name"].tolist() == ["a\x00b"] and rt.may_hold_control
    assert not _read(tmp_path, "id,name,d\n1,ab,x\n").may_hold_control


def test_utf16_and_bom(tmp_path: Path) -> None:
    text = "住院号,性别\n001,男\n"
    for enc, expected in (("utf-16", "utf-16"), ("utf-8-sig", "utf-8-sig")):
        rt = _read(tmp_path, text.encode(enc))
        assert rt.encoding == expected and rt.frame["住院号"].tolist() == ["001"]


def test_full_width_and_repeated_headers(tmp_path: Path) -> None:
    rt = _read(tmp_path, "ＭＲＮ（住院号）,sex,sex\n1,M,M\n")
    assert list(rt.frame.columns) == ["MRN(住院号)", "sex", "sex.1", "_line"]
    assert rt.duplicates == {"sex": ["sex.1"]}


def test_unparsed_lines_are_reported_with_their_range() -> None:
    import numpy as np

    from curation.io.delimited import _unaccounted

    first = np.array([1, 2, 6])
    out = _unaccounted([1, 2, 3, 4, 6], first, first, [])
    assert [(b.record, b.reason, b.count) for b in out] == [("lines 4-5", "unparsed_records", 2)]


def test_unreadable_file_raises_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(SourceReadError, match="cannot decode as utf-8") as exc:
        _read(tmp_path, "住院号,性别\n001,男\n".encode("gb18030") * 20, encoding="utf-8")
    assert exc.value.reason == "unreadable_file"


def test_a_stray_quote_in_a_large_file_costs_one_line(tmp_path: Path) -> None:
    """Past csv's 128 KiB field limit a swallowing quote is an error in Python's csv module; and the
    lines around it are read by pyarrow, not record by record."""
    rows = [f"{i},name {i} with some padding text,2023-01-01" for i in range(20_000)]
    rows[9] = '9,"name 9,2023-01-01'
    rows[15_000] = '15000,"stray " quote,2023-01-01'  # an even count, one closed and one literal quote
    rt = _read(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert rt.n_records == 20_000 and _balanced(rt)
    assert [(b.line, b.reason) for b in rt.bad_lines] == [(11, "unclosed_quote")]
    assert rt.frame["_line"].iloc[9] == 12 and rt.frame["id"].iloc[-1] == "19999"


def test_many_odd_quote_lines_are_read_in_order(tmp_path: Path) -> None:
    rows = [f'{i},5" nodule {i},x' if i % 3 == 0 else f"{i},n{i},x" for i in range(300)]  # literal inch marks
    rt = _read(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert rt.n_records == 300 and not rt.bad_lines
    assert rt.frame["id"].tolist() == [str(i) for i in range(300)]
    assert rt.frame["name"].iloc[3] == '5" nodule 3' and rt.frame["_line"].tolist() == list(range(2, 302))


TEXTS = [
    f"{HEADER}\n" + "\n".join(ROWS) + "\n",
    f"\ufeff{HEADER}\n" + "\n".join(ROWS),  # BOM, no final break
    f"导出时间：2024\n\n{HEADER}\n" + "\n".join(ROWS) + "\n\n \u3000\n",  # title above, blank lines below
    f"{HEADER}\n" + "\n".join(r.replace("n", "名") for r in ROWS) + "\n",
    f"{HEADER}\r\n" + "\r\n\u3000\r\n".join(ROWS) + "\r\n",  # \r\n breaks, Unicode-blank lines between
    f"{HEADER}\n" + "\n".join(f'{i},"a ""b""\nc",x' if i % 7 == 0 else r for i, r in enumerate(ROWS)),  # multi-line
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_byte_lines_read_as_the_decoded_lines_do(
    tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UTF-8 file is read from its bytes (no decoded copy, no string per line): the same table,
    record lines and set-aside lines as the text path reads from the decoded lines."""
    from curation.io import delimited

    header = 2 if text.startswith("导出") else 0
    data = text.encode("utf-8")
    lines = delimited.ByteLines.of(data, "utf-8")
    assert lines is not None
    assert list(lines) == delimited.physical_lines(text.removeprefix("\ufeff"))
    assert lines.nonblank().tolist() == [bool(ln.strip()) for ln in lines]
    body = lines.nonblank().nonzero()[0]
    assert lines.odd_quotes(body).tolist() == [i for i in body if lines[i].count('"') % 2]
    fast = _read(tmp_path, data, header_row=header + 1)
    monkeypatch.setattr(delimited.ByteLines, "of", classmethod(lambda cls, data, enc: None))
    slow = _read(tmp_path, data, header_row=header + 1)
    assert fast.frame.equals(slow.frame) and fast.bad_lines == slow.bad_lines and fast.n_records == slow.n_records
    assert fast.frame["id"].tolist() == [str(i) for i in range(40)] and not fast.bad_lines


def test_files_the_byte_lines_leave_to_the_text_path() -> None:
    from curation.io.delimited import ByteLines

    text = "\n".join([HEADER, *ROWS[:3]])
    assert ByteLines.of(text.encode("gb18030"), "gb18030") is None
    assert ByteLines.of(text.replace("\n", "\r").encode(), "utf-8") is None  # a lone \r breaks a line too
    assert ByteLines.of(text.encode() + b"\xff", "utf-8") is None  # undecodable: quarantined line by line
    assert ByteLines.of(("\ufeff\ufeff" + text).encode(), "utf-8-sig") is None
    assert ByteLines.of(text.encode(), "no-such-codec") is None
    assert ByteLines.of(text.encode(), "UTF8") is not None


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "auto"])
def test_other_encodings_are_read_as_utf8_bytes_with_the_same_result(
    tmp_path: Path, encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GB18030 or UTF-16 export is decoded once and read from its UTF-8 bytes: the same table,
    encoding and set-aside lines as the text path; an undecodable line still takes the text path."""
    from curation.io import delimited

    rows = [f"{i},名{i}\u3000,2023-01-01" if i % 5 else f'{i},"多\r\n行",x' for i in range(100)]
    rows[7] = "7,a,b,c"  # malformed
    text = "\r\n".join(["id,name,d", *rows]) + "\r\n"
    data = text.encode("gb18030" if encoding == "auto" else encoding)
    damaged = data.replace("名9\u3000".encode("gb18030"), b"\x81\x20") if encoding != "utf-16" else data
    for blob in (data, damaged):
        fast = _read(tmp_path, blob, encoding=encoding)
        with monkeypatch.context() as m:
            m.setattr(delimited, "_transcoded", lambda data, enc, text=None: None)
            slow = _read(tmp_path, blob, encoding=encoding)
        assert fast.frame.equals(slow.frame) and fast.bad_lines == slow.bad_lines
        assert (fast.encoding, fast.n_records) == (slow.encoding, slow.n_records)
    assert fast.frame["name"].iloc[0] == "多\n行" and fast.bad_lines[0].line == 11
    assert [b.reason for b in fast.bad_lines][1:] == ([] if encoding == "utf-16" else ["undecodable_line"])
