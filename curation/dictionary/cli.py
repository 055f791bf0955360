"""`curation dictionary`: print the data dictionary (the standard data checklist)."""

from __future__ import annotations

import html

import click
import pandas as pd

from . import load, modalities, version

SHOWN = ["table", "name", "label_zh", "label_en", "type", "unit", "code_system", "allowed", "range",
         "required", "phi", "mcode"]


def frame(modality: str | None = None) -> pd.DataFrame:
    """The dictionary as displayed: allowed values joined, range as 'min–max'."""
    df = load(modality)
    df = df.assign(
        allowed=df["allowed"].map(lambda a: ", ".join(a)),
        range=[_range(lo, hi) for lo, hi in zip(df["min"], df["max"], strict=True)],
    )
    return df


def _range(lo: float | None, hi: float | None) -> str:
    def fmt(v: float | None) -> str:
        return "" if v is None or pd.isna(v) else f"{v:g}"

    return "" if not fmt(lo) and not fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def to_markdown(df: pd.DataFrame, *, title: str) -> str:
    lines = [f"# {title}", ""]
    for (modality, table), part in df.groupby(["modality", "table"], sort=False):
        lines += [f"## {modality} / {table}", "", "| " + " | ".join(SHOWN[1:]) + " |",
                  "|" + "---|" * (len(SHOWN) - 1)]
        for r in part.itertuples(index=False):
            cells = [str(getattr(r, c) or "").replace("|", "\\|") for c in SHOWN[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def to_html(df: pd.DataFrame, *, title: str) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<h1>{html.escape(title)}</h1>"]
    for (modality, table), part in df.groupby(["modality", "table"], sort=False):
        parts.append(f"<h2>{html.escape(modality)} / {html.escape(table)}</h2>")
        parts.append(part[SHOWN[1:]].to_html(index=False, escape=True, border=0))
    return "\n".join(parts)


@click.command("dictionary")
@click.option("--modality", "-m", type=click.Choice(modalities()), default=None, help="one modality (default: all)")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv"]), default="md", show_default=True)
def dictionary(modality: str | None, fmt: str) -> None:
    """Print the data dictionary: every field's labels, type, unit, codes, range, required level and PHI class."""
    df = frame(modality)
    mods = [modality] if modality else modalities()
    title = "Data dictionary " + ", ".join(f"{m} v{version(m)}" for m in mods)
    if fmt == "csv":
        click.echo(df[["modality", *SHOWN]].to_csv(index=False), nl=False)
    elif fmt == "html":
        click.echo(to_html(df, title=title))
    else:
        click.echo(to_markdown(df, title=title))
