"""Executed notebooks to offline HTML, in-process, in the reviewer edition.

nbconvert's ``HTMLExporter`` costs ~0.15 s per notebook in a live process against ~4 s for its CLI.
The ``reviewer`` template (``templates/reviewer``) drops code, prompts and the parameters cell, shows
a failed cell as the step that stopped (never its traceback) and renders Markdown cells in Chinese
and English from the gettext catalogue. Pages load plotly.js from one file beside them
(``reports/assets/plotly.min.js``), written once per bundle; every figure also gets a static SVG
for readers without JavaScript when headless Chromium is there. The lab template's require.js,
MathJax, mermaid and widget scripts come from CDNs and are dropped: hospital networks are often closed.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.bundle import write_bytes, write_text

if TYPE_CHECKING:
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode

__all__ = [
    "render_file",
    "render_notebook",
    "static_figures",
    "strip_css_comments",
    "strip_remote",
    "translate_markdown",
    "write_plotly_asset",
]

TEMPLATES = Path(__file__).parent / "templates"
PLOTLY_ASSET = "assets/plotly.min.js"
PLOTLY_MIME = "application/vnd.plotly.v1+json"

# Any <script src="http..."> or <link href="http..."> left by a template: a page must work offline.
_REMOTE = re.compile(
    r"<(script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']\s*(?:https?:)?//[^>]*>(?:\s*</script>)?", re.IGNORECASE
)


def write_plotly_asset(reports: Path) -> Path:
    """Write plotly.js (from the installed plotly package) once beside the reports."""
    from plotly.offline import get_plotlyjs

    target = reports / PLOTLY_ASSET
    js = get_plotlyjs().encode("utf-8")
    if target.is_file() and target.stat().st_size == len(js):
        return target
    return write_bytes(target, js)


@cache
def _exporter() -> HTMLExporter:
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="reviewer",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_input=True,
    )


_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def strip_remote(html: str) -> str:
    """Remove script and stylesheet tags that point at another host."""
    return _REMOTE.sub("", html)


def strip_css_comments(html: str) -> str:
    """Drop comments from inline stylesheets: the lab theme's ~100 kB of prose about fonts and
    icons is dead weight in every page (and a haystack for the leak scan's short name matches)."""
    return _STYLE.sub(lambda m: m.group(1) + _CSS_COMMENT.sub("", m.group(2)) + m.group(3), html)


def translate_markdown(nb: NotebookNode, langs: tuple[str, ...]) -> None:
    """Each Markdown cell in the page's language(s), from the catalogue (``metadata.curation_i18n``)."""
    from .i18n import catalogue

    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            text = cell.source.strip()
            cell.metadata["curation_i18n"] = {lang: catalogue(lang).gettext(text) for lang in langs}


def static_figures(nb: NotebookNode, plotly_js: Path) -> int:
    """Attach a static SVG to every plotly output (``metadata.curation_static``) for readers without
    JavaScript; returns how many were drawn (0 without Chromium)."""
    from . import chromium

    outputs = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if PLOTLY_MIME in o.get("data", {}) and "text/html" in o.get("data", {})
    ]
    if not outputs or chromium.find() is None or not plotly_js.is_file():
        return 0
    try:
        images = chromium.snapshot([dict(o["data"][PLOTLY_MIME]) for o in outputs], plotly_js=plotly_js)
    except Exception:  # noqa: BLE001 - the interactive figure stays; only the fallback is missing
        return 0
    n = 0
    for output, svg in zip(outputs, images, strict=True):
        if svg:
            output.setdefault("metadata", {})["curation_static"] = svg
            n += 1
    return n


def render_notebook(
    nb: NotebookNode,
    *,
    title: Any,
    plotly_src: str = PLOTLY_ASSET,
    index_href: str | None = "index.html",
    language: str = "both",
    cohort: str = "",
    plotly_js: Path | None = None,
) -> str:
    """HTML of an executed notebook in the reviewer edition, drawing plotly figures from ``plotly_src``
    (a relative URL), with a link back to ``index_href`` (None: no link).

    Parameters
    ----------
    language
        ``zh``, ``en`` or ``both`` (``report.language``).
    plotly_js
        plotly.js on disk, for the static images of the figures (None: none are drawn).
    """
    from markupsafe import Markup

    from .i18n import translator
    from .render import head, switch

    tr = translator(language)
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = (
        title if isinstance(title, str) else " · ".join(dict.fromkeys(title.get(lang) for lang in tr.langs))
    )
    translate_markdown(nb, tr.langs)
    if plotly_js is not None:
        static_figures(nb, plotly_js)
    resources = {
        "plotly_src": plotly_src,
        "index_href": index_href,
        "language_code": tr.lang,
        "reviewer_head": head(tr),
        "reviewer_switch": switch(tr),
        "reviewer_back": tr._("all reports of this run"),
        "reviewer_cohort": tr.show(cohort) if cohort else Markup(""),
        "reviewer_title": tr.show(title),
        "reviewer_stopped": tr._(
            "This step stopped with an error ({error}); what follows was not produced. "
            "The curation team finds the details in the notebook kept beside this page."
        ),
    }
    html, _ = _exporter().from_notebook_node(nb, resources=resources)
    if tr.both:
        html = html.replace(f'<html lang="{tr.lang}">', f'<html lang="{tr.lang}" data-lang="{tr.lang}">', 1)
    return strip_css_comments(strip_remote(html))


def render_file(
    ipynb: Path,
    html_path: Path,
    *,
    title: Any = None,
    plotly_src: str = PLOTLY_ASSET,
    language: str = "both",
    cohort: str = "",
    **kw: Any,
) -> Path:
    """Render ``ipynb`` to ``html_path`` atomically (static figures from the bundle's plotly.js)."""
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    plotly_js = html_path.parent / plotly_src
    return write_text(
        html_path,
        render_notebook(
            nb,
            title=title or ipynb.stem,
            plotly_src=plotly_src,
            language=language,
            cohort=cohort,
            plotly_js=plotly_js if plotly_js.is_file() else None,
            **kw,
        ),
    )
