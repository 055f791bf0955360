"""What the cross-modality step reads: crossmodal.yaml, and the bundle tables it names, with their
dates as calendar dates (shifted) in both date modes."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ...io.dates import day_span

__all__ = ["drivers", "links", "read", "read_table", "tables_needed"]

PATIENT = "patient"


@cache
def links() -> dict[str, Any]:
    """crossmodal.yaml: the reference table, per modality the table that links it, the tables and rules."""
    text = resources.files("curation.dictionary").joinpath("crossmodal.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


@cache
def drivers() -> dict[str, str]:
    """Driver name -> gene, from genomics_drivers.yaml (EGFR_L858R -> EGFR)."""
    text = resources.files("curation.dictionary").joinpath("genomics_drivers.yaml").read_text(encoding="utf-8")
    return {name: str(d.get("gene", "")) for name, d in (yaml.safe_load(text).get("drivers") or {}).items()}


def tables_needed() -> list[str]:
    """Every modality whose outputs crossmodal.yaml names, the reference first."""
    spec = links()
    names = [
        spec["reference"]["modality"],
        *(lk["modality"] for lk in spec["links"]),
        *(t["modality"] for t in spec.get("tables", {}).values()),
    ]
    return list(dict.fromkeys(names))


def read(bundle_root: Path, rel: str, columns: list[str]) -> pd.DataFrame | None:
    """The columns of one bundle table; None when the table or one of the columns is absent."""
    path = bundle_root / rel
    if not path.is_file():
        return None
    if any(c not in _names(path) for c in columns):
        return None
    return pd.read_parquet(path, columns=columns)


def _names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _dates(df: pd.DataFrame, column: str, anchors: pd.Series | None) -> pd.Series | None:
    """A date column as datetime64: as written (dates.mode shift), or the patient's diagnosis date plus
    ``<column>_days`` (relative); None when the table has neither."""
    if column in df.columns:
        return pd.to_datetime(df[column], errors="coerce")
    days = f"{column}_days"
    if days in df.columns and PATIENT in df.columns:
        base = (
            pd.to_datetime(df[PATIENT].astype(str).map(anchors), errors="coerce")
            if anchors is not None
            else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
        )
        return base + day_span(df[days])
    return None


def _anchors(bundle_root: Path, anchor: dict[str, str]) -> pd.Series | None:
    """patient -> the (shifted) date a table's ``_days`` count from; None when the bundle has none."""
    df = read(bundle_root, anchor["table"], [PATIENT, anchor["column"]])
    if df is None:
        return None
    df = df.dropna().groupby(PATIENT)[anchor["column"]].min()
    return pd.Series(pd.to_datetime(df).to_numpy(), index=df.index.astype(str))


def read_table(bundle_root: Path, name: str, anchors: pd.Series | None) -> pd.DataFrame | None:
    """A table of crossmodal.yaml ``tables``: the columns it names that the bundle has, its dates as
    calendar dates, and ``_line`` (its row); None when the step did not write it. A table that
    declares an ``anchor`` (screening: days since enrolment) counts its ``_days`` from that date."""
    t = links()["tables"][name]
    path = bundle_root / t["table"]
    if not path.is_file():
        return None
    if t.get("anchor"):
        anchors = _anchors(bundle_root, t["anchor"])
    have = _names(path)
    # only the columns the rules read (a variants table can hold millions of rows)
    wanted = [*t.get("columns", []), *t.get("dates", []), *(f"{d}_days" for d in t.get("dates", []))]
    df = pd.read_parquet(path, columns=[c for c in dict.fromkeys(wanted) if c in have])
    out = df[[c for c in t.get("columns", []) if c in df.columns]].copy()
    for col in t.get("dates", []):
        s = _dates(df, col, anchors)
        if s is not None:
            out[col] = s
    out["_line"] = range(len(out))
    return out
