"""Imaging decision widgets: series accept/exclude beside the series' sampled slices, and nodule adjudication.

Each saves through :func:`~curation.decisions.widgets.save_button` (author and reason required); the
batch run replays them (:func:`curation.modalities.imaging.exclude`, :func:`curation.modalities.imaging.relabel`):
an excluded series leaves every output, counted in the ledger; an adjudicated nodule gets the curator's
Lung-RADS category and is no longer an open disagreement of the reader-agreement check. The HTML and
tables are the static views. Thumbnails come from the step's own sampled slices (lung window); series
with burned-in annotation are withheld, as everywhere.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .widgets import author_fields, decided, save_button

__all__ = ["adjudication_widget", "disagreements", "series_review_html", "series_table", "series_widget"]


def series_table(run: Any) -> pd.DataFrame:
    """One row per series: patient, modality, slices, fitness for nodule measurement and the decision in force."""
    s = run.data.tables.get("series")
    cols = ["series_uid", "patient", "modality", "n_instances", "fit_for_nodule_measurement", "decision"]
    if s is None or s.empty:
        return pd.DataFrame(columns=cols)
    out = s[[c for c in cols if c in s.columns]].copy()
    out["decision"] = (
        ("imaging." + out["series_uid"].astype(str)).map(decided(run, "exclude", modality="imaging")).fillna("")
    )
    return out.reset_index(drop=True)


def _strip(run: Any, uid: str) -> str:
    from ..modalities.imaging import slice_strip_html

    return slice_strip_html(run.data, series_uid=uid)


def series_review_html(run: Any, *, max_series: int = 12) -> str:
    """The static view: per series its pseudonym, modality, decision in force and sampled slices side by side
    (series with a decision first, then up to ``max_series`` in all)."""
    table = series_table(run)
    table = table.iloc[(table["decision"] == "").to_numpy().argsort(kind="stable")] if len(table) else table
    if table.empty:
        return "<p><em>no series in this run</em></p>"
    rows = [
        f"<tr><td>{html.escape(str(r['patient']))}<br><small>{html.escape(str(r['modality']))}, "
        f"{r['n_instances']} sl.; {html.escape(r['decision'] or 'no decision')}</small></td>"
        f"<td>{_strip(run, str(r['series_uid']))}</td></tr>"
        for r in table.head(max_series).to_dict("records")
    ]
    more = f"<p><em>{len(table) - max_series} more series not shown</em></p>" if len(table) > max_series else ""
    return "<table><tr><th>series</th><th>sampled slices (lung window)</th></tr>" + "".join(rows) + "</table>" + more


def series_widget(run: Any) -> Any:
    """Accept or exclude a series with a reason, its sampled slices shown beside the decision (live kernel)."""
    import ipywidgets as w

    table = series_table(run)
    if table.empty:
        return w.HTML("no series in this run")
    which = w.Dropdown(
        options=[
            (f"{r['patient']} {r['modality']} {r['n_instances']} sl. ({r['series_uid'][-8:]})", r["series_uid"])
            for r in table.to_dict("records")
        ],
        description="series",
        layout=w.Layout(width="95%"),
    )
    action = w.ToggleButtons(options=["accept", "exclude"], description="decision")
    now, strip = w.HTML(), w.HTML(layout=w.Layout(width="60%"))
    author, reason = author_fields(w)
    status = w.HTML()

    def show(*_: Any) -> None:
        strip.value = _strip(run, which.value)
        in_force = decided(run, "exclude", modality="imaging").get(f"imaging.{which.value}")
        now.value = f"<small>in force: {html.escape(in_force or 'no decision (accepted)')}</small>"

    which.observe(show, names="value")
    show()
    button = save_button(
        run,
        decisions=lambda: [{"kind": "exclude", "key": f"imaging.{which.value}", "value": action.value}],
        author=author,
        reason=reason,
        status=status,
    )
    controls = w.VBox([which, now, action, author, reason, button, status], layout=w.Layout(width="40%"))
    return w.HBox([controls, strip])


def disagreements(run: Any) -> pd.DataFrame:
    """Nodules the two readers put in different Lung-RADS categories: adjudication key, both readings, the
    category adjudicated in this run and the decision in force (saved since the run included)."""
    from ..modalities.imaging._decide import NODULE
    from ..modalities.imaging._nodules import ADJUDICATED, reader_pairs

    nod = run.data.tables.get("nodules")
    pairs = reader_pairs(nod if nod is not None else pd.DataFrame())
    pairs = pairs[pairs["category_a"] != pairs["category_b"]].copy()
    keys = "imaging." + NODULE + pairs["patient"] + "." + pairs["series_uid"] + "." + pairs["location"]
    pairs.insert(0, "key", keys)
    pairs["decision"] = pairs["key"].map(decided(run, "label", modality="imaging")).fillna("")
    cols = ["key", "patient", "location", "category_a", "category_b", ADJUDICATED, "decision"]
    return pairs[cols].reset_index(drop=True).astype("string")


def adjudication_widget(run: Any) -> Any:
    """Record the adjudicated Lung-RADS category of a nodule the readers disagree on, with a reason (live kernel)."""
    import ipywidgets as w

    from ..modalities.imaging._nodules import CATEGORY_ORDER

    table = disagreements(run)
    if table.empty:
        return w.HTML("no reader disagreement in this run")
    which = w.Dropdown(
        options=[
            (f"{r['patient']} {r['location']}: {r['category_a']} vs {r['category_b']}", r["key"])
            for r in table.to_dict("records")
        ],
        description="nodule",
        layout=w.Layout(width="70%"),
    )
    category = w.Dropdown(options=CATEGORY_ORDER, description="Lung-RADS")
    author, reason = author_fields(w)
    status = w.HTML()
    button = save_button(
        run,
        decisions=lambda: [{"kind": "label", "key": which.value, "value": category.value}],
        author=author,
        reason=reason,
        status=status,
        description="Save adjudication",
    )
    return w.VBox([which, category, author, reason, button, status])
