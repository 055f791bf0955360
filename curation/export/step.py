"""The exports as a cohort step: cohort.yaml ``exports:`` makes a run write them into the bundle.

Like the cross-modality step it takes no sources (``SPEC.stage == "cohort"``) and reads what the
modalities wrote; it needs every modality whose tables it exports, so the runner plans it after them
(and the collection report, which needs every step, after it). It judges nothing (no check, no
record moved): it writes ``exports/<target>/`` for each target of ``exports.targets`` and shows each
target's coverage table. The end-of-run leak scan covers these files like every other output, and the
manifest and datapackage.json list them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..modalities.base import Context, ModalityData, ModalitySpec, Source

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from ..quality import CheckResult

__all__ = ["SPEC", "checks", "coverage", "figures", "identifiers", "load", "standardize", "summary", "write"]

NAME = "exports"
SPEC = ModalitySpec(
    name=NAME,
    label="Exports",
    formats=(),
    notebook="exports.ipynb",
    order=95,
    stage="cohort",
    needs=("clinical", "pathology", "exposure", "lab", "genomics", "imaging", "immune"),
    outputs=("ndjson", "json", "parquet", "csv", "txt", "h5ad"),
    description="FHIR R4 (mCODE), OMOP CDM v5.4, cBioPortal and CELLxGENE exports of the curated bundle",
)
RESULTS = "results"  # data.objects key: target -> ExportResult


def identifiers(sources: list[Source[Any]], *, ctx: Context) -> IdentifierRegistry:
    """None: this step reads the de-identified bundle, never raw exports."""
    from ..deid.registry import IdentifierRegistry

    return IdentifierRegistry()


def load(sources: list[Source[Any]], *, ctx: Context) -> ModalityData:
    """The targets cohort.yaml asks for; the tables are read by each export itself."""
    data = ModalityData(NAME)
    data.objects["targets"] = list(ctx.config.exports.targets)
    data.objects[RESULTS] = {}
    return data


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Nothing to de-identify: the inputs are the bundle's curated tables."""
    data.standardized = True
    return data


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """None: an export restates the curated tables (its validation is in the tests)."""
    return []


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """None: the coverage tables are shown as tables."""
    return {}


def _options(target: str, ctx: Context) -> dict[str, Any]:
    cfg = ctx.config
    if target == "omop":
        return {"name": cfg.cohort.name}
    if target == "cbioportal":
        refs = [src.options.get("reference") for src in cfg.sources.get("genomics", [])]
        build = next((r for r in refs if r), "GRCh38")
        return {"name": cfg.cohort.name, "panel_size_mb": cfg.exports.panel_size_mb, "build": build}
    if target == "cellxgene":
        return {"assay": cfg.exports.assay, "title": cfg.cohort.name}
    return {}


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """``exports/<target>/`` for every target of ``exports.targets`` (cellxgene only with immune.h5ad)."""
    from . import export, folder

    root = ctx.bundle.root
    written: list[Path] = []
    for target in data.objects["targets"]:
        if target == "cellxgene" and not (root / "data" / "immune" / "immune.h5ad").is_file():
            continue  # a cohort without single-cell data has nothing to export there
        result = export(target, root, to=folder(root, target), **_options(target, ctx))
        data.objects[RESULTS][target] = result
        written += [result.folder / f for f in result.files]
    return written


def coverage(data: ModalityData) -> pd.DataFrame:
    """Every target's coverage table (codes mapped vs unmapped per element), for the notebook."""
    frames = [r.coverage for r in data.objects.get(RESULTS, {}).values() if len(r.coverage)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summary(data: ModalityData) -> pd.DataFrame:
    """One row per target: folder, files, counts (what was exported)."""
    rows = [
        {"target": t, "files": len(r.files), **{f"n_{k}": v for k, v in r.counts.items()}}
        for t, r in data.objects.get(RESULTS, {}).items()
    ]
    return pd.DataFrame(rows)
