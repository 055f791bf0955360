"""`curation export TARGET BUNDLE [--to DIR]`: FHIR, OMOP, cBioPortal or CELLxGENE files of a curated bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import TARGETS

__all__ = ["export"]


def _cohort_name(bundle: Path) -> str:
    """The cohort's name from the bundle's run.json (the study / source name of the exports)."""
    try:
        record = json.loads((bundle / "run.json").read_text(encoding="utf-8"))
        return str(record["cohort"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return bundle.name


@click.command("export")
@click.argument("target", type=click.Choice(TARGETS))
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--to",
    "to",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output folder (default BUNDLE/exports/TARGET)",
)
@click.option(
    "--panel-size-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="cbioportal: megabases the sequencing panel covers, for TMB",
)
@click.option(
    "--build",
    type=click.Choice(["GRCh38", "GRCh37"]),
    default="GRCh38",
    show_default=True,
    help="cbioportal: genome build of the variant positions",
)
@click.option(
    "--assay", default="EFO:0009922", show_default=True, help="cellxgene: EFO term of the single-cell assay (10x 3' v3)"
)
def export(target: str, bundle: Path, to: Path | None, panel_size_mb: float | None, build: str, assay: str) -> None:
    """Export the curated BUNDLE to TARGET (fhir, omop, cbioportal or cellxgene).

    Reads the bundle's de-identified tables only. Prints what was written and how many codes map to a
    standard system (the full table is coverage.csv in the output folder). Files written into the
    bundle by this command are not in its manifest: a run with cohort.yaml `exports:` writes them,
    scans them and lists them.
    """
    from . import export as run_export

    name = _cohort_name(bundle)
    options: dict[str, object] = {}
    if target in ("omop", "cbioportal"):
        options["name"] = name
    if target == "cbioportal":
        options.update(panel_size_mb=panel_size_mb, build=build)
    if target == "cellxgene":
        options.update(assay=assay, title=name)
    result = run_export(target, bundle, to=to, **options)
    click.echo(result.summary())
    cov = result.coverage
    for row in cov.itertuples(index=False):
        pct = "-" if row.pct_mapped != row.pct_mapped else f"{row.pct_mapped:.1f} %"
        click.echo(f"  {row.element} [{row.code_system}]: {row.n_mapped}/{row.n_values} mapped ({pct})")
