"""index.html: verdict first, checks by dimension, small patient counts suppressed, no scripts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curation.io.bundle import write_parquet
from curation.report.index import (
    IndexRow,
    checks_by_dimension,
    patients_per_modality,
    render_index,
    small,
    verdict_of,
)

SUMMARY = {
    "started": "2024-01-01 10:00",
    "ended": "10:02",
    "duration_s": 120.0,
    "version": "0.1.0",
    "sites": "A, B",
    "checks": {"fail": 1, "pass": 5},
    "quarantined": 3,
    "leak_scan": "clean",
    "modalities": [
        {"label": "Clinical", "patients": 3, "records_in": 40, "quarantined": 2, "failing": 1},
        {"label": "Imaging", "patients": 12, "records_in": 300, "quarantined": 1, "failing": 0},
    ],
}


def _checks(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"check_id": f"c{i}", "dimension": d, "verdict": v} for i, (d, v) in enumerate(rows)])


def test_small_counts_are_suppressed() -> None:
    assert [small(n) for n in (0, 1, 4, 5, 120)] == ["0", "<5", "<5", "5", "120"]
    assert small(None) == "–"


def test_checks_by_dimension_and_verdict() -> None:
    df = _checks(
        ("consistency", "fail"),
        ("completeness", "warn"),
        ("completeness", "fail"),
        ("accuracy", "pass"),
        ("completeness", "fail"),
    )
    assert checks_by_dimension(df) == {"completeness": {"fail": 2, "warn": 1}, "consistency": {"fail": 1}}
    assert verdict_of(df) == "fail"
    assert verdict_of(_checks(("accuracy", "pass"), ("accuracy", "not_applicable"))) == "pass"
    assert verdict_of(pd.DataFrame()) == "not_applicable"


def test_index_rows_worst_first_and_summary() -> None:
    rows = [
        IndexRow("clinical", "Clinical", "ok", "pass", 3.0, "clinical.html", "clinical.ipynb", n_checks=5),
        IndexRow(
            "imaging",
            "Imaging",
            "error",
            "error",
            1.0,
            "imaging.html",
            "imaging.ipynb",
            error="KeyError",
            error_cell=4,
            error_source="run = cu.curate('imaging', cohort)",
        ),
        IndexRow(
            "exposure",
            "Exposure",
            "ok",
            "fail",
            2.0,
            "exposure.html",
            "exposure.ipynb",
            failed_by_dimension={"consistency": {"fail": 1}},
            n_checks=4,
        ),
    ]
    page = render_index(rows, cohort="LUNG", summary=SUMMARY, language="en")
    order = [page.index(f'data-notebook="{n}"') for n in ("imaging", "exposure", "clinical")]
    assert order == sorted(order)
    assert "notebook stopped: KeyError in cell 4" in page
    assert "run = cu.curate(&#39;imaging&#39;, cohort)" in page  # escaped
    assert '<td class="num">&lt;5</td>' in page and '<td class="num">12</td>' in page
    assert "<script" not in page  # one language: no switch, no script
    assert 'class="badge overall v-error"' in page


def test_index_in_chinese_and_in_both_languages() -> None:
    rows = [
        IndexRow(
            "clinical",
            "Clinical",
            "ok",
            "fail",
            3.0,
            "clinical.html",
            "clinical.ipynb",
            n_checks=5,
            failed_by_dimension={"completeness": {"fail": 1}},
        ),
        IndexRow("imaging", "Imaging", "error", "error", 1.0, "", "", error="KeyError", error_cell=4),
    ]
    summary = {
        **SUMMARY,
        "modalities": [
            {"name": "clinical", "label": "Clinical", "patients": 3, "records_in": 40, "quarantined": 2, "failing": 1}
        ],
    }
    zh = render_index(rows, cohort="LUNG", summary=summary, language="zh")
    assert '<html lang="zh">' in zh and "<script" not in zh
    for text in ("笔记本", "队列概况", "未通过的核查（按维度）", "临床", "笔记本中止：第 4 个单元格出现 KeyError"):
        assert text in zh, text
    assert "Cohort summary" not in zh and "Notebooks" not in zh
    both = render_index(rows, cohort="LUNG", summary=summary)  # the default: both, with the switch
    assert '<span lang="zh">队列概况</span><span lang="en">Cohort summary</span>' in both
    assert 'class="lang-switch"' in both and both.count("<script") == 1
    assert "src=" not in both.split("<body>")[0]  # the switch is inline: nothing to fetch


def test_patients_per_modality_counts_distinct_pseudonyms(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "clinical" / "patients.parquet", pd.DataFrame({"patient": ["P1", "P2", "P2"]}))
    write_parquet(tmp_path / "data" / "clinical" / "conditions.parquet", pd.DataFrame({"patient": ["P3"]}))
    write_parquet(tmp_path / "data" / "clinical" / "codes.parquet", pd.DataFrame({"code": ["x"]}))
    assert patients_per_modality(tmp_path, ["clinical", "imaging"]) == {"clinical": 3}


def test_a_reused_step_says_so_instead_of_a_duration() -> None:
    rows = [
        IndexRow("clinical", "Clinical", "ok", "pass", 0.0, "clinical.html", "clinical.ipynb", n_checks=5, reused=True),
        IndexRow("lab", "Laboratory", "ok", "pass", 7.5, "lab.html", "lab.ipynb", n_checks=3),
    ]
    en = render_index(rows, cohort="LUNG", summary=SUMMARY, language="en")
    zh = render_index(rows, cohort="LUNG", summary=SUMMARY, language="zh")
    assert ">reused<" in en and "7.5 s" in en and "0.0 s" not in en
    assert ">沿用<" in zh
