"""The collection report: the guideline appendix's template, filled per cohort run.

It reads only the bundle's quality tables (checks, ledger, quarantine of every modality) and the
cohort configuration, so it can be rebuilt from a finished bundle at any time. In a run it is the
cohort step ``collection_report`` (:mod:`curation.modalities.collection_report`), planned after
every other step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd

from .. import __version__
from ..config import CohortConfig
from ..quality import Dimension

SMALL = 5
KINDS = ("checks", "ledger", "quarantine")  # the quality tables the report reads


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

    def write(self) -> Path:
        from ..io.bundle import Bundle

        return Bundle(self.root).write_text(PATH, self.markdown)


PATH = "reports/collection_report.md"


def sources_received(config: CohortConfig) -> pd.DataFrame:
    """Exports received per modality, site and format: how many sources and files."""
    rows = [{"modality": m, "site": src.site or "-", "format": src.format,
             "files": len(config.source_files(m, i))}
            for m, srcs in config.sources.items() for i, src in enumerate(srcs)]
    if not rows:
        return pd.DataFrame(columns=["modality", "site", "format", "sources", "files"])
    df = pd.DataFrame(rows)
    return (df.groupby(["modality", "site", "format"], sort=False)
            .agg(sources=("files", "size"), files=("files", "sum")).reset_index())


def quality_by_dimension(checks: pd.DataFrame) -> pd.DataFrame:
    """Checks per guideline dimension and verdict, across modalities."""
    if checks.empty:
        return pd.DataFrame(columns=["dimension", "pass", "warn", "fail", "error", "not_applicable"])
    t = checks.pivot_table(index="dimension", columns="verdict", values="check_id", aggfunc="count",
                           fill_value=0)
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
    agg = ledger.groupby(["modality", "stage"], sort=False).agg(
        n_in=("n_in", "sum"), n_accepted=("n_accepted", "sum"), n_quarantined=("n_quarantined", "sum"),
        n_excluded=("n_excluded", "sum"), balanced=("balanced", "all")).reset_index()
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


def failing_checks(checks: pd.DataFrame, *, limit: int = 25) -> pd.DataFrame:
    if checks.empty:
        return pd.DataFrame(columns=["check_id", "dimension", "verdict", "n_failed", "n_checked", "message"])
    bad = checks[checks["verdict"].isin(["fail", "error", "warn"])]
    order = {"error": 0, "fail": 1, "warn": 2}
    bad = bad.assign(_o=bad["verdict"].map(order)).sort_values(["_o", "n_failed"], ascending=[True, False])
    return bad[["check_id", "dimension", "verdict", "n_failed", "n_checked", "message"]].head(limit)


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
    return fill(config, root, **{kind: read_all(root, kind) for kind in KINDS})


def fill(config: CohortConfig, root: Path, *, checks: pd.DataFrame, ledger: pd.DataFrame,
         quarantine: pd.DataFrame) -> CollectionReport:
    """The report of ``root`` from its quality tables (as :func:`read_all` reads them)."""
    rep = CollectionReport(config, root)
    rep.sections = {
        "sources": sources_received(config),
        "reconciliation": reconciliation(ledger),
        "quality_by_dimension": quality_by_dimension(checks),
        "failing_checks": failing_checks(checks),
        "quarantine_by_reason": quarantine_by_reason(quarantine),
    }
    verdicts = checks["verdict"].value_counts().to_dict() if not checks.empty else {}
    rep.facts = {
        "cohort": config.cohort.name,
        "description": config.cohort.description,
        "sites": [f"{s.id} {s.name}".strip() for s in config.sites],
        "dictionary_version": config.dictionary_version,
        "date_mode": config.dates.mode,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "curation_version": __version__,
        "demo": bool(config.options.get("demo")),
        "n_checks": len(checks),
        "verdicts": verdicts,
        "all_balanced": bool(ledger["balanced"].all()) if not ledger.empty else True,
        "overall": ("fail" if verdicts.get("fail") or verdicts.get("error") else
                    "warn" if verdicts.get("warn") else "pass"),
    }
    rep.markdown = render_markdown(rep)
    return rep


def render_markdown(rep: CollectionReport) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True)
    text = resources.files("curation.report").joinpath("templates/collection_report.md.j2").read_text(
        encoding="utf-8")
    tables = {k: (v.to_markdown(index=False) if not v.empty else "*none*") for k, v in rep.sections.items()}
    return env.from_string(text).render(f=rep.facts, t=tables)
