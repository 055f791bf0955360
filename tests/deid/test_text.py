from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from curation.deid.text import measure_recall, scrub, scrub_series

LABELLED = Path(__file__).with_name("phi_labelled.jsonl")


def test_recall_on_labelled_set() -> None:
    examples = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    recall, caught, total = measure_recall(examples)
    assert total >= 200
    assert recall >= 0.95, f"recall {recall:.3f} ({caught}/{total})"


def test_clinical_content_survives() -> None:
    text = "CT示右肺上叶结节2.3cm，SUVmax 12.5，Ki-67 30%，T2N1M0 IIB期，PD-L1 TPS 60%。"
    assert scrub(text) == text


def test_known_and_fullwidth() -> None:
    out = scrub("患者张三，手机１３８１２３４５６７８，住院号：ZY2023001", known=["张三"])
    # the comma is full-width in the output as in the input: only identifiers are cut
    assert out == "患者[姓名]，手机[电话]，住院号：[编号]"  # the label stays, the value goes


def test_scrub_series_per_row_known() -> None:
    s = pd.Series(["李四复查", None, "王五复查"])
    out = scrub_series(s, pd.Series([("李四",), (), ("王五",)]))
    assert out[0] == "[姓名]复查" and pd.isna(out[1]) and out[2] == "[姓名]复查"


def test_latin_known_values_match_whole_words_only() -> None:
    assert scrub("Clinical note: Li seen, lives alone", known=["Li"]) == "Clinical note: [姓名] seen, lives alone"
    assert scrub("LI^MING reviewed", known=["LI^MING"]) == "[姓名] reviewed"
