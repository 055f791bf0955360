"""`curation verify BUNDLE`, `curation history BUNDLE`."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = []

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


PASSPHRASE_ENV = "CURATION_PASSPHRASE"
_operator = click.option(
    "--operator", default=None, metavar="NAME", help="who, for the audit trail (default: the OS user)"
)
_passphrase = click.option(
    "--passphrase",
    is_flag=True,
    help=f"passphrase mode (age scrypt), for a partner without keys: read from ${PASSPHRASE_ENV}, else asked for",
)


def _read_passphrase(confirm: bool) -> str:
    import os

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return str(click.prompt("passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


@click.command()
@_bundle
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    metavar="AGE_PUBLIC_KEY",
    help="an age1... or ssh public key (repeatable)",
)
@_passphrase
@click.option("--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path), help="the .age file")
@click.option(
    "--allow-unreleasable",
    default=None,
    metavar="REASON",
    help="package a bundle whose leak scan failed; REASON goes to the audit trail",
)
@_operator
def package(
    bundle: Path,
    recipients: tuple[str, ...],
    passphrase: bool,
    to: Path,
    allow_unreleasable: str | None,
    operator: str | None,
) -> int:
    """Encrypt BUNDLE (verified first) into one age file for a research partner: a tar stream encrypted to
    the recipients' age keys (or a passphrase), never a plain copy on disk. Exit 2 with one message on bad
    input, writing nothing."""
    from .package import package_bundle

    if not bundle.is_dir():
        raise click.ClickException(f"{bundle}: not a folder; give the output bundle of a run")
    packed = package_bundle(
        bundle,
        to,
        recipients=list(recipients),
        passphrase=_read_passphrase(True) if passphrase else None,
        allow_unreleasable=allow_unreleasable,
        operator=operator,
    )
    click.echo(f"wrote {packed.path} ({packed.files} files, sha256 {packed.sha256}) for {', '.join(packed.recipients)}")
    return 0


@click.command()
@click.argument("package_file", metavar="FILE.age", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), default=None, help="age key file")
@_passphrase
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path), help="a new folder")
@_operator
def unpack(package_file: Path, identity: Path | None, passphrase: bool, to: Path, operator: str | None) -> int:
    """Decrypt FILE.age into the folder --to and verify the bundle. A wrong identity, a truncated or tampered
    package: exit 2 with one message, nothing written to --to."""
    from .package import unpack_package

    out = unpack_package(
        package_file,
        to,
        identity=identity,
        passphrase=_read_passphrase(False) if passphrase else None,
        operator=operator,
    )
    click.echo(f"unpacked and verified: {out}")
    return 0
