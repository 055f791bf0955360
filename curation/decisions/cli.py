"""``curation decide list|show|set|revoke COHORT``: the decisions file outside a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["decide", "status_of"]

_cohort = click.argument("cohort", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_author = click.option("--author", required=True, help="who decides (recorded in decisions.yaml and the audit trail)")
_reason = click.option("--reason", required=True, help="why (recorded in decisions.yaml and the audit trail)")


def status_of(decision: Any, checksums: dict[str, str]) -> str:
    """``in force``, ``revoked``, or ``flagged: input changed`` (the modality's input is not the one decided on)."""
    if decision.revoked is not None:
        return "revoked"
    if decision.input_sha256 and decision.input_sha256 != checksums.get(decision.modality):
        return "flagged: input changed"
    return "in force (old form)" if decision.legacy else "in force"


def _load(cohort: Path) -> Any:
    from ..modalities.registry import load_cohort

    return load_cohort(cohort, check_paths=False)


def _checksums(config: Any, decisions: list[Any]) -> dict[str, str]:
    from .replay import modality_checksum

    mods = {d.modality for d in decisions if d.input_sha256}
    return {m: modality_checksum(config, m) for m in mods}


@click.group()
def decide() -> None:
    """List, show, set and revoke curator decisions (decisions.yaml beside cohort.yaml).

    Each decision has a kind (threshold, setting, map, release, exclude, label), a key starting with
    its modality, a value, an author, a time, a reason and the checksum of the input it was made on;
    the next run applies it, or flags it for review when that input has changed.
    """


@decide.command("list")
@_cohort
@click.option("--all", "show_all", is_flag=True, help="also the revoked and superseded decisions")
def list_(cohort: Path, show_all: bool) -> int:
    """The decisions with author, time, reason and status."""
    from .model import decisions_path, read_decisions
    from .replay import decisions_in_force

    config = _load(cohort)
    doc = read_decisions(decisions_path(config))
    # in force: the old form in the bundle too (the immune widget wrote it there), as the run reads it
    rows = doc.decisions if show_all else decisions_in_force(config, bundle=config.output_dir)
    if not rows:
        click.echo(f"{decisions_path(config).name}: no decision{' in force' if not show_all else ''}")
        return 0
    sums = _checksums(config, rows)
    for d in rows:
        click.echo(f"{d.describe()}\n    by {d.author} at {d.time or '?'}: {d.reason}  [{status_of(d, sums)}]")
        if d.revoked is not None:
            click.echo(f"    revoked by {d.revoked.author} at {d.revoked.time}: {d.revoked.reason}")
    return 0


@decide.command()
@_cohort
@click.argument("key")
def show(cohort: Path, key: str) -> int:
    """Every decision ever recorded on KEY (the one in force last), as YAML."""
    import yaml

    from .model import decisions_path, read_decisions

    config = _load(cohort)
    hits = [d for d in read_decisions(decisions_path(config)).decisions if d.key == key]
    if not hits:
        msg = f"no decision on {key!r} in {decisions_path(config).name}; `curation decide list {cohort}` lists them"
        raise click.ClickException(msg)
    sums = _checksums(config, hits)
    docs = [{**d.model_dump(mode="json", exclude_none=True), "status": status_of(d, sums)} for d in hits]
    click.echo(yaml.safe_dump(docs, sort_keys=False, allow_unicode=True), nl=False)
    return 0


@decide.command("set")
@_cohort
@click.argument("kind", type=click.Choice(["threshold", "setting", "map", "release", "exclude", "label"]))
@click.argument("key")
@click.argument("value")
@_author
@_reason
def set_(cohort: Path, kind: str, key: str, value: str, author: str, reason: str) -> int:
    """Record a decision: KIND KEY VALUE (VALUE is YAML: 0.5, '{warn: 0, fail: 0.2}', a code).

    \b
    curation decide set cohort.yaml threshold lab.conformance.allowed_values '{warn: 0, fail: 0.5}' \\
        --author "Dr. Wang" --reason "AFP is followed in this cohort"
    curation decide set cohort.yaml map lab.unit:ug/l ng/mL --author ... --reason ...
    curation decide set cohort.yaml setting immune.qc.tissue.tumor.min_counts 300 --author ... --reason ...
    """
    import yaml

    from .model import decisions_path, set_decision
    from .replay import modality_checksum

    config = _load(cohort)
    parsed = yaml.safe_load(value) if value.strip() else value
    modality = key.split(".", 1)[0]
    new = set_decision(
        decisions_path(config),
        {"kind": kind, "key": key, "value": parsed},
        author=author,
        reason=reason,
        input_sha256=modality_checksum(config, modality),
    )
    click.echo(f"recorded: {new.describe()} by {new.author}; the next run of {modality} applies it")
    return 0


@decide.command()
@_cohort
@click.argument("key")
@_author
@_reason
def revoke(cohort: Path, key: str, author: str, reason: str) -> int:
    """Revoke the decision in force on KEY (kept in the file with who, when and why)."""
    from .model import decisions_path, revoke_decision

    config = _load(cohort)
    old = revoke_decision(decisions_path(config), key, author=author, reason=reason)
    click.echo(f"revoked: {old.describe()} (decided by {old.author}); the next run of {old.modality} goes without it")
    return 0
