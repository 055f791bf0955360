"""index.html in headless Chromium: the language switch works offline, without reloading."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from curation.report import chromium
from curation.report.index import IndexRow, render_index

pytestmark = pytest.mark.browser

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
        {"name": "clinical", "label": "Clinical", "patients": 3, "records_in": 40, "quarantined": 2, "failing": 1}
    ],
}


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Headless Debian chromium through Playwright; skips when either is missing."""
    exe = chromium.find()
    if exe is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # an earlier test of this process (pytest-xdist runs many files per worker) can leave the thread's
    # running-loop marker set; fixtures run synchronously, so it is stale, and Playwright's sync API
    # would refuse to start ("using Playwright Sync API inside the asyncio loop")
    asyncio._set_running_loop(None)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=chromium.FLAGS)
        yield b
        b.close()


def test_index_switches_language_offline(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
        )
    ]
    html = tmp_path / "index.html"
    html.write_text(render_index(rows, cohort="LUNG", summary=SUMMARY), encoding="utf-8")
    context = browser.new_context(offline=True, locale="en-US")  # no network at all
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    assert errors == [] and all(u.startswith("file:") for u in requests), (errors, requests)
    heading = page.locator("h2", has_text="Cohort summary")
    assert page.locator("html").get_attribute("data-lang") == "en"  # the browser's language, first time
    assert heading.locator('[lang="en"]').is_visible() and not heading.locator('[lang="zh"]').is_visible()
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    page.click(".lang-switch button[value=zh]")
    assert page.locator("html").get_attribute("data-lang") == "zh"
    assert page.locator(".lang-switch button[value=zh]").get_attribute("aria-pressed") == "true"
    assert heading.locator('[lang="zh"]').is_visible() and not heading.locator('[lang="en"]').is_visible()
    assert page.locator("#notebooks td", has_text="临床").first.is_visible()
    assert navigations == []  # switched in place, no reload
    page.reload()  # the reader's choice is remembered
    assert page.locator("html").get_attribute("data-lang") == "zh"
    page.click(".lang-switch button[value=en]")
    assert page.locator("#notebooks").get_by_text("Clinical").first.is_visible()
    assert errors == []
    context.close()
