"""Tables as the reviewer reads them: columns by their label in the page's language(s), rows that
did not pass first and the passing ones folded, text wrapped and left-aligned, source keys with their
site and table."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup, escape

from .i18n import N_, Translator, translator

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
}
NUMERIC = ("int", "float", "uint")


def _cell(value: Any, tr: Translator, *, column: str, sources: dict[str, Any]) -> Markup:
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return Markup('<span class="zero">–</span>')
    if column == "source" and str(value) in sources:
        return tr.show(sources[str(value)])
    if column == "verdict":
        from .words import VERDICTS

        return tr._(VERDICTS[str(value)]) if str(value) in VERDICTS else tr.show(value)
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


def _table(df: pd.DataFrame, tr: Translator, *, max_rows: int, sources: dict[str, Any]) -> Markup:
    shown = df.head(max_rows)
    cols = [c for c in shown.columns if not str(c).startswith("_")]
    head = Markup("").join(
        Markup('<th class="{}">{}</th>').format(
            "num" if str(shown[c].dtype).startswith(NUMERIC) else "",
            tr._(COLUMNS[str(c)]) if str(c) in COLUMNS else str(c),
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
    note = (
        Markup('<p class="cr-table-note">{}</p>').format(
            tr._("{n} more rows in the output bundle", n=len(df) - max_rows)
        )
        if len(df) > max_rows
        else Markup("")
    )
    return Markup('<table class="cr"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}').format(head, rows, note)
