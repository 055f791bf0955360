"""The per-step files a run keeps under ``quality/`` and merges into one table per kind.

Each step (modality notebook) writes ``quality/<kind>/<step>.parquet``; the runner clears a step's
files before it runs again, drops those of steps the cohort no longer has, and merges the parts
into ``quality/<kind>.parquet`` for the whole run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io.bundle import Bundle

__all__ = ["checks_of", "clear_stale", "drop_foreign", "merge_quality"]

QUALITY_KINDS = ("checks", "checks_by_site", "failures", "quarantine", "ledger", "decisions")
# what one step leaves under quality/<kind>/<step>.parquet: its quality tables, and what it hands
# on to the steps that need it (clinical's diagnosis anchors)
STEP_FILES = (*QUALITY_KINDS, "anchors")


def merge_quality(bundle: Bundle) -> list[Path]:
    """quality/<kind>/*.parquet -> quality/<kind>.parquet, one table per kind for the whole run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for kind in QUALITY_KINDS:
        parts = sorted((bundle.root / "quality" / kind).glob("*.parquet"))
        tables = [pq.read_table(p) for p in parts]
        tables = [t for t in tables if t.num_columns]
        if not tables:
            if kind == "checks":
                from ..quality import results_frame

                written.append(bundle.write_parquet("quality/checks.parquet", results_frame([])))
            continue
        merged = pa.concat_tables(tables, promote_options="permissive")
        written.append(bundle.write_parquet(f"quality/{kind}.parquet", merged.to_pandas()))
    return written


def clear_stale(bundle: Bundle, names: list[str]) -> None:
    """A notebook about to run must not be judged by (nor hand on) a previous run's step files."""
    for name in names:
        for kind in STEP_FILES:
            p = bundle.root / "quality" / kind / f"{name}.parquet"
            if p.is_file():
                p.unlink()


def drop_foreign(bundle: Bundle, members: set[str]) -> None:
    """Step files of a step this cohort no longer has must not be merged into (nor read by) this run."""
    for kind in STEP_FILES:
        for p in (bundle.root / "quality" / kind).glob("*.parquet"):
            if p.stem not in members:
                p.unlink()


def checks_of(bundle: Bundle, name: str) -> pd.DataFrame | None:
    """A step's own checks, None when it wrote none."""
    p = bundle.root / "quality" / "checks" / f"{name}.parquet"
    return pd.read_parquet(p) if p.is_file() else None
