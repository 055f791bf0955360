"""The rendered reports open in headless Chromium, offline, without console errors, figures drawn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def open_page(browser, path: Path, shot: Path | None = None):  # type: ignore[no-untyped-def]
    """Open a local page; return it with its console errors and every URL it requested."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    return page, errors, requests


def test_index_opens_without_console_errors(browser, fake_run: tuple, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = fake_run
    page, errors, requests = open_page(browser, outcome.index_html, tmp_path / "index.png")
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
    assert page.locator("#notebooks tbody tr").count() == 2
    page.close()


def test_modality_report_draws_its_figure_offline(browser, fake_run: tuple, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = fake_run
    html = outcome.out / "reports" / "fake.html"
    page, errors, requests = open_page(browser, html, tmp_path / "fake.png")
    page.wait_for_selector("svg.main-svg", timeout=15_000)
    assert page.locator(".plot-container").count() >= 1
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
    page.close()


def test_reports_reference_no_remote_script(fake_run: tuple) -> None:
    outcome, _ = fake_run
    for html in (outcome.out / "reports").glob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", text), html
        assert text.count("<script src=") <= 1  # plotly.js once, from reports/assets


def test_reviewer_page_has_verdict_first_no_code_no_path_and_switches_language(browser, fake_run: tuple) -> None:  # type: ignore[no-untyped-def]
    outcome, cohort = fake_run
    html = outcome.out / "reports" / "fake.html"
    page, errors, requests = open_page(browser, html)
    assert errors == [] and all(u.startswith("file:") for u in requests), (errors, requests)
    assert page.locator(".jp-InputArea, .jp-InputPrompt").count() == 0  # no code cell, no prompt
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.bounding_box()["y"] < 900  # in the first screen
    text = page.content()
    for root in {str(outcome.out), str(cohort.parent), str(Path.home())}:
        assert root not in text, root
    page.click(".lang-switch button[value=zh]")
    assert page.locator("html").get_attribute("data-lang") == "zh"
    assert page.locator('#findings [lang="zh"]').first.is_visible()
    assert not page.locator('#findings [lang="en"]').first.is_visible()
    page.click(".lang-switch button[value=en]")
    assert page.locator('#findings [lang="en"]').first.is_visible()
    passing = page.locator("details.cr-passing")
    if passing.count():
        assert passing.get_attribute("open") is None  # folded
        passing.locator("summary").click()
        assert passing.get_attribute("open") is not None
    page.close()


def test_executed_notebook_in_the_bundle_names_no_machine_path(fake_run: tuple) -> None:
    outcome, cohort = fake_run
    text = (outcome.out / "reports" / "fake.ipynb").read_text(encoding="utf-8")
    assert str(outcome.out) not in text and str(cohort.parent) not in text


def test_collection_report_prints_to_an_a4_pdf_with_seven_sections(fake_run: tuple, tmp_path: Path) -> None:
    import unicodedata

    import pandas as pd
    from pypdf import PdfReader

    from curation.config import load_cohort
    from curation.report import chromium, collection

    if chromium.find() is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    outcome, cohort = fake_run
    config = load_cohort(cohort, check_paths=False)
    rep = collection.fill(
        config,
        tmp_path,
        checks=pd.read_parquet(outcome.out / "quality" / "checks.parquet"),
        ledger=pd.read_parquet(outcome.out / "quality" / "ledger.parquet"),
        quarantine=pd.DataFrame(),
    )
    pdf, note = collection.write_pdf(rep, language="both")
    assert pdf is not None and note == "", note
    reader = PdfReader(str(pdf))
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() or "" for p in reader.pages))
    sections = [f"{i}. " for i in range(1, 8)]
    assert all(s in text for s in sections)
    assert "审核与签字" in text and "数据采集员" in text and "sign-off" in text  # the Chinese prints
    assert f"1 / {len(reader.pages)}" in text  # page numbers
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4
