"""A small streaming VCF reader (VCFv4.x, plain or gzip/bgzip) that keeps going past bad lines.

Only what the curation step needs: the header's version and meta lines, the sample column names
(hospital sample IDs: identifiers), and per record the fixed columns, INFO keys and each sample's
GT / AD / DP / AF. A record with fewer than 8 columns, a non-numeric POS or a sample count that does
not match the header is reported as a :class:`BadRecord` with its physical line number
(``malformed_line``), as is one whose INFO field breaks its ``##INFO`` declaration
(``malformed_info``: a String key without a value would otherwise read as the flag value "true");
the rest of the file is still read. pysam / cyvcf2 would stop (or need htslib) on the same input.

A compressed file that cannot be read to its end (truncated, corrupt, a ``.gz`` name over plain
bytes, a BGZF file without its end-of-file block) ends the record stream with a :class:`Damage`.
:func:`count_data_lines` counts the data lines of a file in a second, byte-level pass, independent
of the parser, for the record ledger.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

FIXED = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
VERSION = re.compile(r"^##fileformat=VCFv(4\.[0-5])\s*$")
# header lines that say nothing about a person: the only ones a de-identified copy keeps
KEEP_META = ("##fileformat=", "##INFO=", "##FORMAT=", "##FILTER=", "##contig=", "##reference=")


GZIP_MAGIC = b"\x1f\x8b"
# the empty block that ends every BGZF file (SAM/BAM spec 4.1.2): its absence means a truncated file,
# even when the cut fell between two blocks and gzip itself reads on without complaint
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
GZIP_SUFFIXES = (".gz", ".bgz")
BLANK = " \t\r\n\f\v"  # what counts as a blank line, the same for the parser and the counter
# INFO keys this step reads values from: valueless, they would give gene or protein change "true"
ANNOTATION_KEYS = frozenset({"GENE", "Gene", "SYMBOL", "GENEINFO", "HGVSP", "HGVSp", "HGVS_P", "ANN", "SVTYPE", "DP"})


@dataclass
class BadRecord:
    """A record set aside: ``reason`` says what is wrong (no value quoted), ``code`` is the reason code."""

    line: int
    reason: str
    code: str = "malformed_line"


@dataclass
class Damage:
    """A file that could not be read to its end: the reason code, the number of complete lines read
    before the damage and what happened (no value quoted)."""

    reason: str  # truncated_gzip | corrupt_gzip | unreadable_file
    line: int
    detail: str


def damage_of(exc: BaseException, line: int) -> Damage:
    """The :class:`Damage` of an exception raised while reading (gzip, zlib or the file system)."""
    if isinstance(exc, EOFError):
        return Damage(
            "truncated_gzip", line, "the gzip stream ends before its end marker (a truncated copy or download)"
        )
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return Damage("corrupt_gzip", line, f"the gzip data is corrupt ({type(exc).__name__})")
    return Damage("unreadable_file", line, f"the file cannot be read ({type(exc).__name__})")


def container_damage(path: Path) -> Damage | None:
    """What is wrong with a file's container before any line is read: a ``.gz`` / ``.bgz`` name over
    bytes that are not gzip, or a BGZF file (bgzip, htslib) whose end-of-file block is missing."""
    with path.open("rb") as fh:
        head = fh.read(18)
        if head[:2] != GZIP_MAGIC:
            if path.name.lower().endswith(GZIP_SUFFIXES) and head:
                return Damage("corrupt_gzip", 0, "the name says gzip but the file does not start as gzip data")
            return None
        # BGZF: gzip with FEXTRA holding the 'BC' subfield (bytes 12-13)
        if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - len(BGZF_EOF), 0))
            if fh.read() != BGZF_EOF:
                return Damage("truncated_gzip", -1, "the BGZF end-of-file block is missing (a truncated copy)")
    return None


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
    info_types: dict[str, tuple[str, str]] = field(default_factory=dict)  # ##INFO ID -> (Number, Type)

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
    """The file as text, gunzipped when it is gzip / bgzip. Lines end at ``\n`` only (a stray ``\r``
    stays inside its line, as in :func:`count_data_lines`)."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return path.open("r", encoding="utf-8", errors="replace", newline="\n")


class Lines:
    """Numbered lines of a text stream; a read error ends the lines and is kept as :attr:`damage`.

    Iterate :attr:`lines` (one generator, resumable after a ``break``)."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.n = 0
        self.damage: Damage | None = None
        self.lines = self._lines()

    def _lines(self) -> Iterator[tuple[int, str]]:
        try:
            for raw in self.fh:
                self.n += 1
                line = raw.rstrip("\r\n")
                yield self.n, (line.removeprefix("\ufeff") if self.n == 1 else line)
        except (EOFError, zlib.error, OSError) as exc:
            self.damage = damage_of(exc, self.n)

    def close(self) -> None:
        self.fh.close()


@dataclass
class LineCount:
    """Data lines of a file counted at the byte level, and the damage that stopped the count."""

    n_data: int
    damage: Damage | None = None


def count_data_lines(path: Path, *, comments: bool = True, chunk: int = 1 << 16) -> LineCount:
    """Count the data lines of a VCF / MAF / TSV: lines that are not blank and (with ``comments``)
    do not start with ``#``.

    A second pass over the bytes, independent of the parser (the ledger's ``n_in``). A line cut by
    damage is not counted; the count of complete lines before it is returned with the damage.
    """
    n_data = n_lines = 0
    carry = b""
    blank = BLANK.encode()
    hash_ = b"#" if comments else b"\n"  # a line never starts with its own end
    try:
        pre = container_damage(path)
        if pre is not None and pre.line == 0:
            return LineCount(0, pre)
        with path.open("rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            fh = gzip.GzipFile(fileobj=raw) if magic == GZIP_MAGIC else raw
            # read1: one read below; read() would drop what it had gathered when a later read fails
            while block := fh.read1(chunk):
                parts = (carry + block).split(b"\n")
                carry = parts.pop()
                for ln in parts:
                    n_lines += 1
                    if n_lines == 1:
                        ln = ln.removeprefix(b"\xef\xbb\xbf")
                    if ln[:1] != hash_ and ln.strip(blank):
                        n_data += 1
    except (EOFError, zlib.error, OSError) as exc:
        return LineCount(n_data, damage_of(exc, n_lines))
    if carry and pre is None:  # a last line without its newline; after damage, a cut line
        if n_lines == 0:
            carry = carry.removeprefix(b"\xef\xbb\xbf")
        n_data += int(carry[:1] != hash_ and bool(carry.strip(blank)))
    return LineCount(n_data, pre)


def _meta_fields(text: str) -> dict[str, str]:
    """``ID=x,Tissue=tumor,Description="a, b"`` -> dict (quotes respected)."""
    out: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,]*)', text):
        out[m.group(1)] = m.group(2).strip('"')
    return out


def info_problem(text: str, types: dict[str, tuple[str, str]]) -> str | None:
    """What is wrong with an INFO field against the header's ``##INFO`` declarations, or None.

    A key declared with a value type (or one this step reads, declared or not) written without a
    value or with an empty one, and a declared Integer / Float key whose value is not a number.
    Keys are named only when declared or known (an undeclared key could be any text).
    """
    if text in ("", "."):
        return None
    for part in text.split(";"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        decl = types.get(key)
        known = decl is not None or key in ANNOTATION_KEYS
        typ = decl[1] if decl is not None else "String"
        if typ == "Flag" or not known:
            continue
        if not eq or not value:
            return (
                f"INFO key {key} has {'no' if not eq else 'an empty'} value where the header declares "
                f"Type={typ} (write . for a missing value)"
            )
        if typ in ("Integer", "Float"):
            for item in value.split(","):
                if item != "." and not _is_number(item, integer=typ == "Integer"):
                    return f"INFO key {key} is not a number where the header declares Type={typ}"
    return None


def _is_number(text: str, *, integer: bool) -> bool:
    try:
        int(text) if integer else float(text)
    except ValueError:
        return False
    return True


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


def read_vcf(path: Path) -> tuple[Header, Iterator[Record | BadRecord | Damage]]:
    """Read the header now and return an iterator over the records (streaming).

    The iterator ends with a :class:`Damage` when the file could not be read to its end.

    Raises
    ------
    OSError
        The file cannot be opened.
    """
    header = Header()
    pre = container_damage(path)
    if pre is not None and pre.line == 0:  # not gzip at all: reading it would give garbage records
        return header, iter([pre])
    lines = Lines(open_text(path))
    first: tuple[int, str] | None = None
    for n, line in lines.lines:
        if n == 1 and line.startswith("##fileformat="):
            header.fileformat_line = line
            m = VERSION.match(line)
            header.version = m.group(1) if m else None
            if not m:
                header.problems.append("##fileformat is not VCFv4.0–4.5")
            continue
        if not line.strip(BLANK):
            continue
        if line.startswith("##"):
            header.meta.append(line)
            if line.startswith("##SAMPLE=<") and line.endswith(">"):
                meta = _meta_fields(line[len("##SAMPLE=<") : -1])
                if "ID" in meta:
                    header.sample_meta[meta["ID"]] = meta
            elif line.startswith("##INFO=<") and line.endswith(">"):
                meta = _meta_fields(line[len("##INFO=<") : -1])
                if "ID" in meta:
                    header.info_types[meta["ID"]] = (meta.get("Number", "."), meta.get("Type", "String"))
            continue
        if line.startswith("#CHROM"):
            cols = line[1:].split("\t")
            header.has_column_header = True
            if cols[:8] != FIXED:
                header.problems.append("the #CHROM line does not name the 8 fixed VCF columns")
            header.samples = cols[9:] if len(cols) > 9 else []
            break
        if line.startswith("#"):  # another comment line: not data
            continue
        first = (n, line)  # a record before any #CHROM line
        break
    if header.fileformat_line is None:
        header.problems.append("the first line is not ##fileformat=VCFv4.x")
    if not header.has_column_header:
        header.problems.append("no #CHROM column header line")
    return header, _records(lines, header, first, pre)


def _records(
    lines: Lines, header: Header, first: tuple[int, str] | None, tail: Damage | None
) -> Iterator[Record | BadRecord | Damage]:
    n_samples = len(header.samples)
    expected = 9 + n_samples if n_samples else 8
    try:
        if first is not None:  # no column header: every line is unusable, but report it once each
            yield BadRecord(first[0], "record before the #CHROM header line")
        for n, line in lines.lines:
            if not line.strip(BLANK) or line.startswith("#"):
                continue
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
            problem = info_problem(cols[7], header.info_types)
            if problem is not None:
                yield BadRecord(n, problem, "malformed_info")
                continue
            fmt = cols[8].split(":") if len(cols) > 8 else []
            yield Record(
                line=n,
                chrom=cols[0],
                pos=int(cols[1]),
                id=cols[2],
                ref=cols[3],
                alt=cols[4],
                qual=cols[5],
                filter=cols[6],
                info=parse_info(cols[7]),
                format=fmt,
                samples=[c.split(":") for c in cols[9:]],
                raw_fixed=cols[:9],
                raw_samples=cols[9:],
            )
        if lines.damage is not None:
            yield lines.damage
        elif tail is not None:
            yield Damage(tail.reason, lines.n, tail.detail)
    finally:
        lines.close()


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
    elif (tiers := strelka_vaf(rec, k)) is not None:
        vaf = tiers
    else:
        af = _floats(rec.sample_value(k, "AF") or rec.sample_value(k, "FA"))
        if af:
            vaf = af[min(allele, len(af)) - 1] if allele >= 1 else af[0]
    if depth is None:
        info_dp = _ints(rec.info.get("DP", ""))
        depth = info_dp[0] if info_dp else None
    return depth, (None if vaf is None else round(vaf, 6))


def strelka_vaf(rec: Record, k: int) -> float | None:
    """Strelka's allele fraction from its tier-1 read counts, which it writes instead of AD / AF
    (Strelka's own guidance): an indel's TIR over TIR + TAR; a SNV's <ALT>U over <REF>U + <ALT>U."""
    tir, tar = _ints(rec.sample_value(k, "TIR")), _ints(rec.sample_value(k, "TAR"))
    if tir and tar:
        return tir[0] / (tir[0] + tar[0]) if tir[0] + tar[0] > 0 else None
    ref, alt = rec.ref.upper(), rec.alt.split(",")[0].upper()
    if len(ref) == 1 and len(alt) == 1 and ref in "ACGT" and alt in "ACGT":
        r, a = _ints(rec.sample_value(k, f"{ref}U")), _ints(rec.sample_value(k, f"{alt}U"))
        if r and a and r[0] + a[0] > 0:
            return a[0] / (r[0] + a[0])
    return None


def deidentified_header(header: Header, token: str) -> list[str]:
    """Header of a one-sample de-identified copy: only the kept meta lines, the column renamed."""
    lines = [header.fileformat_line or "##fileformat=VCFv4.2", *header.kept_meta()]
    lines.append("#" + "\t".join([*FIXED, "FORMAT", token]))
    return lines


def deidentified_record(fixed: list[str], samples: list[str], k: int) -> str:
    """One record of a one-sample copy: the 9 fixed columns and sample ``k``'s column."""
    fixed = fixed + ["."] * (9 - len(fixed))
    return "\t".join([*fixed[:9], samples[k] if k < len(samples) else "."])
