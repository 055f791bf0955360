"""IdentifierRegistry.add_many is add() per value: the same stored forms, raw values and kind order."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from curation.deid.registry import IdentifierRegistry, Kind

# texts that exercise every branch: digits of other scripts (٣, ३), Unicode spaces (U+3000, U+00A0,
# U+001C), dashes, separator-only values, case that changes length (ß), country codes
_ALPHABET = st.sampled_from(list("0123456789861 -\u3000\u00a0\u001c\t^_xX ßİ٣३张·"))
_VALUES = st.one_of(
    st.text(_ALPHABET, max_size=16),
    st.text(max_size=8),
    st.none(),
    st.just(math.nan),
    st.floats(min_value=0, max_value=1e12, allow_nan=False).map(lambda f: float(int(f))),
    st.integers(min_value=0, max_value=10**13),
    st.sampled_from(["8613812345678", "+86 138-1234-5678", "138 1234 5678", "11010519491231002x", "  --  "]),
    st.sampled_from(["1949-12-31", " 1949年1月5日", "5/1/1949", "13/1/1949", "19491231", "1949.1.5", "2023-02-30"]),
    st.dates(),
    st.datetimes(),
)


def _state(reg: IdentifierRegistry) -> tuple[object, ...]:
    return (
        [(k, sorted(v)) for k, v in reg._forms.items()],
        [(k, sorted(v)) for k, v in reg._added.items()],
        [k for k, _ in reg.forms_by_kind()],
    )


@given(batches=st.lists(st.tuples(st.sampled_from(list(Kind)), st.lists(_VALUES, max_size=12)), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_add_many_stores_exactly_what_add_stores(batches: list[tuple[Kind, list[object]]]) -> None:
    one, many = IdentifierRegistry(), IdentifierRegistry()
    for kind, values in batches:
        for v in values:
            one.add(kind, v)
        many.add_many(kind.value, values)
    assert _state(many) == _state(one)


def test_add_many_phone_and_id_card_forms() -> None:
    reg = IdentifierRegistry()
    reg.add_many(Kind.phone, ["+86 138-1234-5678", "  ", "--"])
    reg.add_many(Kind.id_card, ["11010519491231002x"])
    assert set(reg.values(Kind.phone)) == {"+86 138-1234-5678", "13812345678", "138-1234-5678", "138 1234 5678"}
    assert {"11010519491231002X", "11010519491231002x"} <= set(reg.values(Kind.id_card))
    assert reg.sizes()["phone"] == 1
