"""Readers for tabular exports (CSV, TSV, Excel, Parquet): every column read as text first.

Hospitals export with different encodings (UTF-8, UTF-8 with BOM, GBK/GB18030), headers in Chinese
or English, duplicated column names, identifiers with leading zeros and home-made null tokens.
The readers here keep every value as a string (so ``00123`` stays ``00123``), report each malformed
line with its physical line number instead of skipping it, and leave typing to the standardize step,
which knows the data dictionary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SourceError

__all__ = ["MISSING_REASONS", "STR", "BadLine", "RawTable", "apply_mapping", "detect_encoding", "map_values",
           "read_table"]

# Arrow-backed strings: vectorized str methods, ~10x the python-object storage on large exports
STR = pd.StringDtype("pyarrow")

MISSING_REASONS = ("not_collected", "not_applicable", "pending", "unknown")

# cBioPortal's null vocabulary, recognised in every source; cohort.yaml `missing` adds its own tokens.
DEFAULT_MISSING: dict[str, str] = {
    "[Not Available]": "not_collected",
    "[Not Collected]": "not_collected",
    "[Not Evaluated]": "not_collected",
    "[Not Applicable]": "not_applicable",
    "[Pending]": "pending",
    "[Unknown]": "unknown",
    "[Not Reported]": "unknown",
}

LINE = "_line"  # physical line (CSV/TSV) or worksheet row (Excel) of each record, 1-based
REASON_SUFFIX = "__missing"


@dataclass(frozen=True)
class BadLine:
    """A line set aside while reading: its field count does not match the header
    (``malformed_line``), or its bytes are not text in the file's encoding (``undecodable_line``)."""

    line: int
    expected: int
    actual: int
    reason: str = "malformed_line"

    def describe(self, site: str = "") -> str:
        where = f"site {site}: " if site else ""
        if self.reason == "undecodable_line":
            return (f"{where}bytes that are not valid text in this file's encoding; re-export the file "
                    "or fix the encoding of this line")
        return (f"{where}{self.actual} fields where the header has {self.expected}; "
                "fix the quoting or delimiter of this line in the export")


# A file is read in the detected encoding when at most this share of its lines fail to decode;
# those lines are quarantined. More than that means the encoding itself is wrong.
MAX_UNDECODABLE = 0.01


def _undecodable_lines(data: bytes, enc: str) -> list[int]:
    """1-based numbers of the lines that do not decode (b"\n" never occurs inside a UTF-8 or
    GB18030 multi-byte character, so splitting the bytes on it is safe)."""
    bad = []
    for i, raw in enumerate(data.split(b"\n"), 1):
        try:
            raw.decode(enc)
        except UnicodeDecodeError:
            bad.append(i)
    return bad


def _decode_tolerant(data: bytes, enc: str) -> tuple[str, list[int]]:
    """Decode line by line: an undecodable line becomes blank (line numbers stay physical)."""
    lines, bad = [], []
    for i, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode(enc))
        except UnicodeDecodeError:
            lines.append("")
            bad.append(i)
    return "\n".join(lines), bad


@dataclass
class RawTable:
    """A source file read as text: one string column per header, plus the ``_line`` column."""

    frame: pd.DataFrame
    encoding: str = ""
    bad_lines: list[BadLine] = field(default_factory=list)


def detect_encoding(path: str | Path, *, data: bytes | None = None) -> str:
    """``utf-8-sig`` (BOM), ``utf-8``, or the encoding charset-normalizer finds (GBK family -> gb18030)."""
    raw = Path(path).read_bytes() if data is None else data
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("gb18030")
        return "gb18030"  # the superset of GBK and GB2312: Chinese hospital exports are the common case
    except UnicodeDecodeError:
        pass
    n_lines = raw.count(b"\n") + 1
    for enc in ("utf-8", "gb18030"):  # a few damaged lines in an otherwise valid file
        if len(_undecodable_lines(raw, enc)) <= max(1, MAX_UNDECODABLE * n_lines):
            return enc
    from charset_normalizer import from_bytes

    best = from_bytes(raw[: 1 << 20]).best()
    if best is None:
        msg = f"{Path(path).name}: cannot detect the text encoding; declare `encoding:` for this source in cohort.yaml"
        raise SourceError(msg)
    enc = best.encoding.lower()
    return "gb18030" if enc in {"gbk", "gb2312", "cp936", "hz"} else enc


def _dedupe(names: Iterable[str]) -> list[str]:
    """pandas-style unique names: a repeated ``case_id`` becomes ``case_id.1``, ``case_id.2`` ..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name.strip()
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            while new in seen:
                seen[name] += 1
                new = f"{name}.{seen[name]}"
            seen[new] = 0
            out.append(new)
        else:
            seen[name] = 0
            out.append(name)
    return out


def _read_delimited(path: Path, *, sep: str, encoding: str, header_row: int = 1) -> RawTable:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = path.read_bytes()
    enc = detect_encoding(path, data=data) if encoding in ("", "auto") else encoding
    undecodable: list[int] = []
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        text, undecodable = _decode_tolerant(data, enc)
        if len(undecodable) > max(1, MAX_UNDECODABLE * (data.count(b"\n") + 1)):
            msg = (f"{path.name}: cannot decode as {enc} ({type(exc).__name__} on {len(undecodable)} lines); "
                   "fix `encoding:` for this source in cohort.yaml (auto, utf-8, utf-8-sig, gb18030)")
            raise SourceError(msg) from None
    except LookupError as exc:
        msg = (f"{path.name}: cannot decode as {enc} ({type(exc).__name__}); "
               "fix `encoding:` for this source in cohort.yaml (auto, utf-8, utf-8-sig, gb18030)")
        raise SourceError(msg) from None
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    # lines above the header (export titles such as 导出时间：...) are not data
    nonblank = [i + 1 for i, ln in enumerate(lines) if ln.strip() and i + 1 >= header_row]
    if not nonblank:
        return RawTable(pd.DataFrame({LINE: pd.Series([], dtype="int64")}), enc)
    header_line = nonblank[0]
    header = next(csv.reader([lines[header_line - 1]], delimiter=sep))
    names = _dedupe(header)
    bad: list[BadLine] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        bad.append(BadLine(int(row.number) if row.number is not None else -1, row.expected_columns, row.actual_columns))
        return "skip"

    body = "\n".join(lines[header_line:]).encode("utf-8")
    cols = [f"c{i}" for i in range(len(names))]
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=cols, use_threads=False, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_bad),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(cols, pa.string()), null_values=[],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    df = table.to_pandas(types_mapper=lambda t: STR if t == pa.string() else None)
    df.columns = names
    # pyarrow numbers lines of the body (1-based, counting blank lines); shift to physical lines
    bad = [BadLine(b.line + header_line if b.line > 0 else -1, b.expected, b.actual) for b in bad]
    bad_set = {b.line for b in bad}
    bad += [BadLine(n, len(names), 0, "undecodable_line") for n in undecodable if n > header_line]
    good = [n for n in nonblank[1:] if n not in bad_set]
    if len(good) == len(df):
        df[LINE] = pd.array(good, dtype="int64")
    else:  # quoted newlines inside values: fall back to record order (header = line 1)
        df[LINE] = pd.array(range(header_line + 1, len(df) + header_line + 1), dtype="int64")
    return RawTable(df, enc, bad)


def _stringify(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d")
        out[c] = s.astype(STR).fillna("")
    return pd.DataFrame(out, index=df.index)


def read_table(path: str | Path, *, format: str, encoding: str = "auto", sheet: str | int | None = None,
               sep: str | None = None, header_row: int = 1) -> RawTable:
    """Read one export with every column as text ("" for empty cells).

    Parameters
    ----------
    path
        The file.
    format
        ``csv``, ``tsv``, ``excel`` or ``parquet``.
    encoding
        ``auto`` (detect) or a declared encoding, for CSV/TSV.
    sheet
        Excel worksheet name or index (default: the first).
    sep
        Delimiter override for CSV/TSV.
    header_row
        1-based line (CSV/TSV) or worksheet row (Excel) of the header, for exports with title lines.

    Raises
    ------
    SourceError
        The file cannot be read as declared; the message names the file and the fix.
    """
    path = Path(path)
    if format in ("csv", "tsv"):
        return _read_delimited(path, sep=sep or ("\t" if format == "tsv" else ","), encoding=encoding,
                               header_row=header_row)
    if format == "excel":
        try:
            # keep_default_na=False: "NA", "N/A", "null" ... are the site's own tokens, with their reasons
            df = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str, engine="openpyxl",
                               keep_default_na=False, na_values=[], header=header_row - 1)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises zip, XML, key and value errors alike
            msg = f"{path.name}: cannot read as an Excel workbook ({type(exc).__name__}); check `format:` and `sheet:`"
            raise SourceError(msg) from None
        df.columns = _dedupe(str(c) for c in df.columns)
        df = _stringify(df).reset_index(drop=True)
        df[LINE] = pd.array(range(header_row + 1, len(df) + header_row + 1), dtype="int64")  # worksheet row
        return RawTable(df, "xlsx")
    if format == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types on bad files
            msg = f"{path.name}: cannot read as Parquet ({type(exc).__name__}); check `format:`"
            raise SourceError(msg) from None
        df = _stringify(df).reset_index(drop=True)
        df[LINE] = pd.array(range(1, len(df) + 1), dtype="int64")
        return RawTable(df, "parquet")
    msg = f"{path.name}: unsupported tabular format {format!r}; expected csv, tsv, excel or parquet"
    raise SourceError(msg)


def map_values(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """``s.map(mapping)`` through the distinct values (a large column has few): missing where unmapped."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    # iterate a plain object array: element access on Arrow-backed arrays is slow
    values = uniques.to_numpy(dtype=object) if hasattr(uniques, "to_numpy") else np.asarray(uniques, dtype=object)
    looked = np.array([mapping.get(u, pd.NA) for u in values] + [pd.NA], dtype=object)
    return pd.Series(looked[codes], index=s.index, dtype=STR)


def apply_mapping(
    df: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    known: Iterable[str],
    values: Mapping[str, Mapping[str, str]] | None = None,
    missing: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Rename source headers to dictionary fields, map source values, and turn null tokens into reasons.

    Columns named in ``columns`` are renamed; a header that already is a dictionary field is kept;
    any other column is dropped and returned in the second value (so the caller can report it).
    For each field, a null token (``missing`` plus cBioPortal's ``[Not Available]`` family) becomes
    an empty value and, in a ``<field>__missing`` column, its reason.

    Returns
    -------
    The mapped frame (string values, "" = missing) and the unmapped source headers.
    """
    known = set(known)
    keep: dict[str, str] = {}
    unmapped: list[str] = []
    for col in df.columns:
        if col == LINE:
            continue
        target = columns.get(col) or (col if col in known else None)
        if target and target not in keep.values():
            keep[col] = target
        else:
            unmapped.append(col)
    out = df[[*keep, LINE]].rename(columns=keep)
    tokens = {**DEFAULT_MISSING, **dict(missing or {})}
    bad = sorted({r for r in tokens.values() if r not in MISSING_REASONS})
    if bad:
        msg = (f"missing: reason(s) {', '.join(bad)} not one of {', '.join(MISSING_REASONS)}; "
               "fix the source's `missing:` map")
        raise SourceError(msg)
    stripped_tokens = {k.strip(): v for k, v in tokens.items()}
    for name in keep.values():
        s = out[name].astype(STR).fillna("").str.strip()
        is_token = s.isin(list(stripped_tokens))
        if is_token.any():
            out[name + REASON_SUFFIX] = map_values(s.where(is_token), stripped_tokens)
            s = s.where(~is_token, "")
        vmap = (values or {}).get(name)
        if vmap:
            mapped = map_values(s, {str(k).strip(): str(v) for k, v in vmap.items()})
            s = mapped.where(mapped.notna(), s)
        out[name] = s
    return out, unmapped
