"""Readers for tabular exports (CSV, TSV, Excel, Parquet): every column read as text first.

Hospitals export with different encodings (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16), headers in
Chinese or English (full-width or not), duplicated column names, identifiers with leading zeros and
home-made null tokens. The readers here keep every value as a string (so ``00123`` stays ``00123``),
count the records of every file independently of the parser (:attr:`RawTable.n_records`), report
each line they cannot use with its physical line number instead of skipping it, and leave typing
to the standardize step, which knows the data dictionary.

An empty source is not an error: it is a :class:`RawTable` with ``n_records == 0`` and an
``empty`` note saying why (0-byte file, header only, empty sheet and which sheet has the rows).
A file that cannot be read raises :class:`SourceReadError` with a reason code
(``unreadable_file``, ``encrypted_workbook``, ``corrupt_workbook``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SourceError

__all__ = [
    "MISSING_REASONS",
    "STR",
    "BadLine",
    "CellIssue",
    "RawTable",
    "SourceReadError",
    "apply_mapping",
    "detect_encoding",
    "header_targets",
    "is_utf8",
    "map_values",
    "merge_duplicate_headers",
    "normalize_header",
    "read_table",
]

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


class SourceReadError(SourceError):
    """A file that cannot be read as declared, with the quarantine reason code for it."""

    def __init__(self, message: str, *, reason: str = "unreadable_file") -> None:
        super().__init__(message)
        self.reason = reason


_BAD_LINE_FIX = {
    "undecodable_line": "bytes that are not valid text in this file's encoding; re-export the file or fix the "
    "encoding of this line",
    "unclosed_quote": 'a quote (") opened in this record is never closed, so the lines after it would be swallowed '
    "into one value; the lines after it were read on their own. Close or remove the quote",
    "unparsed_records": "records the parser did not return (counted by the independent record count); check the "
    "quoting of these lines and re-export",
}


@dataclass(frozen=True)
class BadLine:
    """A line (or range of lines) set aside while reading.

    ``reason``: ``malformed_line`` (its field count does not match the header), ``undecodable_line``
    (its bytes are not text in the file's encoding), ``unclosed_quote`` (a quote that never closes:
    the lines after it were read on their own), ``unparsed_records`` (lines the parser did not
    account for; ``end`` and ``count`` give the range and how many records it holds).
    """

    line: int
    expected: int
    actual: int
    reason: str = "malformed_line"
    end: int = 0  # last line of a range (unparsed_records), 0 for a single line
    count: int = 1  # records this entry stands for

    @property
    def record(self) -> str:
        """``line 12`` or ``lines 12-40``: the quarantine's record column."""
        return f"lines {self.line}-{self.end}" if self.end > self.line else f"line {self.line}"

    def describe(self, site: str = "") -> str:
        """One line naming the bad line's file position and what is wrong with it, for the quarantine."""
        where = f"site {site}: " if site else ""
        if self.reason in _BAD_LINE_FIX:
            return where + _BAD_LINE_FIX[self.reason]
        return (
            f"{where}{self.actual} fields where the header has {self.expected}; "
            "fix the quoting or delimiter of this line in the export"
        )


@dataclass(frozen=True)
class CellIssue:
    """One value the reader could not take as is (e.g. an Excel error cell): the value is read as
    empty and the caller records why, per field (``reason``: ``excel_error``)."""

    line: int
    column: str
    reason: str
    detail: str


@dataclass
class RawTable:
    """A source file read as text: one string column per header, plus the ``_line`` column.

    ``n_records`` is the independent count of the file's records (a quote-aware count of physical
    records for CSV/TSV, the non-blank rows of the sheet for Excel): every one of them is either a
    row of ``frame`` or in ``bad_lines``. ``empty`` says why a file has no record at all.
    ``duplicates`` maps a header that occurs several times to the names its copies got
    (``x`` -> ``["x.1"]``).
    """

    frame: pd.DataFrame
    encoding: str = ""
    bad_lines: list[BadLine] = field(default_factory=list)
    n_records: int = -1
    empty: str = ""
    cells: list[CellIssue] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    has_header: bool = True
    may_hold_control: bool = True  # False when the reader saw no control character in the file

    def __post_init__(self) -> None:
        if self.n_records < 0:
            self.n_records = len(self.frame) + sum(b.count for b in self.bad_lines)

    def quarantined(self) -> dict[str, int]:
        """Records set aside while reading, by reason (for the ledger)."""
        out: Counter[str] = Counter()
        for b in self.bad_lines:
            out[b.reason] += b.count
        return dict(out)


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


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as UTF-8, as ``data.decode("utf-8")`` would say (overlong forms,
    surrogates and code points past U+10FFFF refused): Arrow's validator, ~6x faster than decoding
    and without building the text."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    blob = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        blob.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def detect_encoding(path: str | Path, *, data: bytes | None = None) -> str:
    """``utf-8-sig`` or ``utf-16`` (BOM), ``utf-8``, or the encoding charset-normalizer finds
    (GBK family -> gb18030)."""
    return _detect(Path(path), Path(path).read_bytes() if data is None else data)[0]


def _detect(path: Path, raw: bytes) -> tuple[str, str | None]:
    """:func:`detect_encoding`, and the decoded text when finding the encoding took decoding the
    whole file (GB18030: the reader need not decode it twice)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", None  # Excel's "Unicode text" export
    if is_utf8(raw):
        return "utf-8", None
    try:
        # the superset of GBK and GB2312: Chinese hospital exports are the common case
        return "gb18030", raw.decode("gb18030")
    except UnicodeDecodeError:
        pass
    n_lines = raw.count(b"\n") + 1
    for enc in ("utf-8", "gb18030"):  # a few damaged lines in an otherwise valid file
        if len(_undecodable_lines(raw, enc)) <= max(1, MAX_UNDECODABLE * n_lines):
            return enc, None
    from charset_normalizer import from_bytes

    best = from_bytes(raw[: 1 << 20]).best()
    if best is None:
        msg = f"{path.name}: cannot detect the text encoding; declare `encoding:` for this source in cohort.yaml"
        raise SourceError(msg)
    enc = best.encoding.lower()
    return ("gb18030" if enc in {"gbk", "gb2312", "cp936", "hz"} else enc), None


def normalize_header(name: object) -> str:
    """A header as it is matched against cohort.yaml ``columns``: NFKC (full-width letters, digits
    and brackets become ASCII: ``ＭＲＮ（住院号）`` -> ``MRN(住院号)``) and stripped."""
    return unicodedata.normalize("NFKC", str(name)).strip()


def _dedupe(names: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """NFKC headers made unique pandas-style (a repeated ``case_id`` becomes ``case_id.1``,
    ``case_id.2`` ...), and the copies of every repeated header."""
    seen: dict[str, int] = {}
    out = []
    copies: dict[str, list[str]] = {}
    for raw in names:
        name = normalize_header(raw)
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            while new in seen:
                seen[name] += 1
                new = f"{name}.{seen[name]}"
            seen[new] = 0
            out.append(new)
            copies.setdefault(name, []).append(new)
        else:
            seen[name] = 0
            out.append(name)
    return out, copies


def _stringify(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d")
        out[c] = s.astype(STR).fillna("")
    return pd.DataFrame(out, index=df.index)


def _read_parquet(path: Path) -> RawTable:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types on bad files
        empty = path.is_file() and path.stat().st_size == 0
        if empty:
            return RawTable(
                pd.DataFrame({LINE: pd.Series([], dtype="int64")}),
                "parquet",
                n_records=0,
                empty="0-byte file",
                has_header=False,
            )
        msg = f"{path.name}: cannot read as Parquet ({type(exc).__name__}); check `format:` or re-export the file"
        raise SourceReadError(msg) from None
    names, copies = _dedupe(str(c) for c in df.columns)
    df = _stringify(df).reset_index(drop=True)
    df.columns = names
    df[LINE] = pd.array(range(1, len(df) + 1), dtype="int64")
    return RawTable(df, "parquet", n_records=len(df), empty="" if len(df) else "no rows", duplicates=copies)


def read_table(
    path: str | Path,
    *,
    format: str,
    encoding: str = "auto",
    sheet: str | int | None = None,
    sep: str | None = None,
    header_row: int = 1,
) -> RawTable:
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

    Returns
    -------
    The text table, its independent record count, the lines set aside and, for an empty file, why.

    Raises
    ------
    SourceReadError
        The file cannot be read as declared; the message names the file and the fix, ``reason``
        the quarantine code.
    """
    path = Path(path)
    if format in ("csv", "tsv"):
        from .delimited import read_delimited

        return read_delimited(
            path, sep=sep or ("\t" if format == "tsv" else ","), encoding=encoding, header_row=header_row
        )
    if format == "excel":
        from .excel import read_excel

        return read_excel(path, sheet=sheet, header_row=header_row)
    if format == "parquet":
        return _read_parquet(path)
    msg = f"{path.name}: unsupported tabular format {format!r}; expected csv, tsv, excel or parquet"
    raise SourceReadError(msg)


def map_values(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """``s.map(mapping)`` through the distinct values (a large column has few): missing where unmapped."""
    if s.dtype == STR:
        return _map_arrow(s, mapping)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    # iterate a plain object array: element access on Arrow-backed arrays is slow
    values = uniques.to_numpy(dtype=object) if hasattr(uniques, "to_numpy") else np.asarray(uniques, dtype=object)
    looked = np.array([mapping.get(u, pd.NA) for u in values] + [pd.NA], dtype=object)
    return pd.Series(looked[codes], index=s.index, dtype=STR)


def _map_arrow(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """:func:`map_values` of an Arrow-backed string column, in Arrow: each value looked up among the
    mapping's keys by a hash join (``index_in``) and the mapped text taken by that index; no
    Python object per row (a million-row column took ~0.15 s through object arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [k for k in mapping if isinstance(k, str)]  # a str value never equals another key type
    if not keys:
        return pd.Series(pd.NA, index=s.index, dtype=STR)
    # the mapped values through pandas' own conversion to text, as the object path did
    mapped = pa.array(pd.array([mapping[k] for k in keys], dtype=STR))
    at = pc.index_in(pa.array(s.array), value_set=pa.array(keys, type=pa.large_string()))
    return pd.Series(pd.arrays.ArrowStringArray(pc.take(mapped, at)), index=s.index, dtype=STR)


def merge_duplicate_headers(
    df: pd.DataFrame,
    duplicates: Mapping[str, list[str]],
    *,
    columns: Mapping[str, str],
    known: Iterable[str],
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Fold the copies of a repeated header that maps to a field into one column, never first-wins.

    Where the copies agree, or only one holds a value, that value is kept; records where two copies
    hold different values are returned as conflicts (header -> boolean mask), for the caller to
    quarantine. Repeated headers that map to no field are left alone (they are dropped later).
    A mapping may name one occurrence instead, ``header#N`` (1-based; real exports such as GDC's
    repeat ``submitter_id`` for different things): that copy alone is used, under that name, and
    the others stay unmapped.

    Returns
    -------
    The frame without the copies, and the conflict masks by header.
    """
    known = set(known)
    cols = {normalize_header(k): v for k, v in columns.items()}
    conflicts: dict[str, pd.Series] = {}
    drop: list[str] = []
    out = df
    for name, copies in duplicates.items():
        copies = [c for c in copies if c in df.columns]
        chosen = [k for k in range(1, len(copies) + 2) if f"{name}#{k}" in cols]
        if chosen and name in df.columns:
            occurrences = [name, *copies]
            out = out.rename(columns={occurrences[k - 1]: f"{name}#{k}" for k in chosen if k <= len(occurrences)})
            continue
        if name not in df.columns or not copies or not (cols.get(name) or name in known):
            continue
        if out is df:
            out = df.copy()
        texts = [df[c].astype(STR).fillna("").str.strip() for c in (name, *copies)]
        merged = texts[0]
        conflict = pd.Series(False, index=df.index)
        for t in texts[1:]:
            both = (merged != "") & (t != "")
            conflict |= (both & (merged != t)).fillna(False).astype(bool)
            merged = merged.where(merged != "", t)
        out[name] = merged
        drop += copies
        if conflict.any():
            conflicts[name] = conflict
    if drop:
        out = out.drop(columns=drop)
    return out, conflicts


def header_targets(headers: Iterable[str], *, columns: Mapping[str, str], known: Iterable[str]) -> dict[str, str]:
    """Source header -> dictionary field, as :func:`apply_mapping` renames: a header named in
    ``columns`` (compared after NFKC) or already a field name; the first header for a field wins
    the name, later ones are unmapped (a repeated header is folded by :func:`merge_duplicate_headers`)."""
    known = set(known)
    cols = {normalize_header(k): v for k, v in columns.items()}
    keep: dict[str, str] = {}
    for col in headers:
        target = cols.get(col) or (col if col in known else None)
        if target and target not in keep.values():
            keep[col] = target
    return keep


def _strip(s: pd.Series) -> pd.Series:
    """``s.str.strip()``, but ``s`` itself where no value changes: a column that shares the read
    table's memory instead of a second copy of it (stripping only removes bytes, so equal byte
    totals mean nothing was stripped)."""
    stripped = s.str.strip()
    return s if _text_bytes(s) == _text_bytes(stripped) else stripped


def _text_bytes(s: pd.Series) -> int:
    """The bytes of text in an Arrow-backed string column, from its offsets (no pass over the values)."""
    import pyarrow as pa

    arr = pa.array(s.array)
    total = 0
    for c in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not len(c):
            continue  # an empty chunk may have no offsets buffer
        width = np.int64 if pa.types.is_large_string(c.type) else np.int32
        offsets = np.frombuffer(c.buffers()[1], dtype=width)
        total += int(offsets[c.offset + len(c)] - offsets[c.offset])
    return total


def apply_mapping(
    df: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    known: Iterable[str],
    values: Mapping[str, Mapping[str, str]] | None = None,
    missing: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Rename source headers to dictionary fields, map source values, and turn null tokens into reasons.

    Columns named in ``columns`` are renamed (headers compared after NFKC, so a full-width variant
    matches); a header that already is a dictionary field is kept; any other column is dropped and
    returned in the second value (so the caller can report it). For each field, a null token
    (``missing`` plus cBioPortal's ``[Not Available]`` family) becomes an empty value and, in a
    ``<field>__missing`` column, its reason.

    Returns
    -------
    The mapped frame (string values, "" = missing) and the unmapped source headers.
    """
    keep = header_targets([c for c in df.columns if c != LINE], columns=columns, known=known)
    unmapped = [c for c in df.columns if c != LINE and c not in keep]
    out = df[[*keep, LINE]].rename(columns=keep)
    tokens = {**DEFAULT_MISSING, **dict(missing or {})}
    bad = sorted({r for r in tokens.values() if r not in MISSING_REASONS})
    if bad:
        msg = (
            f"missing: reason(s) {', '.join(bad)} not one of {', '.join(MISSING_REASONS)}; "
            "fix the source's `missing:` map"
        )
        raise SourceError(msg)
    stripped_tokens = {k.strip(): v for k, v in tokens.items()}
    for name in keep.values():
        s = _strip(out[name].astype(STR).fillna(""))
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
