"""Headless Chromium from the command line: static images of plotly figures, and print-to-PDF.

No browser driver is needed: figures are drawn by plotly.js in a local page whose DOM Chromium dumps
(``--dump-dom``), and the collection report is printed with ``--print-to-pdf`` (A4, page numbers from
the page's ``@page`` rules, no header or footer: the browser's would print the file's path). Every
call gets its own temporary profile, so parallel workers never share one. When Chromium is missing,
:func:`find` says so and callers go on without the images or the PDF, saying why.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ChromiumMissing", "find", "print_pdf", "snapshot"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]
TIMEOUT_S = 120


class ChromiumMissing(RuntimeError):
    """No headless Chromium on this machine (install it: apt-get install chromium)."""


def find() -> str | None:
    """The Chromium executable: ``$CURATION_CHROMIUM``, Debian's /usr/bin/chromium, or one on PATH."""
    env = os.environ.get("CURATION_CHROMIUM")
    if env is not None:
        return env if env and Path(env).is_file() else None
    for name in CANDIDATES:
        got = shutil.which(name)
        if got:
            return got
    return None


def _run(args: list[str], *, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[bytes]:
    exe = find()
    if exe is None:
        msg = "headless Chromium not found (apt-get install chromium, or set CURATION_CHROMIUM)"
        raise ChromiumMissing(msg)
    with tempfile.TemporaryDirectory(prefix="curation-chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, timeout=timeout, check=False
        )


_OUT = re.compile(r'<pre id="curation-out">(.*?)</pre>', re.DOTALL)


def snapshot(
    figures: list[dict[str, Any]], *, plotly_js: Path, fmt: str = "svg", width: int = 900, height: int = 450
) -> list[str | None]:
    """Static images of plotly figures (their JSON), drawn by ``plotly_js`` in one headless page.

    Returns one item per figure: the SVG markup (``fmt="svg"``) or a PNG data URL, None where
    plotly.js could not draw it.
    """
    if not figures:
        return []
    figures = [_with_uids(f) for f in figures]
    with tempfile.TemporaryDirectory(prefix="curation-figures-") as tmp:
        page = Path(tmp) / "figures.html"
        payload = json.dumps(figures).replace("</", "<\\/")
        sizes = json.dumps(
            [
                [
                    int((f.get("layout") or {}).get("width") or width),
                    int((f.get("layout") or {}).get("height") or height),
                ]
                for f in figures
            ]
        )
        page.write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<script src="{plotly_js.resolve().as_uri()}"></script></head><body>'
            '<pre id="curation-out"></pre><script>'
            f"const figs={payload}, sizes={sizes};"
            "(async()=>{const res=[];for(let i=0;i<figs.length;i++){try{"
            f"res.push(await Plotly.toImage(figs[i],{{format:'{fmt}',width:sizes[i][0],height:sizes[i][1]}}));"
            "}catch(e){res.push(null);}}"
            "document.getElementById('curation-out').textContent=JSON.stringify(res);})();"
            "</script></body></html>",
            encoding="utf-8",
        )
        done = _run(["--allow-file-access-from-files", "--virtual-time-budget=60000", "--dump-dom", page.as_uri()])
    m = _OUT.search(done.stdout.decode("utf-8", "replace"))
    if not m or not m.group(1).strip():
        return [None] * len(figures)
    urls = json.loads(html.unescape(m.group(1)))
    if fmt != "svg":
        return list(urls)
    from urllib.parse import unquote

    return [
        _stable_ids(unquote(u.split(",", 1)[1]), _digest(f))
        if isinstance(u, str) and u.startswith("data:image/svg+xml")
        else None
        for u, f in zip(urls, figures, strict=True)
    ]


def _digest(figure: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(figure, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _with_uids(figure: dict[str, Any]) -> dict[str, Any]:
    """The figure with a uid on every trace, from its content: plotly.js would draw a random one into the
    SVG's class names, so two runs of the same report would differ."""
    digest = _digest(figure)
    data = [{"uid": f"{digest}{i}", **t} if isinstance(t, dict) else t for i, t in enumerate(figure.get("data") or [])]
    return {**figure, "data": data}


_LAYOUT_UID = re.compile(r'<defs id="defs-([0-9a-zA-Z]+)"')
_ID_SPOT = re.compile(r'(id="|url\(#|href="#)([^")]*)')


def _stable_ids(svg: str, digest: str) -> str:
    """Replace plotly.js's random layout uid (the ids of clip paths, defs and legends) by ``digest``.

    Several SVGs sit inline in one page, so the ids must differ between figures yet not between runs:
    the figure's content digest is both. Only id values and their references are touched, never text.
    """
    m = _LAYOUT_UID.search(svg)
    if not m:
        return svg
    uid = m.group(1)
    return _ID_SPOT.sub(lambda s: s.group(1) + s.group(2).replace(uid, digest), svg)


def print_pdf(page: Path, pdf: Path) -> Path:
    """Print a local HTML page to ``pdf`` (paper size, margins and page numbers from its CSS)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    done = _run(
        ["--no-pdf-header-footer", "--virtual-time-budget=10000", f"--print-to-pdf={tmp}", page.resolve().as_uri()]
    )
    if not tmp.is_file() or tmp.stat().st_size == 0:
        msg = f"Chromium printed no PDF (exit {done.returncode})"
        raise RuntimeError(msg)
    os.replace(tmp, pdf)
    return pdf
