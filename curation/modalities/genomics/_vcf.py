"""A small streaming VCF reader (VCFv4.x, plain or gzip/bgzip) that keeps going past bad lines.

Only what the curation step needs: the header's version and meta lines, the sample column names
(hospital sample IDs: identifiers), and per record the fixed columns, INFO keys and each sample's
GT / AD / DP / AF. A record with fewer than 8 columns, a non-numeric POS or a sample count that does
not match the header is reported as a :class:`BadRecord` with its physical line number; the rest of
the file is still read. pysam / cyvcf2 would stop (or need htslib) on the same input.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

FIXED = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
VERSION = re.compile(r"^##fileformat=VCFv(4\.[0-5])\s*$")
# header lines that say nothing about a person: the only ones a de-identified copy keeps
KEEP_META = ("##fileformat=", "##INFO=", "##FORMAT=", "##FILTER=", "##contig=", "##reference=")


@dataclass
class BadRecord:
    line: int
    reason: str


@dataclass
class Header:
    """The header of one VCF. ``samples`` and ``sample_meta`` hold raw identifiers: memory only."""

    version: str | None = None
    fileformat_line: str | None = None
    meta: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    sample_meta: dict[str, dict[str, str]] = field(default_factory=dict)  # ##SAMPLE=<ID=...> by ID
    has_column_header: bool = False
    problems: list[str] = field(default_factory=list)

    def kept_meta(self) -> list[str]:
        return [m for m in self.meta if m.startswith(KEEP_META)]


@dataclass
class Record:
    line: int
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    qual: str
    filter: str
    info: dict[str, str]
    format: list[str]
    samples: list[list[str]]  # per sample column, values in FORMAT order
    raw_fixed: list[str]  # the 9 first columns as written (for the de-identified copy)
    raw_samples: list[str]

    def sample_value(self, k: int, key: str) -> str:
        try:
            i = self.format.index(key)
        except ValueError:
            return ""
        vals = self.samples[k]
        return vals[i] if i < len(vals) else ""


def open_text(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # gzip and bgzip
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def _meta_fields(text: str) -> dict[str, str]:
    """``ID=x,Tissue=tumor,Description="a, b"`` -> dict (quotes respected)."""
    out: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,]*)', text):
        out[m.group(1)] = m.group(2).strip('"')
    return out


def parse_info(text: str) -> dict[str, str]:
    if text in ("", "."):
        return {}
    out = {}
    for part in text.split(";"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out[k] = v if _ else "true"
    return out


def read_vcf(path: Path) -> tuple[Header, Iterator[Record | BadRecord]]:
    """Read the header now and return an iterator over the records (streaming)."""
    fh = open_text(path)
    header = Header()
    n = 0
    first: str | None = None
    for raw in fh:
        n += 1
        line = raw.rstrip("\r\n")
        if n == 1 and line.startswith("##fileformat="):
            header.fileformat_line = line
            m = VERSION.match(line)
            header.version = m.group(1) if m else None
            if not m:
                header.problems.append("##fileformat is not VCFv4.0–4.5")
            continue
        if line.startswith("##"):
            header.meta.append(line)
            if line.startswith("##SAMPLE=<") and line.endswith(">"):
                meta = _meta_fields(line[len("##SAMPLE=<"):-1])
                if "ID" in meta:
                    header.sample_meta[meta["ID"]] = meta
            continue
        if line.startswith("#CHROM"):
            cols = line[1:].split("\t")
            header.has_column_header = True
            if cols[:8] != FIXED:
                header.problems.append("the #CHROM line does not name the 8 fixed VCF columns")
            header.samples = cols[9:] if len(cols) > 9 else []
            break
        first = line  # a record before any #CHROM line
        break
    if header.fileformat_line is None:
        header.problems.append("the first line is not ##fileformat=VCFv4.x")
    if not header.has_column_header:
        header.problems.append("no #CHROM column header line")
    return header, _records(fh, header, n, first)


def _records(fh: IO[str], header: Header, n: int, first: str | None) -> Iterator[Record | BadRecord]:
    n_samples = len(header.samples)
    expected = 9 + n_samples if n_samples else 8
    try:
        if first is not None:  # no column header: every line is unusable, but report it once each
            yield BadRecord(n, "record before the #CHROM header line")
        for raw in fh:
            n += 1
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if first is not None or line.startswith("#"):
                if first is not None:
                    yield BadRecord(n, "record before the #CHROM header line")
                continue
            cols = line.split("\t")
            if len(cols) < 8:
                yield BadRecord(n, f"{len(cols)} columns where a VCF record has at least 8")
                continue
            if n_samples and len(cols) != expected:
                yield BadRecord(n, f"{len(cols)} columns where the header has {expected}")
                continue
            if not cols[1].isdigit():
                yield BadRecord(n, "POS is not a whole number")
                continue
            fmt = cols[8].split(":") if len(cols) > 8 else []
            yield Record(line=n, chrom=cols[0], pos=int(cols[1]), id=cols[2], ref=cols[3], alt=cols[4],
                         qual=cols[5], filter=cols[6], info=parse_info(cols[7]), format=fmt,
                         samples=[c.split(":") for c in cols[9:]], raw_fixed=cols[:9], raw_samples=cols[9:])
    finally:
        fh.close()


def carries_alt(rec: Record, k: int) -> tuple[bool, int]:
    """Whether sample ``k`` carries an ALT allele at this record, and which (1-based; 1 if unknown)."""
    gt = rec.sample_value(k, "GT")
    if gt and gt not in (".", "./.", ".|."):
        alleles = [a for a in re.split(r"[/|]", gt) if a not in (".", "")]
        alts = [int(a) for a in alleles if a.isdigit() and int(a) > 0]
        return (bool(alts), alts[0] if alts else 0)
    ad = _ints(rec.sample_value(k, "AD"))
    if len(ad) > 1:
        return (sum(ad[1:]) > 0, 1 + max(range(len(ad) - 1), key=lambda i: ad[i + 1]))
    af = _floats(rec.sample_value(k, "AF") or rec.sample_value(k, "FA"))
    if af:
        return (max(af) > 0, 1)
    return (not rec.format, 1)  # sites-only VCF: every record is a call


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.isdigit()] if text else []


def _floats(text: str) -> list[float]:
    out = []
    for x in text.split(",") if text else []:
        try:
            out.append(float(x))
        except ValueError:
            continue
    return out


def depth_and_vaf(rec: Record, k: int, allele: int) -> tuple[int | None, float | None]:
    """Read depth and variant allele fraction of sample ``k`` (AD first, then DP / AF / FA)."""
    ad = _ints(rec.sample_value(k, "AD"))
    dp_list = _ints(rec.sample_value(k, "DP"))
    depth = dp_list[0] if dp_list else (sum(ad) if ad else None)
    vaf: float | None = None
    if len(ad) > allele and sum(ad) > 0:
        vaf = ad[allele] / sum(ad)
    else:
        af = _floats(rec.sample_value(k, "AF") or rec.sample_value(k, "FA"))
        if af:
            vaf = af[min(allele, len(af)) - 1] if allele >= 1 else af[0]
    if depth is None:
        info_dp = _ints(rec.info.get("DP", ""))
        depth = info_dp[0] if info_dp else None
    return depth, (None if vaf is None else round(vaf, 6))


def deidentified_header(header: Header, token: str) -> list[str]:
    """Header of a one-sample de-identified copy: only the kept meta lines, the column renamed."""
    lines = [header.fileformat_line or "##fileformat=VCFv4.2", *header.kept_meta()]
    lines.append("#" + "\t".join([*FIXED, "FORMAT", token]))
    return lines


def deidentified_record(fixed: list[str], samples: list[str], k: int) -> str:
    """One record of a one-sample copy: the 9 fixed columns and sample ``k``'s column."""
    fixed = fixed + ["."] * (9 - len(fixed))
    return "\t".join([*fixed[:9], samples[k] if k < len(samples) else "."])
