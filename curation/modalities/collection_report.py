"""The collection report as a cohort step: the guideline appendix's template, filled from the bundle.

Like the cross-modality step it takes no sources (``SPEC.stage == "cohort"``) and reads what the
other steps wrote; it needs every one of them (``SPEC.needs == (EVERY,)``), so the runner plans it
last. It reads the bundle (:mod:`curation.report.collection` fills the template), judges nothing
itself (no check, no record moved) and writes ``reports/collection_report.md`` (and .pdf, and the
corrective-actions template). It runs before the run's leak scan, so the runner completes it once
the scan has run (:func:`finalize`: the privacy measures from run.json, the data checksum).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..report import actions, collection
from .base import EVERY, Context, ModalityData, ModalitySpec, Source

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from ..quality import CheckResult

__all__ = ["checks", "figures", "finalize", "identifiers", "load", "markdown", "standardize", "view", "write"]

NAME = "collection_report"
SPEC = ModalitySpec(
    name=NAME,
    label="Collection report",
    formats=(),
    notebook="collection_report.ipynb",
    order=99,
    stage="cohort",
    needs=(EVERY,),
    outputs=("md",),
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
    """The inputs are de-identified already: fill the report (the run's leak scan is still to come)."""
    data.objects[REPORT] = collection.fill(
        ctx.config,
        ctx.bundle.root,
        **{k: data.tables[k] for k in collection.KINDS},
        run=None,
        fingerprint=ctx.keyring.fingerprint,
    )
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
    (without Chromium the PDF is skipped and the page says why). Inside a run (run.json says it is
    running) the PDF is printed once, by :func:`finalize` after the leak scan."""
    report: collection.CollectionReport = data.objects[REPORT]
    language = getattr(getattr(ctx.config, "report", None), "language", "both")
    figs = collection.figures(report, language=language)
    data.objects["svgs"] = svgs = collection.static_svgs(figs, ctx.bundle.root)
    todo = actions.template_yaml(report.sections["corrective_actions"])
    written = [
        ctx.bundle.write_text(collection.PATH, markdown(data)),
        ctx.bundle.write_text(actions.TEMPLATE_PATH, todo),
    ]
    from ..security.verify import RUNNING

    if (collection.read_run(ctx.bundle.root) or {}).get("status") == RUNNING:
        data.objects["pdf_note"] = "The PDF is printed when the run ends, with the leak scan's result."
        return written
    pdf, data.objects["pdf_note"] = collection.write_pdf(report, language=language, svgs=svgs)
    return [*written, *([pdf] if pdf else [])]


PAGES = (
    "reports/collection_report.md",
    "reports/collection_report.pdf",
    "reports/collection_report.ipynb",
    "reports/collection_report.html",
)


def finalize(config: Any, root: Path, record: dict[str, Any], *, skip: Collection[str] = ()) -> list[Path]:
    """Complete the report of a run once its leak scan has run: refill it with run.json (``record``:
    the privacy measures applied, the previous run to compare with) and the bundle as it now is, and
    rewrite the Markdown, the PDF and the page (the executed notebook's report output, rendered again).
    Files in ``skip`` (withheld by the scan) are left alone. Nothing when the step did not run."""
    import nbformat

    from ..io.bundle import Bundle
    from ..report.html import render_file
    from ..report.review import modality_label

    ipynb = root / "reports" / "collection_report.ipynb"
    if not ipynb.is_file():
        return []
    # the steps' checks and the leak scan's (privacy.leak_scan), as the run merged them
    report = collection.fill(config, root, **collection.read_tables(root, merged=True), run=record)
    language = config.report.language
    figs = collection.figures(report, language=language)
    nb = nbformat.read(ipynb, as_version=4)
    outputs = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if 'id="collection-report"' in str(o.get("data", {}).get("text/html", ""))
    ]
    # the figures are the step's: their images are taken from its page, not drawn again
    svgs = collection.svgs_of(str(outputs[0]["data"]["text/html"])) if outputs else {}
    if set(svgs) != set(figs):
        svgs = collection.static_svgs(figs, root)
    written: list[Path] = []
    bundle = Bundle(root)
    if PAGES[0] not in skip:
        written.append(bundle.write_text(PAGES[0], report.markdown))
    if PAGES[1] not in skip:
        pdf, note = collection.write_pdf(report, language=language, svgs=svgs)
        written += [pdf] if pdf else []
    else:
        note = ""
    if PAGES[2] in skip or PAGES[3] in skip or not outputs:
        return written
    blocks = collection.figure_blocks(figs, svgs, language=language, static=False)
    html = collection.render_html(report, language=language, figure_html=blocks, pdf_note=note)
    for out in outputs:
        out["data"]["text/html"] = html
    written.append(bundle.write_text(PAGES[2], nbformat.writes(nb)))
    written.append(
        render_file(
            ipynb, root / PAGES[3], title=modality_label(NAME, SPEC.label), language=language, cohort=config.cohort.name
        )
    )
    return written


def view(data: ModalityData) -> Any:
    """The report as the notebook (and its HTML page) shows it: numbered sections, figures, sign-off."""
    from IPython.display import HTML

    report: collection.CollectionReport = data.objects[REPORT]
    language = getattr(getattr(report.config, "report", None), "language", "both")
    figs = collection.figures(report, language=language)
    blocks = collection.figure_blocks(figs, data.objects.get("svgs", {}), language=language, static=False)
    return HTML(
        collection.render_html(report, language=language, figure_html=blocks, pdf_note=data.objects.get("pdf_note", ""))
    )


def markdown(data: ModalityData) -> str:
    """The filled report (Markdown), for the notebook to display."""
    report: collection.CollectionReport = data.objects[REPORT]
    return report.markdown
