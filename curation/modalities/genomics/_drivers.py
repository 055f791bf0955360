"""Driver calls (EGFR L858R, exon 19 deletions, KRAS G12C, BRAF V600E, ALK / RET / ROS1 fusions)
from a tidy variants table, with the definitions as data (``dictionary/genomics_drivers.yaml``)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from ... import dictionary

_FIRST_CODON = re.compile(r"^p\.\(?[A-Z](?:[a-z]{2})?(\d+)")


@cache
def definitions() -> dict[str, Any]:
    text = resources.files(dictionary.__name__).joinpath("genomics_drivers.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def oncoprint_genes() -> list[str]:
    return list(definitions().get("oncoprint_genes", []))


def _chrom(s: pd.Series) -> pd.Series:
    return s.astype("string").str.replace(r"^chr", "", regex=True, case=False).str.upper()


def call_drivers(df: pd.DataFrame, *, reference: str = "GRCh38") -> pd.Series:
    """Driver name of each variant ('' when none).

    ``df`` has gene, protein_change, chrom, pos, ref, alt and variant_type (fusion for breakends).
    """
    out = pd.Series("", index=df.index, dtype="string")
    if not len(df):
        return out
    gene = df["gene"].astype("string").fillna("")
    prot = df["protein_change"].astype("string").fillna("").str.replace(r"^p\.\((.*)\)$", r"p.\1", regex=True)
    chrom = _chrom(df["chrom"])
    pos = pd.to_numeric(df["pos"], errors="coerce")
    ref = df["ref"].astype("string").fillna("").str.upper()
    alt = df["alt"].astype("string").fillna("").str.upper()
    vtype = df["variant_type"].astype("string").fillna("")
    for name, d in definitions()["drivers"].items():
        g = gene == d["gene"]
        kind = d.get("kind", "point")
        if kind == "fusion":
            partner = (gene == "") & prot.str.contains(rf"(?:^|-){d['gene']}(?:-|$)", regex=True)
            hit = (vtype == "fusion") & (g | partner)
        elif kind == "deletion":
            lo, hi = d["codons"]
            codon = pd.to_numeric(prot.str.extract(_FIRST_CODON, expand=False), errors="coerce")
            by_protein = g & prot.str.contains("del", regex=False) & codon.between(lo, hi)
            region = (d.get("region") or {}).get(reference)
            by_genome = pd.Series(False, index=df.index)
            if region:
                c, start, end = str(region[0]).removeprefix("chr").upper(), int(region[1]), int(region[2])
                deleted_from, deleted_to = pos + 1, pos + ref.str.len() - 1
                by_genome = (
                    (chrom == c)
                    & (ref.str.len() > alt.str.len())
                    & (deleted_to >= start)
                    & (deleted_from <= end)
                    & (prot == "")
                )
            hit = by_protein | (by_genome & ((gene == "") | g))
        else:
            by_protein = g & prot.isin(d.get("protein", []))
            site = (d.get("genomic") or {}).get(reference)
            by_genome = pd.Series(False, index=df.index)
            if site:
                c, p, r, a = str(site[0]).removeprefix("chr").upper(), int(site[1]), str(site[2]), str(site[3])
                by_genome = (chrom == c) & (pos == p) & (ref == r) & (alt == a) & (prot == "") & ((gene == "") | g)
            hit = by_protein | by_genome
        out = out.where(~(hit.fillna(False).astype(bool) & (out == "")), name)
    return out


def variant_type(ref: pd.Series, alt: pd.Series, svtype: pd.Series) -> pd.Series:
    """SNV / MNV / insertion / deletion / indel / fusion (breakend) / other, from the alleles."""
    r = ref.astype("string").fillna("")
    a = alt.astype("string").fillna("")
    sv = svtype.astype("string").fillna("")
    bnd = (sv == "BND") | a.str.contains(r"[\[\]]", regex=True)
    # MAF writes a missing allele as '-'
    r_len = r.where(r != "-", "").str.len()
    a_len = a.where(a != "-", "").str.len()
    plain = r.str.fullmatch(r"[ACGTN-]+", case=False) & a.str.fullmatch(r"[ACGTN-]+", case=False)
    out = pd.Series("other", index=r.index, dtype="string")
    out[plain & (r_len == 1) & (a_len == 1)] = "SNV"
    out[plain & (r_len == a_len) & (r_len > 1)] = "MNV"
    out[plain & (r_len < a_len)] = "insertion"
    out[plain & (r_len > a_len)] = "deletion"
    out[plain & (r_len != a_len) & (r_len > 1) & (a_len > 1)] = "indel"
    out[bnd.fillna(False).astype(bool)] = "fusion"
    return out


def call_drivers_by_source(df: pd.DataFrame, *, references: dict[str, str], default: str = "GRCh38") -> pd.Series:
    """:func:`call_drivers` with each source's own genome build (``_source`` key -> ``reference``)."""
    out = pd.Series("", index=df.index, dtype="string")
    if not len(df):
        return out
    src = df["_source"].astype("string").fillna("") if "_source" in df else pd.Series("", index=df.index)
    for key, idx in df.groupby(src, dropna=False).groups.items():
        out.loc[idx] = call_drivers(df.loc[idx], reference=references.get(str(key), default))
    return out
