"""Mutation Annotation Format (GDC / TCGA, vcf2maf): tab-separated, ``#`` comment lines first.

Read line by line so that a line with the wrong number of fields is reported with its physical
line number (and the rest is still read). ``Tumor_Sample_Barcode`` is the sample identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._vcf import BadRecord, open_text

# MAF column -> variants field
COLUMNS = {"Tumor_Sample_Barcode": "sample_id", "Hugo_Symbol": "gene", "Chromosome": "chrom",
           "Start_Position": "pos", "Reference_Allele": "ref", "Tumor_Seq_Allele2": "alt",
           "HGVSp_Short": "protein_change", "t_depth": "depth", "t_alt_count": "_alt_count", "FILTER": "filter",
           "Variant_Type": "_maf_type"}
REQUIRED = ("Tumor_Sample_Barcode", "Hugo_Symbol", "Chromosome", "Start_Position", "Reference_Allele",
            "Tumor_Seq_Allele2")


@dataclass
class Maf:
    frame: pd.DataFrame  # one row per variant, variants field names, plus _line
    bad: list[BadRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_maf(path: Path) -> Maf:
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    header: list[str] | None = None
    with open_text(path) as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if header is None:
                header = cols
                continue
            if len(cols) != len(header):
                bad.append(BadRecord(n, f"{len(cols)} fields where the header has {len(header)}"))
                continue
            rows.append(cols)
            lines.append(n)
    if header is None:
        return Maf(pd.DataFrame(), bad, ["no MAF header line (Hugo_Symbol ...)"])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return Maf(pd.DataFrame(), bad, [f"MAF columns missing: {', '.join(missing)}"])
    df = pd.DataFrame(rows, columns=header)
    keep = {c: f for c, f in COLUMNS.items() if c in df.columns}
    out = df[list(keep)].rename(columns=keep)
    out["_line"] = lines
    depth = pd.to_numeric(out.get("depth"), errors="coerce") if "depth" in out else None
    if depth is not None and "_alt_count" in out:
        alt = pd.to_numeric(out["_alt_count"], errors="coerce")
        out["vaf"] = (alt / depth).where(depth > 0).round(6)
    return Maf(out, bad)
