"""The collection report as a cohort step: the guideline appendix's template, filled from the bundle.

Like the cross-modality step it takes no sources (``SPEC.stage == "cohort"``) and reads what the
other steps wrote; it needs every one of them (``SPEC.needs == (EVERY,)``), so the runner plans it
last. It reads the quality tables only (:mod:`curation.report.collection` fills the template),
judges nothing itself (no check, no record moved) and writes ``reports/collection_report.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..report import collection
from .base import EVERY, Context, ModalityData, ModalitySpec, Source

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from ..quality import CheckResult

NAME = "collection_report"
SPEC = ModalitySpec(
    name=NAME, label="Collection report", formats=(), notebook="collection_report.ipynb", order=99,
    stage="cohort", needs=(EVERY,), outputs=("md",),
    description="the guideline's data collection report, filled from every step's quality tables",
)
REPORT = "report"  # data.objects key: the filled CollectionReport


def identifiers(sources: list[Source[Any]], *, ctx: Context) -> IdentifierRegistry:
    """None: this step reads the other steps' de-identified quality tables, never raw exports."""
    from ..deid.registry import IdentifierRegistry

    return IdentifierRegistry()


def load(sources: list[Source[Any]], *, ctx: Context) -> ModalityData:
    """The quality tables of every step in the bundle (checks, ledger, quarantine)."""
    data = ModalityData(NAME)
    for kind in collection.KINDS:
        data.tables[kind] = collection.read_all(ctx.bundle.root, kind)
    return data


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """The inputs are de-identified already: fill the report."""
    data.objects[REPORT] = collection.fill(ctx.config, ctx.bundle.root, **{k: data.tables[k] for k in collection.KINDS})
    data.standardized = True
    return data


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """None: the report restates the other steps' checks."""
    return []


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """None: the report is text and tables."""
    return {}


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """``reports/collection_report.md`` and, printed by headless Chromium, ``reports/collection_report.pdf``
    (without Chromium the PDF is skipped and the page says why)."""
    report: collection.CollectionReport = data.objects[REPORT]
    language = getattr(getattr(ctx.config, "report", None), "language", "both")
    figs = collection.figures(report, language=language)
    data.objects["svgs"] = svgs = collection.static_svgs(figs, ctx.bundle.root)
    written = [ctx.bundle.write_text(collection.PATH, markdown(data))]
    pdf, data.objects["pdf_note"] = collection.write_pdf(report, language=language, svgs=svgs)
    return [*written, *([pdf] if pdf else [])]


def view(data: ModalityData) -> Any:
    """The report as the notebook (and its HTML page) shows it: seven sections, figures, sign-off."""
    from IPython.display import HTML

    report: collection.CollectionReport = data.objects[REPORT]
    language = getattr(getattr(report.config, "report", None), "language", "both")
    figs = collection.figures(report, language=language)
    blocks = collection.figure_blocks(figs, data.objects.get("svgs", {}), language=language, static=False)
    return HTML(collection.render_html(report, language=language, figure_html=blocks,
                                       pdf_note=data.objects.get("pdf_note", "")))


def markdown(data: ModalityData) -> str:
    """The filled report (Markdown), for the notebook to display."""
    report: collection.CollectionReport = data.objects[REPORT]
    return report.markdown
