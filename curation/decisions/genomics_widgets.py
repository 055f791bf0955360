"""Genomics decision widgets: per-sample QC limits (mean depth, Q30) and driver-call review.

Each saves through :func:`~curation.decisions.widgets.save_button` (author and reason required) and
shows the values in effect with their source (:func:`~curation.decisions.widgets.value_in_effect`);
the batch run replays them: a sample's own limit decides that sample's QC verdict
(:func:`curation.modalities.genomics._qc.sample_limits`), a rejected driver call leaves the variant
without it (:func:`curation.modalities.genomics.relabel`). The tables are the static views.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .widgets import author_fields, decided, exclude_widget, save_button, value_in_effect

__all__ = [
    "LIMITS",
    "driver_calls",
    "driver_review_widget",
    "limit_key",
    "sample_exclude_widget",
    "sample_qc_table",
    "sample_qc_widget",
]

# limit -> (QC metric, check, unit, lowest, highest a curator may set)
LIMITS = {
    "min_depth": ("mean_depth", "sequencing_depth", "x", 0.0, 10000.0),
    "min_q30": ("pct_q30", "q30", "%", 0.0, 100.0),
}


def limit_key(limit: str, sample: str | None = None) -> str:
    """The decision key of a QC limit: the cohort's, or one sample's (by its token)."""
    check = LIMITS[limit][1]
    return f"genomics.accuracy.{check}.sample.{sample}.{limit}" if sample else f"genomics.accuracy.{check}.{limit}"


def _cohort_limits(run: Any) -> dict[str, float]:
    from ..modalities.genomics._options import GenomicsOptions
    from ..modalities.genomics._qc import DEFAULTS

    out = dict(DEFAULTS)
    for opts in GenomicsOptions.of(run.ctx.config, "genomics"):
        out.update({k: float(v) for k, v in opts.model_dump(include=set(DEFAULTS), exclude_none=True).items()})
    return out


def _in_effect(run: Any, sample: str, limit: str, cohort: Mapping[str, float]) -> tuple[float, str]:
    from ..modalities.genomics._qc import DEFAULTS

    value, source = value_in_effect(
        run,
        [limit_key(limit, sample), limit_key(limit), f"genomics.{limit}"],
        default=DEFAULTS[limit],
        cohort=cohort[limit],
    )
    return float(value), source


def sample_qc_table(run: Any) -> pd.DataFrame:
    """Per sample: its QC values, each limit in effect with its source (default, cohort.yaml, decision by X;
    decisions saved since the run included) and whether the sample meets it."""
    s = run.data.tables.get("samples")
    cols = ["sample", "patient", "tissue"]
    if s is None or s.empty:
        return pd.DataFrame(columns=cols)
    cohort = _cohort_limits(run)
    out = s[cols].copy()
    for limit, (metric, *_) in LIMITS.items():
        got = [_in_effect(run, str(t), limit, cohort) for t in s["sample"]]
        out[metric] = s[metric].to_numpy()
        out[limit] = [v for v, _ in got]
        out[f"{limit} from"] = [w for _, w in got]
        below = (out[metric] < out[limit]).fillna(False).astype(bool)
        out[f"{metric} verdict"] = [
            "no value" if pd.isna(x) else "below" if b else "meets" for x, b in zip(out[metric], below, strict=True)
        ]
    return out.reset_index(drop=True)


def sample_qc_widget(run: Any) -> Any:
    """Per-sample QC limits (mean depth, Q30): pick a sample, see its values and the limits in effect with their
    source, set its own limits (in range only) with author and reason (live kernel)."""
    import ipywidgets as w

    table = sample_qc_table(run)
    if table.empty:
        return w.HTML("no sequenced sample in this run")
    label = {
        r["sample"]: f"{r['sample']} ({r['tissue']}): depth {r['mean_depth']:g}x, Q30 {r['pct_q30']:g}%"
        for r in table.to_dict("records")
    }
    which = w.Dropdown(options=[(v, k) for k, v in label.items()], description="sample", layout=w.Layout(width="70%"))
    boxes = {k: w.FloatText(description=k, style={"description_width": "90px"}) for k in LIMITS}
    sources = {k: w.HTML() for k in LIMITS}
    author, reason = author_fields(w)
    status = w.HTML()
    loaded: dict[str, float] = {}

    def load(*_: Any) -> None:
        cohort = _cohort_limits(run)
        for k in LIMITS:
            value, source = _in_effect(run, which.value, k, cohort)
            boxes[k].value, sources[k].value, loaded[k] = value, f"<small>{source}</small>", value

    def out_of_range() -> list[str]:
        return [
            f"{k}: {b.value:g} outside {LIMITS[k][3]:g}–{LIMITS[k][4]:g}"
            for k, b in boxes.items()
            if not LIMITS[k][3] <= b.value <= LIMITS[k][4]
        ]

    def changed() -> list[Mapping[str, Any]]:
        return [
            {"kind": "setting", "key": limit_key(k, which.value), "value": float(b.value)}
            for k, b in boxes.items()
            if b.value != loaded.get(k)
        ]

    which.observe(load, names="value")
    load()
    button = save_button(
        run,
        decisions=changed,
        author=author,
        reason=reason,
        status=status,
        description="Save limits",
        problems=out_of_range,
    )
    rows = [w.HBox([boxes[k], sources[k]]) for k in LIMITS]
    return w.VBox([which, *rows, author, reason, button, status])


def driver_calls(run: Any) -> pd.DataFrame:
    """The variants with a driver call: review key, sample, patient, gene, protein change, call and the
    review decision in force (read afresh: saved since the run included)."""
    from ..modalities.genomics._decide import DRIVER, variant_keys

    v = run.data.tables.get("variants")
    cols = ["key", "sample", "patient", "gene", "protein_change", "driver", "review"]
    if v is None or v.empty:
        return pd.DataFrame(columns=cols)
    calls = v[v["driver"].astype("string").fillna("") != ""].copy()
    calls["key"] = "genomics." + DRIVER + variant_keys(calls)
    calls["review"] = calls["key"].map(decided(run, "label", modality="genomics")).fillna("")
    return calls[cols].reset_index(drop=True).astype("string")


def driver_review_widget(run: Any) -> Any:
    """Confirm or reject a variant's driver call with a reason (live kernel); a rejected call is removed on replay."""
    import ipywidgets as w

    calls = driver_calls(run)
    if calls.empty:
        return w.HTML("no driver call in this run")
    which = w.Dropdown(
        options=[
            (f"{r['driver']}: {r['gene']} {r['protein_change'] or ''} on {r['sample']}", r["key"])
            for r in calls.to_dict("records")
        ],
        description="call",
        layout=w.Layout(width="70%"),
    )
    action = w.ToggleButtons(options=["confirm", "reject"], description="review")
    author, reason = author_fields(w)
    status = w.HTML()
    button = save_button(
        run,
        decisions=lambda: [{"kind": "label", "key": which.value, "value": action.value}],
        author=author,
        reason=reason,
        status=status,
        description="Save review",
    )
    return w.VBox([which, action, author, reason, button, status])


def sample_exclude_widget(run: Any) -> Any:
    """Accept or exclude a sequenced sample (by its token) with a reason (live kernel); the next run leaves an
    excluded sample out of the samples and variants tables and the VCF copies, counted in the ledger."""
    s = run.data.tables.get("samples")
    return exclude_widget(run, sorted(s["sample"].astype(str)) if s is not None and len(s) else [], what="sample")
