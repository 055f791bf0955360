"""Excel workbooks, read through openpyxl cell by cell.

openpyxl is what pandas uses underneath; reading the cells directly keeps what pandas drops: the
worksheet row of every record (blank rows skipped, not renumbered), error cells (``#DIV/0!``,
``#N/A`` ...) and formulas without a cached value, which pandas turns into missing values without
a word. Each such cell is read as empty and returned as a :class:`~curation.io.readers.CellIssue`
(``excel_error``) for the caller to record per field. The record count is the sheet's own count of
non-blank rows below the header: every one of them is a row of the frame.

A workbook that is an OLE2 compound file (``D0 CF 11 E0``) is what Excel writes for a
password-protected .xlsx: ``encrypted_workbook``. A zip that does not open is ``corrupt_workbook``
(truncated or damaged). An empty or absent configured sheet is an empty source whose note says
which other sheet has rows (by position: sheet names can hold patient names).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .readers import LINE, STR, CellIssue, RawTable, SourceReadError, _dedupe
from .values import EXCEL_ERRORS

__all__ = ["read_excel"]

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file: encrypted .xlsx, or a legacy .xls
ZIP_MAGIC = b"PK"


def _text(value: Any) -> str:
    """A cell value as text, as ``pd.read_excel(dtype=str)`` gives it (whole floats without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)  # bool -> True, datetime -> 2023-01-05 00:00:00, as pandas gives them


def _open(data: bytes, *, data_only: bool) -> Any:
    import openpyxl

    with warnings.catch_warnings():
        # openpyxl notes unsupported styles and extensions (data validation, conditional formats):
        # about presentation, not values, and never an identifier
        warnings.simplefilter("ignore", UserWarning)
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)


def _rows(ws: Any) -> list[tuple[int, list[Any]]]:
    """(worksheet row, cells) of every row openpyxl finds, in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [(i, list(cells)) for i, cells in enumerate(ws.iter_rows(), 1)]


def _n_data_rows(ws: Any) -> int:
    """Non-blank rows after the first non-blank one (the header) of a sheet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        n = sum(1 for row in ws.iter_rows(values_only=True) if any(v not in (None, "") for v in row))
    return max(0, n - 1)


def _where_rows_are(wb: Any, skip: int | None) -> str:
    """Which other sheet holds records, by position (a sheet name can hold a patient name)."""
    for i, other in enumerate(wb.worksheets):
        if i == skip:
            continue
        n = _n_data_rows(other)
        if n:
            return f"; sheet {i + 1} of {len(wb.worksheets)} has {n} row(s): set `sheet: {i}` (or its name)"
    return "; no other sheet has rows either"


def read_excel(path: Path, *, sheet: str | int | None = None, header_row: int = 1) -> RawTable:
    """Read one worksheet as text columns (see the module docstring)."""
    import zipfile

    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path.name}: cannot open the file ({type(exc).__name__}); check that it exists and is readable"
        raise SourceReadError(msg) from None
    if not data:
        return _empty("0-byte file", has_header=False)
    if data.startswith(CFB_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data or path.suffix.lower() != ".xls":
            msg = f"{path.name}: a password-protected (encrypted) workbook; export it without a password"
            raise SourceReadError(msg, reason="encrypted_workbook")
        msg = f"{path.name}: a legacy .xls workbook; open it in Excel and save it as .xlsx"
        raise SourceReadError(msg)
    if not data.startswith(ZIP_MAGIC):
        msg = f"{path.name}: not an Excel workbook (.xlsx); check `format:` for this source"
        raise SourceReadError(msg)
    try:
        wb = _open(data, data_only=False)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        msg = f"{path.name}: not a complete workbook ({type(exc).__name__}: truncated or damaged); re-export it"
        raise SourceReadError(msg, reason="corrupt_workbook") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises zip, XML, key and value errors alike
        msg = f"{path.name}: cannot read as an Excel workbook ({type(exc).__name__}); check `format:` and `sheet:`"
        raise SourceReadError(msg) from None
    try:
        return _read_sheet(wb, data, sheet=sheet, header_row=header_row, name=path.name)
    except SourceReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged part of the zip surfaces only while reading rows
        msg = f"{path.name}: the sheet cannot be read ({type(exc).__name__}: damaged workbook); re-export it"
        raise SourceReadError(msg, reason="corrupt_workbook") from None
    finally:
        wb.close()


def _pick(wb: Any, sheet: str | int | None) -> tuple[Any, int | None]:
    sheets = wb.worksheets
    if sheet is None:
        return (sheets[0], 0) if sheets else (None, None)
    if isinstance(sheet, int):
        return (sheets[sheet], sheet) if -len(sheets) <= sheet < len(sheets) else (None, None)
    names = [ws.title for ws in sheets]
    return (sheets[names.index(sheet)], names.index(sheet)) if sheet in names else (None, None)


def _read_sheet(wb: Any, data: bytes, *, sheet: str | int | None, header_row: int, name: str) -> RawTable:
    ws, index = _pick(wb, sheet)
    if ws is None:
        return _empty("the configured sheet is not in the workbook" + _where_rows_are(wb, None), has_header=False)
    rows = _rows(ws)
    header_at = next(
        (i for i, (r, cells) in enumerate(rows) if r >= header_row and any(c.value not in (None, "") for c in cells)),
        None,
    )
    if header_at is None:
        return _empty("the configured sheet has no rows" + _where_rows_are(wb, index), has_header=False)
    header_cells = rows[header_at][1]
    formulas: dict[tuple[int, int], str] = {}
    records: list[tuple[int, list[str]]] = []
    issues: list[tuple[int, int, str]] = []  # (row, column index, detail)
    width = len(header_cells)
    for r, cells in rows[header_at + 1 :]:
        values: list[str] = []
        used: list[int] = []  # columns holding a value, an error or a formula
        for j, c in enumerate(cells):
            v = c.value
            if v is None or v == "":
                values.append("")
                continue
            used.append(j)
            kind = getattr(c, "data_type", "n")
            if kind == "e" or (isinstance(v, str) and v in EXCEL_ERRORS):
                issues.append((r, j, f"{v} error cell"))
                values.append("")
            elif kind == "f":
                formulas[(r, j)] = str(v)
                values.append("")
            else:
                values.append(_text(v))
        if not used:
            continue  # a blank row is no record
        values = values[: max(width, used[-1] + 1)]
        width = len(values)
        records.append((r, values))
    if formulas:  # the values Excel cached for the formulas (a second, values-only pass)
        cached = _cached_values(data, index, set(formulas))
        by_row = dict(records)
        for (r, j), _formula in formulas.items():
            v, kind = cached.get((r, j), (None, "n"))
            if v is None or v == "":
                issues.append(
                    (
                        r,
                        j,
                        "formula without a cached value (never calculated); open and save it in "
                        "Excel, or export values",
                    )
                )
            elif kind == "e" or (isinstance(v, str) and v in EXCEL_ERRORS):
                issues.append((r, j, f"{v} error cell (formula)"))
            else:
                by_row[r][j] = _text(v)
    raw_names = [_text(c.value) for c in header_cells] + [""] * (width - len(header_cells))
    raw_names = [n if n.strip() else f"Unnamed: {j}" for j, n in enumerate(raw_names)]
    names, copies = _dedupe(raw_names)
    cols = {
        n: pd.array([vals[j] if j < len(vals) else "" for _, vals in records], dtype=STR) for j, n in enumerate(names)
    }
    frame = pd.DataFrame(cols) if records else pd.DataFrame({n: pd.Series([], dtype=STR) for n in names})
    frame[LINE] = pd.array([r for r, _ in records], dtype="int64")
    cells = [CellIssue(r, names[j], "excel_error", detail) for r, j, detail in sorted(issues)]
    empty = (
        ""
        if records
        else "header only (the configured sheet has no rows below its header)" + _where_rows_are(wb, index)
    )
    return RawTable(frame, "xlsx", n_records=len(records), empty=empty, cells=cells, duplicates=copies)


def _cached_values(data: bytes, index: int | None, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], tuple]:
    wb = _open(data, data_only=True)
    try:
        ws = wb.worksheets[index or 0]
        out = {}
        for r, cells in _rows(ws):
            for j, c in enumerate(cells):
                if (r, j) in wanted:
                    out[(r, j)] = (c.value, getattr(c, "data_type", "n"))
        return out
    finally:
        wb.close()


def _empty(why: str, *, has_header: bool) -> RawTable:
    return RawTable(
        pd.DataFrame({LINE: pd.Series([], dtype="int64")}),
        "xlsx",
        n_records=0,
        empty=why,
        has_header=has_header,
        may_hold_control=False,
    )
