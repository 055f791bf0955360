"""Genomics modality: tumor variant calls (VCF per sample, or MAF) and sequencing QC metrics.

Sources (cohort.yaml ``sources.genomics``):

- ``format: vcf``: one VCFv4.x per tumor sample (plain or gzip), a file, a folder or a glob. The
  sample columns are named by hospital sample IDs and ``##SAMPLE`` / ``##...CommandLine`` lines
  repeat them: identifiers that never leave this step.
- ``format: maf``: a MAF (GDC / TCGA, vcf2maf); ``Tumor_Sample_Barcode`` is the sample ID.
- ``format: tsv`` (``table: qc``): sequencing QC per sample: sample_id, mean_depth, pct_q30,
  pct_target_100x (``columns`` maps other headers).

Options (on any source): ``sample_sheet`` (or ``samples``): a CSV/TSV/Excel linking sample_id to
admission_number and site (optional tissue / specimen); ``patient_id_pattern``: a regex whose
first group is the admission number inside a sample ID (TCGA barcodes), for samples the sheet does
not list; ``reference``: GRCh38 (default) or GRCh37, for genomic driver positions;
``min_depth`` / ``min_q30`` / ``min_target_100x``: QC thresholds (also settable as decisions).

Nothing is lost (see :func:`load`): each file's records are counted by a byte-level pass independent
of the parser (one ledger row per file). Quarantine reasons: ``malformed_line`` and ``malformed_info``
(one record), ``unparsed_records`` (records counted but not returned by a reader), and whole files
with every record read from them: ``truncated_gzip``, ``corrupt_gzip``, ``unreadable_file``,
``missing_columns`` (a MAF without a required column). Empty files and folders are the
``genomics.completeness.source_empty`` finding.

Outputs: ``data/genomics/variants.parquet`` and ``samples.parquet`` (keyed ``patient`` and
``sample`` tokens), ``variants.maf`` (the same calls for MAF tools), and one de-identified VCF per
sample, ``data/genomics/vcf/<sample token>.vcf``, whose header keeps only ##fileformat, ##INFO,
##FORMAT, ##FILTER, ##contig and ##reference lines.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...deid.collect import note_unmapped
from ...deid.registry import IdentifierRegistry, Kind
from ...errors import SourceError
from ...io.readers import apply_mapping, read_table
from ..base import ModalityData, ModalitySpec
from . import _drivers, _maf, _vcf
from ._qc import checks, figures

if TYPE_CHECKING:
    from ..base import Context, Source

__all__ = ["SPEC", "checks", "figures", "load", "standardize", "write"]

SPEC = ModalitySpec(name="genomics", label="Genomics", formats=("vcf", "maf", "tsv"), notebook="genomics.ipynb",
                    dictionary="genomics", outputs=("parquet", "vcf", "maf"), order=50,
                    description="Tumor variant calls (VCF / MAF): driver mutations and fusions; sequencing QC")

NAME = "genomics"
PATIENT = "patient"
QC_FIELDS = ("sample_id", "mean_depth", "pct_q30", "pct_target_100x", "tissue")
SHEET_FIELDS = ("sample_id", "admission_number", "site", "tissue", "specimen")
VARIANT_COLUMNS = ["patient", "site", "sample", "file", "chrom", "pos", "ref", "alt", "gene", "protein_change",
                   "vaf", "depth", "filter", "variant_type", "driver"]
SAMPLE_COLUMNS = ["patient", "site", "sample", "tissue", "mean_depth", "pct_q30", "pct_target_100x",
                  "n_variants", "n_drivers", "source_format"]


@dataclass
class _Link:
    """Sample ID -> (admission number, site, tissue) from the sample sheets; memory only."""

    sheet: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    def find(self, sample_id: str, site: str = "") -> tuple[str, str, str] | None:
        hit = self.sheet.get(sample_id.strip())
        if hit is not None:
            return hit
        for rx, src_site in self.patterns:
            m = rx.match(sample_id)
            if m:
                return (m.group(1) if m.groups() else m.group(0), site or src_site, "")
        return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _root_of(src: Source, ctx: Context) -> Path:
    """The source root that file tokens are relative to: the glob's fixed folder, the folder named,
    or the file's folder."""
    p = ctx.config.resolve(src.config.path)
    parts = p.parts
    fixed = [q for q in parts if not any(ch in q for ch in "*?[")]
    if len(fixed) < len(parts):
        return Path(*parts[: parts.index(next(q for q in parts if any(ch in q for ch in "*?[")))])
    return p if p.is_dir() else p.parent


def _files(src: Source) -> list[Path]:
    out: list[Path] = []
    suffixes = {"vcf": (".vcf", ".vcf.gz", ".vcf.bgz"), "maf": (".maf", ".maf.gz", ".txt", ".tsv")}.get(
        src.config.format, ())
    for f in src.files:
        if f.is_dir():
            out += sorted(p for p in f.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        else:
            out.append(f)
    return out


def _read_sheets(sources: list[Source], ctx: Context, data: ModalityData) -> _Link:
    link = _Link()
    seen: set[Path] = set()
    for src in sources:
        opts = src.config.options
        pattern = opts.get("patient_id_pattern")
        if pattern:
            link.patterns.append((re.compile(str(pattern)), src.site))
        rel = opts.get("sample_sheet") or opts.get("samples")
        if not rel:
            continue
        path = ctx.config.resolve(str(rel))
        if path in seen:
            continue
        seen.add(path)
        fmt = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "excel", ".xls": "excel",
               ".parquet": "parquet"}.get(path.suffix.lower(), "csv")
        if not path.is_file():
            msg = (f"{src.key}.options.sample_sheet: {rel!r} is not a file under {ctx.config.base_dir}; "
                   "give the sample sheet's path relative to cohort.yaml")
            raise SourceError(msg)
        rt = read_table(path, format=fmt, encoding=src.config.encoding)
        df, unmapped = apply_mapping(rt.frame, columns=opts.get("sample_sheet_columns", {}) or {},
                                     known=SHEET_FIELDS)
        note_unmapped(data.identifiers, rt.frame, unmapped)  # a 姓名 column in a sample sheet
        if "sample_id" not in df.columns or "admission_number" not in df.columns:
            msg = (f"{src.key}.options.sample_sheet: the sheet needs sample_id and admission_number columns "
                   "(map other headers with options.sample_sheet_columns)")
            raise SourceError(msg)
        tissue = df["tissue"] if "tissue" in df else df.get("specimen", pd.Series("", index=df.index))
        site = df["site"] if "site" in df else pd.Series(src.site, index=df.index)
        for sid, mrn, s, t in zip(df["sample_id"], df["admission_number"], site, tissue, strict=True):
            if sid and mrn:
                link.sheet.setdefault(sid.strip(), (mrn.strip(), (s or src.site or "").strip(), t or ""))
        _note_identifiers(data, list(df["sample_id"]))
        data.identifiers.add_many(Kind.admission_number, [v for v in df["admission_number"] if v])
    return link


def _pseudonym(link: _Link, sample_id: str, site: str, ctx: Context) -> str:
    hit = link.find(sample_id, site)
    return ctx.keyring.patient(hit[0], site=hit[1]) if hit else ""


# ------------------------------------------------------------------------------------ load
def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources (sheets, VCF headers, sample ids), for the cohort registry."""
    return load(sources, ctx=ctx).identifiers


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read every VCF / MAF / QC file; malformed records and unreadable files are quarantined.

    Each file's records are counted twice: by the parser, and by a byte-level count of its data
    lines (the ledger's ``n_in``, one ledger row per file); records the parser did not return are
    quarantined as ``unparsed_records``. A compressed file that cannot be read to its end
    (``truncated_gzip``, ``corrupt_gzip``), a file that cannot be read (``unreadable_file``) and a
    MAF without a required column (``missing_columns``) are quarantined whole, with the records read
    from them: a partial call set would read as wild-type for every call it lost. An empty file
    (0 bytes, or a header and no records) and a folder without files are listed for the
    ``genomics.completeness.source_empty`` check.
    """
    data = ModalityData(NAME)
    link = _read_sheets(sources, ctx, data)
    calls: list[dict[str, Any]] = []
    vcfs: list[dict[str, Any]] = []
    mafs: list[dict[str, Any]] = []
    qc: list[pd.DataFrame] = []
    records: dict[tuple[str, str], int] = {}  # (source key, file token) -> the file's independent count
    notes: dict[tuple[str, str], str] = {}  # why a file gave no record
    n_files, bad_files = 0, Counter[str]()
    for src in sources:
        root = _root_of(src, ctx)
        fmt = src.config.format
        files = _files(src)
        if not files:
            records[(src.key, "")] = 0
            notes[(src.key, "")] = f"the folder holds no {fmt} file"
        for path in files:
            n_files += 1
            token = ctx.keyring.token("file", _relative(path, root))
            try:
                if fmt == "vcf":
                    got = _load_vcf(path, token, src, link, ctx, data, calls)
                    vcfs += [got.entry] if got.entry else []
                elif fmt == "maf":
                    got = _load_maf(path, token, src, data, calls)
                    mafs += [got.entry] if got.entry else []
                else:
                    got = _load_qc(path, token, src, data)
                    qc += [got.entry] if got.entry is not None else []
            except (OSError, UnicodeDecodeError, SourceError) as exc:
                detail = str(exc).split(": ", 1)[-1] if isinstance(exc, SourceError) else type(exc).__name__
                got = _set_aside(data, src, token, "unreadable_file", _n_records(path, fmt),
                                 f"cannot read as {fmt}: {detail}; check `format:` and the file")
            got.record(data, src.key, token)
            if got.file_reason:
                bad_files[got.file_reason] += 1
            records[(src.key, token)] = got.n_in
            if got.empty or got.file_reason:
                notes[(src.key, token)] = got.empty or f"set aside as {got.file_reason} (see the quarantine)"
    data.ledger.record("load:files", n_in=n_files, n_accepted=n_files - bad_files.total(),
                       quarantined=dict(bad_files) or None)
    data.objects.update(calls=calls, vcfs=vcfs, mafs=mafs, qc=qc, link=link, source_records=records,
                        source_notes=notes)
    return data


@dataclass
class _FileRead:
    """What one file gave: its independent record count, records accepted and set aside by reason."""

    n_in: int
    n_accepted: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    file_reason: str = ""  # the reason code of a file set aside whole
    empty: str = ""  # why the file holds no record (0 bytes, a header only)
    entry: Any = None  # what the standardize step needs (VCF header and records, MAF audit, QC frame)

    def __post_init__(self) -> None:
        self.n_in = max(self.n_in, 0)

    def record(self, data: ModalityData, key: str, token: str) -> None:
        if self.file_reason:  # every record the file holds goes with it
            self.n_accepted, self.quarantined = 0, Counter({self.file_reason: self.n_in} if self.n_in else {})
        data.ledger.record("load", source=f"{key} file {token}", n_in=self.n_in, n_accepted=self.n_accepted,
                           quarantined={k: v for k, v in self.quarantined.items() if v} or None)


def _set_aside(data: ModalityData, src: Source, token: str, reason: str, n_in: int, what: str, *,
               pseudonym: str = "") -> _FileRead:
    """Quarantine a whole file (one row naming how many records it held); its records are counted."""
    data.quarantine.add(stage="load", source=src.key, record=token, pseudonym=pseudonym, field="(file)",
                        reason=reason, detail=f"site {src.site or '-'}: {what}; {n_in} record(s) read from it are "
                                          "set aside with the file")
    return _FileRead(n_in, file_reason=reason)


def _n_records(path: Path, fmt: str) -> int:
    """Records of a file by the byte-level count: data lines, less the header line of a MAF or table."""
    n = _vcf.count_data_lines(path, comments=fmt != "tsv").n_data
    return n if fmt == "vcf" else max(n - 1, 0)


def _empty(path: Path, n_parsed: int) -> str:
    if n_parsed:
        return ""
    return "0-byte file" if path.stat().st_size == 0 else "header only"  # the words of the table readers


def _unparsed(data: ModalityData, src: Source, token: str, n_in: int, n_parsed: int, got: _FileRead) -> None:
    """Records the byte-level count found and the parser did not return (a reader bug or an
    encoding surprise): set aside by number, never silently lost."""
    if n_in > n_parsed:
        got.quarantined["unparsed_records"] += n_in - n_parsed
        data.quarantine.add(stage="load", source=src.key, record=token, field="(lines)", reason="unparsed_records",
                            detail=f"site {src.site or '-'}: {n_in - n_parsed} data line(s) counted in the file were "
                                   "not returned by the reader; check the file's line endings and encoding")


# ##SAMPLE keys whose values name a sample or a person (Tissue=tumor is not an identifier)
_ID_KEYS = {"ID", "SampleName", "Name", "File", "SampleUUID", "SampleTCGABarcode", "Individual", "Patient",
            "Barcode", "Library"}
_PERSON_KEYS = {"Name", "Individual", "Patient", "Donor", "Subject"}  # may hold a person's name
# column names that are roles, not identifiers (the leak scan must not hunt for the word "tumor")
_GENERIC = {"TUMOR", "TUMOUR", "NORMAL", "SAMPLE", "SAMPLE1", "SAMPLE2", "CASE", "CONTROL"}


def _note_identifiers(data: ModalityData, values: list[str], *, kind: str = "sample_id") -> None:
    kept = [v for v in values if v and v.strip().upper() not in _GENERIC]
    if kind == "name":
        for v in kept:
            data.identifiers.add_name(v)
    else:
        data.identifiers.add_many(Kind(kind), kept)


def _info_annotation(info: dict[str, str]) -> tuple[str, str]:
    """Gene and protein change from INFO: GENE / HGVSP style keys, else SnpEff's ANN."""
    gene = info.get("GENE") or info.get("Gene") or info.get("SYMBOL") or info.get("GENEINFO", "").split(":")[0]
    prot = info.get("HGVSP") or info.get("HGVSp") or info.get("HGVS_P") or ""
    if (not gene or not prot) and "ANN" in info:
        first = info["ANN"].split(",")[0].split("|")
        if len(first) > 10:
            gene = gene or first[3]
            prot = prot or first[10]
    return gene, prot


def _load_vcf(path: Path, token: str, src: Source, link: _Link, ctx: Context, data: ModalityData,
              calls: list[dict[str, Any]]) -> _FileRead:
    count = _vcf.count_data_lines(path)
    header, records = _vcf.read_vcf(path)
    _note_identifiers(data, header.samples)
    for meta in header.sample_meta.values():
        _note_identifiers(data, [v for k, v in meta.items() if k in _ID_KEYS])
        _note_identifiers(data, [v for k, v in meta.items() if k in _PERSON_KEYS], kind="name")
    first_patient = next((p for p in (_pseudonym(link, s, src.site, ctx) for s in header.samples) if p), "")
    site = next((h[1] for h in (link.find(s, src.site) for s in header.samples) if h), src.site)
    kept: list[tuple[list[str], list[str]]] = []
    bad: list[_vcf.BadRecord] = []
    damage: _vcf.Damage | None = None
    file_calls: list[dict[str, Any]] = []
    n_rec = 0
    for rec in records:
        if isinstance(rec, _vcf.Damage):
            damage = rec
            break
        if isinstance(rec, _vcf.BadRecord):
            bad.append(rec)
            continue
        n_rec += 1
        kept.append((rec.raw_fixed, rec.raw_samples))
        gene, prot = _info_annotation(rec.info)
        alts = rec.alt.split(",")
        ks = range(len(header.samples)) if header.samples else [None]
        for k in ks:
            carries, allele = _vcf.carries_alt(rec, k) if k is not None else (True, 1)
            base = {"file": token, "sample_id": header.samples[k] if k is not None else "", "_line": rec.line,
                    "_source": src.key, "_site": src.site, "_format": "vcf"}
            if not carries:
                file_calls.append({**base, "_no_alt": True})
                continue
            depth, vaf = _vcf.depth_and_vaf(rec, k, allele) if k is not None else (None, None)
            file_calls.append({**base, "chrom": rec.chrom, "pos": rec.pos, "ref": rec.ref,
                               "alt": alts[min(max(allele, 1), len(alts)) - 1], "gene": gene, "protein_change": prot,
                               "vaf": vaf, "depth": depth, "filter": rec.filter, "_svtype": rec.info.get("SVTYPE", "")})
    damage = damage or count.damage
    if damage is not None:
        at = f"after line {damage.line}" if damage.line > 0 else "before its first line"
        return _set_aside(data, src, token, damage.reason, count.n_data,
                          f"{damage.detail}, {at}; a partial call set would read as wild-type for every call it "
                          "lost: copy or export the file again", pseudonym=first_patient)
    for b in bad:
        data.quarantine.add(stage="load", source=src.key, record=token, pseudonym=first_patient,
                            field="INFO" if b.code == "malformed_info" else "(line)", reason=b.code,
                            detail=f"site {site}: line {b.line}: {b.reason}; fix or re-export this record")
    got = _FileRead(count.n_data, n_rec, Counter(b.code for b in bad))
    _unparsed(data, src, token, count.n_data, n_rec + len(bad), got)
    got.empty = _empty(path, n_rec + len(bad))
    if not got.empty:
        calls.extend(file_calls)
        got.entry = {"file": token, "source": src.key, "site": src.site, "header": header, "records": kept,
                     "n_records": n_rec, "n_bad": len(bad)}
    return got


def _load_maf(path: Path, token: str, src: Source, data: ModalityData, calls: list[dict[str, Any]]) -> _FileRead:
    count = _vcf.count_data_lines(path)
    n_in = max(count.n_data - 1, 0)  # the header line is not a record
    maf = _maf.read_maf(path)
    df = maf.frame
    if maf.n_records and "sample_id" in df:
        _note_identifiers(data, list(df["sample_id"].unique()))
    damage = maf.damage or count.damage
    if damage is not None:
        at = f"after line {damage.line}" if damage.line > 0 else "before its first line"
        return _set_aside(data, src, token, damage.reason, n_in,
                          f"{damage.detail}, {at}; copy or export the file again")
    if maf.missing:
        got = _set_aside(data, src, token, "missing_columns", n_in,
                         f"the MAF header lacks the required column(s) {', '.join(maf.missing)}; export the MAF "
                         f"with every column of {', '.join(_maf.REQUIRED)}")
        got.entry = {"file": token, "source": src.key, "problems": maf.problems}
        return got
    for b in maf.bad:
        data.quarantine.add(stage="load", source=src.key, record=token, field="(line)", reason=b.code,
                            detail=f"site {src.site}: line {b.line}: {b.reason}; fix or re-export this line")
    got = _FileRead(n_in, len(df), Counter(b.code for b in maf.bad))
    _unparsed(data, src, token, got.n_in, len(df) + len(maf.bad), got)
    got.empty = _empty(path, len(df) + len(maf.bad))
    if got.empty:
        return got
    if len(df):
        df = df.assign(file=token, _source=src.key, _site=src.site, _format="maf",
                       _svtype="", filter=df["filter"] if "filter" in df else "")
        calls.extend(df.to_dict("records"))
    got.entry = {"file": token, "source": src.key, "problems": maf.problems}
    return got


def _load_qc(path: Path, token: str, src: Source, data: ModalityData) -> _FileRead:
    """A QC table; its records are counted by the table reader's own independent count."""
    try:
        rt = read_table(path, format="tsv" if src.config.format == "tsv" else src.config.format,
                        encoding=src.config.encoding, sep=src.config.options.get("sep"))
    except SourceError as exc:
        return _set_aside(data, src, token, getattr(exc, "reason", "unreadable_file"), _n_records(path, "tsv"),
                          f"cannot read as a table: {str(exc).split(': ', 1)[-1]}")
    if rt.n_records == 0:
        return _FileRead(0, empty=rt.empty or _empty(path, 0))
    df, _ = apply_mapping(rt.frame, columns=src.config.columns, known=QC_FIELDS, values=src.config.values,
                          missing=src.config.missing)
    for b in rt.bad_lines:
        data.quarantine.add(stage="load", source=src.key, record=token, field="(line)", reason=b.reason,
                            detail=f"{b.describe(src.site)} ({b.record})")
    got = _FileRead(rt.n_records, len(df), Counter(rt.quarantined()))
    if "sample_id" in df:
        _note_identifiers(data, list(df["sample_id"]))
    got.entry = df.assign(_source=src.key, _site=src.site)
    return got


# ------------------------------------------------------------------------------ standardize
def _tissue(text: str, sample_id: str, meta: dict[str, str]) -> str:
    t = (text or meta.get("Tissue", "") or meta.get("SampleType", "")).lower()
    if any(w in t for w in ("tumor", "tumour", "cancer", "肿瘤", "癌")):
        return "tumor"
    if any(w in t for w in ("normal", "blood", "germline", "正常", "血")):
        return "normal"
    sid = sample_id.upper()
    if sid in ("TUMOR", "TUMOUR"):
        return "tumor"
    if sid == "NORMAL":
        return "normal"
    m = re.match(r"^TCGA-\w{2}-\w{4}-(\d{2})", sample_id)
    if m:  # TCGA sample type: 01-09 tumor, 10-19 normal
        return "tumor" if int(m.group(1)) < 10 else "normal"
    return "unknown"


def _num(s: pd.Series | None, index: pd.Index) -> pd.Series:
    if s is None:
        return pd.Series(float("nan"), index=index, dtype="float64")
    return pd.to_numeric(s.astype("string").str.strip().str.rstrip("%").str.rstrip("xX"),
                         errors="coerce").astype("float64")


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Tidy variants and samples tables keyed by pseudonyms; de-identified VCF copies in memory."""
    link: _Link = data.objects.pop("link")
    calls: list[dict[str, Any]] = data.objects.pop("calls")
    vcfs: list[dict[str, Any]] = data.objects.pop("vcfs")
    qc_frames: list[pd.DataFrame] = data.objects.pop("qc")
    reference = next((str(s.options["reference"]) for s in ctx.config.sources.get(NAME, [])
                      if s.options.get("reference")), "GRCh38")

    sample_tokens: dict[str, str] = {}
    meta: dict[str, dict[str, str]] = {}
    for v in vcfs:
        meta.update(v["header"].sample_meta)

    def tok(sid: str) -> str:
        if sid not in sample_tokens:
            sample_tokens[sid] = ctx.keyring.token("sample", sid)
        return sample_tokens[sid]

    def patient_site(sid: str, site: str) -> tuple[str, str]:
        hit = link.find(sid, site)
        return (ctx.keyring.patient(hit[0], site=hit[1]), hit[1]) if hit else ("", site)

    # ---- variants
    raw = pd.DataFrame(calls)
    n_in = len(raw)
    no_alt = (raw["_no_alt"].map(lambda x: x is True) if "_no_alt" in raw
              else pd.Series(False, index=raw.index)).astype(bool)
    raw = raw.loc[~no_alt].reset_index(drop=True)
    for col in ["sample_id", "chrom", "pos", "ref", "alt", "gene", "protein_change", "vaf", "depth", "filter",
                "_svtype", "_site", "file", "_line", "_source", "_format"]:
        if col not in raw:
            raw[col] = pd.Series(dtype="object")
    sids = raw["sample_id"].astype("string").fillna("")
    ps = [patient_site(s, site or "") for s, site in zip(sids, raw["_site"].fillna(""), strict=True)]
    variants = pd.DataFrame({
        PATIENT: pd.Series([p for p, _ in ps], dtype="string").replace("", pd.NA),
        "site": pd.Series([s for _, s in ps], dtype="string").replace("", pd.NA),
        "sample": pd.Series([tok(s) for s in sids], dtype="string"),
        "file": raw["file"].astype("string"),
        "chrom": raw["chrom"].astype("string"),
        "pos": pd.to_numeric(raw["pos"], errors="coerce").astype("Int64"),
        "ref": raw["ref"].astype("string"), "alt": raw["alt"].astype("string"),
        "gene": raw["gene"].astype("string").replace("", pd.NA),
        "protein_change": raw["protein_change"].astype("string").replace("", pd.NA),
        "vaf": pd.to_numeric(raw["vaf"], errors="coerce").astype("float64"),
        "depth": pd.to_numeric(raw["depth"], errors="coerce").astype("Int64"),
        "filter": raw["filter"].astype("string"),
        "_line": pd.to_numeric(raw["_line"], errors="coerce").astype("Int64"),
        "_source": raw["_source"].astype("string"), "_format": raw["_format"].astype("string"),
    })
    variants["variant_type"] = _drivers.variant_type(variants["ref"], variants["alt"], raw["_svtype"])
    variants["driver"] = _drivers.call_drivers(variants, reference=reference)
    data.ledger.record("standardize:variants", n_in=n_in, n_accepted=len(variants),
                       excluded={"no_alt_allele": int(no_alt.sum())} if no_alt.any() else None)

    # ---- samples: every sample seen in calls or QC
    rows: dict[str, dict[str, Any]] = {}
    for v in vcfs:
        for sid in v["header"].samples:
            rows.setdefault(sid, {"sample_id": sid, "site": v["site"], "source_format": "vcf"})
    for sid, site, fmt in zip(raw["sample_id"], raw["_site"], raw["_format"], strict=True):
        if isinstance(sid, str) and sid:
            rows.setdefault(sid, {"sample_id": sid, "site": site or "", "source_format": fmt})
    qc_all = pd.concat(qc_frames, ignore_index=True) if qc_frames else pd.DataFrame(columns=["sample_id"])
    n_qc = len(qc_all)
    qc_all = qc_all[qc_all["sample_id"].astype("string").fillna("").str.strip() != ""] if len(qc_all) else qc_all
    missing_id = n_qc - len(qc_all)
    dup = qc_all["sample_id"].duplicated(keep="first") if len(qc_all) else pd.Series(dtype=bool)
    for r in qc_all.loc[dup].itertuples(index=False) if len(qc_all) else []:
        data.quarantine.add(stage="standardize:qc", source=str(r._asdict().get("_source", "")),
                            record=tok(str(r.sample_id)), reason="duplicate_qc_row", field="sample_id",
                            detail="the sample has an earlier QC row; keep one row per sample in the QC file")
    qc_all = qc_all.loc[~dup] if len(qc_all) else qc_all
    data.ledger.record("standardize:qc", n_in=n_qc, n_accepted=len(qc_all),
                       quarantined={k: v for k, v in {"missing_id": missing_id,
                                                      "duplicate_qc_row": int(dup.sum()) if len(dup) else 0}.items()
                                    if v} or None)
    for r in qc_all.to_dict("records"):
        sid = str(r["sample_id"]).strip()
        rows.setdefault(sid, {"sample_id": sid, "site": r.get("_site") or "", "source_format": "qc"})
        rows[sid].update({k: r.get(k) for k in ("mean_depth", "pct_q30", "pct_target_100x")})
        rows[sid]["_qc_row"] = r.get("_line")
        if r.get("tissue"):
            rows[sid]["_tissue_qc"] = r["tissue"]
    srows = list(rows.values())
    sdf = pd.DataFrame(srows, columns=["sample_id", "site", "source_format", "mean_depth", "pct_q30",
                                       "pct_target_100x", "_qc_row", "_tissue_qc"])
    ps2 = [patient_site(s, site or "") for s, site in zip(sdf["sample_id"], sdf["site"].fillna(""), strict=True)]
    tissue = []
    for sid, tq in zip(sdf["sample_id"], sdf["_tissue_qc"], strict=True):
        hit = link.find(sid)
        given = (hit[2] if hit else "") or (tq if isinstance(tq, str) else "")
        tissue.append(_tissue(given, sid, meta.get(sid, {})))
    per_sample = variants.groupby("sample").agg(n_variants=("sample", "size"),
                                                n_drivers=("driver", lambda d: int((d != "").sum())))
    samples = pd.DataFrame({
        PATIENT: pd.Series([p for p, _ in ps2], dtype="string").replace("", pd.NA),
        "site": pd.Series([s for _, s in ps2], dtype="string").replace("", pd.NA),
        "sample": pd.Series([tok(s) for s in sdf["sample_id"]], dtype="string"),
        "tissue": pd.Series(tissue, dtype="string"),
        "mean_depth": _num(sdf["mean_depth"], sdf.index), "pct_q30": _num(sdf["pct_q30"], sdf.index),
        "pct_target_100x": _num(sdf["pct_target_100x"], sdf.index),
        "source_format": sdf["source_format"].astype("string"),
        "_in_qc": sdf["_qc_row"].notna().to_numpy(),
        "_line": pd.to_numeric(sdf["_qc_row"], errors="coerce").astype("Int64"),
    })
    samples["n_variants"] = samples["sample"].map(per_sample["n_variants"]).fillna(0).astype("Int64")
    samples["n_drivers"] = samples["sample"].map(per_sample["n_drivers"]).fillna(0).astype("Int64")
    data.ledger.record("standardize:samples", n_in=len(samples), n_accepted=len(samples))

    # ---- de-identified VCF copies (one per sample column) and the header audit
    copies: dict[str, list[str]] = {}
    audit = []
    for v in vcfs:
        h: _vcf.Header = v["header"]
        pts = [patient_site(s, v["site"])[0] for s in h.samples]
        audit.append({"file": v["file"], "source": v["source"], "version": h.version or "",
                      "problems": list(h.problems), "n_samples": len(h.samples), "n_records": v["n_records"],
                      PATIENT: next((p for p in pts if p), "")})
        for k, sid in enumerate(h.samples):
            name = tok(sid)
            if name in copies:  # the same sample in two VCFs (e.g. SNV and SV calls): keep both
                name = f"{name}.{v['file']}"
            copies[name] = [*_vcf.deidentified_header(h, tok(sid)),
                            *(_vcf.deidentified_record(f, s, k) for f, s in v["records"])]
    maf_audit = [{"file": m["file"], "source": m["source"], "problems": list(m["problems"])}
                 for m in data.objects.pop("mafs")]
    data.tables = {"variants": variants, "samples": samples}
    data.objects.update(vcf_copies=copies, vcf_audit=pd.DataFrame(audit), maf_audit=pd.DataFrame(maf_audit))
    data.standardized = True
    return data


# ------------------------------------------------------------------------------------ write
def _maf_frame(variants: pd.DataFrame) -> pd.DataFrame:
    """The calls as a minimal MAF (sample tokens as barcodes; VCF-style alleles kept as called)."""
    v = variants
    ref_len = v["ref"].astype("string").str.len().fillna(1).astype(int)
    return pd.DataFrame({
        "Hugo_Symbol": v["gene"].fillna("Unknown"), "Chromosome": v["chrom"], "Start_Position": v["pos"],
        "End_Position": (v["pos"] + ref_len - 1).astype("Int64"), "Variant_Type": v["variant_type"],
        "Reference_Allele": v["ref"], "Tumor_Seq_Allele2": v["alt"], "Tumor_Sample_Barcode": v["sample"],
        "HGVSp_Short": v["protein_change"].fillna(""), "t_depth": v["depth"],
        "t_alt_count": (v["vaf"] * v["depth"].astype("float64")).round().astype("Int64"), "FILTER": v["filter"],
        "driver": v["driver"],
    })


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    import pyarrow as pa

    v = data.tables["variants"][VARIANT_COLUMNS]
    s = data.tables["samples"][SAMPLE_COLUMNS]
    types = {"pos": pa.int64(), "vaf": pa.float64(), "depth": pa.int64()}
    vs = pa.schema([(c, types.get(c, pa.string())) for c in VARIANT_COLUMNS])
    ss = pa.schema([(c, pa.string()) for c in SAMPLE_COLUMNS[:4]]
                   + [(c, pa.float64()) for c in ("mean_depth", "pct_q30", "pct_target_100x")]
                   + [("n_variants", pa.int64()), ("n_drivers", pa.int64()), ("source_format", pa.string())])
    out = [ctx.bundle.write_parquet(f"data/{NAME}/variants.parquet", v.reset_index(drop=True), schema=vs),
           ctx.bundle.write_parquet(f"data/{NAME}/samples.parquet", s.reset_index(drop=True), schema=ss)]
    out.append(ctx.bundle.write_text(f"data/{NAME}/variants.maf",
                                     _maf_frame(v).to_csv(sep="\t", index=False, lineterminator="\n")))
    for name, lines in data.objects.get("vcf_copies", {}).items():
        out.append(ctx.bundle.write_text(f"data/{NAME}/vcf/{name}.vcf", "\n".join(lines) + "\n"))
    return out
