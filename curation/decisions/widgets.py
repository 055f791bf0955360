"""Notebook widgets that record decisions, and their static equivalents.

Each widget calls :func:`record` (its Python API: the same call a test or a script makes) and so
writes decisions.yaml beside cohort.yaml with author, time, reason and the input's checksum; the
next run (or the widget's Apply button) replays it. A papermill-executed notebook keeps no live
kernel: :func:`decisions_table` is the static view, the decisions in force and what each changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from .model import Decision, decisions_path, read_decisions, set_decision
from .replay import COLUMNS, modality_checksum

HIDDEN = "(values holding identifiers: not shown; map them in cohort.yaml value_maps)"

__all__ = [
    "author_fields",
    "check_threshold_widget",
    "decided",
    "decisions_table",
    "exclude_widget",
    "genomics_qc_widget",
    "mapping_widget",
    "quarantine_table",
    "quarantine_widget",
    "record",
    "save_button",
    "scrubbed_same",
    "settings_widget",
    "show_saved",
    "unmapped_values",
    "value_in_effect",
]


def record(run: Any, decision: Mapping[str, Any], *, author: str, reason: str) -> Decision:
    """Record ``{"kind", "key", "value"}`` for ``run``'s cohort (what every widget's Save calls).

    Parameters
    ----------
    run
        A :class:`~curation.modalities.Curated` (its cohort and modality).
    decision
        Kind, key (starting with the modality) and value; see :mod:`curation.decisions.model`.
    author, reason
        Required: who and why.
    """
    config = run.ctx.config
    modality = str(decision["key"]).split(".", 1)[0]
    return set_decision(
        decisions_path(config),
        decision,
        author=author,
        reason=reason,
        input_sha256=modality_checksum(config, modality),
    )


def decisions_table(run: Any) -> pd.DataFrame:
    """The decisions of this step: applied in this run (with what each changed), flagged, or recorded since.

    The static view of every widget: a decision saved after the run shows as ``recorded: applies on
    the next run``.
    """
    frame = getattr(run, "decisions", None)
    frame = pd.DataFrame(columns=COLUMNS) if frame is None else frame
    seen = set(zip(frame["kind"], frame["key"], strict=True)) if len(frame) else set()
    name = run.spec.name
    later = [
        {
            "kind": d.kind,
            "key": d.key,
            "value": str(d.value),
            "author": d.author,
            "time": d.time,
            "reason": d.reason,
            "status": "recorded: applies on the next run",
            "effect": "",
        }
        for d in read_decisions(decisions_path(run.ctx.config)).in_force()
        if d.modality == name and (d.kind, d.key) not in seen
    ]
    out = pd.concat([frame, pd.DataFrame(later, columns=COLUMNS)], ignore_index=True) if later else frame
    return out.astype("string")


def unmapped_values(run: Any) -> pd.DataFrame:
    """Distinct values set to null as outside their field's allowed list: field, value, count, allowed codes."""
    from ..dictionary import fields
    from ..modalities._tabular import INVALID

    bad = run.data.objects.get(INVALID)
    cols = ["field", "value", "count", "allowed"]
    if bad is None or not len(bad) or "value" not in bad.columns:
        return pd.DataFrame(columns=cols)
    bad = bad[bad["kind"] == "allowed"]
    allowed = {f.name: list(f.allowed) for f in fields(run.spec.name) if f.allowed}
    counts = bad.groupby(["field", "value"], dropna=True).size().rename("count").reset_index()
    # the raw values are shown (and keyed in decisions.yaml and the audit trail) only when the cohort's
    # scrubber leaves them as they are: a value holding a name, phone or ID is counted, never shown
    clean = pd.Series(scrubbed_same(run, counts["value"].astype(str).tolist()), index=counts.index, dtype=bool)
    hidden = counts[~clean].groupby("field", as_index=False)["count"].sum().assign(value=HIDDEN)
    counts = pd.concat([counts[clean], hidden], ignore_index=True)
    counts["allowed"] = counts["field"].map(lambda f: ", ".join(allowed.get(f, [])))
    return counts.sort_values(["field", "count"], ascending=[True, False], ignore_index=True)[cols]


def scrubbed_same(run: Any, values: list[str]) -> list[bool]:
    """Per value: whether the cohort's scrubber leaves it as it is (only such a source value is shown, or keyed
    in decisions.yaml and the audit trail); all False without a scrubber."""
    scrubber = getattr(run.ctx, "scrubber", None)
    if not scrubber:
        return [False] * len(values)
    return [a == b for a, b in zip(values, scrubber.scrub_many(values), strict=True)]


def quarantine_table(run: Any) -> pd.DataFrame:
    """Quarantined records (token or pseudonym, reason, detail) with the release decision on each, if any."""
    q = run.quarantine
    if q.empty:
        return q
    name = run.spec.name
    released = {k.split(".", 1)[1]: v for k, v in decided(run, "release", modality=name).items()}
    who = q["pseudonym"].where(q["pseudonym"].fillna("") != "", q["record"])
    out = q.assign(record_key=who)[["record_key", "stage", "reason", "field", "detail"]]
    out["decision"] = out["record_key"].map(released).fillna("")
    return out.astype("string")


def decided(run: Any, kind: str, *, modality: str) -> dict[str, str]:
    """The decisions of ``kind`` in force for ``modality``, per key as ``<value> by <author>``, read afresh from
    decisions.yaml (saved since the run included): what a widget's table shows beside each row."""
    return {
        d.key: f"{d.value} by {d.author}"
        for d in read_decisions(decisions_path(run.ctx.config)).in_force()
        if d.kind == kind and d.modality == modality
    }


def value_in_effect(run: Any, keys: list[str], *, default: Any, cohort: Any = None) -> tuple[Any, str]:
    """A value a widget shows and where it comes from: the decision in force on the first of ``keys`` that has
    one (read afresh from decisions.yaml: saved since the run included), else cohort.yaml's ``cohort`` when it
    differs from the ``default``, else the default; as ``(value, "decision by <author>" | "cohort.yaml" |
    "default")``."""
    by_key = {d.key: d for d in read_decisions(decisions_path(run.ctx.config)).in_force()}
    for k in keys:
        if k in by_key:
            return by_key[k].value, f"decision by {by_key[k].author}"
    if cohort is not None and cohort != default:
        return cohort, "cohort.yaml"
    return default, "default"


def author_fields(w: Any) -> tuple[Any, Any]:
    """The author and reason text boxes every decision widget asks for (``w``: the ipywidgets module)."""
    return (
        w.Text(description="author", placeholder="your name (required)"),
        w.Text(description="reason", placeholder="why (required)", layout=w.Layout(width="60%")),
    )


def show_saved(status: Any, got: list[Decision]) -> None:
    """Tell the curator in ``status`` how many decisions were recorded and what to do next."""
    status.value = f"recorded {len(got)} decision(s) in decisions.yaml beside cohort.yaml; press Apply or re-run"


def save_button(
    run: Any,
    *,
    decisions: Callable[[], list[Mapping[str, Any]]],
    author: Any,
    reason: Any,
    status: Any,
    description: str = "Save decision",
    problems: Callable[[], list[str]] | None = None,
) -> Any:
    """The Save button every decision widget ends with: it refuses while ``problems`` names any or without
    author and reason, else records each of ``decisions()`` (:func:`record`) and says so in ``status``."""
    import ipywidgets as w

    def save(_: Any) -> None:
        bad = problems() if problems else []
        if bad or not author.value.strip() or not reason.value.strip():
            status.value = "<b>not saved</b>: " + ("; ".join(bad) or "give your name and a reason")
            return
        show_saved(status, [record(run, d, author=author.value, reason=reason.value) for d in decisions()])

    button = w.Button(description=description, button_style="primary")
    button.on_click(save)
    return button


def mapping_widget(run: Any) -> Any:
    """Map unmapped values to dictionary codes: one dropdown of allowed codes per distinct value (live kernel)."""
    import ipywidgets as w

    table = unmapped_values(run)
    status = w.HTML()
    if table.empty:
        return w.HTML("no unmapped value in this run")
    rows, picks = [], []
    for r in table.itertuples(index=False):
        if r.value == HIDDEN:  # values that hold identifiers: mapped in cohort.yaml value_maps, not here
            rows.append(w.Label(f"{r.field}: {r.count} {HIDDEN}"))
            continue
        pick = w.Dropdown(options=["(leave unmapped)", *str(r.allowed).split(", ")], layout=w.Layout(width="220px"))
        picks.append((r.field, r.value, pick))
        rows.append(w.HBox([w.Label(f"{r.field}: {r.value!r} ({r.count})", layout=w.Layout(width="360px")), pick]))
    author, reason = author_fields(w)

    def chosen() -> list[Mapping[str, Any]]:
        return [
            {"kind": "map", "key": f"{run.spec.name}.{f}:{v}", "value": p.value}
            for f, v, p in picks
            if p.value != "(leave unmapped)"
        ]

    button = save_button(
        run, decisions=chosen, author=author, reason=reason, status=status, description="Save mappings"
    )
    return w.VBox([*rows, author, reason, button, status])


def quarantine_widget(run: Any) -> Any:
    """Release or confirm a quarantined record with a reason (live kernel)."""
    import ipywidgets as w

    table = quarantine_table(run)
    if table.empty:
        return w.HTML("no quarantined record in this run")
    keys = sorted(set(table["record_key"].dropna()))
    which = w.Dropdown(options=keys, description="record")
    action = w.ToggleButtons(options=["confirm", "release"], description="decision")
    author, reason = author_fields(w)
    status = w.HTML()

    button = save_button(
        run,
        decisions=lambda: [{"kind": "release", "key": f"{run.spec.name}.{which.value}", "value": action.value}],
        author=author,
        reason=reason,
        status=status,
    )
    return w.VBox([which, action, author, reason, button, status])


def check_threshold_widget(run: Any) -> Any:
    """Set a check's warn/fail threshold: the run's checks, values in range only (live kernel)."""
    import ipywidgets as w

    checks = run.checks
    if checks.empty:
        return w.HTML("no check in this run")
    which = w.Dropdown(options=sorted(checks["check_id"]), description="check", layout=w.Layout(width="60%"))
    warn = w.FloatText(description="warn above", step=0.01)
    fail = w.FloatText(description="fail above", step=0.01)
    now, status = w.HTML(), w.HTML()
    author, reason = author_fields(w)

    def load(*_: Any) -> None:
        row = checks.set_index("check_id").loc[which.value]
        warn.value, fail.value = float(row["threshold_warn"]), float(row["threshold_fail"])
        now.value = (
            f"<small>now: {row['verdict']}, {row['n_failed']} of {row['n_checked']} failing "
            f"({row['fail_rate']:.2%})</small>"
        )

    def out_of_order() -> list[str]:
        if 0 <= warn.value <= fail.value <= 1:
            return []
        return [f"expected 0 ≤ warn ≤ fail ≤ 1, got {warn.value:g} and {fail.value:g}"]

    which.observe(load, names="value")
    load()
    button = save_button(
        run,
        decisions=lambda: [
            {"kind": "threshold", "key": which.value, "value": {"warn": warn.value, "fail": fail.value}}
        ],
        author=author,
        reason=reason,
        status=status,
        description="Save threshold",
        problems=out_of_order,
    )
    return w.VBox([which, now, w.HBox([warn, fail]), author, reason, button, status])


def settings_widget(run: Any, settings: Mapping[str, tuple[float, float, float]]) -> Any:
    """Numbers the modality reads from decisions (``{key: (value in effect, low, high)}``); out-of-range refused."""
    import ipywidgets as w

    boxes = {
        k: w.FloatText(value=v, description=k.rsplit(".", 1)[-1], style={"description_width": "140px"})
        for k, (v, _, _) in settings.items()
    }
    author, reason = author_fields(w)
    status = w.HTML()

    def out_of_range() -> list[str]:
        return [
            f"{k}: {b.value:g} outside {settings[k][1]:g}–{settings[k][2]:g}"
            for k, b in boxes.items()
            if not settings[k][1] <= b.value <= settings[k][2]
        ]

    def changed() -> list[Mapping[str, Any]]:
        return [
            {"kind": "setting", "key": k, "value": float(b.value)}
            for k, b in boxes.items()
            if b.value != settings[k][0]
        ]

    button = save_button(
        run,
        decisions=changed,
        author=author,
        reason=reason,
        status=status,
        description="Save settings",
        problems=out_of_range,
    )
    return w.VBox([*boxes.values(), author, reason, button, status])


def exclude_widget(run: Any, items: list[str], *, what: str = "series") -> Any:
    """Accept or exclude items (imaging series, samples) by token, with a reason (live kernel)."""
    import ipywidgets as w

    if not items:
        return w.HTML(f"no {what} in this run")
    which = w.Dropdown(options=items, description=what)
    action = w.ToggleButtons(options=["accept", "exclude"], description="decision")
    author, reason = author_fields(w)
    status = w.HTML()

    button = save_button(
        run,
        decisions=lambda: [{"kind": "exclude", "key": f"{run.spec.name}.{which.value}", "value": action.value}],
        author=author,
        reason=reason,
        status=status,
    )
    return w.VBox([which, action, author, reason, button, status])


def genomics_qc_widget(run: Any) -> Any:
    """Sequencing QC thresholds (mean depth, Q30 %, % of targets at 100x) in effect, to decide (live kernel)."""
    from ..modalities.genomics._qc import qc_limits

    keys = {
        "min_depth": ("sequencing_depth", 0.0, 10000.0),
        "min_q30": ("q30", 0.0, 100.0),
        "min_target_100x": ("target_100x", 0.0, 100.0),
    }
    limits = qc_limits(run.ctx)
    return settings_widget(
        run, {f"genomics.accuracy.{check}.{k}": (limits[k], lo, hi) for k, (check, lo, hi) in keys.items()}
    )
