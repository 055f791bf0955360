"""Value text normalization shared by the tabular readers' callers: width, separators, control
characters, Excel error text and declared value maps.

Each function works on the distinct values of a column (an export repeats a few thousand values
over millions of rows) and never guesses: a number whose separators do not follow the source's
locale rule is left as written, so the typing step reports it instead of reading 1,23 as 123.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .readers import STR

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CONTROL_PATTERN",
    "EXCEL_ERRORS",
    "excel_error_mask",
    "factorize_text",
    "has_control",
    "map_declared",
    "nfkc",
    "normalize_numbers",
    "strip_control",
    "text_by_code",
    "value_key",
]

EXCEL_ERRORS = (
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#N/A",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#EXTERNAL!",
)
# C0 / C1 control characters other than tab, line feed and carriage return; NEL (U+0085) and the
# line / paragraph separators (U+2028, U+2029) are text a quoted value may hold, and stay
CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]"
_CONTROL = re.compile(CONTROL_PATTERN)
# thousands separators only in groups of three before the decimal mark: 1,234 and 1,234.5, not 1,23
_GROUPED = {
    ".": re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"),
    ",": re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$"),
}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# as RE2 patterns over distinct values (pyarrow): a character outside ASCII, and the ASCII
# characters str.strip() removes
_NON_ASCII = r"[^\x00-\x7f]"
_ASCII_SPACE = r"[\t-\r\x1c-\x1f ]"


def _all_ascii(s: pd.Series) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(s.astype(STR).array)  # zero-copy for Arrow-backed strings
    return pc.all(pc.string_is_ascii(arr)).as_py() is not False


def _any_substring(s: pd.Series, needle: str) -> bool:
    """Whether any value of a string column holds ``needle``. The Arrow data buffers are scanned
    first (numpy, ~1 ms per million values): a buffer without the needle's first byte settles it;
    only a hit, which may lie outside the column's slice of a shared buffer, is confirmed value by value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(s.astype(STR).array)  # zero-copy: an Array, or a ChunkedArray of pyarrow's read blocks
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    first = needle.encode("utf-8")[0]
    data = [c.buffers()[2] for c in chunks]
    if all(b is None or not (np.frombuffer(b, dtype=np.uint8) == first).any() for b in data):
        return False
    return bool(pc.any(pc.match_substring(arr, needle)).as_py())


def factorize_text(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Row codes (int64, -1 where missing) into the distinct texts of ``s`` in order of first
    appearance: ``pd.factorize(s.astype(STR), sort=False)``, with the uniques as a list of str.

    Arrow's dictionary encoding directly: pandas' factorize of an Arrow column unifies per-block
    dictionaries and boxes its uniques, 4x slower for a 1M-row column of 70k distinct timestamps
    (0.46 vs 0.11 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(s.astype(STR).array)  # zero-copy for Arrow-backed strings
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()  # one dictionary for the whole column
    encoded = arr.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def text_by_code(values: Sequence[str | None] | pa.Array, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """An Arrow-backed text column whose rows are ``values[code]`` (missing where a code is < 0 or its
    value is None): text spread back by code in Arrow, without a Python string per row."""
    import pyarrow as pa

    table = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    taken = table.take(pa.array(codes, type=pa.int64(), mask=codes < 0))
    return pd.Series(pd.arrays.ArrowStringArray(taken), index=index, dtype=STR)


def _by_distinct(s: pd.Series, fn: Callable[[str], str], *, may_change: str = "") -> pd.Series:
    """``fn`` applied once per distinct non-missing value (only to those matching the regular
    expression ``may_change``, when given: the others are known to come back as they are); missing
    values stay missing. The column is rebuilt only when a value changed, and then in Arrow: the
    changed values looked up by a hash join and the rest kept (no Python object per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = s.astype(STR)
    arr = pa.array(text.array)  # zero-copy for Arrow-backed strings
    distinct = pc.drop_null(pc.unique(arr))
    if may_change:
        distinct = distinct.filter(pc.match_substring_regex(distinct, may_change))
    values = distinct.to_pylist()
    new = [fn(v) for v in values]
    changed = {v: n for v, n in zip(values, new, strict=True) if n != v}
    if not changed:
        return text
    # the new values through pandas' own conversion to text, as a column built from them would be
    repl = pa.array(pd.array(list(changed.values()), dtype=STR))
    at = pc.index_in(arr, value_set=pa.array(list(changed), type=pa.large_string()))
    out = pc.coalesce(pc.take(repl, at), arr)
    return pd.Series(pd.arrays.ArrowStringArray(out), index=s.index, dtype=STR)


def nfkc(s: pd.Series) -> pd.Series:
    """Compatibility forms folded: full-width digits, letters, brackets, ％ and － become ASCII."""
    if _all_ascii(s):  # NFKC leaves ASCII as it is
        return s.astype(STR)
    return _by_distinct(s, lambda v: unicodedata.normalize("NFKC", v), may_change=_NON_ASCII)


def normalize_numbers(s: pd.Series, *, decimal: str = ".") -> pd.Series:
    """Number text as a parser reads it: NFKC, stripped, and grouping separators removed where the
    locale rule allows them (``decimal="."``: ``1,234.5`` -> ``1234.5``; ``decimal=","``:
    ``1.234,5`` -> ``1234.5`` and ``12,5`` -> ``12.5``). Anything else is returned as written."""
    grouped = _GROUPED[decimal]
    text = s.astype(STR)
    if _all_ascii(text) and not text.str.contains(",", regex=False).fillna(False).any():
        return text  # nothing to fold, no separator to read

    def one(v: str) -> str:
        t = unicodedata.normalize("NFKC", v).strip()
        if decimal == ".":
            return t.replace(",", "") if grouped.match(t) else t
        if grouped.match(t):
            return t.replace(".", "").replace(",", ".")
        return t.replace(",", ".") if _DECIMAL_COMMA.match(t) else t

    # an ASCII value without a separator the rule reads comes back stripped: only an edge to strip changes it
    seps = "," if decimal == "." else "[.,]"
    return _by_distinct(s, one, may_change=f"{_NON_ASCII}|{seps}|^{_ASCII_SPACE}|{_ASCII_SPACE}$")


def strip_control(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Control characters removed; returns the clean text and a mask of the values that held any."""
    text = s.astype(STR)
    had = text.str.contains(CONTROL_PATTERN, regex=True).fillna(False).astype(bool)
    if not had.any():
        return text, had
    return text.where(~had, text.str.replace(CONTROL_PATTERN, "", regex=True)), had


def excel_error_mask(s: pd.Series) -> pd.Series:
    """Values that are an Excel error (``#DIV/0!``, ``#N/A`` ...), as a CSV exported from Excel writes them."""
    text = s.astype(STR)
    if not _any_substring(text, "#"):  # every error value holds a #: a column without one has none
        return pd.Series(np.zeros(len(s), dtype=bool), index=s.index)
    return text.str.strip().isin(list(EXCEL_ERRORS)).fillna(False).astype(bool)


def value_key(value: object) -> str:
    """How a value-map key is matched: NFKC, stripped, case-folded (``Ｍ``, ``m`` and ``M`` are one key)."""
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def map_declared(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Values found in a declared value map (keys already :func:`value_key`-normalized) replaced by
    their standard value; every other value is returned unchanged."""
    if not mapping:
        return s
    return _by_distinct(s, lambda v: mapping.get(value_key(v), v))


# the same set as bytes of UTF-8 text: C0 and DEL are single bytes that never occur inside a multi-byte
# character, C1 is \xc2 followed by \x80-\x9f (a regex over the bytes is ~10x faster than over the text)
_CONTROL_C1 = re.compile(rb"\xc2[\x80-\x84\x86-\x9f]")


def has_control(text: str | bytes) -> bool:
    """Whether a text (or UTF-8 bytes) holds a control character that :func:`strip_control` removes."""
    if isinstance(text, bytes):
        # the bytes below 0x20 are all tab, line feed or carriage return (counted with memchr speed,
        # without the copy bytes.translate made), and no DEL
        low = int(np.count_nonzero(np.frombuffer(text, dtype=np.uint8) < 0x20))
        if low != text.count(b"\n") + text.count(b"\r") + text.count(b"\t") or b"\x7f" in text:
            return True
        return b"\xc2" in text and _CONTROL_C1.search(text) is not None
    return _CONTROL.search(text) is not None
