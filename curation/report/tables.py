"""Tables as the reviewer reads them: columns by their label in the page's language(s), rows that
did not pass first and the passing ones folded, text wrapped and left-aligned, source keys with their
site and table. A long table is never cut: the rows past ``max_rows`` fold under "n more rows"."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup, escape

from .i18n import N_, Bi, Translator, translator

__all__ = ["COLUMNS", "table_html"]

# Column names of the quality tables, as the reports label them.
COLUMNS = {
    "check_id": N_("check"),
    "modality": N_("modality"),
    "site": N_("site"),
    "dimension": N_("quality dimension"),
    "verdict": N_("verdict"),
    "n_checked": N_("checked"),
    "n_failed": N_("failing"),
    "message": N_("message"),
    "severity": N_("severity"),
    "pseudonym": N_("patient (pseudonym)"),
    "patient": N_("patient (pseudonym)"),
    "row": N_("row"),
    "field": N_("field"),
    "rule": N_("rule"),
    "source": N_("source"),
    "stage": N_("stage"),
    "n_in": N_("records in"),
    "n_accepted": N_("accepted"),
    "n_quarantined": N_("quarantined"),
    "n_excluded": N_("excluded"),
    "balanced": N_("balanced"),
    "reason": N_("reason"),
    "file": N_("file (token)"),
    "records": N_("records"),
    "values": N_("values emptied"),
    "table": N_("table"),
    "name": N_("name"),
    "label_zh": N_("label (Chinese)"),
    "label_en": N_("label (English)"),
    "type": N_("type"),
    "unit": N_("unit"),
    "code_system": N_("code system"),
    "allowed": N_("allowed values"),
    "range": N_("plausible range"),
    "required": N_("required level"),
    "phi": N_("privacy class"),
    "sample": N_("sample (token)"),
    "tissue": N_("tissue"),
    "n_cells": N_("cells"),
    "fraction": N_("fraction"),
    "cell_type": N_("cell type"),
    # the collection report's sections
    "patients": N_("patients"),
    "share": N_("share of the cohort's patients"),
    "total": N_("all dimensions"),
    "target": N_("target"),
    "on_time": N_("on time"),
    "series": N_("series"),
    "manufacturer": N_("manufacturer"),
    "model": N_("model"),
    "kernel": N_("reconstruction kernel"),
    "slice_thickness": N_("slice thickness"),
    "kvp": N_("tube voltage"),
    "samples": N_("samples"),
    "platform": N_("sequencing platform"),
    "panel": N_("panel"),
    "reference": N_("reference genome"),
    "median_depth": N_("median depth"),
    "analyte": N_("analyte"),
    "loinc": N_("LOINC"),
    "unit_std": N_("unit"),
    "results": N_("results"),
    "sites": N_("sites"),
    "analyzer": N_("analyzer"),
    "cells": N_("cells"),
    "cells_kept": N_("cells kept"),
    "chemistry": N_("chemistry"),
    "counts_from": N_("counts from"),
    "area": N_("area"),
    "format": N_("format"),
    "files": N_("files"),
    "MB": N_("MB"),
    "opens_in": N_("opens in"),
    "owner": N_("owner"),
    "action": N_("action"),
    "due": N_("due"),
    "status": N_("status"),
    "follow_up": N_("follow-up"),
    "change": N_("change"),
    "verdict_before": N_("verdict before"),
    "n_failed_before": N_("failing before"),
    "n_checked_before": N_("checked before"),
    "indicator": N_("indicator"),
    "test": N_("test"),
    "estimate_ci": N_("estimate (95% CI)"),
    "arm": N_("arm"),
}
NUMERIC = ("int", "float", "uint")


def _cell(value: Any, tr: Translator, *, column: str, sources: dict[str, Any]) -> Markup:
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return Markup('<span class="zero">–</span>')
    if isinstance(value, Bi):  # a label that reads differently per language
        return tr.show(value)
    if column == "source" and str(value) in sources:
        return tr.show(sources[str(value)])
    if column == "verdict":
        from .words import VERDICTS

        return tr._(VERDICTS[str(value)]) if str(value) in VERDICTS else tr.show(value)
    if column in ("share", "on_time") and isinstance(value, float):
        return escape(f"{value:.1%}")
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    return escape(str(value))


def table_html(df: pd.DataFrame, *, max_rows: int = 50, config: Any = None, language: str = "both") -> str:
    """The HTML of a table (see the module docstring)."""
    from .review import ORDER, source_labels

    tr = translator(language)
    if df is None or df.empty:
        return str(Markup('<p class="muted">{}</p>').format(tr._("(none)")))
    sources = source_labels(config) if config is not None else {}
    passing = pd.DataFrame()
    if "verdict" in df.columns:
        key = df["verdict"].astype(str).map(ORDER).fillna(9)
        df = df.assign(_o=key).sort_values("_o", kind="stable").drop(columns="_o")
        good = df["verdict"].astype(str).isin(["pass", "not_applicable"])
        df, passing = df[~good], df[good]
    out = [_table(df, tr, max_rows=max_rows, sources=sources)] if len(df) else []
    if len(passing):
        out.append(
            Markup("<details><summary>{}</summary>{}</details>").format(
                tr.ngettext("{n} row passed", "{n} rows passed", len(passing)),
                _table(passing, tr, max_rows=max_rows, sources=sources),
            )
        )
    return str(Markup("").join(out))


def _header(c: str, tr: Translator) -> Markup:
    from .words import DIMENSIONS

    if c in COLUMNS:
        return tr._(COLUMNS[c])
    return tr._(DIMENSIONS[c]) if c in DIMENSIONS else escape(c)


def _table(df: pd.DataFrame, tr: Translator, *, max_rows: int, sources: dict[str, Any]) -> Markup:
    shown = df.head(max_rows)
    cols = [c for c in shown.columns if not str(c).startswith("_")]
    head = Markup("").join(
        Markup('<th class="{}">{}</th>').format(
            "num" if str(shown[c].dtype).startswith(NUMERIC) else "",
            _header(str(c), tr),
        )
        for c in cols
    )
    rows = Markup("").join(
        Markup("<tr>{}</tr>").format(
            Markup("").join(
                Markup('<td class="{}">{}</td>').format(
                    "num" if str(shown[c].dtype).startswith(NUMERIC) else "",
                    _cell(v, tr, column=str(c), sources=sources),
                )
                for c, v in zip(cols, rec, strict=True)
            )
        )
        for rec in shown[cols].itertuples(index=False, name=None)
    )
    # never cut: the rest folds (and prints: the PDF opens every fold)
    more = (
        Markup('<details class="cr-more"><summary>{}</summary>{}</details>').format(
            tr.ngettext("{n} more row", "{n} more rows", len(df) - max_rows),
            _table(df.iloc[max_rows:], tr, max_rows=len(df), sources=sources),
        )
        if len(df) > max_rows
        else Markup("")
    )
    return Markup('<table class="cr"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}').format(head, rows, more)
