"""Interoperability exports of a curated bundle: FHIR R4 (mCODE), OMOP CDM v5.4, cBioPortal, CELLxGENE.

Each target is one module with an ``export(root, *, to)`` function that reads the bundle's curated
tables only and returns an :class:`~curation.export._common.ExportResult` (files, coverage of code
mappings, counts). :func:`export` runs one by name; ``curation export TARGET BUNDLE`` is its command,
and cohort.yaml ``exports:`` makes a run write them into ``<bundle>/exports/<target>/``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ._common import ExportResult

__all__ = ["TARGETS", "ExportResult", "export", "folder"]

TARGETS = ("fhir", "omop", "cbioportal", "cellxgene")
EXPORTS = "exports"  # folder of the exports inside a bundle


def folder(root: Path, target: str) -> Path:
    """Where a run writes ``target`` inside the bundle at ``root``."""
    return Path(root) / EXPORTS / target


def export(target: str, root: str | Path, *, to: str | Path | None = None, **options: object) -> ExportResult:
    """Export the bundle at ``root`` to ``target`` (one of :data:`TARGETS`).

    Parameters
    ----------
    target
        fhir, omop, cbioportal or cellxgene.
    root
        The curated bundle.
    to
        Output folder; default ``<root>/exports/<target>``.
    options
        Passed to the target's ``export`` (e.g. ``panel_size_mb`` for cbioportal).

    Raises
    ------
    ValueError
        ``target`` is not one of :data:`TARGETS`.
    """
    if target not in TARGETS:
        msg = f"export target {target!r} is not one of {', '.join(TARGETS)}"
        raise ValueError(msg)
    root = Path(root)
    module = importlib.import_module(f"{__name__}.{target}")
    out = Path(to) if to is not None else folder(root, target)
    result: ExportResult = module.export(root, to=out, **options)
    return result
