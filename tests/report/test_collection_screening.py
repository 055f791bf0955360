"""The collection report's screening-indicators section (issue 15) and the reviewer's sentences for the
screening checks (no fallback to the generic per-dimension sentence)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from curation.io.bundle import Bundle
from curation.quality import Dimension, make_result, results_frame
from curation.report import collection, sections
from curation.report.i18n import Translator
from curation.report.review import check_sentence, templates

VERDICTS = pd.DataFrame(
    {
        "verdict": ["fail", "pass", "not_applicable"],
        "indicator": ["sensitivity", "kappa_lung_rads", "scan_to_report_days"],
        "test": ["screening", "ai_vs_expert", "process"],
        "estimate": [0.72, 0.81, float("nan")],
        "ci_low": [0.55, 0.74, float("nan")],
        "ci_high": [0.84, 0.87, float("nan")],
        "target": [">= 0.8", ">= 0.6", "<= 14"],
        "tp": [26, None, None],
        "fp": [40, None, None],
        "tn": [520, None, None],
        "fn": [10, None, None],
        "numerator": [26, None, None],
        "denominator": [36, None, None],
        "n": [596, 412, None],
    }
)
ACCURACY = pd.DataFrame(
    {
        "indicator": ["sensitivity", "sensitivity", "specificity", "sensitivity"],
        "test": ["screening", "screening", "screening", "CEA"],
        "stratum": ["overall", "arm", "arm", "overall"],
        "group": ["all", "combined", "combined", "all"],
        "estimate": [0.72, 0.8, 0.9, 0.4],
        "ci_low": [0.55, 0.6, 0.85, 0.2],
        "ci_high": [0.84, 0.92, 0.93, 0.6],
        "tp": [26, 12, 12, 4],
        "fp": [40, 20, 20, 9],
        "tn": [520, 260, 260, 500],
        "fn": [10, 3, 3, 6],
    }
)


@pytest.fixture
def cohort(tmp_path: Path, secret_env: str) -> Path:
    path = tmp_path / "cohort.yaml"
    path.write_text(
        "cohort: {name: Screening demo}\nsites: [{id: A, name: Hosp A}]\n"
        "secret: {env: CURATION_TEST_SECRET}\noutput: out\n",
        encoding="utf-8",
    )
    checks = [make_result("screening.indicator.sensitivity", "screening", Dimension.ACCURACY, n_checked=1, n_failed=1)]
    b = Bundle(tmp_path / "out")
    b.write_parquet("quality/checks/all.parquet", results_frame(checks))
    b.write_parquet("data/screening/indicators/verdicts.parquet", VERDICTS)
    b.write_parquet("data/screening/indicators/accuracy.parquet", ACCURACY)
    return path


def test_indicators_with_interval_counts_and_target(cohort: Path) -> None:
    got = sections.screening_indicators(cohort.parent / "out")
    targets, by_arm = got["targets"], got["by_arm"]
    assert targets["estimate_ci"].tolist() == ["0.72 (0.55–0.84)", "0.81 (0.74–0.87)", "–"]
    assert targets["counts_from"].tolist()[0] == "TP 26 · FP 40 · TN 520 · FN 10"
    assert targets["counts_from"].tolist()[1] == "n = 412"
    assert str(targets["indicator"][0]) == "sensitivity" and targets["indicator"][0].zh == "灵敏度"
    # LDCT screening only (not the biomarkers), overall and per arm
    assert [str(a) for a in by_arm["arm"]] == ["all arms", "combined", "combined"]
    assert sections.screening_indicators(cohort.parent / "missing") == {}


def test_the_report_has_a_screening_section_in_both_languages(cohort: Path) -> None:
    rep = collection.build(cohort)
    html = collection.render_html(rep, language="both")
    part = html.split('id="cr-screening"', 1)[1].split("</section>", 1)[0]
    assert "<h2>7. " in part and "筛查指标" in part and "Screening indicators" in part
    assert '<span lang="zh">灵敏度</span><span lang="en">sensitivity</span>' in part
    assert "0.72 (0.55–0.84)" in part and "&gt;= 0.8" in part
    assert part.index("灵敏度") < part.index("0.81 (0.74–0.87)")  # the failing indicator first, passing folded
    assert "## 7. Screening indicators" in rep.markdown and "0.72 (0.55–0.84)" in rep.markdown
    without = collection.render_html(collection.build(_without_screening(cohort)), language="en")
    assert "No screening programme in this bundle." in without


def test_the_report_draws_the_forest_plots_by_site_and_arm(cohort: Path) -> None:
    """The screening notebook's forest plots, in the report's language, placed in the screening section."""
    rep = collection.build(cohort)
    figs = collection.figures(rep, language="zh")
    assert sorted(k for k in figs if k.startswith("screening_forest_")) == [
        "screening_forest_sensitivity",
        "screening_forest_specificity",
    ]  # PPV and NPV have no estimate in this bundle: no empty figure
    sens = figs["screening_forest_sensitivity"]
    assert sens.layout.title.text == "低剂量 CT 筛查的灵敏度：按中心和组别（95% CI）"
    # LDCT screening only (the CEA row is another test), overall first, then per arm
    assert list(sens.data[0].y) == ["总体: 全部", "组别: combined"]
    assert list(sens.data[0].x) == [0.72, 0.8]
    assert list(sens.data[0].error_x.array) == pytest.approx([0.84 - 0.72, 0.92 - 0.8])
    # the caption's dotted line at the overall estimate
    assert [(s.x0, s.line.dash) for s in sens.layout.shapes] == [(0.72, "dot")]
    both = collection.figures(rep, language="both")["screening_forest_sensitivity"]
    assert both.layout.title.text == (
        "低剂量 CT 筛查的灵敏度：按中心和组别（95% CI）<br>Sensitivity of LDCT screening by site and arm (95% CI)"
    )
    blocks = collection.figure_blocks(figs, {}, language="zh", static=False)
    html = collection.render_html(rep, language="zh", figure_html=blocks)
    part = html.split('id="cr-screening"', 1)[1].split("</section>", 1)[0]
    assert part.count('data-figure="screening_forest_') == 2 and "悬停可见其计数来源" in part
    without = collection.figures(collection.build(_without_screening(cohort)))
    assert without and not [k for k in without if k.startswith("screening_forest_")]


@pytest.mark.parametrize(
    ("check_id", "words"),
    [
        ("crossmodal.consistency.screen_cancer_in_clinical", "no lung-cancer diagnosis in clinical"),
        ("crossmodal.consistency.screen_cancer_in_pathology", "no pathology report"),
        ("crossmodal.consistency.screen_no_cancer_not_in_clinical", "recorded without cancer have a lung-cancer"),
        ("crossmodal.consistency.screen_ldct_in_imaging", "positive LDCT rounds have no CT study"),
        ("crossmodal.consistency.screen_marker_in_lab", "no matching lab result"),
    ],
)
def test_screening_links_have_their_own_sentences(check_id: str, words: str) -> None:
    generic = templates("x.nothing.like_it", "consistency")
    assert templates(check_id, "consistency") != generic
    row = {"check_id": check_id, "dimension": "consistency", "n_checked": 10, "n_failed": 2, "message": ""}
    what, fix = check_sentence(row, Translator("en"))
    assert what.startswith("2 of 10 ") and words in what and fix
    zh, zh_fix = check_sentence(row, Translator("zh"))
    assert zh != what and zh_fix != fix and "10" in zh and "2" in zh


def _without_screening(cohort: Path) -> Path:
    import shutil

    shutil.rmtree(cohort.parent / "out" / "data" / "screening")
    return cohort


@pytest.mark.parametrize(
    ("check_id", "words"),
    [
        ("screening.consistency.positive_without_followup", "positive screens have no follow-up outcome"),
        ("screening.consistency.cancer_without_pathology", "not confirmed by pathology"),
        ("screening.completeness.cancer_stage", "confirmed cancers have no stage"),
        ("screening.consistency.read_reader_kind", "an AI or an expert"),
        ("screening.consistency.risk_group", "risk group that does not follow the rule"),
        ("screening.uniqueness.round", "screening rounds repeat"),
        ("screening.indicator.sensitivity", "The indicator misses its target"),
        ("screening.indicator.scan_to_report_days", "processing time misses its target"),
        ("screening.precision.ci_width", "95% interval wider than the declared max_ci_width"),
    ],
)
def test_screening_checks_have_their_own_sentences(check_id: str, words: str) -> None:
    dimension = {"indicator": "accuracy", "precision": "accuracy"}.get(check_id.split(".")[1], check_id.split(".")[1])
    generic = templates("x.nothing.like_it", dimension)
    assert templates(check_id, dimension) != generic  # not the per-dimension fallback
    row = {"check_id": check_id, "dimension": dimension, "n_checked": 10, "n_failed": 2, "message": ""}
    what, fix = check_sentence(row, Translator("en"))
    assert words in what and fix
    zh, _ = check_sentence(row, Translator("zh"))
    assert zh != what  # translated
