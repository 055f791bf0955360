"""`curation scan-phi BUNDLE --identifiers FILE`: prove an output bundle free of identifiers."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command("scan-phi")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--identifiers", "identifiers_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="text file, one identifier per line (UTF-8); hits name the line, never the value")
@click.pass_context
def scan_phi(ctx: click.Context, bundle: Path, identifiers_file: Path) -> None:
    """Search every file of BUNDLE (contents, names, every encoding) for the identifiers in FILE.

    Prints one line per hit (file, field, identifier line number) and exits 1 on any hit, 0 when
    the bundle is clean.
    """
    from .scan import MIN_LEN, read_identifiers, scan_bundle

    ids = read_identifiers(identifiers_file)
    t0 = time.perf_counter()
    hits = scan_bundle(bundle, ids, exclude=[identifiers_file])
    took = time.perf_counter() - t0
    skipped = sum(1 for _, s in ids if len(s) < MIN_LEN and not any(ord(c) > 0x2E7F for c in s))
    for h in hits:
        if h.identifier:
            click.echo(f"LEAK {h.path}: {h.location}: identifier on line {h.identifier} of {identifiers_file.name}")
        else:
            click.echo(f"UNCHECKED {h.path}: {h.location}")
    note = f" ({skipped} identifiers shorter than {MIN_LEN} characters skipped)" if skipped else ""
    n_files = sum(1 for p in bundle.rglob("*") if p.is_file())
    if hits:
        click.echo(f"scan-phi: {len(hits)} hit(s) in {n_files} files, {len(ids)} identifiers{note}, "
                   f"{took:.1f} s: NOT clean", err=True)
        ctx.exit(1)
    click.echo(f"scan-phi: clean: {n_files} files, {len(ids)} identifiers{note}, {took:.1f} s", err=True)
    ctx.exit(0)
