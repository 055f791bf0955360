"""What every export shares: the curated tables read from the bundle, dates, the code table, coverage.

Exports read the bundle only (never raw sources): the de-identified Parquet tables, the diagnosis
anchors and immune.h5ad. In ``dates.mode: relative`` a date column ``x`` is written as ``x_days``
(days since the patient's diagnosis); :func:`dates` turns it back into the shifted date through the
anchors (``quality/anchors/clinical.parquet``), so every target gets calendar dates that are the
bundle's own (shifted), never the hospital's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..io.dates import day_span

__all__ = ["COVERAGE_FILE", "Coverage", "ExportResult", "codes", "dates", "read_table", "tables"]

COVERAGE_FILE = "coverage.csv"
ANCHORS = "quality/anchors/clinical.parquet"
PATIENT = "patient"


@cache
def codes() -> dict[str, Any]:
    """``dictionary/export_codes.yaml``: code systems, profiles, and the bundled code mappings."""
    text = resources.files("curation.dictionary").joinpath("export_codes.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def read_table(root: Path, rel: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """``data/<rel>.parquet`` of the bundle, or an empty frame when that step did not run."""
    path = root / "data" / f"{rel}.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=columns or [])
    df = pd.read_parquet(path)
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    return df


# every curated table an export may read, by modality/table
TABLES = (
    "clinical/patients",
    "clinical/conditions",
    "clinical/staging",
    "clinical/treatments",
    "clinical/outcomes",
    "pathology/pathology",
    "exposure/exposure",
    "lab/results",
    "genomics/samples",
    "genomics/variants",
    "imaging/series",
)


def tables(root: Path) -> dict[str, pd.DataFrame]:
    """Every curated table of :data:`TABLES` (empty frames for steps that did not run)."""
    return {rel: read_table(root, rel) for rel in TABLES}


def anchors(root: Path) -> pd.Series:
    """Patient pseudonym -> diagnosis date (shifted), which relative day counts count from."""
    path = root / ANCHORS
    if not path.is_file():
        return pd.Series(dtype="datetime64[ns]")
    df = pd.read_parquet(path)
    return pd.to_datetime(df.set_index(PATIENT)["diagnosis_date"], errors="coerce")


def dates(df: pd.DataFrame, column: str, anchor: pd.Series) -> pd.Series:
    """The dates of ``column`` as ``datetime64``: the column itself (``dates.mode: shift``) or, when the
    bundle holds ``<column>_days`` (``relative``), the patient's anchor plus those days; NaT when neither."""
    if column in df.columns:
        return pd.to_datetime(df[column], errors="coerce")
    days = f"{column}_days"
    if days in df.columns and PATIENT in df.columns:
        base = pd.to_datetime(df[PATIENT].map(anchor), errors="coerce")
        return base + day_span(df[days])
    return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")


@dataclass
class Coverage:
    """Codes mapped vs left unmapped, per exported element: one row per (element, code system)."""

    target: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, element: str, system: str, mapped: pd.Series | int, *, total: int | None = None) -> None:
        """Record ``element``: ``mapped`` is a boolean Series over its values (or a count with ``total``)."""
        if isinstance(mapped, pd.Series):
            n, k = len(mapped), int(mapped.fillna(False).astype(bool).sum())
        else:
            n, k = int(total or 0), int(mapped)
        self.rows.append(
            {
                "target": self.target,
                "element": element,
                "code_system": system,
                "n_values": n,
                "n_mapped": k,
                "n_unmapped": n - k,
                "pct_mapped": round(100.0 * k / n, 1) if n else None,
            }
        )

    def frame(self) -> pd.DataFrame:
        """One row per (element, code system), chunks summed, in the order first seen."""
        cols = ["target", "element", "code_system", "n_values", "n_mapped", "n_unmapped", "pct_mapped"]
        df = pd.DataFrame(self.rows, columns=cols)
        if df.empty:
            return df
        keys = ["target", "element", "code_system"]
        out = df.groupby(keys, sort=False, as_index=False)[["n_values", "n_mapped", "n_unmapped"]].sum()
        pct = (100.0 * out["n_mapped"] / out["n_values"].where(out["n_values"] > 0)).round(1)
        out["pct_mapped"] = pct.astype("float64")
        return out[cols]

    def csv(self) -> str:
        buf = io.StringIO()
        self.frame().to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        return buf.getvalue()


@dataclass
class ExportResult:
    """What an export wrote: files (relative to its folder), coverage, and counts per exported kind."""

    target: str
    folder: Path
    files: list[str]
    coverage: pd.DataFrame
    counts: dict[str, int]

    def summary(self) -> str:
        mapped = int(self.coverage["n_mapped"].sum()) if len(self.coverage) else 0
        total = int(self.coverage["n_values"].sum()) if len(self.coverage) else 0
        kinds = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return f"{self.target}: {len(self.files)} file(s) in {self.folder} ({kinds}); codes mapped {mapped}/{total}"
