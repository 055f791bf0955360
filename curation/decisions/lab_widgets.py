"""Lab decision widgets: per-analyte plausible ranges and unit mappings.

A range decision (``setting lab.plausibility.range.<analyte>.low|high``) replaces that bound of
lab_units.yaml's plausible range for the batch run (:func:`curation.modalities._lab_ranges.plausible_ranges`,
read where implausible results are nulled); a unit mapping (``map lab.unit:<raw unit>`` = a known unit)
is a value map of the unit field, applied where the sources are read, so the result converts to the
analyte's canonical unit. Both save through :func:`~curation.decisions.widgets.save_button` (author and
reason required); the tables are the static views.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .widgets import HIDDEN, author_fields, save_button, scrubbed_same, value_in_effect

__all__ = ["EXTRA_UNITS", "known_units", "range_widget", "ranges_table", "unit_table", "unit_widget"]

# units a curator may pick beside the analytes' canonical units and lab_units.yaml's aliases
EXTRA_UNITS = ("ng/mL", "ug/L", "pg/mL", "ng/L", "mg/L", "U/mL", "kU/L", "U/L", "IU/mL", "mIU/mL")
LEAVE = "(leave unmapped)"


def _rule(run: Any) -> tuple[pd.DataFrame, str, str]:
    from ..modalities import lab

    return run.data.tables.get(lab.TABLE, pd.DataFrame()), lab._UNIT_RULE, lab.IMPLAUSIBLE


def ranges_table(run: Any) -> pd.DataFrame:
    """Per analyte: canonical unit, the plausible range in effect and where each bound comes from (lab_units.yaml
    or a decision, saved since the run included), results in this run and how many fell outside the range."""
    from ..modalities._lab_ranges import range_key
    from ..modalities._lab_units import units

    df, _, implausible = _rule(run)
    rows = []
    for name, a in units().analytes.items():
        row: dict[str, Any] = {"analyte": name, "unit": a.unit}
        for i, bound in enumerate(("low", "high")):
            value, source = value_in_effect(run, [range_key(name, bound)], default=a.plausible[i])
            row[bound], row[f"{bound} from"] = value, source.replace("default", "lab_units.yaml")
        mine = df["analyte"] == name if "analyte" in df else pd.Series(dtype=bool)
        row["results"] = int(mine.fillna(False).sum())
        row["outside"] = int((mine & df[implausible].notna()).fillna(False).sum()) if implausible in df else 0
        rows.append(row)
    return pd.DataFrame(rows)


def range_widget(run: Any) -> Any:
    """An analyte's plausible range (canonical unit) with each bound's source; set low < high with author and
    reason (live kernel). The next run nulls and counts results outside the range decided."""
    import ipywidgets as w

    from ..modalities._lab_ranges import range_key

    table = ranges_table(run).set_index("analyte")
    which = w.Dropdown(options=list(table.index), description="analyte")
    boxes = {b: w.FloatText(description=b, style={"description_width": "60px"}) for b in ("low", "high")}
    sources = {b: w.HTML() for b in boxes}
    author, reason = author_fields(w)
    status = w.HTML()
    loaded: dict[str, float] = {}

    def load(*_: Any) -> None:
        now = ranges_table(run).set_index("analyte").loc[which.value]
        for b, box in boxes.items():
            box.value = loaded[b] = float(now[b]) if pd.notna(now[b]) else 0.0
            sources[b].value = f"<small>{now[f'{b} from']} ({now['unit']})</small>"

    def problems() -> list[str]:
        lo, hi = boxes["low"].value, boxes["high"].value
        return [] if 0 <= lo < hi else [f"expected 0 ≤ low < high, got {lo:g} and {hi:g}"]

    def changed() -> list[Mapping[str, Any]]:
        return [
            {"kind": "setting", "key": range_key(which.value, b), "value": float(box.value)}
            for b, box in boxes.items()
            if box.value != loaded.get(b)
        ]

    which.observe(load, names="value")
    load()
    button = save_button(
        run, decisions=changed, author=author, reason=reason, status=status, description="Save range", problems=problems
    )
    return w.VBox([which, *(w.HBox([boxes[b], sources[b]]) for b in boxes), author, reason, button, status])


def known_units(canonical: str) -> list[tuple[str, float]]:
    """Units a curator may map a raw unit to for an analyte in ``canonical``, with the factor to it."""
    from ..modalities._lab_units import unit_factor, units

    table = units()
    pool = {a.unit for a in table.analytes.values()} | set(table.aliases.values()) | set(EXTRA_UNITS)
    got = [(u, unit_factor(u, canonical)) for u in sorted(pool)]
    return [(u, f) for u, f in got if f is not None]


def unit_table(run: Any) -> pd.DataFrame:
    """Units that are not units of their analyte: analyte, raw unit, results, canonical unit and the known units
    with their factor. A raw unit the cohort's scrubber would change (it may hold an identifier) is counted,
    never shown."""
    from ..modalities._lab_units import units

    df, rule, _ = _rule(run)
    cols = ["analyte", "unit", "count", "canonical", "known"]
    if df.empty or rule not in df:
        return pd.DataFrame(columns=cols)
    bad = df[df[rule].fillna("").str.startswith("unit ")]
    counts = bad.groupby(["analyte", "unit"], dropna=True).size().rename("count").reset_index()
    same = pd.Series(scrubbed_same(run, counts["unit"].astype(str).tolist()), index=counts.index, dtype=bool)
    hidden = counts[~same].groupby("analyte", as_index=False)["count"].sum().assign(unit=HIDDEN)
    counts = pd.concat([counts[same], hidden], ignore_index=True) if len(hidden) else counts[same]
    canon = {a: x.unit for a, x in units().analytes.items()}
    counts["canonical"] = counts["analyte"].map(canon)
    counts["known"] = counts["canonical"].map(lambda c: ", ".join(f"{u} (×{f:g})" for u, f in known_units(str(c))))
    return counts[cols].sort_values(["analyte", "count"], ascending=[True, False], ignore_index=True)


def unit_widget(run: Any) -> Any:
    """Map each unit that is not a unit of its analyte to a known unit (dropdown with the factor to the analyte's
    canonical unit), with author and reason (live kernel). A mapping applies to that raw unit in every row."""
    import ipywidgets as w

    table = unit_table(run)
    if table.empty:
        return w.HTML("no unit outside its analyte's units in this run")
    rows, picks = [], []
    for r in table.itertuples(index=False):
        if r.unit == HIDDEN:
            rows.append(w.Label(f"{r.analyte}: {r.count} {HIDDEN}"))
            continue
        options = [(LEAVE, LEAVE)] + [(f"{u} (×{f:g} → {r.canonical})", u) for u, f in known_units(str(r.canonical))]
        pick = w.Dropdown(options=options, layout=w.Layout(width="260px"))
        picks.append((str(r.unit), pick))
        rows.append(w.HBox([w.Label(f"{r.analyte}: {r.unit!r} ({r.count})", layout=w.Layout(width="300px")), pick]))
    author, reason = author_fields(w)
    status = w.HTML()

    def chosen() -> list[Mapping[str, Any]]:
        return [{"kind": "map", "key": f"lab.unit:{raw}", "value": p.value} for raw, p in picks if p.value != LEAVE]

    button = save_button(
        run, decisions=chosen, author=author, reason=reason, status=status, description="Save unit mappings"
    )
    return w.VBox([*rows, author, reason, button, status])
