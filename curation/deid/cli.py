"""`curation scan-phi BUNDLE --identifiers FILE`: prove an output bundle free of identifiers."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["scan_phi"]

MAX_SKIPPED_LINES = 20


@click.command("scan-phi")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--identifiers",
    "identifiers_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="text file, one identifier per line (UTF-8); hits name the line, never the value",
)
@click.pass_context
def scan_phi(ctx: click.Context, bundle: Path, identifiers_file: Path) -> None:
    """Search every file of BUNDLE (contents, names, every encoding) for the identifiers in FILE.

    Matching is on token boundaries: a numeric identifier is not found inside a longer number or
    a decimal (0.1111...), an alphanumeric one not inside a longer word (P001 in AP001X); CJK
    names are found anywhere. Identifiers with fewer than 4 letters or digits (2 for CJK) or made
    only of separators (^^^^) are not searched: their line numbers are printed.

    Prints one line per hit (file, field, identifier line number) and exits 1 on any hit or on a
    file it could not read by its format (UNCHECKED), 0 when the bundle is clean.
    """
    from .scan import read_identifiers, scan_bundle

    ids = read_identifiers(identifiers_file)
    t0 = time.perf_counter()
    result = scan_bundle(bundle, ids, exclude=[identifiers_file])
    took = time.perf_counter() - t0
    for h in result:
        if h.identifier:
            click.echo(f"LEAK {h.path}: {h.location}: identifier on line {h.identifier} of {identifiers_file.name}")
        else:
            click.echo(f"UNCHECKED {h.path}: {h.location}")
    note = ""
    if result.n_skipped:
        lines = ", ".join(str(n) for n in result.skipped_numbers[:MAX_SKIPPED_LINES])
        more = " ..." if len(result.skipped_numbers) > MAX_SKIPPED_LINES else ""
        click.echo(f"scan-phi: {result.describe_skipped()}: lines {lines}{more} of {identifiers_file.name}", err=True)
        note = f", {result.n_skipped} skipped"
    searched = f"{result.n_identifiers} identifiers searched{note}"
    if result:
        click.echo(
            f"scan-phi: {len(result)} hit(s) in {len(result.paths)} path(s) of {result.n_files} files, "
            f"{searched}, {took:.1f} s: NOT clean",
            err=True,
        )
        ctx.exit(1)
    click.echo(f"scan-phi: clean: {result.n_files} files, {searched}, {took:.1f} s", err=True)
    ctx.exit(0)
