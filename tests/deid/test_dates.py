from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.deid.dates import age_band, generalize_birth, shift_dates
from curation.deid.keys import Keyring
from curation.errors import DeidError

K = Keyring(b"d" * 32)
dates = st.datetimes(
    min_value=pd.Timestamp("1950-01-01").to_pydatetime(), max_value=pd.Timestamp("2030-01-01").to_pydatetime()
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["PA", "PB", "PC"]), dates, dates), min_size=1, max_size=20))
def test_shift_preserves_intervals(rows: list) -> None:
    df = pd.DataFrame(rows, columns=["patient", "d1", "d2"])
    out = shift_dates(df, ["d1", "d2"], keyring=K)
    pd.testing.assert_series_equal(out.d2 - out.d1, df.d2 - df.d1)
    # one shift per patient, the keyed one, and never zero
    shift = (out.d1 - df.d1).dt.days
    for p, s in zip(df.patient, shift, strict=True):
        assert s == K.date_shift(p) != 0


def test_nat_stays_nat_and_is_reported() -> None:
    df = pd.DataFrame({"patient": ["PA", "PA", None], "d": pd.to_datetime(["2020-01-01", None, "2020-02-02"])})
    out = shift_dates(df, ["d"], keyring=K)
    assert out.d.isna().tolist() == [False, True, True]  # no pseudonym -> no date, never the original
    assert out.attrs["deid"]["nat"] == {"d": 1}


@given(st.lists(st.text(max_size=12), min_size=1, max_size=5))
def test_unparsed_strings_never_pass(values: list[str]) -> None:
    df = pd.DataFrame({"patient": ["PA"] * len(values), "d": values})
    with pytest.raises(DeidError, match="not datetime; parse it first"):
        shift_dates(df, ["d"], keyring=K)


def test_relative_mode() -> None:
    df = pd.DataFrame(
        {
            "patient": ["PA", "PB"],
            "diagnosis_date": pd.to_datetime(["2020-01-10", "2021-05-01"]),
            "death_date": pd.to_datetime(["2020-03-10", None]),
        }
    )
    out = shift_dates(df, ["diagnosis_date", "death_date"], keyring=K, mode="relative", anchor_col="diagnosis_date")
    assert out.diagnosis_date.tolist() == [0, 0]
    assert out.death_date[0] == 60 and pd.isna(out.death_date[1])
    anchors = pd.Series(pd.to_datetime(["2020-01-01"]), index=["PA"])
    out2 = shift_dates(df, ["death_date"], keyring=K, mode="relative", anchors=anchors)
    assert out2.death_date[0] == 69
    with pytest.raises(DeidError, match="needs anchor_col or anchors"):
        shift_dates(df, ["death_date"], keyring=K, mode="relative")


def test_generalize_birth_top_codes() -> None:
    df = pd.DataFrame(
        {
            "birth_date": pd.to_datetime(["1950-06-15", "1920-01-01", "1950-06-16", None]),
            "diagnosis_date": pd.to_datetime(["2020-06-15", "2020-01-01", "2020-06-15", "2020-01-01"]),
        }
    )
    out = generalize_birth(df)
    assert "birth_date" not in out.columns
    assert out.age_at_diagnosis.tolist()[:3] == ["70", "90+", "69"]
    assert pd.isna(out.age_at_diagnosis[3])
    assert out.birth_year.tolist()[:1] == [1950] and pd.isna(out.birth_year[1])
    assert age_band(out.age_at_diagnosis).tolist()[:3] == ["70-79", "90+", "60-69"]


def test_a_missing_or_unreadable_age_has_no_band() -> None:
    # counted as "90+" before: every patient without an age sat in the oldest, rarest class
    bands = age_band(pd.Series(["65", None, "", "unknown", "90+", 94.5], dtype=object))
    assert bands.tolist()[0] == "60-69" and bands.tolist()[4:] == ["90+", "90+"]
    assert bands[1:4].isna().all()
