"""Record links across modalities (crossmodal.yaml ``record_links``): each record of one table that
must, or must not, have a counterpart record of the same patient in another modality's table, matched
on declared key columns, a date within a tolerance and a value that agrees after unit conversion.

One rule, many declarations: a screen-detected cancer has a lung-cancer diagnosis in clinical and a
pathology report; a participant without cancer has no lung-cancer diagnosis; a positive LDCT round
has a CT study in imaging; a screening biomarker has its lab result. Failing records are named by
pseudonym only, and a missing table or column makes the rule not applicable, naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...quality import Outcome, failures
from ._bundle import links
from ._rules import DAY, PATIENT, need, not_applicable

if TYPE_CHECKING:
    from ..base import Context, ModalityData

__all__ = ["record_link", "selected"]


def selected(df: pd.DataFrame, side: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``df`` a side of a rule names: ``where`` (column -> values) and ``prefix``
    (column -> leading texts, ICD-10 C34 for C34.1)."""
    keep = pd.Series(True, index=df.index)
    for col, values in (side.get("where") or {}).items():
        keep &= df[col].astype("string").isin([str(v) for v in values]).fillna(False).astype(bool)
    for col, heads in (side.get("prefix") or {}).items():
        text = df[col].astype("string").str.strip().str.upper()
        hit = pd.Series(False, index=df.index)
        for h in heads:
            hit |= text.str.startswith(str(h).upper()).fillna(False).astype(bool)
        keep &= hit
    return df[keep.to_numpy(dtype=bool)]


def _columns(side: dict[str, Any], own: list[str]) -> list[str]:
    return list(dict.fromkeys([PATIENT, *own, *(side.get("where") or {}), *(side.get("prefix") or {})]))


def _converted(values: pd.Series, units: pd.Series, to: pd.Series) -> pd.Series:
    """``values`` in ``units`` expressed in the ``to`` units (pint, lab_units.yaml aliases); NaN where
    the units cannot be converted."""
    from .._lab_units import unit_factor

    pairs = {(str(u), str(t)) for u, t in zip(units, to, strict=True) if pd.notna(u) and pd.notna(t)}
    factor = {p: unit_factor(*p) for p in pairs}
    f = [factor.get((str(u), str(t))) if pd.notna(u) and pd.notna(t) else None for u, t in zip(units, to, strict=True)]
    return pd.to_numeric(values, errors="coerce") * pd.to_numeric(pd.Series(f, index=values.index, dtype="object"))


def _name(side: dict[str, Any]) -> str:
    t = links()["tables"][side["table"]]
    stem = Path(t["table"]).stem
    return str(t["modality"]) if stem == t["modality"] else f"{t['modality']} {stem}"


def _kind(side: dict[str, Any]) -> str:
    """The rows a side selects, in words: `` with icd10 C34…`` (empty when it selects every row)."""
    parts = [f"{c} {'/'.join(map(str, v))}" for c, v in (side.get("where") or {}).items()]
    parts += [f"{c} {'/'.join(f'{h}…' for h in v)}" for c, v in (side.get("prefix") or {}).items()]
    return f" with {', '.join(parts)}" if parts else ""


def record_link(key: str) -> Callable[[ModalityData, Context], Outcome]:
    """The check of one ``record_links`` rule of crossmodal.yaml."""

    def check(data: ModalityData, ctx: Context) -> Outcome:
        rule = links()["record_links"][key]
        rec, cp = rule["records"], rule["counterpart"]
        keys: dict[str, str] = rule.get("keys") or {}
        date: dict[str, Any] = rule.get("date") or {}
        value: dict[str, Any] = rule.get("value") or {}
        r_own = [
            *keys,
            *([date["records"]] if date else []),
            *([value["records"], value["records_unit"]] if value else []),
        ]
        c_own = [
            *keys.values(),
            *([date["counterpart"]] if date else []),
            *([value["counterpart"], value["counterpart_unit"]] if value else []),
        ]
        rdf, why_r = need(data, rec["table"], _columns(rec, r_own))
        cdf, why_c = need(data, cp["table"], _columns(cp, c_own))
        if rdf is None or cdf is None:
            return not_applicable(why_r, why_c)
        rdf = selected(rdf.dropna(subset=[PATIENT]), rec)
        cdf = selected(cdf.dropna(subset=[PATIENT]), cp)
        on = [PATIENT, *keys]
        left = rdf.assign(**{PATIENT: rdf[PATIENT].astype(str)}, _rec=np.arange(len(rdf)))
        right = cdf.rename(columns={v: k for k, v in keys.items()})[
            [*on, *(c for c in c_own if c not in keys.values())]
        ]
        right = right.assign(**{PATIENT: right[PATIENT].astype(str)})
        if rule.get("scope") == "counterpart":  # judged only where the counterpart holds the patient (and keys)
            held = right[on].drop_duplicates()
            left = left.merge(held, on=on, how="inner").sort_values("_rec")
        if not len(left):
            return not_applicable(f"no {rule.get('items', 'record')} to compare in {_name(rec)} and {_name(cp)}")
        pairs = left[[*on, "_rec", *r_own[len(keys) :]]].merge(right, on=on, how="inner", suffixes=("", "_cp"))
        ok = pd.Series(True, index=pairs.index)
        tol = float(date.get("tolerance_days", 0)) if date else 0.0
        if date:
            days = (
                pd.to_datetime(pairs[date["counterpart"] + ("_cp" if date["counterpart"] == date["records"] else "")])
                - pd.to_datetime(pairs[date["records"]])
            ) / DAY
            pairs["_days"] = days
            ok &= (days.abs() <= tol).fillna(False).astype(bool)
        rel = float(value.get("relative_tolerance", 0)) if value else 0.0
        if value:
            conv = _converted(pairs[value["records"]], pairs[value["records_unit"]], pairs[value["counterpart_unit"]])
            lab = pd.to_numeric(pairs[value["counterpart"]], errors="coerce")
            pairs["_conv"], pairs["_lab"] = conv, lab
            ok &= ((conv - lab).abs() <= rel * np.maximum(conv.abs(), lab.abs())).fillna(False).astype(bool)
        matched = np.zeros(len(left), dtype=bool)
        hit = pairs.loc[ok.to_numpy(dtype=bool), "_rec"].unique()
        matched[left["_rec"].searchsorted(hit)] = True
        # a record whose candidates all lack a date (or that lacks its own) cannot be compared: not judged
        # (dates.mode relative: a lab result of a patient without a diagnosis anchor has no calendar date)
        undated = np.zeros(len(left), dtype=bool)
        if date:
            dated = pairs.loc[pairs["_days"].notna(), "_rec"].unique()
            undated = (left["_rec"].isin(pairs["_rec"]) & ~left["_rec"].isin(dated)).to_numpy(dtype=bool)
        absent = rule.get("expect", "present") == "absent"
        bad = (matched if absent else ~matched) & ~undated
        fail = left[bad]
        cp_name, r_mod = _name(cp) + _kind(cp), links()["tables"][rec["table"]]["modality"]
        rules = [_why(absent, cp_name, pairs[pairs["_rec"] == i], date, value, tol, rel) for i in fail["_rec"]]
        # the field to blame: the date compared, else the value, else what selected the records (outcome)
        blame = [*([date["records"]] if date else []), *([value["records"]] if value else []), *_columns(rec, [])[1:]]
        field = f"{r_mod}.{blame[0] if blame else PATIENT}"
        n, what, items = int((~undated).sum()), rule.get("description", key), rule.get("items", "records")
        aside = f"; {int(undated.sum())} not compared (no date on one side)" if undated.any() else ""
        if not n:
            return not_applicable(f"no dated {items} to compare in {_name(rec)} and {_name(cp)}{aside}")
        return Outcome(
            n,
            failures=failures(fail, field=field, rule=rules),
            message=f"{len(fail)} of {n} {items} break the link: {what}{aside}",
        )

    return check


def _why(
    absent: bool, cp_name: str, pairs: pd.DataFrame, date: dict[str, Any], value: dict[str, Any], tol: float, rel: float
) -> str:
    """What a failing record's nearest counterpart says (dates as day differences, never as dates)."""
    if absent:
        return f"has a record in {cp_name} it must not have"
    if not len(pairs):
        return f"no record of the patient in {cp_name}"
    if date:
        d = pairs["_days"].abs()
        if not (d <= tol).any():
            near = d.min()
            gap = "no dated record" if pd.isna(near) else f"the nearest is {near:.0f} days away"
            return f"no record in {cp_name} within {tol:g} days ({gap})"
        pairs = pairs[(d <= tol).to_numpy(dtype=bool)]
    if value:
        p = pairs.iloc[0]
        if pd.isna(p["_conv"]):
            return f"{p[value['records_unit']]} does not convert to {p[value['counterpart_unit']]}"
        return (
            f"{p['_conv']:g} {p[value['counterpart_unit']]} (after unit conversion) against {p['_lab']:g} in "
            f"{cp_name} (tolerance {rel:.0%})"
        )
    return f"no matching record in {cp_name}"
