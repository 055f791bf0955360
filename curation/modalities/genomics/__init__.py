"""Genomics modality: tumor variant calls (VCF per sample, or MAF) and sequencing QC metrics.

Sources (cohort.yaml ``sources.genomics``):

- ``format: vcf``: one VCFv4.x per tumor sample (plain or gzip), a file, a folder or a glob. The
  sample columns are named by hospital sample IDs and ``##SAMPLE`` / ``##...CommandLine`` lines
  repeat them: identifiers that never leave this step.
- ``format: maf``: a MAF (GDC / TCGA, vcf2maf); ``Tumor_Sample_Barcode`` is the sample ID.
- ``format: tsv`` (``table: qc``): sequencing QC per sample: sample_id, mean_depth, pct_q30,
  pct_target_100x (``columns`` maps other headers).

Options (:class:`~._options.GenomicsOptions`, on any source): ``sample_sheet`` (or ``samples``): a
CSV/TSV/Excel linking sample_id to admission_number and site (optional tissue / specimen);
``patient_id_pattern``: a regex whose first group is the admission number inside a sample ID (TCGA
barcodes), for samples the sheet does not list; ``reference``: GRCh38 (default) or GRCh37, for
genomic driver positions; ``min_depth`` / ``min_q30`` / ``min_target_100x``: QC thresholds (also
settable as decisions).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...deid.dates import patient_shifts
from ...io.dates import day_span
from ...security.consent import RULE, consent_of
from .. import _timeliness as tl
from ..base import ModalityData, ModalitySpec
from . import _drivers, _vcf
from ._decide import exclude, relabel
from ._load import NAME, SHEET_DATES, _Link, identifiers, load
from ._options import GenomicsOptions
from ._qc import checks, figures

if TYPE_CHECKING:
    from ..base import Context

__all__ = ["SPEC", "checks", "exclude", "figures", "identifiers", "load", "relabel", "standardize", "write"]

SPEC = ModalitySpec(
    name="genomics",
    label="Genomics",
    formats=("vcf", "maf", "tsv"),
    notebook="genomics.ipynb",
    dictionary="genomics",
    outputs=("parquet", "vcf", "maf"),
    order=50,
    options=GenomicsOptions,
    needs=("clinical",),  # its diagnosis dates, in dates.mode: relative (sample dates as day counts)
    description="Tumor variant calls (VCF / MAF): driver mutations and fusions; sequencing QC",
)

PATIENT = "patient"
VARIANT_COLUMNS = [
    "patient",
    "site",
    "sample",
    "file",
    "chrom",
    "pos",
    "ref",
    "alt",
    "gene",
    "protein_change",
    "vaf",
    "depth",
    "filter",
    "variant_type",
    "driver",
]
SAMPLE_COLUMNS = [
    "patient",
    "site",
    "sample",
    "tissue",
    "mean_depth",
    "pct_q30",
    "pct_target_100x",
    "n_variants",
    "n_drivers",
    "source_format",
    "specimen",
    "collection_date",
    "report_date",
]


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
    return pd.to_numeric(s.astype("string").str.strip().str.rstrip("%").str.rstrip("xX"), errors="coerce").astype(
        "float64"
    )


class _Ids:
    """Sample tokens (made once per sample ID) and the patient pseudonym and site a sample links to."""

    def __init__(self, ctx: Context, link: _Link) -> None:
        self.ctx, self.link = ctx, link
        self.tokens: dict[str, str] = {}

    def token(self, sid: str) -> str:
        """The keyed token of a sample ID."""
        if sid not in self.tokens:
            self.tokens[sid] = self.ctx.keyring.token("sample", sid)
        return self.tokens[sid]

    def patient_site(self, sid: str, site: str) -> tuple[str, str]:
        """(patient pseudonym, site) of a sample through the sample sheet; ("", site) when unlinked."""
        hit = self.link.find(sid, site)
        return (self.ctx.keyring.patient(hit[0], site=hit[1]), hit[1]) if hit else ("", site)


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Tidy variants and samples tables keyed by pseudonyms; de-identified VCF copies in memory."""
    link: _Link = data.objects.pop("link")
    calls: list[dict[str, Any]] = data.objects.pop("calls")
    vcfs: list[dict[str, Any]] = data.objects.pop("vcfs")
    qc_frames: list[pd.DataFrame] = data.objects.pop("qc")
    # each source's own genome build (a per-source option; before, the first source's applied to all)
    opts = GenomicsOptions.of(ctx.config, NAME)
    reference = {f"{NAME}[{i}]": str(o.reference or "GRCh38") for i, o in enumerate(opts)}
    ids = _Ids(ctx, link)
    calls, vcfs, qc_frames = _consented(calls, vcfs, qc_frames, ids, data=data, ctx=ctx)
    meta: dict[str, dict[str, str]] = {}
    for v in vcfs:
        meta.update(v["header"].sample_meta)
    variants, raw = _variants(calls, ids, reference=reference, data=data)
    qc_all = _qc_table(qc_frames, ids, data=data)
    samples = _samples(vcfs, raw, qc_all, variants, ids, meta=meta)
    data.ledger.record("standardize:samples", n_in=len(samples), n_accepted=len(samples))
    copies, audit = _vcf_copies(vcfs, ids)
    maf_audit = [
        {"file": m["file"], "source": m["source"], "problems": list(m["problems"])} for m in data.objects.pop("mafs")
    ]
    data.tables = {"variants": variants, "samples": samples}
    data.objects.update(vcf_copies=copies, vcf_audit=pd.DataFrame(audit), maf_audit=pd.DataFrame(maf_audit))
    data.standardized = True
    return data


def _consented(
    calls: list[dict[str, Any]],
    vcfs: list[dict[str, Any]],
    qc_frames: list[pd.DataFrame],
    ids: _Ids,
    *,
    data: ModalityData,
    ctx: Context,
) -> tuple[list[Any], list[Any], list[pd.DataFrame]]:
    """Consent withdrawn: the patient's calls, VCFs and QC rows stop here (calls counted in the ledger)."""
    consent = consent_of(ctx.config, ctx.keyring)
    if not len(consent):
        return calls, vcfs, qc_frames

    def gone(sid: object, site: object) -> bool:
        return consent.withdrawn(ids.patient_site(str(sid or ""), str(site or ""))[0], NAME)

    kept = [c for c in calls if not gone(c.get("sample_id"), c.get("_site"))]
    if len(kept) < len(calls):
        data.ledger.record("consent", n_in=len(calls), n_accepted=len(kept), excluded={RULE: len(calls) - len(kept)})
    vcfs = [v for v in vcfs if not (v["header"].samples and all(gone(s, v["site"]) for s in v["header"].samples))]

    def rows(q: pd.DataFrame) -> pd.DataFrame:
        if "sample_id" not in q:
            return q
        sites = q["_site"] if "_site" in q else pd.Series("", index=q.index)
        return q.loc[[not gone(s, site) for s, site in zip(q["sample_id"], sites, strict=True)]]

    return kept, vcfs, [rows(q) for q in qc_frames]


def _variants(
    calls: list[dict[str, Any]], ids: _Ids, *, reference: dict[str, str], data: ModalityData
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The variants table (pseudonyms, sample tokens, typed columns, variant type, driver calls) and the
    raw calls it came from; calls without an ALT allele are excluded."""
    raw = pd.DataFrame(calls)
    n_in = len(raw)
    no_alt = (
        raw["_no_alt"].map(lambda x: x is True) if "_no_alt" in raw else pd.Series(False, index=raw.index)
    ).astype(bool)
    raw = raw.loc[~no_alt].reset_index(drop=True)
    for col in [
        "sample_id",
        "chrom",
        "pos",
        "ref",
        "alt",
        "gene",
        "protein_change",
        "vaf",
        "depth",
        "filter",
        "_svtype",
        "_site",
        "file",
        "_line",
        "_source",
        "_format",
    ]:
        if col not in raw:
            raw[col] = pd.Series(dtype="object")
    sids = raw["sample_id"].astype("string").fillna("")
    ps = [ids.patient_site(s, site or "") for s, site in zip(sids, raw["_site"].fillna(""), strict=True)]
    variants = pd.DataFrame(
        {
            PATIENT: pd.Series([p for p, _ in ps], dtype="string").replace("", pd.NA),
            "site": pd.Series([s for _, s in ps], dtype="string").replace("", pd.NA),
            "sample": pd.Series([ids.token(s) for s in sids], dtype="string"),
            "file": raw["file"].astype("string"),
            "chrom": raw["chrom"].astype("string"),
            "pos": pd.to_numeric(raw["pos"], errors="coerce").astype("Int64"),
            "ref": raw["ref"].astype("string"),
            "alt": raw["alt"].astype("string"),
            "gene": raw["gene"].astype("string").replace("", pd.NA),
            "protein_change": raw["protein_change"].astype("string").replace("", pd.NA),
            "vaf": pd.to_numeric(raw["vaf"], errors="coerce").astype("float64"),
            "depth": pd.to_numeric(raw["depth"], errors="coerce").astype("Int64"),
            "filter": raw["filter"].astype("string"),
            "_line": pd.to_numeric(raw["_line"], errors="coerce").astype("Int64"),
            "_source": raw["_source"].astype("string"),
            "_format": raw["_format"].astype("string"),
        }
    )
    variants["variant_type"] = _drivers.variant_type(variants["ref"], variants["alt"], raw["_svtype"])
    variants["driver"] = _drivers.call_drivers_by_source(variants, references=reference)
    data.ledger.record(
        "standardize:variants",
        n_in=n_in,
        n_accepted=len(variants),
        excluded={"no_alt_allele": int(no_alt.sum())} if no_alt.any() else None,
    )
    return variants, raw


def _qc_table(qc_frames: list[pd.DataFrame], ids: _Ids, *, data: ModalityData) -> pd.DataFrame:
    """Every QC file's rows; a row without a sample ID, or repeating a sample's earlier row, is set aside."""
    qc_all = pd.concat(qc_frames, ignore_index=True) if qc_frames else pd.DataFrame(columns=["sample_id"])
    n_qc = len(qc_all)
    qc_all = qc_all[qc_all["sample_id"].astype("string").fillna("").str.strip() != ""] if len(qc_all) else qc_all
    missing_id = n_qc - len(qc_all)
    dup = qc_all["sample_id"].duplicated(keep="first") if len(qc_all) else pd.Series(dtype=bool)
    for r in qc_all.loc[dup].itertuples(index=False) if len(qc_all) else []:
        data.quarantine.add(
            stage="standardize:qc",
            source=str(r._asdict().get("_source", "")),
            record=ids.token(str(r.sample_id)),
            reason="duplicate_qc_row",
            field="sample_id",
            detail="the sample has an earlier QC row; keep one row per sample in the QC file",
        )
    qc_all = qc_all.loc[~dup] if len(qc_all) else qc_all
    data.ledger.record(
        "standardize:qc",
        n_in=n_qc,
        n_accepted=len(qc_all),
        quarantined={
            k: v
            for k, v in {"missing_id": missing_id, "duplicate_qc_row": int(dup.sum()) if len(dup) else 0}.items()
            if v
        }
        or None,
    )
    return qc_all


def _samples(
    vcfs: list[dict[str, Any]],
    raw: pd.DataFrame,
    qc_all: pd.DataFrame,
    variants: pd.DataFrame,
    ids: _Ids,
    *,
    meta: dict[str, dict[str, str]],
) -> pd.DataFrame:
    """The samples table: every sample seen in a VCF header, a call or a QC row, with its QC figures,
    tissue and counts of variants and drivers."""
    rows: dict[str, dict[str, Any]] = {}
    for v in vcfs:
        for sid in v["header"].samples:
            rows.setdefault(sid, {"sample_id": sid, "site": v["site"], "source_format": "vcf"})
    for sid, site, fmt in zip(raw["sample_id"], raw["_site"], raw["_format"], strict=True):
        if isinstance(sid, str) and sid:
            rows.setdefault(sid, {"sample_id": sid, "site": site or "", "source_format": fmt})
    for r in qc_all.to_dict("records"):
        sid = str(r["sample_id"]).strip()
        rows.setdefault(sid, {"sample_id": sid, "site": r.get("_site") or "", "source_format": "qc"})
        rows[sid].update({k: r.get(k) for k in ("mean_depth", "pct_q30", "pct_target_100x")})
        rows[sid]["_qc_row"] = r.get("_line")
        if r.get("tissue"):
            rows[sid]["_tissue_qc"] = r["tissue"]
    srows = list(rows.values())
    sdf = pd.DataFrame(
        srows,
        columns=[
            "sample_id",
            "site",
            "source_format",
            "mean_depth",
            "pct_q30",
            "pct_target_100x",
            "_qc_row",
            "_tissue_qc",
        ],
    )
    ps2 = [ids.patient_site(s, site or "") for s, site in zip(sdf["sample_id"], sdf["site"].fillna(""), strict=True)]
    tissue = []
    for sid, tq in zip(sdf["sample_id"], sdf["_tissue_qc"], strict=True):
        hit = ids.link.find(sid)
        given = (hit[2] if hit else "") or (tq if isinstance(tq, str) else "")
        tissue.append(_tissue(given, sid, meta.get(sid, {})))
    per_sample = variants.groupby("sample").agg(
        n_variants=("sample", "size"), n_drivers=("driver", lambda d: int((d != "").sum()))
    )
    samples = pd.DataFrame(
        {
            PATIENT: pd.Series([p for p, _ in ps2], dtype="string").replace("", pd.NA),
            "site": pd.Series([s for _, s in ps2], dtype="string").replace("", pd.NA),
            "sample": pd.Series([ids.token(s) for s in sdf["sample_id"]], dtype="string"),
            "tissue": pd.Series(tissue, dtype="string"),
            "mean_depth": _num(sdf["mean_depth"], sdf.index),
            "pct_q30": _num(sdf["pct_q30"], sdf.index),
            "pct_target_100x": _num(sdf["pct_target_100x"], sdf.index),
            "source_format": sdf["source_format"].astype("string"),
            "_in_qc": sdf["_qc_row"].notna().to_numpy(),
            "_line": pd.to_numeric(sdf["_qc_row"], errors="coerce").astype("Int64"),
        }
    )
    samples["n_variants"] = samples["sample"].map(per_sample["n_variants"]).fillna(0).astype("Int64")
    samples["n_drivers"] = samples["sample"].map(per_sample["n_drivers"]).fillna(0).astype("Int64")
    _sheet_extras(samples, sdf["sample_id"], ids)
    return samples


def _sheet_extras(samples: pd.DataFrame, sample_ids: pd.Series, ids: _Ids) -> None:
    """The pathology specimen each sample was cut from (the keyed token pathology gives its specimen
    number) and the sheet's collection and report dates, shifted per patient like every date."""
    from ...io.dates import parse_dates

    extra = [ids.link.extra.get(str(s).strip(), {}) for s in sample_ids]
    kr = ids.ctx.keyring
    samples["specimen"] = pd.Series(
        [kr.token("specimen", e["specimen_id"]) if e.get("specimen_id") else pd.NA for e in extra],
        dtype="string",
        index=samples.index,
    )
    shift = day_span(patient_shifts(samples[PATIENT], keyring=kr))
    for col in SHEET_DATES:
        text = pd.Series([e.get(col, "") for e in extra], dtype="string", index=samples.index)
        samples[col] = parse_dates(text).values + shift  # an unlinked sample has no shift: no date


def _vcf_copies(vcfs: list[dict[str, Any]], ids: _Ids) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """De-identified VCF copies (one per sample column, named by its token) and the header audit."""
    copies: dict[str, list[str]] = {}
    audit = []
    for v in vcfs:
        h: _vcf.Header = v["header"]
        pts = [ids.patient_site(s, v["site"])[0] for s in h.samples]
        audit.append(
            {
                "file": v["file"],
                "source": v["source"],
                "version": h.version or "",
                "problems": list(h.problems),
                "n_samples": len(h.samples),
                "n_records": v["n_records"],
                PATIENT: next((p for p in pts if p), ""),
            }
        )
        for k, sid in enumerate(h.samples):
            name = ids.token(sid)
            if name in copies:  # the same sample in two VCFs (e.g. SNV and SV calls): keep both
                name = f"{name}.{v['file']}"
            copies[name] = [
                *_vcf.deidentified_header(h, ids.token(sid)),
                *(_vcf.deidentified_record(f, s, k) for f, s in v["records"]),
            ]
    return copies, audit


# ------------------------------------------------------------------------------------ write
def _maf_frame(variants: pd.DataFrame) -> pd.DataFrame:
    """The calls as a minimal MAF (sample tokens as barcodes; VCF-style alleles kept as called)."""
    v = variants
    ref_len = v["ref"].astype("string").str.len().fillna(1).astype(int)
    return pd.DataFrame(
        {
            "Hugo_Symbol": v["gene"].fillna("Unknown"),
            "Chromosome": v["chrom"],
            "Start_Position": v["pos"],
            "End_Position": (v["pos"] + ref_len - 1).astype("Int64"),
            "Variant_Type": v["variant_type"],
            "Reference_Allele": v["ref"],
            "Tumor_Seq_Allele2": v["alt"],
            "Tumor_Sample_Barcode": v["sample"],
            "HGVSp_Short": v["protein_change"].fillna(""),
            "t_depth": v["depth"],
            "t_alt_count": (v["vaf"] * v["depth"].astype("float64")).round().astype("Int64"),
            "FILTER": v["filter"],
            "driver": v["driver"],
        }
    )


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """Write the standardized variants and samples as Parquet into the bundle."""
    import pyarrow as pa

    v = data.tables["variants"][VARIANT_COLUMNS]
    s = data.tables["samples"][SAMPLE_COLUMNS].copy()
    types = {"pos": pa.int64(), "vaf": pa.float64(), "depth": pa.int64()}
    vs = pa.schema([(c, types.get(c, pa.string())) for c in VARIANT_COLUMNS])
    dates: list[tuple[str, pa.DataType]] = [(c, pa.date32()) for c in SHEET_DATES]
    if ctx.config.dates.mode == "relative":  # days since the patient's diagnosis, as every modality writes them
        anchors = tl.diagnosis_dates(ctx)
        base = pd.to_datetime(s[PATIENT].map(anchors) if anchors is not None else pd.Series(pd.NaT, index=s.index))
        for c in SHEET_DATES:
            s[f"{c}_days"] = np.floor((s.pop(c) - base) / pd.Timedelta(days=1)).astype("Int32")
        dates = [(f"{c}_days", pa.int32()) for c in SHEET_DATES]
    else:
        for c in SHEET_DATES:
            s[c] = pd.to_datetime(s[c]).dt.date
    ss = pa.schema(
        [(c, pa.string()) for c in SAMPLE_COLUMNS[:4]]
        + [(c, pa.float64()) for c in ("mean_depth", "pct_q30", "pct_target_100x")]
        + [
            ("n_variants", pa.int64()),
            ("n_drivers", pa.int64()),
            ("source_format", pa.string()),
            ("specimen", pa.string()),
            *dates,
        ]
    )
    out = [
        ctx.bundle.write_parquet(f"data/{NAME}/variants.parquet", v.reset_index(drop=True), schema=vs),
        ctx.bundle.write_parquet(f"data/{NAME}/samples.parquet", s.reset_index(drop=True), schema=ss),
    ]
    out.append(
        ctx.bundle.write_text(
            f"data/{NAME}/variants.maf", _maf_frame(v).to_csv(sep="\t", index=False, lineterminator="\n")
        )
    )
    for name, lines in data.objects.get("vcf_copies", {}).items():
        out.append(ctx.bundle.write_text(f"data/{NAME}/vcf/{name}.vcf", "\n".join(lines) + "\n"))
    return out
