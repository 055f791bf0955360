"""`curation demo` (generate the demo cohort and run it) and `curation demo generate` (generate only)."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["demo", "generate_cmd"]

_out = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-cohort"),
    show_default=True,
    help="folder to write the demo cohort into",
)
_patients = click.option(
    "--patients",
    type=click.IntRange(30, 100_000),
    default=120,
    show_default=True,
    help="number of synthetic patients (spread over sites A, B and C)",
)
_seed = click.option("--seed", type=int, default=7, show_default=True, help="random seed: same seed, same bytes")


def _generate(out: Path, patients: int, seed: int) -> Path:
    from . import generate

    t0 = time.perf_counter()
    cohort = generate(out, patients=patients, seed=seed)
    click.echo(f"generated {patients} patients (seed {seed}) in {time.perf_counter() - t0:.1f} s: {cohort}")
    click.echo(f"planted defects: {out / 'defects.json'}; identifiers for the leak scan: {out / 'identifiers.txt'}")
    click.echo(f"this demo uses a generated DEMO key ({out / 'keys' / 'demo.key'}); never use it for real data")
    return cohort


@click.group(invoke_without_command=True)
@_out
@_patients
@_seed
@click.pass_context
def demo(ctx: click.Context, out: Path, patients: int, seed: int) -> int | None:
    """Generate the synthetic three-site demo cohort and run it (exit status of the run).

    `curation demo generate` writes the cohort without running it.
    """
    if ctx.invoked_subcommand is not None:
        return None
    cohort = _generate(out, patients, seed)
    from ..run import run_cohort

    outcome = run_cohort(cohort)
    click.echo(f"report: {outcome.index_html}")
    return outcome.exit_code


@demo.command("generate")
@_out
@_patients
@_seed
def generate_cmd(out: Path, patients: int, seed: int) -> int:
    """Write the demo cohort (raw exports, cohort.yaml, defects.json, identifiers.txt) into --out."""
    cohort = _generate(out, patients, seed)
    click.echo(f"next: curation run {cohort}")
    return 0
