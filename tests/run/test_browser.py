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
