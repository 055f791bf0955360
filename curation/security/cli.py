"""`curation verify BUNDLE`, `curation history BUNDLE`."""

from __future__ import annotations

from pathlib import Path

import click

_bundle = click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))


@click.command()
@_bundle
def verify(bundle: Path) -> int:
    """Check BUNDLE: every file against manifest-sha256.txt, no file outside it, datapackage.json and
    run.json consistent, the run finished, the audit trail's hash chain intact.

    \b
    Exit status:
      0  the bundle is exactly what its run wrote
      1  something differs (listed, one line each)
      2  BUNDLE is not a folder
    """
    from .verify import verify_bundle

    if not bundle.is_dir():
        msg = f"{bundle}: not a folder; give the output bundle of a run (the cohort's `output`)"
        raise click.ClickException(msg)
    result = verify_bundle(bundle)
    click.echo(str(result), err=not result.ok)
    return 0 if result.ok else 1


@click.command()
@_bundle
def history(bundle: Path) -> int:
    """List the runs of BUNDLE, oldest first, with their verdicts (history/<run-id>/ and the current run)."""
    from .history import runs

    if not bundle.is_dir():
        msg = f"{bundle}: not a folder; give the output bundle of a run (the cohort's `output`)"
        raise click.ClickException(msg)
    rows = runs(bundle)
    if not rows:
        click.echo(f"{bundle}: no run recorded (no run.json, no history/)")
        return 0
    click.echo(f"{'run':<22} {'started':<26} {'status':<9} {'exit':>4}  {'verdict':<15} checks")
    for r in rows:
        checks = ", ".join(f"{n} {v}" for v, n in sorted(r["checks"].items())) or "-"
        exit_code = "-" if r["exit_code"] is None else str(r["exit_code"])
        mark = " (current)" if r["current"] else ""
        click.echo(
            f"{r['run_id']:<22} {r['started']:<26} {r['status']:<9} {exit_code:>4}  {r['verdict']:<15} {checks}{mark}"
        )
    return 0
