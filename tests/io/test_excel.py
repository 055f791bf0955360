"""Excel: worksheet rows, error cells, uncached formulas, empty sheets, encrypted and damaged files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from curation.io.readers import SourceReadError, read_table


def _workbook(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Other"
    ws.append(["x"])
    ws.append([1])
    ws.append([2])
    s = wb.create_sheet("Data")
    s.append(["MRN", "PD-L1", "Ki-67"])
    s.append(["001", 2.5, "=B2*2"])  # a formula openpyxl writes without a cached value
    s.append(["002", None, 30])
    s["B3"] = "#DIV/0!"  # written as an error cell
    s.append([])  # a blank row: skipped, not renumbered
    s.append(["003", 3.0, dt.datetime(2023, 1, 5), None, "extra"])
    e = wb.create_sheet("Empty")
    e.append(["MRN", "PD-L1"])
    wb.save(path)
    return path


def test_rows_errors_and_uncached_formulas(tmp_path: Path) -> None:
    rt = read_table(_workbook(tmp_path / "w.xlsx"), format="excel", sheet="Data")
    assert rt.n_records == 3 and rt.frame["_line"].tolist() == [2, 3, 5]
    assert rt.frame["MRN"].tolist() == ["001", "002", "003"]
    assert rt.frame["PD-L1"].tolist() == ["2.5", "", "3"]
    assert rt.frame["Unnamed: 4"].tolist() == ["", "", "extra"]
    issues = [(c.line, c.column, c.reason, c.detail.split(" ")[0]) for c in rt.cells]
    assert issues == [(2, "Ki-67", "excel_error", "formula"), (3, "PD-L1", "excel_error", "#DIV/0!")]


@pytest.mark.parametrize(
    ("sheet", "why"),
    [
        (
            "Empty",
            "header only (the configured sheet has no rows below its header); sheet 1 of 3 has 2 row(s): "
            "set `sheet: 0` (or its name)",
        ),
        (
            "Nope",
            "the configured sheet is not in the workbook; sheet 1 of 3 has 2 row(s): set `sheet: 0` (or its name)",
        ),
        (7, "the configured sheet is not in the workbook; sheet 1 of 3 has 2 row(s): set `sheet: 0` (or its name)"),
    ],
)
def test_empty_or_absent_sheet_says_which_sheet_has_rows(tmp_path: Path, sheet: str | int, why: str) -> None:
    rt = read_table(_workbook(tmp_path / "w.xlsx"), format="excel", sheet=sheet)
    assert rt.n_records == 0 and rt.empty == why
    assert "Other" not in rt.empty  # sheets are named by position: a sheet name can hold a patient name


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "encrypted_workbook"),
        (b"not a workbook", "unreadable_file"),
    ],
)
def test_encrypted_and_foreign_files(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "w.xlsx"
    p.write_bytes(content)
    with pytest.raises(SourceReadError) as exc:
        read_table(p, format="excel")
    assert exc.value.reason == reason
    if reason == "encrypted_workbook":
        assert "export it without a password" in str(exc.value)


def test_truncated_workbook_is_corrupt(tmp_path: Path) -> None:
    p = _workbook(tmp_path / "w.xlsx")
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(SourceReadError, match="re-export") as exc:
        read_table(p, format="excel")
    assert exc.value.reason == "corrupt_workbook"


def test_zero_byte_workbook_is_empty(tmp_path: Path) -> None:
    p = tmp_path / "w.xlsx"
    p.write_bytes(b"")
    rt = read_table(p, format="excel")
    assert rt.n_records == 0 and rt.empty == "0-byte file"
