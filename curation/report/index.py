"""reports/index.html: the reviewer's first page, verdict first.

A red "not releasable" banner comes first when the leak scan withheld files or could not vouch
for the bundle (``summary["privacy"]``). Then one row per notebook (verdict, checks failed by
dimension, duration, link), then a short cohort summary. It shows counts and pseudonym-free text
only; patient counts below :data:`SMALL_COUNT` are shown as "<5" so that small groups cannot be
singled out.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from markupsafe import Markup

from ..quality import Dimension, worst_verdict
from .i18n import N_

__all__ = ["IndexRow", "checks_by_dimension", "patients_per_modality", "render_index", "small", "verdict_of"]

TEMPLATES = Path(__file__).parent / "templates"
SMALL_COUNT = 5
# How a verdict reads to a reviewer, worst first.
VERDICT_ORDER = ["error", "fail", "warn", "pass", "not_applicable"]
TITLE = N_("Curation report")


def small(n: int | None) -> str:
    """A by-patient count for display: below 5 it becomes "<5" (0 stays 0)."""
    if n is None:
        return "–"
    return f"<{SMALL_COUNT}" if 0 < n < SMALL_COUNT else str(n)


@dataclass
class IndexRow:
    """One notebook of the run, as index.html shows it."""

    name: str
    label: str
    status: str  # ok | error
    verdict: str
    duration_s: float
    html: str  # link relative to reports/
    ipynb: str
    failed_by_dimension: dict[str, dict[str, int]] = field(default_factory=dict)  # dim -> {fail: n, warn: n}
    n_checks: int = 0
    error: str = ""  # exception type and failing cell, no values
    error_cell: int | None = None
    error_source: str = ""
    reused: bool = False  # taken unchanged from the previous run (curation.run.incremental), not run again


def checks_by_dimension(checks: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Count failing / warning / erroring checks per quality dimension."""
    out: dict[str, dict[str, int]] = {}
    if checks.empty:
        return out
    bad = checks[checks["verdict"].isin(["fail", "warn", "error"])]
    for (dim, verdict), n in bad.groupby(["dimension", "verdict"]).size().items():
        out.setdefault(str(dim), {})[str(verdict)] = int(n)
    order = [str(d) for d in Dimension]
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def verdict_of(checks: pd.DataFrame) -> str:
    """The worst verdict of ``checks`` (``not_applicable`` when there are none)."""
    return str(worst_verdict(checks["verdict"])) if not checks.empty else "not_applicable"


def patients_per_modality(root: Path, modalities: Iterable[str]) -> dict[str, int]:
    """Distinct patient pseudonyms in each modality's Parquet tables (data/<modality>/)."""
    out: dict[str, int] = {}
    for name in modalities:
        folder = root / "data" / name
        if not folder.is_dir():
            continue
        seen: set[str] = set()
        has_patient = False
        for p in sorted(folder.rglob("*.parquet")):
            try:
                if "patient" in pq.read_schema(p).names:
                    has_patient = True
                    col = pq.read_table(p, columns=["patient"]).column("patient").to_pylist()
                    seen.update(str(v) for v in col if v)
            except Exception:  # noqa: BLE001 - an unreadable table only lowers the summary
                continue
        if has_patient:  # tables without a patient column (e.g. cross-modality links) say nothing
            out[name] = len(seen)
    return out


def render_index(
    rows: list[IndexRow],
    *,
    cohort: str,
    description: str = "",
    summary: Mapping[str, Any],
    title: str = TITLE,
    language: str = "both",
) -> str:
    """The HTML text of index.html in ``language`` (``report.language``: zh, en or both).

    No remote resource; with both languages, one inline script: the page's language switch
    (:data:`~curation.report.i18n.SWITCH_JS`), which works offline and without reloading.
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from .i18n import SWITCH_CSS, SWITCH_JS, translator
    from .render import switch
    from .review import modality_label
    from .words import DIMENSIONS, VERDICTS

    tr = translator(language)

    def word(table: Mapping[str, str]) -> Any:
        return lambda v: tr._(table[str(v)]) if str(v) in table else tr.show(str(v).replace("_", " "))

    def label(name: Any, fallback: str) -> Markup:
        # the dictionary's 临床 / Clinical where the step has one, else the label the run gave
        return tr.show(modality_label(str(name), fallback) if name else fallback)

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.globals.update(
        small=small,
        _=tr._,
        ngettext=tr.ngettext,
        tr=tr,
        verdict=word(VERDICTS),
        dimension=word(DIMENSIONS),
        label=label,
        switch=lambda: switch(tr),
        lang=tr.lang,
        both=tr.both,
        switch_css=Markup(SWITCH_CSS),
        switch_js=Markup(SWITCH_JS),
    )
    rows = sorted(rows, key=lambda r: VERDICT_ORDER.index(r.verdict) if r.verdict in VERDICT_ORDER else 0)
    overall = (
        "error"
        if any(r.status == "error" for r in rows)
        else (str(worst_verdict(r.verdict for r in rows)) if rows else "not_applicable")
    )
    return env.get_template("index.html.j2").render(
        rows=rows,
        cohort=cohort,
        description=description,
        summary=summary,
        title=title,
        overall=overall,
        escape=html.escape,
    )
