from __future__ import annotations

import random
import time

import numpy as np
import pandas as pd
import pytest

from curation.io import dates
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


def _random_texts(n: int, seed: int) -> list[str | None]:
    """Dates in every accepted form and many near misses: pieces cut, doubled and swapped, digits of
    other scripts, every kind of space str.strip() and \\s know, letters, time marks, serial days."""
    rng = random.Random(seed)
    spaces = [" ", "\t", "\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b"]
    seps = ["-", "/", ".", "年", "月", "日", ":", "T", "Z", "+", "e", "_", ".0"]
    digits = list("0123456789") * 6 + ["０", "１", "٣", "९"]

    def piece() -> str:
        k = rng.random()
        if k < 0.5:
            return "".join(rng.choice(digits) for _ in range(rng.choice([1, 2, 2, 4, 4, 5, 7, 8])))
        return rng.choice(seps) if k < 0.8 else rng.choice(spaces)

    def date() -> str:
        y = rng.choice([rng.randint(1790, 2110), rng.randint(0, 9999)])
        m, d = rng.choice([rng.randint(1, 12), rng.randint(0, 14)]), rng.randint(0, 33)
        sp = rng.choice(["", "", rng.choice(spaces)])
        text = rng.choice(
            [
                f"{y:04d}-{m:02d}-{d:02d}",
                f"{y}-{m}-{d}",
                f"{y}/{m}/{d}",
                f"{y}.{m}.{d}",
                f"{y}年{m}月{d}日",
                f"{y}{sp}年{sp}{m}{sp}月{sp}{d}{sp}日",
                f"{y}{sp}-{sp}{m}{sp}/{sp}{d}",
                f"{y:04d}{m:02d}{d:02d}",
                f"{y:04d}-{m:02d}-{d:02d} {rng.randint(0, 30)}:{rng.randint(0, 70):02d}",
                f"{y:04d}-{m:02d}-{d:02d}T08:30:00+08:00",
                f"{y:04d}-{m:02d}-{d:02d}T08:30:00.123Z",
                f"{rng.randint(0, 99999)}",
                f"{rng.randint(0, 99999)}.{'0' * rng.randint(0, 3)}",
            ]
        )
        for _ in range(rng.choice([0, 0, 0, 1, 2])):  # a near miss
            i = rng.randint(0, len(text))
            text = text[:i] + piece() + text[i + rng.choice([0, 0, 1]) :]
        return rng.choice(["", "", *spaces]) + text + rng.choice(["", "", *spaces])

    out: list[str | None] = []
    for _ in range(n):
        k = rng.random()
        out.append(date() if k < 0.8 else None if k < 0.82 else "".join(piece() for _ in range(rng.randint(0, 7))))
    return out


@pytest.mark.parametrize("window", [(1800, 2100), (1000, 9999), (1990, 2000)])
def test_arrow_reading_equals_the_python_patterns(window: tuple[int, int]) -> None:
    # windows from year 1000: below it the Python path's assembly reads year 0203 as 2030
    s = pd.Series(_random_texts(40_000, seed=window[0]), dtype="string")
    fast, each = dates._parse(s, *window), dates._parse_each(s, *window)
    assert 200 < int(each.values.notna().sum()) < len(s) - 1_000  # both dates and near misses
    pd.testing.assert_series_equal(fast.values, each.values)
    pd.testing.assert_series_equal(fast.unparseable, each.unparseable)
    for form in (s.astype("string[pyarrow]"), s.astype(object)):  # the distinct values, spread back
        got = parse_dates(form, min_year=window[0], max_year=window[1])
        pd.testing.assert_series_equal(got.values, each.values)
        pd.testing.assert_series_equal(got.unparseable, each.unparseable)


def test_the_first_and_last_days_a_nanosecond_date_holds() -> None:
    r = parse_dates(pd.Series(["1677-09-21", "1677-09-22", "2262-04-11", "2262-04-12"]), min_year=1000, max_year=3000)
    assert r.values.isna().tolist() == [True, False, False, True] == r.unparseable.tolist()
