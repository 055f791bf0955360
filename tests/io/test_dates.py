from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from curation.io.dates import day_span, parse_dates


@pytest.mark.parametrize(
    "text",
    [
        "2023-01-05",
        "2023/1/5",
        "2023年1月5日",
        "2023年01月05日",
        "20230105",
        "44931",
        "44931.0",
        "2023-01-05 08:30:00",
        "2023-01-05T08:30:00+08:00",
        "2023.1.5",
        " 2023-1-5 ",
    ],
)
def test_accepted_formats(text: str) -> None:
    r = parse_dates(pd.Series([text]))
    assert r.values.iloc[0] == pd.Timestamp("2023-01-05")
    assert not r.unparseable.iloc[0]


@pytest.mark.parametrize(
    "text", ["05/01/2023", "1/5/2023", "2023-02-30", "2023-13-01", "0203-01-05", "abc", "99999", "2023年2月30日"]
)
def test_unparseable_reported_never_guessed(text: str) -> None:
    r = parse_dates(pd.Series([text]))
    assert pd.isna(r.values.iloc[0])
    assert r.unparseable.iloc[0]


def test_missing_is_not_unparseable() -> None:
    r = parse_dates(pd.Series(["", None, "  "], dtype=object))
    assert r.values.isna().all() and not r.unparseable.any()


def test_datetimes_pass_through() -> None:
    s = pd.Series(pd.to_datetime(["2023-01-05", None]))
    r = parse_dates(s)
    assert r.values.iloc[0] == pd.Timestamp("2023-01-05") and not r.unparseable.any()


def test_vectorized_speed() -> None:
    rng = np.random.default_rng(0)
    s = pd.Series(rng.choice(["2023-01-05", "2023/1/5", "2023年1月5日", "20230105", "44931", "bad"], 100_000))
    t = time.perf_counter()
    r = parse_dates(s)
    assert time.perf_counter() - t < 5  # generous: shared 2-core machine; the bench has the real figure
    assert int(r.unparseable.sum()) == int((s == "bad").sum())


def test_old_dates_parse_so_plausibility_can_judge_them() -> None:
    r = parse_dates(pd.Series(["1861年3月1日", "1799-12-31"]))
    assert r.values.iloc[0] == pd.Timestamp("1861-03-01") and r.unparseable.tolist() == [False, True]


def test_day_span_converts_only_the_counts_it_can_and_keeps_the_index() -> None:
    # a GDC-like day column: gaps, a text placeholder, a negative count (days_to_birth) and a fraction
    days = pd.Series([849, None, "--", -25652, 1.5, np.nan], index=[10, 11, 12, 13, 14, 15], dtype="object")
    out = day_span(days)
    assert out.dtype == "timedelta64[ns]" and out.index.tolist() == [10, 11, 12, 13, 14, 15]
    assert out[10] == pd.Timedelta(days=849) and out[13] == pd.Timedelta(days=-25652)
    assert out[14] == pd.Timedelta(hours=36)
    assert out[[11, 12, 15]].isna().all()
    # a nullable integer column with every value missing (a table with no treatment days)
    assert day_span(pd.Series([pd.NA] * 59, dtype="Int64")).isna().all()
