"""`curation dictionary`: print the data dictionary (the standard data checklist)."""

from __future__ import annotations

import html

import click
import pandas as pd

from . import CHECKLIST, checklist, modalities, version

__all__ = ["dictionary", "to_html", "to_markdown"]

SHOWN = CHECKLIST


def to_markdown(df: pd.DataFrame, *, title: str) -> str:
    """The checklist as a Markdown document: a heading, then one table per modality table."""
    lines = [f"# {title}", ""]
    for (modality, table), part in df.groupby(["modality", "table"], sort=False):
        lines += [f"## {modality} / {table}", "", "| " + " | ".join(SHOWN[1:]) + " |", "|" + "---|" * (len(SHOWN) - 1)]
        for r in part.itertuples(index=False):
            cells = [str(getattr(r, c) or "").replace("|", "\\|") for c in SHOWN[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def to_html(df: pd.DataFrame, *, title: str) -> str:
    """The checklist as a standalone HTML page: a heading, then one table per modality table."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for (modality, table), part in df.groupby(["modality", "table"], sort=False):
        parts.append(f"<h2>{html.escape(modality)} / {html.escape(table)}</h2>")
        parts.append(part[SHOWN[1:]].to_html(index=False, escape=True, border=0))
    return "\n".join(parts)


def _reasons(fmt: str) -> str:
    from ..quality.reasons import reasons_frame

    df = reasons_frame()
    title = "Reason codes (quarantine, and values emptied in kept records)"
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "html":
        return (
            f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1>\n" + df.to_html(index=False, escape=True, border=0) + "\n"
        )
    lines = [f"# {title}", "", "| reason | scope | description |", "|---|---|---|"]
    lines += [f"| {r.reason} | {r.scope} | {r.description.replace('|', chr(92) + '|')} |" for r in df.itertuples()]
    return "\n".join(lines) + "\n"


@click.command("dictionary")
@click.option("--modality", "-m", type=click.Choice(modalities()), default=None, help="one modality (default: all)")
@click.option("--reasons", is_flag=True, help="the reason codes of quarantined records and emptied values instead")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv"]), default="md", show_default=True)
def dictionary(modality: str | None, reasons: bool, fmt: str) -> None:
    """Print the data dictionary: every field's labels, type, unit, codes, range, required level and PHI class."""
    if reasons:
        click.echo(_reasons(fmt), nl=False)
        return
    df = checklist(modality)
    mods = [modality] if modality else modalities()
    title = "Data dictionary " + ", ".join(f"{m} v{version(m)}" for m in mods)
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    elif fmt == "html":
        click.echo(to_html(df, title=title))
    else:
        click.echo(to_markdown(df, title=title))
