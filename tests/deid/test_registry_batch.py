"""IdentifierRegistry.add_many is add() per value: the same stored forms, raw values and kind order, whether
the values come as Python objects or as Arrow strings (the Arrow path builds the forms with RE2, which reads
``\\s`` and ``\\d`` as ASCII only: the values below mix in other scripts' spaces and digits)."""

from __future__ import annotations

import math
import re

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.deid import _idforms
from curation.deid.collect import _distinct, note_values
from curation.deid.registry import IdentifierRegistry, Kind

# texts that exercise every branch: digits of other scripts (٣, ३, full-width ３), Unicode spaces (U+3000,
# U+00A0, U+001C, U+0085), dashes, separator-only values, case that changes length (ß, İ), country codes
_ALPHABET = st.sampled_from(list("0123456789861 -\u3000\u00a0\u001c\u0085\t^_xX ßİ٣३３张·/.年月日"))
_SEPARATORS = st.sampled_from(["-", "/", ".", "年", " - ", "\u3000/", ""])


@st.composite
def _date_texts(draw: st.DrawFn) -> str:
    """Dates in every shape parse_date reads, some impossible (month 13, 30 February, year 0000)."""
    y, m, d = draw(st.integers(0, 2100)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    ys = f"{y:04d}"
    ms, ds = draw(st.sampled_from([str(m), f"{m:02d}"])), draw(st.sampled_from([str(d), f"{d:02d}"]))
    shape = draw(st.sampled_from(["ymd", "compact", "dmy", "mdy", "cn"]))
    if shape == "compact":
        return f"{ys}{m:02d}{d:02d}"
    if shape == "dmy":
        return f"{ds}/{ms}/{ys}"
    if shape == "mdy":
        return f"{ms}/{ds}/{ys}"
    if shape == "cn":
        return f"{ys}年{ms}月{ds}日" + draw(st.sampled_from(["", " "]))
    return f"{ys}{draw(_SEPARATORS)}{ms}{draw(_SEPARATORS)}{ds}"


_NAMES = st.sampled_from(
    [
        "张三丰",
        "欧阳娜娜",
        "阿依古丽·买买提",
        "ZHANG^SANFENG=张三丰",
        "张^三丰",
        "Zhang Sanfeng",
        "吕小明",
        "Lung_Dx-A0002",
    ]
)
_VALUES = st.one_of(
    st.text(_ALPHABET, max_size=16),
    st.text(max_size=8),
    st.none(),
    st.just(math.nan),
    st.floats(min_value=0, max_value=1e12, allow_nan=False).map(lambda f: float(int(f))),
    st.integers(min_value=0, max_value=10**13),
    st.sampled_from(["8613812345678", "+86 138-1234-5678", "138 1234 5678", "11010519491231002x", "  --  "]),
    st.sampled_from(["1949-12-31", " 1949年1月5日", "5/1/1949", "13/1/1949", "19491231", "1949.1.5", "2023-02-30"]),
    st.sampled_from(["138-1234-5678", "８６13812345678", "86138١٢٣٤٥٦٧٨", "上海市 浦东新区\u3000世纪大道 1号"]),
    _date_texts(),
    _NAMES,
    st.dates(),
    st.datetimes(),
)
_BATCHES = st.lists(st.tuples(st.sampled_from(list(Kind)), st.lists(_VALUES, max_size=12)), min_size=1, max_size=4)


def _state(reg: IdentifierRegistry) -> tuple[object, ...]:
    return (
        [(k, sorted(v)) for k, v in reg._forms.items()],
        [(k, sorted(v)) for k, v in reg._added.items()],
        [k for k, _ in reg.forms_by_kind()],
    )


@given(batches=_BATCHES)
@settings(max_examples=400, deadline=None)
def test_add_many_stores_exactly_what_add_stores(batches: list[tuple[Kind, list[object]]]) -> None:
    one, many = IdentifierRegistry(), IdentifierRegistry()
    for kind, values in batches:
        for v in values:
            one.add(kind, v)
        many.add_many(kind.value, values)
    assert _state(many) == _state(one)


@given(batches=_BATCHES)
@settings(max_examples=300, deadline=None)
def test_add_many_over_arrow_strings_and_a_column(batches: list[tuple[Kind, list[object]]]) -> None:
    """Arrow strings (a column's distinct values, as note_fields passes them) store what add() stores."""
    one, arrow, column = IdentifierRegistry(), IdentifierRegistry(), IdentifierRegistry()
    for kind, values in batches:
        texts = [v for v in values if isinstance(v, str)]
        for v in texts:
            one.add(kind, v)
        arrow.add_many(kind, pa.array(texts, pa.large_string()))
        note_values(column, kind.value, _distinct(pd.Series([*texts, None, *texts], dtype="string[pyarrow]")))
    assert _state(arrow) == _state(one)
    assert _state(column) == _state(one)


_PHONES = st.builds(
    lambda cc, digits, sep: cc + sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)),
    st.sampled_from(["", "86", "+86 ", "(0)"]),
    st.text("0123456789٣３", min_size=0, max_size=14),
    st.sampled_from(["", "-", " ", "\u3000"]),
)


@given(
    kind=st.sampled_from([Kind.birth_date, Kind.phone, Kind.id_card, Kind.address]),
    values=st.lists(st.one_of(_date_texts(), _PHONES, st.text(_ALPHABET, max_size=20)), max_size=30),
)
@settings(max_examples=500, deadline=None)
def test_each_kind_with_forms_stores_what_add_stores(kind: Kind, values: list[str]) -> None:
    one, many = IdentifierRegistry(), IdentifierRegistry()
    for v in values:
        one.add(kind, v)
    many.add_many(kind, pa.array(values))
    assert _state(many) == _state(one)


@given(values=st.lists(_date_texts(), min_size=1, max_size=40))
@settings(max_examples=500, deadline=None)
def test_birth_date_renderings_are_those_of_parse_date(values: list[str]) -> None:
    one, many = IdentifierRegistry(), IdentifierRegistry()
    for v in values:
        one.add(Kind.birth_date, v)
    many.add_many(Kind.birth_date, values)
    assert _state(many) == _state(one)


def test_date_shapes_at_their_edges() -> None:
    """Month 12 in the middle of D/M/YYYY, year 0000, 29 February, month 13 and day 0: as parse_date reads them."""
    values = ["5/12/1949", "12/5/1949", "13/12/1949", "5/13/1949", "13/13/1949", "0000-01-01", "0001-01-01"]
    values += ["2000-2-29", "1900-2-29", "2004/02/29", "19490230", "1949年13月1日", "1949.1.0", "9999-12-31"]
    values += ["0000-01"]  # pandas reads year 0, which datetime.date cannot hold: no renderings, no crash
    one, many = IdentifierRegistry(), IdentifierRegistry()
    for v in values:
        one.add(Kind.birth_date, v)
    many.add_many(Kind.birth_date, values)
    assert _state(many) == _state(one)
    assert "1949-12-05" in many.values(Kind.birth_date)


def test_distinct_strips_as_python_strips() -> None:
    s = pd.Series([" a", "a\u3000", "\x1cb\x85", None, "  ", "b", "c"], dtype="string[pyarrow]")
    assert _distinct(s).to_pylist() == ["a", "b", "c"]


def test_the_listed_spaces_are_python_whitespace() -> None:
    every = "".join(ch for ch in map(chr, range(0x110000)) if ch.isspace())
    assert every == _idforms.SPACES
    assert all(bool(re.fullmatch(r"\s", ch)) == ch.isspace() for ch in map(chr, range(0x110000)))


def test_add_many_text_arrow_cannot_hold_is_added_one_by_one() -> None:
    one, many = IdentifierRegistry(), IdentifierRegistry()
    values = ["scan_\udcff.dcm", "138 1234 5678"]  # a file name decoded with surrogateescape
    for v in values:
        one.add(Kind.file_name, v)
    many.add_many(Kind.file_name, values)
    assert _state(many) == _state(one)


def test_add_many_phone_and_id_card_forms() -> None:
    reg = IdentifierRegistry()
    reg.add_many(Kind.phone, ["+86 138-1234-5678", "  ", "--"])
    reg.add_many(Kind.id_card, ["11010519491231002x"])
    assert set(reg.values(Kind.phone)) == {"+86 138-1234-5678", "13812345678", "138-1234-5678", "138 1234 5678"}
    assert {"11010519491231002X", "11010519491231002x"} <= set(reg.values(Kind.id_card))
    assert reg.sizes()["phone"] == 1
