"""The leak scan reads a PDF's text page by page (its streams are compressed and CJK glyphs encoded, so
its raw bytes prove nothing), through poppler's pdftotext where it is installed and pypdf otherwise:
both must find a planted Chinese name and a record number on the page that holds them."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from curation.deid.scan import scan_bundle
from curation.report import chromium

IDS = ["欧阳淑芬", "ZY20230917"]


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if chromium.find() is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium): no PDF to scan")
    root = tmp_path_factory.mktemp("pdf")
    page = root / "page.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>.p{break-after:page}</style></head><body>'
        '<p class="p">第一页：没有标识符 / nothing here</p>'
        "<p>随访记录：患者欧阳淑芬，住院号 ZY20230917，复查 CT。</p></body></html>",
        encoding="utf-8",
    )
    bundle = root / "bundle"
    chromium.print_pdf(page, bundle / "reports" / "report.pdf")
    return bundle


def _pages(bundle: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for hit in scan_bundle(bundle, IDS):
        if "(text)" in hit.location:
            out.setdefault(hit.identifier, set()).add(hit.location)
    return out


def test_pdftotext_finds_the_name_and_the_number_on_page_two(report_pdf: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed (apt-get install poppler-utils)")
    assert _pages(report_pdf) == {1: {"page 2 (text)"}, 2: {"page 2 (text)"}}


def test_without_pdftotext_pypdf_finds_them_too(report_pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "pdftotext" else which(name, *a, **k))
    assert _pages(report_pdf) == {1: {"page 2 (text)"}, 2: {"page 2 (text)"}}


def test_a_pdf_inside_a_zip_is_read_from_its_bytes(report_pdf: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "reports.zip", "w") as zf:
        zf.write(report_pdf / "reports" / "report.pdf", "reports/report.pdf")
    assert _pages(tmp_path) == {1: {"page 2 (text)"}, 2: {"page 2 (text)"}}
