"""Damaged variants of the demo's tabular sources: one mutation each, with an independent count.

A :class:`Case` names a source of the demo cohort (modality, site, file, sheet), a mutation that
edits the file in place, and how many records the damaged file holds, counted here without the
reader under test: physical lines (split on ``\\r\\n``, ``\\n``, ``\\r``; blank lines are no record)
for files without quoted line breaks, Python's csv module for the pathology export (whose report
text spans lines), and openpyxl's rows for workbooks. ``None``: the file cannot be read as a table
(it must then be quarantined as a file and named by source_empty) or its count is not predictable
(random byte damage: every other invariant still holds).
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # what Excel writes for a password-protected .xlsx


# ------------------------------------------------------------------------------ independent counts
def _text(data: bytes, enc: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode(enc, errors="replace").removeprefix("\ufeff")


def count_lines(path: Path, enc: str = "utf-8") -> int:
    """Non-blank physical lines after the header (files without quoted line breaks)."""
    lines = re.split(r"\r\n|\n|\r", _text(path.read_bytes(), enc))
    nonblank = [ln for ln in lines if ln.strip()]
    return max(0, len(nonblank) - 1)


def count_csv(path: Path, enc: str = "utf-8") -> int:
    """Records of a well-formed CSV (quoted line breaks inside values), by Python's csv module."""
    rows = list(csv.reader(io.StringIO(_text(path.read_bytes(), enc), newline="")))
    return max(0, sum(1 for r in rows if any(v.strip() for v in r)) - 1)


def count_rows(path: Path, sheet: str) -> int:
    """Non-blank rows below the header of a worksheet; 0 when the sheet is absent."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        if sheet not in wb.sheetnames:
            return 0
        rows = [r for r in wb[sheet].iter_rows(values_only=True) if any(v not in (None, "") for v in r)]
        return max(0, len(rows) - 1)
    finally:
        wb.close()


# ------------------------------------------------------------------------------ edits of text files
def _lines(path: Path, enc: str) -> list[str]:
    return path.read_bytes().decode(enc).removeprefix("\ufeff").split("\n")


def _write(path: Path, lines: list[str], enc: str) -> None:
    path.write_bytes("\n".join(lines).encode(enc))


def edit_field(row: int, col: int, fn: Callable[[str], str], *, enc: str = "utf-8") -> Callable[[Path], None]:
    """Replace field ``col`` of physical line ``row`` (0 = header) by ``fn(old)``; fields split on commas."""

    def apply(path: Path) -> None:
        lines = _lines(path, enc)
        fields = lines[row].split(",")
        fields[col] = fn(fields[col])
        lines[row] = ",".join(fields)
        _write(path, lines, enc)

    return apply


def edit_rows(rows: list[int], col: int, fn: Callable[[str], str], *, enc: str = "utf-8") -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        for r in rows:
            edit_field(r, col, fn, enc=enc)(path)

    return apply


def edit_lines(fn: Callable[[list[str]], list[str]], *, enc: str = "utf-8") -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        _write(path, fn(_lines(path, enc)), enc)

    return apply


def edit_bytes(fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        path.write_bytes(fn(path.read_bytes()))

    return apply


def reencode(src: str, dst: str) -> Callable[[Path], None]:
    return edit_bytes(lambda b: b.decode(src).removeprefix("\ufeff").encode(dst))


def flip_bytes(seed: int, n: int) -> Callable[[Path], None]:
    def fn(b: bytes) -> bytes:
        rng = random.Random(seed)
        data = bytearray(b)
        for _ in range(n):
            i = rng.randrange(len(data))
            data[i] = rng.choice([0x22, 0x2C, 0x0A, 0x0D, 0x00, 0xFF, rng.randrange(256)])  # " , LF CR NUL
        return bytes(data)

    return edit_bytes(fn)


def truncate_at(fraction: float) -> Callable[[Path], None]:
    return edit_bytes(lambda b: b[: int(len(b) * fraction)])


FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


# ------------------------------------------------------------------------------ edits of workbooks
def edit_workbook(fn: Callable[[object], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        from openpyxl import load_workbook

        wb = load_workbook(path)
        fn(wb)
        wb.save(path)

    return apply


def _errors_and_formulas(wb: object) -> None:
    ws = wb["Results"]  # type: ignore[index]
    ws["C3"] = "#DIV/0!"  # Result: an error cell
    ws["C5"] = "=1/0"  # a formula openpyxl writes without a cached value
    ws["F7"] = "#N/A"  # Collected date: an error cell
    ws["C9"] = "１２．５"  # a full-width number typed as text


def _move_rows(wb: object) -> None:
    ws = wb["Questionnaire"]  # type: ignore[index]
    other = wb.create_sheet("Sheet2")  # type: ignore[attr-defined]
    for row in ws.iter_rows(values_only=True):
        other.append(list(row))
    ws.delete_rows(2, ws.max_row)  # the configured sheet keeps its header only


def _rename(wb: object) -> None:
    wb["Pathology"].title = "病理"  # type: ignore[index]


def _empty_sheet(wb: object) -> None:
    ws = wb["FollowUp"]  # type: ignore[index]
    ws.delete_rows(2, ws.max_row)


# ------------------------------------------------------------------------------ the catalogue
@dataclass(frozen=True)
class Case:
    name: str
    modality: str
    site: str
    file: str  # under raw/
    mutate: Callable[[Path], None]
    count: Callable[[Path], int | None]  # the independent count of the damaged file, None: unreadable
    sheet: str = ""  # the source (sheet) whose count is given, for workbooks
    empty: bool = False  # the source must be named by source_empty


def _lines_of(enc: str = "utf-8") -> Callable[[Path], int]:
    return lambda p: count_lines(p, enc)


def _csv_of(enc: str = "utf-8") -> Callable[[Path], int]:
    return lambda p: count_csv(p, enc)


def _none(_: Path) -> None:
    return None


def _zero(_: Path) -> int:
    return 0


def _rows_of(sheet: str) -> Callable[[Path], int]:
    return lambda p: count_rows(p, sheet)


A_DX, A_PAT, A_EXP, A_LAB, A_PATH = (
    "siteA/diagnosis.csv",
    "siteA/patients.csv",
    "siteA/questionnaire.csv",
    "siteA/lis_tumor_markers.csv",
    "siteA/pathology.csv",
)
C_PAT, C_EXP = "siteC/patients.csv", "siteC/questionnaire.csv"
GB = "gb18030"


def _quoted(value: str) -> Callable[[str], str]:
    return lambda _old: value


CASES: list[Case] = [
    # quoting
    Case("unbalanced_quote", "exposure", "A", A_EXP, edit_field(5, 1, lambda v: '"' + v), _lines_of()),
    Case(
        "two_stray_quotes",
        "lab",
        "A",
        A_LAB,
        lambda p: (edit_field(10, 2, lambda v: '"' + v)(p), edit_field(40, 2, lambda v: v + '"')(p)),
        _lines_of(),
    ),
    Case(
        "literal_quote_mid_field",
        "clinical",
        "A",
        A_DX,
        lambda p: (edit_field(3, 6, lambda v: v + '"x')(p), edit_field(3, 7, lambda v: '"' + v)(p)),
        _lines_of(),
    ),
    Case(
        "quoted_line_break",
        "clinical",
        "A",
        A_DX,
        edit_field(4, 7, lambda v: f'"{v}\n补充"'),
        lambda p: count_lines(p) - 1,
    ),
    Case(
        "u2028_and_nel_in_quoted_values",
        "clinical",
        "A",
        A_DX,
        lambda p: (edit_field(2, 7, lambda v: f'"{v}\u2028备注"')(p), edit_field(5, 7, lambda v: f'"{v}\x85x"')(p)),
        _lines_of(),
    ),
    Case("quoted_report_text_truncated", "pathology", "A", A_PATH, truncate_at(0.5), _none),
    Case(
        "pathology_values_in_multiline_file",
        "pathology",
        "A",
        A_PATH,
        lambda p: (edit_field(1, 6, lambda v: "１５０%")(p), edit_field(1, 4, lambda v: "未知类型")(p)),
        _csv_of(),
    ),
    # empty and truncated
    Case("header_only", "clinical", "A", A_PAT, edit_lines(lambda ls: ls[:1]), _zero, empty=True),
    Case("zero_byte", "exposure", "A", A_EXP, edit_bytes(lambda b: b""), _zero, empty=True),
    Case("blank_file", "lab", "A", A_LAB, edit_bytes(lambda b: b"\n\r\n  \n"), _zero, empty=True),
    Case("truncated_mid_line", "lab", "A", A_LAB, truncate_at(0.55), _lines_of()),
    Case(
        "truncated_mid_character",
        "clinical",
        "A",
        A_PAT,
        edit_bytes(lambda b: b[: b.index("汉族".encode(), len(b) // 2) + 4]),
        _lines_of(),
    ),
    # encodings
    Case("bom_added", "clinical", "A", A_PAT, edit_bytes(lambda b: b"\xef\xbb\xbf" + b), _lines_of()),
    Case("utf16", "exposure", "A", A_EXP, reencode("utf-8-sig", "utf-16"), _lines_of()),
    Case("gb18030_declared_utf8", "clinical", "A", A_DX, reencode("utf-8", GB), _none, empty=True),
    Case("utf8_declared_gb18030", "clinical", "C", C_PAT, reencode(GB, "utf-8"), _none),
    # characters
    Case("nul_bytes", "lab", "A", A_LAB, edit_rows([3, 8, 15], 2, lambda v: v[:1] + "\x00" + v[1:]), _lines_of()),
    Case(
        "nul_in_admission_number",
        "clinical",
        "A",
        A_PAT,
        edit_field(2, 0, lambda v: v[:3] + "\x00" + v[3:]),
        _lines_of(),
    ),
    Case(
        "control_characters",
        "exposure",
        "C",
        C_EXP,
        edit_rows([2, 4], 1, lambda v: v + "\x1b\x07", enc=GB),
        _lines_of(GB),
    ),
    Case(
        "full_width_digits",
        "exposure",
        "A",
        A_EXP,
        edit_rows([1, 2, 3], 2, lambda v: v.translate(FULL_WIDTH)),
        _lines_of(),
    ),
    Case(
        "thousands_separators",
        "exposure",
        "A",
        A_EXP,
        lambda p: (
            edit_field(2, 12, _quoted('"1,234.5"'))(p),
            edit_field(3, 2, _quoted('"12,5"'))(p),
            edit_field(4, 12, _quoted('"1,045"'))(p),
        ),
        _lines_of(),
    ),
    Case(
        "excel_error_text",
        "lab",
        "A",
        A_LAB,
        lambda p: (edit_field(4, 2, _quoted("#DIV/0!"))(p), edit_field(6, 5, _quoted("#N/A"))(p)),
        _lines_of(),
    ),
    Case(
        "impossible_ages",
        "clinical",
        "A",
        A_PAT,
        lambda p: (edit_field(1, 3, _quoted("2099-01-01"))(p), edit_field(2, 3, _quoted("1773-01-01"))(p)),
        _lines_of(),
    ),
    Case(
        "sex_codes",
        "clinical",
        "A",
        A_PAT,
        edit_lines(
            lambda ls: [
                ls[0],
                *[_with(ln, 2, c) for ln, c in zip(ls[1:6], ["M", "1", "未知", "X", "２"], strict=True)],
                *ls[6:],
            ]
        ),
        _lines_of(),
    ),
    # headers
    Case(
        "duplicate_header_conflict",
        "clinical",
        "A",
        A_PAT,
        edit_lines(
            lambda ls: [
                ls[0] + ",性别",
                *[ln + (",女" if i % 3 == 0 else ",") for i, ln in enumerate(ls[1:]) if ln],
                "",
            ]
        ),
        _lines_of(),
    ),
    Case("missing_header", "clinical", "A", A_DX, edit_field(0, 2, _quoted("诊断日")), _lines_of()),
    Case("full_width_header", "exposure", "A", A_EXP, edit_field(0, 12, _quoted("居住地ＰＭ２．５")), _lines_of()),
    # line structure
    Case("crlf", "clinical", "A", A_DX, edit_bytes(lambda b: b.replace(b"\n", b"\r\n")), _lines_of()),
    Case("lone_cr", "clinical", "A", A_DX, edit_bytes(lambda b: b.replace(b"\n", b"\r")), _lines_of()),
    Case(
        "blank_lines", "lab", "A", A_LAB, edit_lines(lambda ls: [x for ln in ls for x in (ln, "", "  ")]), _lines_of()
    ),
    Case(
        "extra_delimiter", "clinical", "A", "siteA/treatments.csv", edit_field(3, 2, lambda v: v + ",另"), _lines_of()
    ),
    Case("random_bytes_lab", "lab", "A", A_LAB, flip_bytes(1, 25), _none),
    Case("random_bytes_gb18030", "clinical", "C", C_PAT, flip_bytes(2, 12), _none),
    # workbooks
    Case(
        "encrypted_workbook",
        "clinical",
        "B",
        "siteB/emr_export.xlsx",
        edit_bytes(lambda b: CFB + b"\0" * 4096),
        _none,
        sheet="Patients",
        empty=True,
    ),
    Case(
        "truncated_workbook",
        "pathology",
        "B",
        "siteB/pathology.xlsx",
        truncate_at(0.6),
        _none,
        sheet="Pathology",
        empty=True,
    ),
    Case(
        "zero_byte_workbook",
        "exposure",
        "B",
        "siteB/questionnaire.xlsx",
        edit_bytes(lambda b: b""),
        _zero,
        sheet="Questionnaire",
        empty=True,
    ),
    Case(
        "excel_error_cells",
        "lab",
        "B",
        "siteB/lis_tumor_markers.xlsx",
        edit_workbook(_errors_and_formulas),
        _rows_of("Results"),
        sheet="Results",
    ),
    Case(
        "rows_on_another_sheet",
        "exposure",
        "B",
        "siteB/questionnaire.xlsx",
        edit_workbook(_move_rows),
        _rows_of("Questionnaire"),
        sheet="Questionnaire",
        empty=True,
    ),
    Case(
        "sheet_renamed",
        "pathology",
        "B",
        "siteB/pathology.xlsx",
        edit_workbook(_rename),
        _rows_of("Pathology"),
        sheet="Pathology",
        empty=True,
    ),
    Case(
        "header_only_sheet",
        "clinical",
        "B",
        "siteB/emr_export.xlsx",
        edit_workbook(_empty_sheet),
        _rows_of("FollowUp"),
        sheet="FollowUp",
        empty=True,
    ),
]


def _with(line: str, col: int, value: str) -> str:
    fields = line.split(",")
    fields[col] = value
    return ",".join(fields)
