"""The reviewer's view of one modality: verdict first, failing and warning checks as sentences.

:func:`review` turns a curated run (or a checks table with its failing records) into a
:class:`Review`: the modality's verdict, checks by dimension and verdict, then each check that did not
pass as a sentence (what failed, how many of how many), where (sites, source keys with their site
and table, fields by their dictionary label) and the fix or next step, from the templates of
``check_messages.yaml`` in the report's language(s). Per-site breakdowns and the failing records fold
under their check; passing checks fold into one closed section. It holds counts, pseudonyms, field
labels and source keys only, never a raw value of an identifying field.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from .. import dictionary
from ..quality import Dimension
from ..quality.ledger import BALANCED
from .i18n import N_, Bi, Translator, translator

__all__ = [
    "Finding",
    "Review",
    "check_sentence",
    "field_label",
    "locate",
    "modality_label",
    "review",
    "rule_text",
    "source_labels",
    "templates",
]

HERE = Path(__file__).parent
ORDER = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "not_applicable": 4}
SAMPLE = 20
# the first words of check families (screening: its indicators against targets, the precision of their intervals)
FAMILY_WORDS = {*(str(d) for d in Dimension), "plausibility", "indicator", "precision", BALANCED.id}


@cache
def _messages() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((HERE / "check_messages.yaml").read_text(encoding="utf-8"))


def _family(check_id: str) -> tuple[str, str]:
    """(family, modality) of a check id: ``clinical.completeness.sex`` -> (``completeness.sex``, ``clinical``)."""
    modality, _, rest = check_id.partition(".")
    return (rest or check_id), modality


def templates(check_id: str, dimension: str) -> dict[str, str]:
    """The ``what`` and ``fix`` templates of a check: its full id, then its family, then its dimension."""
    fam, _ = _family(check_id)
    families = _messages()["families"]
    if check_id in families:
        return families[check_id]
    for key, entry in families.items():
        # a key whose first word is not a dimension is a full check id (matched above)
        if key.split(".")[0] in FAMILY_WORDS and (key == fam or fnmatch.fnmatchcase(fam, key)):
            return entry
    return _messages()["dimensions"].get(dimension, {"what": "{n_failed} of {n_checked} {items} failed", "fix": ""})


@cache
def _labels(modality: str) -> dict[str, Bi]:
    try:
        fields = dictionary.fields(modality)
    except Exception:  # noqa: BLE001 - a step without a dictionary (crossmodal, immune): names as written
        return {}
    out: dict[str, Bi] = {}
    for f in fields:
        label = Bi(f.label_zh or f.name, f.label_en or f.name)
        out.setdefault(f.name, label)
        out[f"{f.table}.{f.name}"] = label
    return out


def field_label(name: str, modality: str) -> Bi | str:
    """A field by its dictionary label (``sex`` -> 性别 / Sex); ``imaging.sex`` and ``table.field`` too."""
    name = str(name)
    got = _labels(modality).get(name)
    if got is None and "." in name:
        head, _, tail = name.partition(".")
        got = _labels(head).get(tail) or _labels(modality).get(tail)
    return got if got is not None else name


def source_labels(config: Any, modality: str | None = None) -> dict[str, Bi]:
    """Source key -> the key with its site and table (``clinical[1]`` -> ``clinical[1] · site B · patients``)."""
    out: dict[str, Bi] = {}
    tr = translator("both")
    for name, sources in getattr(config, "sources", {}).items():
        if modality and name != modality:
            continue
        for i, src in enumerate(sources):
            key = f"{name}[{i}]"
            parts_zh, parts_en = [key], [key]
            if src.site:
                site = tr.bi("site {site}", site=src.site)
                parts_zh.append(site.zh)
                parts_en.append(site.en)
            if src.table:
                parts_zh.append(src.table)
                parts_en.append(src.table)
            out[key] = Bi(" · ".join(parts_zh), " · ".join(parts_en))
    return out


@cache
def _rules() -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(r["match"]), r["text"]) for r in _messages().get("rules") or []]


def rule_text(rule: str, modality: str, tr: Translator) -> Markup:
    """A failing record's rule in the page's language(s) (as written when no pattern knows it)."""
    for rx, text in _rules():
        m = rx.match(str(rule))
        if m:
            values = {k: field_label(v, modality) for k, v in m.groupdict().items()}
            return tr._(text, **values)
    return tr.show(str(rule))


@dataclass
class Finding:
    """One check that did not pass, as the reviewer reads it."""

    check: str  # the check's id (a display row, not a result)
    verdict: str
    dimension: str
    severity: str
    n_checked: int
    n_failed: int
    what: Markup
    fix: Markup
    where: list[tuple[Markup, Markup]] = field(default_factory=list)  # (label, value)
    by_site: list[dict[str, Any]] = field(default_factory=list)
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_records: int = 0
    detail: str = ""  # the check's own message (English, technical)


def check_sentence(row: Mapping[str, Any], tr: Translator, *, fields: list[str] | None = None) -> tuple[Markup, Markup]:
    """(what, fix) of one check row in the page's language(s)."""
    tpl = templates(str(row["check_id"]), str(row["dimension"]))
    modality = str(row.get("modality") or _family(str(row["check_id"]))[1])
    n_checked, n_failed = int(row["n_checked"]), int(row["n_failed"])
    pct = f"{n_failed / n_checked:.1%}" if n_checked else "–"
    names = list(dict.fromkeys(fields or []))
    fam, _ = _family(str(row["check_id"]))
    if not names and fam.startswith("completeness."):
        names = [fam.split(".", 1)[1]]
    label: Bi | str = field_label(names[0], modality) if names else tr.bi("the field")
    values = {"n_failed": n_failed, "n_checked": n_checked, "pct": pct, "field": label, "items": tr.bi("records")}
    return tr._(tpl["what"], **values), (tr._(tpl["fix"], **values) if tpl.get("fix") else Markup(""))


def _where(
    fails: pd.DataFrame, sites: list[dict[str, Any]], modality: str, tr: Translator, sources: Mapping[str, Bi]
) -> list[tuple[Markup, Markup]]:
    out: list[tuple[Markup, Markup]] = []
    bad_sites = [s for s in sites if s["n_failed"]]
    if bad_sites:
        out.append(
            (
                tr._("Sites"),
                Markup(", ").join(
                    tr._(
                        "{site} ({n_failed} of {n_checked})",
                        site=s["site"],
                        n_failed=s["n_failed"],
                        n_checked=s["n_checked"],
                    )
                    for s in bad_sites
                ),
            )
        )
    elif "site" in fails and fails["site"].astype(str).str.len().gt(0).any():
        out.append((tr._("Sites"), tr.show(", ".join(sorted(set(fails["site"].astype(str)) - {""})))))
    if "source" in fails:
        keys = [k for k in dict.fromkeys(fails["source"].astype(str)) if k]
        if keys:
            out.append((tr._("Sources"), Markup("; ").join(tr.show(sources.get(k, k)) for k in keys[:6])))
    names = [f for f in dict.fromkeys(fails.get("field", pd.Series(dtype=str)).astype(str)) if f]
    if names:
        shown = Markup(", ").join(tr.show(field_label(n, modality)) for n in names[:6])
        more = tr._(" and {n} more", n=len(names) - 6) if len(names) > 6 else Markup("")
        out.append((tr._("Fields"), shown + more))
    return out


def locate(failures: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Failing records with the site and source key of their record (matched by pseudonym and source row)."""
    out = failures.copy()
    out["site"], out["source"] = "", ""
    if out.empty:
        return out
    parts = []
    for df in tables.values():
        if not isinstance(df, pd.DataFrame) or "patient" not in df.columns or "_line" not in df.columns:
            continue
        cols = [c for c in ("site", "_source") if c in df.columns]
        if cols:
            parts.append(df[["patient", "_line", *cols]])
    if not parts:
        return out
    where = pd.concat(parts, ignore_index=True).astype({"patient": "string"}).drop_duplicates(["patient", "_line"])
    where["_line"] = pd.to_numeric(where["_line"], errors="coerce")
    key = pd.MultiIndex.from_arrays([where["patient"], where["_line"]])
    idx = key.get_indexer(
        pd.MultiIndex.from_arrays([out["pseudonym"].astype("string"), pd.to_numeric(out["row"], errors="coerce")])
    )
    hit = idx >= 0
    if "site" in where:
        out.loc[hit, "site"] = where["site"].astype("string").to_numpy()[idx[hit]]
    if "_source" in where:
        out.loc[hit, "source"] = where["_source"].astype("string").to_numpy()[idx[hit]]
    return out.fillna({"site": "", "source": ""})


@dataclass
class Review:
    """A modality's verdict, checks by dimension and its findings, ready to display (``_repr_html_``)."""

    name: str
    label: Bi | str
    verdict: str
    tr: Translator
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    passing: list[dict[str, Any]] = field(default_factory=list)
    n_checks: int = 0

    def counts(self) -> dict[str, int]:
        """The number of checks per verdict, summed over the dimensions."""
        out: dict[str, int] = {}
        for d in self.dimensions:
            for v in ORDER:
                out[v] = out.get(v, 0) + d.get(v, 0)
        return out

    def html(self) -> str:
        """The review page rendered as HTML."""
        from .render import environment

        return environment(self.tr).get_template("review.html.j2").render(r=self)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        c = self.counts()
        return f"Review({self.name}: {self.verdict}; " + ", ".join(f"{n} {v}" for v, n in c.items() if n) + ")"


def review(
    run: Any = None,
    *,
    checks: pd.DataFrame | None = None,
    failures: pd.DataFrame | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    config: Any = None,
    name: str = "",
    language: str | None = None,
    by_site: pd.DataFrame | None = None,
) -> Review:
    """The reviewer's view of a curated run (``cu.curate(...)``), or of a checks table and its failures.

    Parameters
    ----------
    run
        A :class:`curation.modalities.Curated`; its checks, failures, tables and config are used.
    checks, failures, tables, config, name, by_site
        The same pieces without a run (``quality/checks/<name>.parquet``, its failures and its per-site
        breakdowns, ``quality/checks_by_site/<name>.parquet``).
    language
        ``zh``, ``en`` or ``both``; default ``report.language`` of cohort.yaml (else both).
    """
    if run is not None:
        checks = run.checks if checks is None else checks
        by_site = run.checks_by_site if by_site is None else by_site
        failures = run.failures if failures is None else failures
        tables = run.data.tables if tables is None else tables
        config = run.ctx.config if config is None else config
        name = name or run.spec.name
    checks = checks if checks is not None else pd.DataFrame()
    failures = (
        failures if failures is not None else pd.DataFrame(columns=["check_id", "pseudonym", "row", "field", "rule"])
    )
    language = language or getattr(getattr(config, "report", None), "language", "both")
    tr = translator(language)
    from ..modalities import registry
    from ..quality import worst_verdict

    try:
        spec_label = registry.spec(name).label
    except Exception:  # noqa: BLE001 - a step outside the registry (tests): its name
        spec_label = name
    label = modality_label(name, spec_label)
    if by_site is None and "site" in checks:  # a table from before checks_by_site: sites were rows
        by_site = checks[checks["site"].astype(str).ne("")]
        checks = checks[checks["site"].astype(str).eq("")]
    overall = checks
    per_site = by_site if by_site is not None and "site" in by_site else pd.DataFrame(columns=["check_id", "site"])
    verdict = str(worst_verdict(overall["verdict"])) if len(overall) else "not_applicable"
    rev = Review(name, label, verdict, tr, n_checks=len(overall))
    rev.dimensions = _by_dimension(overall)
    located = locate(failures, tables or {})
    sources = source_labels(config, None)
    for row in overall.assign(_o=overall["verdict"].map(ORDER)).sort_values(["_o", "check_id"]).to_dict("records"):
        if row["verdict"] in ("pass", "not_applicable"):
            rev.passing.append(row)
            continue
        fails = located[located["check_id"] == row["check_id"]]
        modality = str(row.get("modality") or name)
        what, fix = check_sentence(row, tr, fields=[str(f) for f in fails.get("field", [])])
        if row["verdict"] == "error":
            what, fix = tr._("The check could not run."), tr._("Report this to the curation team with the run's log.")
        sites = [
            {
                "site": s["site"],
                "n_checked": int(s["n_checked"]),
                "n_failed": int(s["n_failed"]),
                "verdict": s["verdict"],
            }
            for s in per_site[per_site["check_id"] == row["check_id"]].to_dict("records")
        ]
        records = fails.head(SAMPLE).assign(
            rule=[rule_text(r, modality, tr) for r in fails.head(SAMPLE)["rule"]],
            field=[tr.show(field_label(f, modality)) for f in fails.head(SAMPLE)["field"]],
        )
        rev.findings.append(
            Finding(
                check=str(row["check_id"]),
                verdict=str(row["verdict"]),
                dimension=str(row["dimension"]),
                severity=str(row.get("severity", "")),
                n_checked=int(row["n_checked"]),
                n_failed=int(row["n_failed"]),
                what=what,
                fix=fix,
                where=_where(fails, sites, modality, tr, sources),
                by_site=sites,
                records=records,
                n_records=len(fails),
                detail=str(row.get("message", "")),
            )
        )
    return rev


def modality_label(name: str, fallback: str = "") -> Bi | str:
    """A modality's label from the dictionary (临床 / Clinical), else ``fallback``."""
    try:
        raw = dictionary._read_yaml(f"{name}.yaml")
    except Exception:  # noqa: BLE001 - steps without a dictionary file
        raw = {}
    if raw.get("label_zh") and raw.get("label_en"):
        return Bi(raw["label_zh"], raw["label_en"])
    if name in STEP_LABELS:
        return translator("both").bi(STEP_LABELS[name])
    return fallback or name


STEP_LABELS = {
    "collection_report": N_("Collection report"),
    "crossmodal": N_("Cross-modality checks"),
    "exports": N_("Exports"),
    "imaging": N_("Imaging"),
    "immune": N_("Immune microenvironment (single-cell)"),
}


def _by_dimension(checks: pd.DataFrame) -> list[dict[str, Any]]:
    if checks.empty:
        return []
    out = []
    for dim in [str(d) for d in Dimension]:
        sub = checks[checks["dimension"] == dim]
        if len(sub):
            counts = sub["verdict"].value_counts()
            out.append({"dimension": dim, **{v: int(counts.get(v, 0)) for v in ORDER}, "n": len(sub)})
    return out
