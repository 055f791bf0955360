"""QC threshold widget (live kernels) and its static equivalent (executed notebooks, HTML reports).

The widget records ``setting`` decisions ``immune.qc.tissue.<tissue>.<threshold>`` (with author and
reason) in decisions.yaml beside cohort.yaml, which :func:`curation.curate` replays on the next run
or when the widget's Apply button re-runs the step. It shows each value in effect and where it comes
from (default, cohort.yaml, decision), reloads the saved values when the tissue changes, warns
before discarding unsaved edits and refuses a value outside its range with a message (never clips).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._qc import QCParams

EDITABLE = ("nmads_counts", "nmads_genes", "nmads_top20", "nmads_mt", "max_pct_mt", "min_counts", "min_genes")
RANGES = {  # what a curator may set: MADs, % mitochondrial, and count floors
    "nmads_counts": (1.0, 10.0),
    "nmads_genes": (1.0, 10.0),
    "nmads_top20": (1.0, 10.0),
    "nmads_mt": (1.0, 10.0),
    "max_pct_mt": (1.0, 50.0),
    "min_counts": (0.0, 2000.0),
    "min_genes": (0.0, 1000.0),
}
REDRAWN = ("QC metrics per sample", "Counts vs genes")  # the figures Apply redraws under the widget


def thresholds_table(run: Any) -> pd.DataFrame:
    """Per sample: tissue, cells in, kept, removed by rule and the thresholds applied."""
    q = run.data.tables.get("qc", pd.DataFrame())
    if q.empty:
        return q
    keep = ["sample", "tissue", "n_cells", "n_kept"] + [
        c for c in q.columns if c.startswith(("removed_", "threshold_"))
    ]
    return q[keep].round(2)


def save_decisions(bundle: Any, updates: dict[str, Any]) -> Any:
    """Merge ``updates`` into the bundle's decisions.yaml in the old form (read by curate as settings by
    '(unknown)'); kept for scripts written against it: record decisions with author and reason instead
    (:func:`curation.decisions.widgets.record`)."""
    import yaml

    path = bundle.path("decisions.yaml")
    current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    current = current or {}

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        for k, v in b.items():
            a[k] = merge(dict(a.get(k) or {}), v) if isinstance(v, dict) else v
        return a

    return bundle.write_text(
        "decisions.yaml", yaml.safe_dump(merge(current, updates), sort_keys=True, allow_unicode=True)
    )


def decision_for(tissue: str, values: dict[str, float]) -> dict[str, Any]:
    """The old-form decisions.yaml fragment that sets QC thresholds for one tissue category."""
    return {"immune": {"qc": {"tissue": {tissue: {k: float(v) for k, v in values.items() if k in EDITABLE}}}}}


def out_of_range(name: str, value: float) -> str:
    """A message when ``value`` is outside the range a curator may set for ``name``, else ""."""
    lo, hi = RANGES[name]
    if value != value or not lo <= value <= hi:  # NaN too
        return f"{name}: {value:g} is outside {lo:g}–{hi:g}; not saved (type a value in range)"
    return ""


def values_in_effect(run: Any, tissue: str) -> dict[str, tuple[float, str]]:
    """Each editable threshold for ``tissue``: its value and where it comes from (default, cohort.yaml,
    decision by <author>), decisions read afresh from decisions.yaml (saved since the run included)."""
    from ...decisions import decisions_in_force
    from .. import sources_of

    config = run.ctx.config
    cohort_layer: dict[str, Any] = {}
    for src in sources_of(config, "immune"):
        cohort_layer.update(src.options.qc.layer() or {})
    mine = [d for d in decisions_in_force(config, bundle=run.ctx.bundle.root) if d.kind == "setting"]
    by_key = {d.key: d for d in mine}
    default = QCParams()
    cohort = QCParams.resolve(cohort_layer, tissue=tissue)
    out: dict[str, tuple[float, str]] = {}
    for k in EDITABLE:
        d = by_key.get(f"immune.qc.tissue.{tissue}.{k}") or by_key.get(f"immune.qc.{k}")
        if d is not None:
            out[k] = (float(d.value), f"decision by {d.author}")
        elif getattr(cohort, k) != getattr(default, k):
            out[k] = (float(getattr(cohort, k)), "cohort.yaml")
        else:
            out[k] = (float(getattr(default, k)), "default")
    return out


def threshold_widget(run: Any) -> Any:
    """Thresholds per tissue with their sources, Save (author and reason required), Discard and Apply."""
    import ipywidgets as w

    from ...decisions.widgets import record
    from ...report import show, show_table

    state: dict[str, Any] = {"run": run, "loaded": {}, "tissue": None, "switching": False}
    q = run.data.tables.get("qc", pd.DataFrame())
    tissues = sorted(q["tissue"].astype(str).unique()) if len(q) else ["tumor", "adjacent_normal", "blood"]
    tissue = w.Dropdown(options=tissues, description="tissue")
    boxes = {k: w.FloatText(description=k, style={"description_width": "110px"}) for k in EDITABLE}
    sources = {k: w.HTML() for k in EDITABLE}
    author = w.Text(description="author", placeholder="your name (required)")
    reason = w.Text(description="reason", placeholder="why (required)", layout=w.Layout(width="60%"))
    status, figures = w.HTML(), w.Output()

    def edits() -> list[str]:
        return [k for k, b in boxes.items() if b.value != state["loaded"].get(k)]

    def load(name: str) -> None:
        state["switching"] = True
        vals = values_in_effect(state["run"], name)
        for k, (v, where) in vals.items():
            boxes[k].value = v
            sources[k].value = f"<small>{where}</small>"
        state["loaded"] = {k: v for k, (v, _) in vals.items()}
        state["tissue"] = name
        state["switching"] = False

    def on_tissue(change: dict[str, Any]) -> None:
        if state["switching"] or change["new"] == state["tissue"]:
            return
        pending = edits()
        if pending:  # keep the edits on screen: the curator saves or discards them first
            state["switching"] = True
            tissue.value = state["tissue"]
            state["switching"] = False
            status.value = (
                f"<b>unsaved edits</b> to {state['tissue']} ({', '.join(pending)}): "
                "Save them, or Discard, before switching tissue"
            )
            return
        load(change["new"])
        status.value = ""

    def on_value(change: dict[str, Any]) -> None:
        bad = [m for k, b in boxes.items() if (m := out_of_range(k, b.value))]
        status.value = "<b>" + "; ".join(bad) + "</b>" if bad else ""

    def save(_: Any) -> None:
        bad = [m for k, b in boxes.items() if (m := out_of_range(k, b.value))]
        if bad or not author.value.strip() or not reason.value.strip():
            status.value = "<b>not saved</b>: " + ("; ".join(bad) or "give your name and a reason")
            return
        t = state["tissue"]
        for k in edits():
            d = {"kind": "setting", "key": f"immune.qc.tissue.{t}.{k}", "value": float(boxes[k].value)}
            record(state["run"], d, author=author.value, reason=reason.value)
        load(t)
        status.value = f"saved for {t} in decisions.yaml beside cohort.yaml; Apply re-runs the QC"

    def discard(_: Any) -> None:
        load(state["tissue"])
        status.value = "edits discarded"

    def apply(_: Any) -> None:
        from .. import curate

        if edits():
            status.value = "<b>unsaved edits</b>: Save or Discard them before Apply"
            return
        status.value = "re-running immune ..."
        old = state["run"]
        state["run"] = curate("immune", old.ctx.config, out=old.ctx.bundle.root)
        load(state["tissue"])
        figures.clear_output()
        with figures:
            figs = state["run"].figures()
            show_table(thresholds_table(state["run"]), run=state["run"])
            for name in REDRAWN:
                if name in figs:
                    show(figs[name])
        status.value = "applied: the table and figures below are this run's"

    for b in boxes.values():
        b.observe(on_value, names="value")
    tissue.observe(on_tissue, names="value")
    load(tissue.value)
    buttons = [
        w.Button(description=d, button_style=s)
        for d, s in (("Save decisions", "primary"), ("Discard edits", ""), ("Apply (re-run)", "success"))
    ]
    for b, fn in zip(buttons, (save, discard, apply), strict=True):
        b.on_click(fn)
    rows = [w.HBox([boxes[k], sources[k]]) for k in EDITABLE]
    return w.VBox([tissue, *rows, author, reason, w.HBox(buttons), status, figures])


def label_widget(run: Any) -> Any:
    """Correct the cell-type label of a Leiden cluster (cells and current labels shown), with a reason."""
    import ipywidgets as w

    from ...decisions.widgets import author_fields, save_button
    from ._typing import load_markers

    adata = run.data.objects.get("adata")
    if adata is None or "leiden" not in adata.obs:
        return w.HTML("no clustered cells in this run")
    obs = adata.obs[adata.obs["leiden"].astype(str).str.isdigit()]  # cells failing QC have no cluster
    summary = obs.groupby(obs["leiden"].astype(str), observed=True)["cell_type"].agg(
        lambda s: ", ".join(f"{k} {v}" for k, v in s.astype(str).value_counts().head(3).items())
    )
    table = load_markers()
    labels = [*sorted(table["cell_types"]), table["unassigned"]["label"]]
    which = w.Dropdown(
        options=[(f"{c}: {summary[c]}", c) for c in sorted(summary.index, key=_cluster_order)],
        description="cluster",
        layout=w.Layout(width="70%"),
    )
    label = w.Dropdown(options=labels, description="label")
    author, reason = author_fields(w)
    status = w.HTML()

    button = save_button(
        run,
        decisions=lambda: [{"kind": "label", "key": f"{run.spec.name}.{which.value}", "value": label.value}],
        author=author,
        reason=reason,
        status=status,
        description="Save label",
    )
    return w.VBox([which, label, author, reason, button, status])


def _cluster_order(c: str) -> tuple[int, str]:
    return (int(c), c) if c.isdigit() else (1 << 30, c)
