"""Nodule reads: Lung-RADS category per nodule and agreement between two readers (Cohen's kappa).

The CSV (source option ``nodules``) has one row per nodule and reader with columns
``patient`` (admission number), ``series`` (SeriesInstanceUID), ``location``, ``diameter_mm``,
``type`` (solid | part-solid | ground-glass), ``reader``, and optionally ``solid_component_mm``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...errors import SourceError
from ...quality import Outcome, failures

if TYPE_CHECKING:
    from ...deid.keys import Keyring
    from ...quality import Quarantine
    from ..base import Context, ModalityData

REQUIRED = ("patient", "series", "location", "diameter_mm", "type", "reader")
TYPES = {
    "solid": "solid",
    "part-solid": "part-solid",
    "part_solid": "part-solid",
    "partsolid": "part-solid",
    "ground-glass": "ground-glass",
    "ground_glass": "ground-glass",
    "ggn": "ground-glass",
    "ggo": "ground-glass",
    "non-solid": "ground-glass",
}
CATEGORY_ORDER = ["2", "3", "4A", "4B"]
AGREEMENT = "consistency.reader_agreement"  # the reader-agreement check's id (declared in the package with it)
ADJUDICATED = "lung_rads_adjudicated"  # a curator's category where the readers disagree (decisions; else absent)


def lung_rads(diameter_mm: float, kind: str, solid_component_mm: float | None = None) -> str | None:
    """Lung-RADS v2022 category of a baseline screening nodule (mean diameter in mm).

    Part-solid nodules need the solid component for 4A/4B; without it a part-solid nodule of
    6 mm or more is category 3 (the lowest category its size allows).
    """
    if diameter_mm is None or math.isnan(diameter_mm) or diameter_mm < 0:
        return None
    if kind == "solid":
        return "2" if diameter_mm < 6 else "3" if diameter_mm < 8 else "4A" if diameter_mm < 15 else "4B"
    if kind == "part-solid":
        if diameter_mm < 6:
            return "2"
        solid = solid_component_mm if solid_component_mm is not None and not math.isnan(solid_component_mm) else 0.0
        return "3" if solid < 6 else "4A" if solid < 8 else "4B"
    if kind == "ground-glass":
        return "2" if diameter_mm < 30 else "3"
    return None


def cohen_kappa(a: list[Any], b: list[Any]) -> float:
    """Cohen's kappa of two raters' labels for the same items (nan when undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return float("nan")
    labels = sorted(set(a) | set(b), key=str)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum((a.count(k) / n) * (b.count(k) / n) for k in labels)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)


def read_nodules(path: Path, *, site: str, source: str, keyring: Keyring, quarantine: Quarantine) -> pd.DataFrame:
    """Read and pseudonymize a nodule CSV; rows that do not parse go to quarantine."""
    if not path.is_file():
        msg = f"{source}: options.nodules: file {path.name!r} does not exist; fix the path (relative to cohort.yaml)"
        raise SourceError(msg)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        msg = (
            f"{source}: nodules file {path.name!r} lacks column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)}"
        )
        raise SourceError(msg)
    file_token = keyring.token("file", path.name)
    rows = []
    for i, r in raw.iterrows():
        patient = keyring.patient(r["patient"], site=site) if r["patient"].strip() else ""
        kind = TYPES.get(r["type"].strip().lower())
        try:
            diam = float(r["diameter_mm"])
        except ValueError:
            diam = float("nan")
        solid = pd.to_numeric(r.get("solid_component_mm", ""), errors="coerce")
        line = int(i) + 2  # header is line 1
        if not patient or kind is None or math.isnan(diam):
            field = "patient" if not patient else "type" if kind is None else "diameter_mm"
            quarantine.add(
                stage="nodules",
                source=source,
                record=f"{file_token}:{line}",
                reason="invalid_value",
                field=field,
                pseudonym=patient,
                detail=f"line {line}: {field} missing or not allowed",
            )
            continue
        rows.append(
            {
                "patient": patient,
                "site": site,
                "series_uid": keyring.uid(r["series"]) if r["series"] else "",
                "location": r["location"].strip().upper(),
                "diameter_mm": diam,
                "type": kind,
                "solid_component_mm": float(solid) if pd.notna(solid) else float("nan"),
                "reader": keyring.token("reader", r["reader"]),
                "line": line,
                "lung_rads": lung_rads(diam, kind, float(solid) if pd.notna(solid) else None),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "patient",
            "site",
            "series_uid",
            "location",
            "diameter_mm",
            "type",
            "solid_component_mm",
            "reader",
            "line",
            "lung_rads",
        ],
    )


def reader_pairs(nod: pd.DataFrame) -> pd.DataFrame:
    """Nodules read by exactly two readers: one row per nodule with both categories (and the curator's
    adjudicated one, empty without a decision)."""
    keys = ["patient", "series_uid", "location"]
    if nod.empty:
        return pd.DataFrame(columns=[*keys, "category_a", "category_b", ADJUDICATED])
    g = nod.sort_values([*keys, "reader"]).groupby(keys)
    out = []
    for key, grp in g:
        if grp["reader"].nunique() != 2:
            continue
        first = grp.drop_duplicates("reader")
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "category_a": first["lung_rads"].iloc[0],
                "category_b": first["lung_rads"].iloc[1],
                ADJUDICATED: _adjudicated(grp),
            }
        )
    return pd.DataFrame(out, columns=[*keys, "category_a", "category_b", ADJUDICATED])


def _adjudicated(reads: pd.DataFrame) -> str:
    """The category a curator adjudicated for one nodule's reads, "" without a decision."""
    got = reads[ADJUDICATED].dropna() if ADJUDICATED in reads.columns else pd.Series(dtype="string")
    return str(got.iloc[0]) if len(got) else ""


def reader_agreement(nod: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Cohen's kappa of the Lung-RADS categories of the two readers, and the paired table."""
    pairs = reader_pairs(nod)
    return cohen_kappa(list(pairs["category_a"]), list(pairs["category_b"])), pairs


def check_agreement(data: ModalityData, ctx: Context) -> Outcome:
    """Lung-RADS categories of nodules read twice that the readers disagree on, with Cohen's kappa."""
    kappa, pairs = reader_agreement(data.tables["nodules"])
    differ = pairs["category_a"] != pairs["category_b"]
    settled = differ & (pairs[ADJUDICATED] != "")  # adjudicated by a curator (decisions): no longer open
    bad = pairs[differ & ~settled]
    done = f", {int(settled.sum())} adjudicated by a curator" if settled.any() else ""
    return Outcome(
        len(pairs),
        failures=failures(
            bad,
            row=bad.index,
            field="lung_rads",
            rule=[f"readers disagree: {a} vs {b}" for a, b in zip(bad["category_a"], bad["category_b"], strict=True)],
        ),
        message=f"Cohen's kappa {kappa:.2f} over {len(pairs)} nodules read twice; {len(bad)} Lung-RADS "
        f"disagreements{' open' if done else ''}{done}",
    )
