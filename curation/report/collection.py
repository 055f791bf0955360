"""The collection report: the guideline appendix's template, filled per cohort run.

It reads the bundle (quality tables of every step, standard tables for coverage and equipment,
run.json for the privacy measures, history/ for the previous run), the cohort configuration and the
corrective-actions file beside it, so it can be rebuilt from a finished bundle at any time. In a run
it is the cohort step ``collection_report`` (:mod:`curation.modalities.collection_report`), planned
after every other step, and completed by the runner once the leak scan has run
(:func:`curation.modalities.collection_report.finalize`). Every count of checks counts distinct
checks (quality/checks.parquet has one row per check; per-site breakdowns are in checks_by_site).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from .. import __version__
from ..config import CohortConfig
from ..quality import Dimension

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from .delta import Delta

__all__ = [
    "CollectionReport",
    "build",
    "failing_checks",
    "figure_blocks",
    "figures",
    "fill",
    "quality_by_dimension",
    "quarantine_by_reason",
    "read_all",
    "read_run",
    "read_tables",
    "reconciliation",
    "render_html",
    "render_markdown",
    "sources_received",
    "static_svgs",
    "svgs_of",
    "write_pdf",
]

SMALL = 5
KINDS = ("checks", "ledger", "quarantine")  # the quality tables the report reads
FOLD = 8  # a modality's list of checks that did not pass folds past this many (never cut)


def read_all(root: Path, kind: str) -> pd.DataFrame:
    """Concatenate quality/<kind>/*.parquet (one file per modality)."""
    files = sorted((root / "quality" / kind).glob("*.parquet"))
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass
class CollectionReport:
    """Sections of the report as tidy tables, plus the rendered Markdown."""

    config: CohortConfig
    root: Path
    sections: dict[str, pd.DataFrame] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)
    markdown: str = ""
    lists: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (item, value) sections
    equipment: dict[str, pd.DataFrame] = field(default_factory=dict)
    delta: Delta | None = None
    problems: list[str] = field(default_factory=list)  # of the corrective-actions file

    def write(self) -> Path:
        """Write the report's Markdown into its bundle."""
        from ..io.bundle import Bundle

        return Bundle(self.root).write_text(PATH, self.markdown)


PATH = "reports/collection_report.md"


def sources_received(config: CohortConfig) -> pd.DataFrame:
    """Exports received per modality, site and format: how many sources and files."""
    rows = [
        {"modality": m, "site": src.site or "-", "format": src.format, "files": len(config.source_files(m, i))}
        for m, srcs in config.sources.items()
        for i, src in enumerate(srcs)
    ]
    if not rows:
        return pd.DataFrame(columns=["modality", "site", "format", "sources", "files"])
    df = pd.DataFrame(rows)
    return (
        df.groupby(["modality", "site", "format"], sort=False)
        .agg(sources=("files", "size"), files=("files", "sum"))
        .reset_index()
    )


def quality_by_dimension(checks: pd.DataFrame) -> pd.DataFrame:
    """Checks per guideline dimension and verdict, across modalities."""
    if checks.empty:
        return pd.DataFrame(columns=["dimension", "pass", "warn", "fail", "error", "not_applicable"])
    t = checks.pivot_table(index="dimension", columns="verdict", values="check_id", aggfunc="count", fill_value=0)
    for v in ("pass", "warn", "fail", "error", "not_applicable"):
        if v not in t:
            t[v] = 0
    order = [d.value for d in Dimension]
    t = t.reindex([d for d in order if d in t.index])
    return t[["pass", "warn", "fail", "error", "not_applicable"]].reset_index()


def reconciliation(ledger: pd.DataFrame) -> pd.DataFrame:
    """Records in, accepted, quarantined and excluded per modality (first stage = what arrived)."""
    if ledger.empty:
        return pd.DataFrame(columns=["modality", "n_in", "n_accepted", "n_quarantined", "n_excluded", "balanced"])
    agg = (
        ledger.groupby(["modality", "stage"], sort=False)
        .agg(
            n_in=("n_in", "sum"),
            n_accepted=("n_accepted", "sum"),
            n_quarantined=("n_quarantined", "sum"),
            n_excluded=("n_excluded", "sum"),
            balanced=("balanced", "all"),
        )
        .reset_index()
    )
    return agg


VALUES_STAGE = "load:values"  # the stage of field-level notes (curation.modalities._clean)


def quarantine_by_reason(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows per modality and reason: ``records`` set aside, and ``values`` emptied in a
    record that was kept (field-level notes of stage ``load:values``, e.g. an Excel error cell)."""
    if quarantine.empty:
        return pd.DataFrame(columns=["modality", "reason", "records", "values"])
    value_note = quarantine["stage"].eq(VALUES_STAGE) if "stage" in quarantine else False
    q = quarantine.assign(records=~value_note, values=value_note)
    out = q.groupby(["modality", "reason"])[["records", "values"]].sum().astype("int64").reset_index()
    return out.sort_values(["modality", "records", "values"], ascending=[True, False, False])


FAILING_COLUMNS = ["check_id", "modality", "dimension", "verdict", "n_failed", "n_checked", "message"]


def failing_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """Every check that did not pass (error, fail, warn), worst first; never cut."""
    if checks.empty:
        return pd.DataFrame(columns=FAILING_COLUMNS)
    bad = checks[checks["verdict"].isin(["fail", "error", "warn"])]
    if "modality" not in bad:
        bad = bad.assign(modality=bad["check_id"].astype(str).str.split(".").str[0])
    order = {"error": 0, "fail": 1, "warn": 2}
    bad = bad.assign(_o=bad["verdict"].map(order)).sort_values(
        ["_o", "modality", "n_failed"], ascending=[True, True, False]
    )
    return bad[FAILING_COLUMNS].reset_index(drop=True)


def build(cohort: str | Path | CohortConfig, *, out: str | Path | None = None) -> CollectionReport:
    """Fill the collection report from a bundle's quality tables.

    Parameters
    ----------
    cohort
        cohort.yaml, or a loaded config.
    out
        The bundle; default the cohort's ``output``.
    """
    if isinstance(cohort, CohortConfig):
        config = cohort
    else:
        from ..modalities.registry import load_cohort

        config = load_cohort(cohort)
    root = Path(out) if out else config.output_dir
    run = read_run(root)
    return fill(config, root, **read_tables(root, merged=run is not None), run=run)


def read_tables(root: Path, *, merged: bool) -> dict[str, pd.DataFrame]:
    """The quality tables the report reads (:data:`KINDS`), from the steps' parts; ``merged``: the checks
    from the run's merged table instead, which holds the leak scan's check (``privacy.leak_scan``) too."""
    tables = {kind: read_all(root, kind) for kind in KINDS}
    path = root / "quality" / "checks.parquet"
    if merged and path.is_file():
        tables["checks"] = pd.read_parquet(path)
    return tables


def read_run(root: Path) -> dict[str, object] | None:
    """The bundle's run.json (None when there is none, or it cannot be read)."""
    import json

    try:
        got = json.loads((root / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


def fill(
    config: CohortConfig,
    root: Path,
    *,
    checks: pd.DataFrame,
    ledger: pd.DataFrame,
    quarantine: pd.DataFrame,
    run: Mapping[str, object] | None = None,
    fingerprint: str = "",
) -> CollectionReport:
    """The report of ``root`` from its quality tables (as :func:`read_all` reads them).

    Parameters
    ----------
    run
        This run's run.json; None while the run is going on (the leak scan has not run: the privacy
        section says so, and the runner completes the report after the scan).
    fingerprint
        The key's fingerprint, for the privacy section when there is no run.json yet.
    """
    from . import actions, sections
    from .delta import compare, previous_run

    if "site" in checks:  # a bundle from before checks_by_site: per-site rows are not checks
        checks = checks[checks["site"].fillna("").astype(str).eq("")]
    rep = CollectionReport(config, root)
    patients = sections.patient_sets(root)
    per_modality, matrix = sections.coverage(patients)
    found, rep.problems = actions.read_actions(actions.actions_path(config))
    rep.sections = {
        "sources": sources_received(config),
        "coverage": per_modality,
        "coverage_matrix": matrix,
        "reconciliation": reconciliation(ledger),
        "quality_by_dimension": quality_by_dimension(checks),
        "quality_by_modality": sections.quality_by_modality(checks),
        "failing_checks": failing_checks(checks),
        "timeliness": sections.timeliness(checks, config),
        "quarantine_by_reason": quarantine_by_reason(quarantine),
        "compatibility": sections.compatibility(root),
        "corrective_actions": actions.actions_table(checks, found),
    }
    for key, table in sections.screening_indicators(root).items():
        rep.sections[f"screening_{key}"] = table
    rep.equipment = sections.equipment(root, config)
    rep.lists = {
        "privacy": sections.privacy_measures(config, run, fingerprint=fingerprint, root=root),
        "archiving": sections.archiving(root, config, run),
    }
    previous = previous_run(root, before=str(run.get("run_id") or "") if run else "")
    if previous is not None and run is None:  # during the run the leak scan's check is still to come
        previous.checks = previous.checks[~previous.checks["check_id"].astype(str).str.startswith("privacy.")]
    rep.delta = compare(checks, previous) if previous is not None and not checks.empty else None
    if rep.delta is not None:
        rep.sections["delta"] = rep.delta.changes
    verdicts = checks["verdict"].value_counts().to_dict() if not checks.empty else {}
    rep.facts = {
        "cohort": config.cohort.name,
        "description": config.cohort.description,
        "purpose": config.report.purpose,
        "period": sections.period(root, config),
        "sites": [f"{s.id} {s.name}".strip() for s in config.sites],
        "dictionary_version": config.dictionary_version,
        "date_mode": config.dates.mode,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "curation_version": __version__,
        "demo": bool(config.options.get("demo")),
        "n_checks": len(checks),
        "verdicts": verdicts,
        "all_balanced": bool(ledger["balanced"].all()) if not ledger.empty else True,
        "overall": (
            "fail" if verdicts.get("fail") or verdicts.get("error") else "warn" if verdicts.get("warn") else "pass"
        ),
        "n_patients": len(set().union(*patients.values())) if patients else 0,
        "final": run is not None,
        "actions_file": config.report.corrective_actions,
    }
    rep.markdown = render_markdown(rep)
    return rep


def render_markdown(rep: CollectionReport) -> str:
    """The collection report as Markdown (its tables and equipment lists filled into the template)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    text = resources.files("curation.report").joinpath("templates/collection_report.md.j2").read_text(encoding="utf-8")
    tables = {
        k: (v.to_markdown(index=False, floatfmt=".3g") if not v.empty else "*none*") for k, v in rep.sections.items()
    }
    equipment = {k: v.to_markdown(index=False) for k, v in rep.equipment.items()}
    return env.from_string(text).render(
        f=rep.facts, t=tables, lists=rep.lists, equipment=equipment, delta=rep.delta, problems=rep.problems
    )


# --------------------------------------------------------------------------- HTML and PDF

PDF_PATH = "reports/collection_report.pdf"


def figures(rep: CollectionReport, *, language: str = "both") -> dict[str, go.Figure]:
    """The report's figures: reconciliation per modality, checks by dimension and verdict, quarantine,
    and the screening forest plots (accuracy of LDCT screening by site and arm)."""
    from .figures import collection_figures
    from .screening_figures import screening_forests

    return {**collection_figures(rep.sections, language=language), **screening_forests(rep.root, language=language)}


def render_html(
    rep: CollectionReport,
    *,
    language: str = "both",
    figure_html: Mapping[str, str] | None = None,
    pdf_note: str = "",
    fold: bool = True,
) -> str:
    """The report's HTML body (numbered sections), in ``language``; figures from ``figure_html``.

    Every check that did not pass is listed, by modality; a modality with more than :data:`FOLD` of them
    folds its list (``fold``: False for print, where every list is open).
    """
    from markupsafe import Markup

    from .i18n import translator
    from .render import page_environment
    from .review import check_sentence, modality_label
    from .tables import table_html

    env = page_environment(language)
    tr = translator(language)
    tables = {
        k: Markup(table_html(v, max_rows=40, config=rep.config, language=language)) for k, v in rep.sections.items()
    }
    equipment = {
        k: Markup(table_html(v, max_rows=40, config=rep.config, language=language)) for k, v in rep.equipment.items()
    }
    groups: dict[str, dict[str, Any]] = {}
    for row in rep.sections["failing_checks"].to_dict("records"):
        what, fix = check_sentence(row, tr)
        name = str(row.get("modality") or str(row.get("check_id", "")).split(".", 1)[0])
        g = groups.setdefault(name, {"label": tr.show(modality_label(name, name)), "items": [], "counts": {}})
        g["items"].append({"check_id": row["check_id"], "verdict": row["verdict"], "what": what, "fix": fix})
        g["counts"][row["verdict"]] = g["counts"].get(row["verdict"], 0) + 1
    figs = {k: Markup(v) for k, v in (figure_html or {}).items()}
    html = env.get_template("collection_report.html.j2").render(
        rep=rep,
        tables=tables,
        equipment=equipment,
        groups=groups,
        fold=FOLD if fold else 10**9,
        figures=_Default(figs),
        pdf_note=Markup(pdf_note) if pdf_note else "",
        delta=rep.delta,
    )
    # print: every fold open (a closed <details> prints nothing of what it holds)
    return html if fold else re.sub(r"<details(?![^>]*\bopen\b)", "<details open", html)


class _Default(dict):  # type: ignore[type-arg]
    """Figures by name; a missing one renders as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


def static_svgs(figs: Mapping[str, go.Figure], root: Path) -> dict[str, str]:
    """Static SVG of each figure (headless Chromium), {} when it is missing."""
    import json
    import tempfile

    from . import chromium

    if not figs or chromium.find() is None:
        return {}
    asset = root / "reports" / "assets" / "plotly.min.js"
    with tempfile.TemporaryDirectory(prefix="curation-plotly-") as tmp:
        if not asset.is_file():
            from plotly.offline import get_plotlyjs

            asset = Path(tmp) / "plotly.min.js"
            asset.write_text(get_plotlyjs(), encoding="utf-8")
        svgs = chromium.snapshot([json.loads(f.to_json()) for f in figs.values()], plotly_js=asset)
    return {k: v for k, v in zip(figs, svgs, strict=True) if v}


def figure_blocks(
    figs: Mapping[str, go.Figure], svgs: Mapping[str, str], *, language: str, static: bool
) -> dict[str, str]:
    """HTML per figure with its caption: the static SVG (``static``: for the PDF), else the interactive
    figure with the SVG for readers without JavaScript."""
    from markupsafe import Markup

    from . import caption
    from .i18n import translator

    tr = translator(language)
    out = {}
    for key, fig in figs.items():
        svg = Markup(svgs.get(key, ""))
        if static:
            body = svg
        else:
            div = Markup(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
            body = div + (Markup("<noscript>{}</noscript>").format(svg) if svg else Markup(""))
        out[key] = str(
            Markup('<figure class="cr-figure" data-figure="{}">{}<figcaption>{}</figcaption></figure>').format(
                key, body, tr._(caption(fig)) if caption(fig) else ""
            )
        )
    return out


_NOSCRIPT = re.compile(r'<figure class="cr-figure" data-figure="([^"]+)">.*?<noscript>(.*?)</noscript>', re.DOTALL)


def svgs_of(html: str) -> dict[str, str]:
    """The static SVG of each figure in a page :func:`render_html` wrote (from its ``<noscript>``), so
    that a report completed later need not draw them again."""
    return {m.group(1): m.group(2) for m in _NOSCRIPT.finditer(html)}


def write_pdf(
    rep: CollectionReport, *, language: str = "both", svgs: Mapping[str, str] | None = None
) -> tuple[Path | None, str]:
    """``reports/collection_report.pdf`` printed by headless Chromium (A4, page numbers, sign-off block).

    Returns (path, note): path None and the reason in ``note`` when it could not be printed; the run
    goes on without it.
    """
    import tempfile

    from markupsafe import Markup

    from . import chromium
    from .render import css, page_environment

    if chromium.find() is None:
        return None, "PDF skipped: headless Chromium is not installed (apt-get install chromium fonts-noto-cjk)"
    figs = figures(rep, language=language)
    svgs = dict(svgs) if svgs is not None else static_svgs(figs, rep.root)
    body = render_html(
        rep, language=language, figure_html=figure_blocks(figs, svgs, language=language, static=True), fold=False
    )
    env = page_environment(language)
    footer = f"{rep.facts['cohort']} · curation {rep.facts['curation_version']}".replace('"', "'")
    page = env.get_template("collection_print.html.j2").render(
        rep=rep, body=Markup(body), css=Markup(css()), footer=footer
    )
    target = rep.root / PDF_PATH
    try:
        with tempfile.TemporaryDirectory(prefix="curation-print-") as tmp:
            src = Path(tmp) / "collection_report.html"
            src.write_text(page, encoding="utf-8")
            chromium.print_pdf(src, target)
    except Exception as exc:  # noqa: BLE001 - the report stays in HTML and Markdown; the PDF is said to be missing
        return None, f"PDF skipped: Chromium could not print it ({type(exc).__name__})"
    return target, ""
