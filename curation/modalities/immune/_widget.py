"""QC threshold widget (live kernels) and its static equivalent (executed notebooks, HTML reports).

The widget writes ``immune.qc.tissue.<tissue>`` in the bundle's decisions.yaml, which
:func:`curation.modalities.make_context` reads into ``ctx.decisions`` on the next run.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._qc import QCParams

EDITABLE = ("nmads_counts", "nmads_genes", "nmads_top20", "nmads_mt", "max_pct_mt", "min_counts", "min_genes")


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
    """Merge ``updates`` into the bundle's decisions.yaml (atomic write) and return its path."""
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
    """The decisions.yaml fragment that sets QC thresholds for one tissue category."""
    return {"immune": {"qc": {"tissue": {tissue: {k: float(v) for k, v in values.items() if k in EDITABLE}}}}}


def threshold_widget(run: Any) -> Any:
    """Sliders per threshold for a chosen tissue and a Save button (needs a live kernel)."""
    import ipywidgets as w

    q = run.data.tables.get("qc", pd.DataFrame())
    tissues = sorted(q["tissue"].astype(str).unique()) if len(q) else ["tumor", "adjacent_normal", "blood"]
    dec = (run.ctx.decisions.get("immune") or {}).get("qc") or {}
    tissue = w.Dropdown(options=tissues, description="tissue")
    ranges = {
        "nmads_counts": (1, 10, 0.5),
        "nmads_genes": (1, 10, 0.5),
        "nmads_top20": (1, 10, 0.5),
        "nmads_mt": (1, 10, 0.5),
        "max_pct_mt": (1, 50, 1),
        "min_counts": (0, 2000, 50),
        "min_genes": (0, 1000, 25),
    }
    sliders = {
        k: w.FloatSlider(
            min=lo, max=hi, step=st, description=k, continuous_update=False, style={"description_width": "110px"}
        )
        for k, (lo, hi, st) in ranges.items()
    }
    status = w.HTML()

    def load_values(*_: Any) -> None:
        p = QCParams.resolve(dec, tissue=tissue.value)
        for k, s in sliders.items():
            s.value = getattr(p, k)

    def save(_: Any) -> None:
        path = save_decisions(run.ctx.bundle, decision_for(tissue.value, {k: s.value for k, s in sliders.items()}))
        status.value = f"saved to <code>{path.name}</code>; re-run the notebook to apply"

    tissue.observe(load_values, names="value")
    load_values()
    button = w.Button(description="Save to decisions file", button_style="primary")
    button.on_click(save)
    return w.VBox([tissue, *sliders.values(), button, status])
