from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.io.readers import STR, merge_duplicate_headers
from curation.io.values import (
    excel_error_mask,
    factorize_text,
    has_control,
    map_declared,
    nfkc,
    normalize_numbers,
    strip_control,
    value_key,
)


def _s(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype=STR)


def test_numbers_by_locale_rule_never_blindly() -> None:
    s = _s("１２３", "1,234.5", "12,345,678", "1,23", "12,5", "－３", None, "abc")
    assert normalize_numbers(s).tolist() == ["123", "1234.5", "12345678", "1,23", "12,5", "-3", pd.NA, "abc"]
    assert normalize_numbers(s, decimal=",").tolist() == [
        "123",
        "1,234.5",
        "12,345,678",
        "1.23",
        "12.5",
        "-3",
        pd.NA,
        "abc",
    ]
    assert normalize_numbers(_s("1.234,5"), decimal=",").tolist() == ["1234.5"]


def test_nfkc_folds_full_width_and_leaves_ascii_alone() -> None:
    out = nfkc(_s("Ｃ３４．１", "２０２３年１月５日", "C34.1", None))
    assert out.tolist() == ["C34.1", "2023年1月5日", "C34.1", pd.NA]


def test_control_characters_removed_nel_and_line_separator_kept() -> None:
    clean, had = strip_control(_s("a\x00b", "x\u2028y", "c\x85d", "e\x1bf", None))
    assert clean.tolist() == ["ab", "x\u2028y", "c\x85d", "ef", pd.NA]
    assert had.tolist() == [True, False, False, True, False]
    for text in ("a\x00b", "a\u0090b"):
        assert has_control(text) and has_control(text.encode())
    for text in ("x\ty\r\n", "é·µ\u2028\x85"):
        assert not has_control(text) and not has_control(text.encode())


def test_excel_error_text() -> None:
    assert excel_error_mask(_s("#DIV/0!", " #N/A ", "#1", None)).tolist() == [True, True, False, False]


@pytest.mark.parametrize(("raw", "std"), [("M", "male"), ("ｍ", "male"), (" 男 ", "male"), ("x", "x")])
def test_declared_maps_match_after_nfkc_and_case_folding(raw: str, std: str) -> None:
    mapping = {value_key("M"): "male", value_key("男"): "male"}
    assert map_declared(_s(raw), mapping).tolist() == [std]


def test_repeated_headers_fold_and_conflicts_are_returned() -> None:
    df = pd.DataFrame(
        {
            "MRN": ["1", "2", "3", "4"],
            "sex": ["M", "F", "", "M"],
            "sex.1": ["M", "M", "F", ""],
            "note": ["a", "b", "c", "d"],
            "note.1": ["x", "y", "z", "w"],
            "_line": [2, 3, 4, 5],
        }
    )
    out, conflicts = merge_duplicate_headers(
        df, {"sex": ["sex.1"], "note": ["note.1"]}, columns={"MRN": "admission_number", "性别": "sex"}, known={"sex"}
    )
    assert out["sex"].tolist() == ["M", "F", "F", "M"]  # agreeing or one-sided copies fold into one value
    assert list(conflicts) == ["sex"] and conflicts["sex"].tolist() == [False, True, False, False]
    assert "sex.1" not in out and "note.1" in out  # an unmapped repeated header is left alone (dropped later)


def test_excel_errors_found_in_a_slice_of_a_larger_column() -> None:
    """The byte scan of the Arrow buffers only rules a column out; a hit outside the column's
    slice of a shared buffer is confirmed value by value."""
    s = _s("1", "2", "#N/A", " #DIV/0! ")
    assert excel_error_mask(s.iloc[:2]).tolist() == [False, False]
    assert excel_error_mask(s.iloc[2:]).tolist() == [True, True]
    assert excel_error_mask(pd.Series(["#REF!", 3, None], dtype=object)).tolist() == [True, False, False]
    assert excel_error_mask(s.iloc[:0]).tolist() == []


def test_distinct_values_rebuilt_in_arrow_keep_the_rest() -> None:
    s = pd.concat([_s("Ｍ", "f", None), _s("m", "Ｍ")], ignore_index=True)  # two chunks
    out = map_declared(s, {"m": "male"})
    assert out.dtype == STR and out.tolist() == ["male", "f", pd.NA, "male", "male"]
    assert nfkc(s).tolist() == ["M", "f", pd.NA, "m", "M"]


@pytest.mark.parametrize("decimal", [".", ","])
def test_only_values_that_may_change_are_folded_and_the_rest_kept(decimal: str) -> None:
    """normalize_numbers and nfkc call Python only on the distinct values their rule can change
    (non-ASCII, a separator, an edge to strip): the result is the rule applied to every value."""
    import random
    import re
    import unicodedata

    grouped = {".": r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$", ",": r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$"}[decimal]

    def rule(v: str) -> str:
        t = unicodedata.normalize("NFKC", v).strip()
        if decimal == ".":
            return t.replace(",", "") if re.match(grouped, t) else t
        if re.match(grouped, t):
            return t.replace(".", "").replace(",", ".")
        return t.replace(",", ".") if re.match(r"^[+-]?\d+,\d+$", t) else t

    chars = [*"0123456789,.+- \t\x0b\x1c\x1fa\n", "１", "，", "．", "\u3000", "\xa0", "中", "－", "\x85", "é"]
    rng = random.Random(0)
    values = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 8))) for _ in range(5000)]
    s = _s(*values, None)
    assert normalize_numbers(s, decimal=decimal).tolist() == [*map(rule, values), pd.NA]
    assert nfkc(s).tolist() == [*(unicodedata.normalize("NFKC", v) for v in values), pd.NA]


@given(st.lists(st.one_of(st.none(), st.sampled_from(["", " a", "a", "b", "中文", "NaN", "1.0"]), st.text(max_size=3))))
def test_factorize_text_gives_pandas_codes_and_values(values: list[str | None]) -> None:
    for s in (pd.Series(values, dtype=object), pd.Series(values, dtype=STR), pd.Series(values, dtype="string")):
        codes, uniques = factorize_text(s)
        want_codes, want = pd.factorize(s.astype(STR), sort=False)
        assert codes.dtype == np.int64
        assert codes.tolist() == np.asarray(want_codes).tolist()
        assert uniques == [str(v) for v in np.asarray(want, dtype=object)]


def test_factorize_text_codes_a_column_read_in_blocks_with_one_dictionary() -> None:
    blocks = pa.chunked_array(
        [pa.array(["a", None, "b"], pa.large_string()), pa.array(["b", "c", "a"], pa.large_string())]
    )
    codes, uniques = factorize_text(pd.Series(pd.arrays.ArrowStringArray(blocks)))
    assert codes.tolist() == [0, -1, 1, 1, 2, 0]
    assert uniques == ["a", "b", "c"]
