"""Genomics load: sample sheets, then every VCF / MAF / QC file, each counted twice (by its reader
and by a byte-level count of its data lines) so that nothing is lost without a reason.

Holds identifiers (sample IDs, admission numbers, VCF headers); :mod:`curation.modalities.genomics`
replaces them with tokens in ``standardize``.
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
from ..base import ModalityData
from . import _maf, _vcf
from ._options import GenomicsOptions

if TYPE_CHECKING:
    from ..base import Context, Source

NAME = "genomics"
QC_FIELDS = ("sample_id", "mean_depth", "pct_q30", "pct_target_100x", "tissue")
SHEET_FIELDS = (
    "sample_id",
    "admission_number",
    "site",
    "tissue",
    "specimen",
    "specimen_id",
    "collection_date",
    "report_date",
)
SHEET_DATES = ("collection_date", "report_date")


@dataclass
class _Link:
    """Sample ID -> (admission number, site, tissue) from the sample sheets, and the sample's pathology
    specimen number and dates (text as written) where the sheet gives them; memory only."""

    sheet: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)
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
        src.config.format, ()
    )
    for f in src.files:
        if f.is_dir():
            out += sorted(p for p in f.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        else:
            out.append(f)
    return out


def _read_sheets(sources: list[Source[GenomicsOptions]], ctx: Context, data: ModalityData) -> _Link:
    link = _Link()
    seen: set[Path] = set()
    for src in sources:
        opts = src.options
        if opts.patient_id_pattern:
            link.patterns.append((re.compile(opts.patient_id_pattern), src.site))
        rel = opts.sample_sheet
        if not rel:
            continue
        path = ctx.config.resolve(rel)
        if path in seen:
            continue
        seen.add(path)
        fmt = {
            ".csv": "csv",
            ".tsv": "tsv",
            ".txt": "tsv",
            ".xlsx": "excel",
            ".xls": "excel",
            ".parquet": "parquet",
        }.get(path.suffix.lower(), "csv")
        if not path.is_file():
            msg = (
                f"{src.key}.options.sample_sheet: {rel!r} is not a file under {ctx.config.base_dir}; "
                "give the sample sheet's path relative to cohort.yaml"
            )
            raise SourceError(msg)
        token = ctx.keyring.token("file", _relative(path, ctx.config.base_dir))

        def _sheet(reason: str, what: str, *, line: bool = False, _key: str = src.key, _token: str = token) -> None:
            unlinked = "the sample on this line is" if line else "the samples it lists are"
            data.quarantine.add(
                stage="load:sample_sheet",
                source=_key,
                record=_token,
                field="(line)" if line else "(file)",
                reason=reason,
                detail=f"{_key}.options.sample_sheet: {what}; until it is fixed, {unlinked} not linked to a patient",
            )

        try:
            rt = read_table(path, format=fmt, encoding=src.config.encoding)
        except SourceError as exc:  # a damaged sheet is a finding (samples unlinked), not a crash
            _sheet(getattr(exc, "reason", "unreadable_file"), f"cannot be read: {str(exc).split(': ', 1)[-1]}")
            continue
        df, unmapped = apply_mapping(rt.frame, columns=dict(opts.sample_sheet_columns), known=SHEET_FIELDS)
        note_unmapped(data.identifiers, rt.frame, unmapped)  # a 姓名 column in a sample sheet
        for b in rt.bad_lines:
            _sheet(b.reason, f"{b.record}: {b.describe()}", line=True)
        if "sample_id" not in df.columns or "admission_number" not in df.columns:
            _sheet(
                "missing_columns",
                "the sheet needs sample_id and admission_number columns (map other headers "
                "with options.sample_sheet_columns)",
            )
            continue
        tissue = df["tissue"] if "tissue" in df else df.get("specimen", pd.Series("", index=df.index))
        site = df["site"] if "site" in df else pd.Series(src.site, index=df.index)
        for sid, mrn, s, t in zip(df["sample_id"], df["admission_number"], site, tissue, strict=True):
            if sid and mrn:
                link.sheet.setdefault(sid.strip(), (mrn.strip(), (s or src.site or "").strip(), t or ""))
        extra = [c for c in ("specimen_id", *SHEET_DATES) if c in df.columns]
        for row in df[["sample_id", *extra]].to_dict("records") if extra else []:
            sid = _text(row.pop("sample_id"))
            if sid:
                link.extra.setdefault(sid, {k: _text(v) for k, v in row.items()})
        if "specimen_id" in df.columns:
            data.identifiers.add_many(Kind.specimen_id, [v for v in df["specimen_id"] if v])
        _note_identifiers(data, list(df["sample_id"]))
        data.identifiers.add_many(Kind.admission_number, [v for v in df["admission_number"] if v])
    return link


def _text(v: object) -> str:
    return v.strip() if isinstance(v, str) else ""


def _pseudonym(link: _Link, sample_id: str, site: str, ctx: Context) -> str:
    hit = link.find(sample_id, site)
    return ctx.keyring.patient(hit[0], site=hit[1]) if hit else ""


# ------------------------------------------------------------------------------------ load
def identifiers(sources: list[Source[GenomicsOptions]], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources (sheets, VCF headers, sample ids), for the cohort registry."""
    return load(sources, ctx=ctx).identifiers


def load(sources: list[Source[GenomicsOptions]], *, ctx: Context) -> ModalityData:
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
                got = _set_aside(
                    data,
                    src,
                    token,
                    "unreadable_file",
                    _n_records(path, fmt),
                    f"cannot read as {fmt}: {detail}; check `format:` and the file",
                )
            got.record(data, src.key, token)
            if got.file_reason:
                bad_files[got.file_reason] += 1
            records[(src.key, token)] = got.n_in
            if got.empty or got.file_reason:
                notes[(src.key, token)] = got.empty or f"set aside as {got.file_reason} (see the quarantine)"
    data.ledger.record(
        "load:files", n_in=n_files, n_accepted=n_files - bad_files.total(), quarantined=dict(bad_files) or None
    )
    data.objects.update(calls=calls, vcfs=vcfs, mafs=mafs, qc=qc, link=link, source_records=records, source_notes=notes)
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
        data.ledger.record(
            "load",
            source=f"{key} file {token}",
            n_in=self.n_in,
            n_accepted=self.n_accepted,
            quarantined={k: v for k, v in self.quarantined.items() if v} or None,
        )


def _set_aside(
    data: ModalityData, src: Source, token: str, reason: str, n_in: int, what: str, *, pseudonym: str = ""
) -> _FileRead:
    """Quarantine a whole file (one row naming how many records it held); its records are counted."""
    data.quarantine.add(
        stage="load",
        source=src.key,
        record=token,
        pseudonym=pseudonym,
        field="(file)",
        reason=reason,
        detail=f"site {src.site or '-'}: {what}; {n_in} record(s) read from it are set aside with the file",
    )
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
        data.quarantine.add(
            stage="load",
            source=src.key,
            record=token,
            field="(lines)",
            reason="unparsed_records",
            detail=f"site {src.site or '-'}: {n_in - n_parsed} data line(s) counted in the file were "
            "not returned by the reader; check the file's line endings and encoding",
        )


# ##SAMPLE keys whose values name a sample or a person (Tissue=tumor is not an identifier)
_ID_KEYS = {
    "ID",
    "SampleName",
    "Name",
    "File",
    "SampleUUID",
    "SampleTCGABarcode",
    "Individual",
    "Patient",
    "Barcode",
    "Library",
}
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


def _load_vcf(
    path: Path, token: str, src: Source, link: _Link, ctx: Context, data: ModalityData, calls: list[dict[str, Any]]
) -> _FileRead:
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
            base = {
                "file": token,
                "sample_id": header.samples[k] if k is not None else "",
                "_line": rec.line,
                "_source": src.key,
                "_site": src.site,
                "_format": "vcf",
            }
            if not carries:
                file_calls.append({**base, "_no_alt": True})
                continue
            depth, vaf = _vcf.depth_and_vaf(rec, k, allele) if k is not None else (None, None)
            file_calls.append(
                {
                    **base,
                    "chrom": rec.chrom,
                    "pos": rec.pos,
                    "ref": rec.ref,
                    "alt": alts[min(max(allele, 1), len(alts)) - 1],
                    "gene": gene,
                    "protein_change": prot,
                    "vaf": vaf,
                    "depth": depth,
                    "filter": rec.filter,
                    "_svtype": rec.info.get("SVTYPE", ""),
                }
            )
    damage = damage or count.damage
    if damage is not None:
        at = f"after line {damage.line}" if damage.line > 0 else "before its first line"
        return _set_aside(
            data,
            src,
            token,
            damage.reason,
            count.n_data,
            f"{damage.detail}, {at}; a partial call set would read as wild-type for every call it "
            "lost: copy or export the file again",
            pseudonym=first_patient,
        )
    for b in bad:
        data.quarantine.add(
            stage="load",
            source=src.key,
            record=token,
            pseudonym=first_patient,
            field="INFO" if b.code == "malformed_info" else "(line)",
            reason=b.code,
            detail=f"site {site}: line {b.line}: {b.reason}; fix or re-export this record",
        )
    got = _FileRead(count.n_data, n_rec, Counter(b.code for b in bad))
    _unparsed(data, src, token, count.n_data, n_rec + len(bad), got)
    got.empty = _empty(path, n_rec + len(bad))
    if not got.empty:
        calls.extend(file_calls)
        got.entry = {
            "file": token,
            "source": src.key,
            "site": src.site,
            "header": header,
            "records": kept,
            "n_records": n_rec,
            "n_bad": len(bad),
        }
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
        return _set_aside(
            data, src, token, damage.reason, n_in, f"{damage.detail}, {at}; copy or export the file again"
        )
    if maf.missing:
        got = _set_aside(
            data,
            src,
            token,
            "missing_columns",
            n_in,
            f"the MAF header lacks the required column(s) {', '.join(maf.missing)}; export the MAF "
            f"with every column of {', '.join(_maf.REQUIRED)}",
        )
        got.entry = {"file": token, "source": src.key, "problems": maf.problems}
        return got
    for b in maf.bad:
        data.quarantine.add(
            stage="load",
            source=src.key,
            record=token,
            field="(line)",
            reason=b.code,
            detail=f"site {src.site}: line {b.line}: {b.reason}; fix or re-export this line",
        )
    got = _FileRead(n_in, len(df), Counter(b.code for b in maf.bad))
    _unparsed(data, src, token, got.n_in, len(df) + len(maf.bad), got)
    got.empty = _empty(path, len(df) + len(maf.bad))
    if got.empty:
        return got
    if len(df):
        df = df.assign(
            file=token,
            _source=src.key,
            _site=src.site,
            _format="maf",
            _svtype="",
            filter=df.get("filter", ""),
        )
        calls.extend(df.to_dict("records"))
    got.entry = {"file": token, "source": src.key, "problems": maf.problems}
    return got


def _load_qc(path: Path, token: str, src: Source[GenomicsOptions], data: ModalityData) -> _FileRead:
    """A QC table; its records are counted by the table reader's own independent count."""
    try:
        rt = read_table(
            path,
            format="tsv" if src.config.format == "tsv" else src.config.format,
            encoding=src.config.encoding,
            sep=src.options.sep,
        )
    except SourceError as exc:
        return _set_aside(
            data,
            src,
            token,
            getattr(exc, "reason", "unreadable_file"),
            _n_records(path, "tsv"),
            f"cannot read as a table: {str(exc).split(': ', 1)[-1]}",
        )
    if rt.n_records == 0:
        return _FileRead(0, empty=rt.empty or _empty(path, 0))
    df, _ = apply_mapping(
        rt.frame, columns=src.config.columns, known=QC_FIELDS, values=src.config.values, missing=src.config.missing
    )
    for b in rt.bad_lines:
        data.quarantine.add(
            stage="load",
            source=src.key,
            record=token,
            field="(line)",
            reason=b.reason,
            detail=f"{b.describe(src.site)} ({b.record})",
        )
    got = _FileRead(rt.n_records, len(df), Counter(rt.quarantined()))
    if "sample_id" in df:
        _note_identifiers(data, list(df["sample_id"]))
    got.entry = df.assign(_source=src.key, _site=src.site)
    return got
