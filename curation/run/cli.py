"""`curation init DIR` and `curation run cohort.yaml`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

__all__ = ["template_text"]


def template_text() -> str:
    """The fully commented cohort.yaml template shipped with the package."""
    return resources.files("curation").joinpath("templates/cohort.yaml").read_text(encoding="utf-8")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing cohort.yaml")
def init(directory: Path, force: bool) -> int:
    """Write a fully commented cohort.yaml template into DIRECTORY."""
    target = directory / "cohort.yaml"
    if target.exists() and not force:
        msg = f"{target}: already exists; edit it, or pass --force to overwrite it with the template"
        raise click.ClickException(msg)
    from ..io.bundle import write_text

    write_text(target, template_text())
    click.echo(f"wrote {target}")
    click.echo("next: edit sources, sites and secret in it, then run: curation run " + str(target))
    return 0


@click.command()
@click.argument("cohort", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="MODALITY",
    help="run only this step (repeatable): a modality with sources, crossmodal, collection_report; "
    "the steps it needs are read from the bundle as an earlier run left them",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 256),
    default=None,
    help="notebooks run at once (default: executor.jobs of cohort.yaml)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output bundle folder (default: the cohort's output)",
)
@click.option(
    "--operator", default=None, metavar="NAME", help="who runs it, for the bundle's audit trail (default: the OS user)"
)
@click.option(
    "--force",
    is_flag=True,
    help="run every step, even those whose inputs did not change since the previous run "
    "(by default those are reused from the bundle)",
)
@click.option(
    "--executor",
    "executor",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="where notebooks run (default: executor.kind of cohort.yaml): a local process pool, or Dask "
    "distributed (a LocalCluster started for the run unless --scheduler names one)",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="address of a running Dask scheduler (tcp://host:8786); implies --executor dask. Its workers "
    "must see the cohort's inputs and the bundle at the same paths (a shared file system)",
)
def run(
    cohort: Path,
    only: tuple[str, ...],
    jobs: int | None,
    out: Path | None,
    operator: str | None,
    force: bool,
    executor: str | None,
    scheduler: str | None,
) -> int:
    """Execute every notebook of COHORT (a cohort.yaml) and write the output bundle.

    \b
    Exit status:
      0  no check failed
      1  a check failed (or errored)
      2  a configuration error, or a notebook that could not run
      3  not releasable: the leak scan found an identifier in an output (moved
         to OUT.withheld/), could not read an output, or lacked a modality's
         identifiers; see privacy.leak_scan in reports/index.html
    3 wins over 2 and 1; 2 over 1. The bundle is verified at the end (curation
    verify); a bundle that does not verify makes the exit status at least 2.
    """
    from . import run_cohort

    outcome = run_cohort(
        cohort,
        out=out,
        only=list(only) or None,
        jobs=jobs,
        operator=operator,
        force=force,
        executor=executor or ("dask" if scheduler else None),
        scheduler=scheduler,
    )
    return outcome.exit_code
