"""Mutation Annotation Format (GDC / TCGA, vcf2maf): tab-separated, ``#`` comment lines first.

Read line by line so that a line with the wrong number of fields, or whose position or read counts
are not numbers, is reported with its physical line number (and the rest is still read).
``Tumor_Sample_Barcode`` is the sample identifier. A MAF without a required column is read to its
end all the same (its records are counted) and reported with :attr:`Maf.missing`; a compressed MAF
that cannot be read to its end carries :attr:`Maf.damage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._vcf import BLANK, BadRecord, Damage, Lines, container_damage, open_text

# MAF column -> variants field
COLUMNS = {
    "Tumor_Sample_Barcode": "sample_id",
    "Hugo_Symbol": "gene",
    "Chromosome": "chrom",
    "Start_Position": "pos",
    "Reference_Allele": "ref",
    "Tumor_Seq_Allele2": "alt",
    "HGVSp_Short": "protein_change",
    "t_depth": "depth",
    "t_alt_count": "_alt_count",
    "FILTER": "filter",
    "Variant_Type": "_maf_type",
}
REQUIRED = (
    "Tumor_Sample_Barcode",
    "Hugo_Symbol",
    "Chromosome",
    "Start_Position",
    "Reference_Allele",
    "Tumor_Seq_Allele2",
)
COUNTS = ("t_depth", "t_alt_count")  # read counts: a number, or empty / "." / NA for missing
MISSING_COUNT = frozenset({"", ".", "NA", "na", "NaN", "nan"})


@dataclass
class Maf:
    frame: pd.DataFrame  # one row per variant, variants field names, plus _line
    bad: list[BadRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # required columns the header lacks
    n_records: int = 0  # data lines the parser saw (good, bad, or in a file missing columns)
    damage: Damage | None = None


def _bad_value(cols: list[str], pos: int, counts: list[tuple[str, int]]) -> str | None:
    if not cols[pos].strip().isdigit():
        return "Start_Position is not a whole number"
    for name, i in counts:
        v = cols[i].strip()
        if v not in MISSING_COUNT and not v.isdigit():
            return f"{name} is not a whole number"
    return None


def read_maf(path: Path) -> Maf:
    """Read one MAF (plain or gzip).

    Raises
    ------
    OSError
        The file cannot be opened.
    """
    pre = container_damage(path)
    if pre is not None and pre.line == 0:
        return Maf(pd.DataFrame(), damage=pre)
    rows: list[list[str]] = []
    lines_no: list[int] = []
    bad: list[BadRecord] = []
    header: list[str] | None = None
    n_records = 0
    missing: list[str] = []
    pos, counts = -1, []
    lines = Lines(open_text(path))
    try:
        for n, line in lines.lines:
            if not line.strip(BLANK) or line.startswith("#"):
                continue
            cols = line.split("\t")
            if header is None:
                header = [c.strip() for c in cols]
                missing = [c for c in REQUIRED if c not in header]
                if not missing:
                    pos = header.index("Start_Position")
                    counts = [(c, header.index(c)) for c in COUNTS if c in header]
                continue
            n_records += 1
            if missing:  # the file is set aside whole; its records are only counted
                continue
            if len(cols) != len(header):
                bad.append(BadRecord(n, f"{len(cols)} fields where the header has {len(header)}"))
                continue
            problem = _bad_value(cols, pos, counts)
            if problem is not None:
                bad.append(BadRecord(n, problem))
                continue
            rows.append(cols)
            lines_no.append(n)
    finally:
        lines.close()
    damage = lines.damage or (Damage(pre.reason, lines.n, pre.detail) if pre is not None else None)
    if header is None:
        return Maf(pd.DataFrame(), bad, ["no MAF header line (Hugo_Symbol ...)"], damage=damage)
    if missing:
        return Maf(pd.DataFrame(), bad, [f"MAF columns missing: {', '.join(missing)}"], missing, n_records, damage)
    df = pd.DataFrame(rows, columns=header) if rows else pd.DataFrame(columns=header)
    keep = {c: f for c, f in COLUMNS.items() if c in df.columns}
    out = df[list(keep)].rename(columns=keep)
    out["_line"] = lines_no
    depth = pd.to_numeric(out.get("depth"), errors="coerce") if "depth" in out else None
    if depth is not None and "_alt_count" in out:
        alt = pd.to_numeric(out["_alt_count"], errors="coerce")
        out["vaf"] = (alt / depth).where(depth > 0).round(6)
    return Maf(out, bad, n_records=n_records, damage=damage)
