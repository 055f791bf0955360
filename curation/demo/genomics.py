"""Demo genomics: one VCFv4.2 per tumor sample, a sequencing QC table and a sample sheet.

The VCFs look like a hospital sequencing lab's tumor-only panel calls: the sample column is named by
the hospital sample ID, which also appears in ``##SAMPLE`` and the caller's ``##...CommandLine``
header line (identifiers the privacy layer must rewrite). Drivers are placed at their GRCh38
positions (EGFR L858R and exon 19 deletion, KRAS G12C, BRAF V600E); ALK and RET fusions are
breakend pairs (``SVTYPE=BND``). Passenger calls fall in TP53, STK11, KEAP1 and other lung genes.

Planted: one VCF with a malformed line (quarantine:malformed_line) and one sample far below the
depth target (genomics.accuracy.sequencing_depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._core import DemoLog

if TYPE_CHECKING:
    from ..deid.keys import Keyring

__all__ = ["write_genomics"]

CONTIGS = {
    "chr2": 242193529,
    "chr3": 198295559,
    "chr7": 159345973,
    "chr10": 133797422,
    "chr12": 133275309,
    "chr17": 83257441,
    "chr19": 58617616,
}
# driver -> list of (chrom, pos, ref, alt, gene, hgvs_p, info extra)
DRIVER_CALLS: dict[str, list[tuple[str, int, str, str, str, str, str]]] = {
    "EGFR_L858R": [("chr7", 55191822, "T", "G", "EGFR", "p.L858R", "")],
    "EGFR_exon19del": [("chr7", 55174771, "AGGAATTAAGAGAAGC", "A", "EGFR", "p.E746_A750del", "")],
    "KRAS_G12C": [("chr12", 25245351, "C", "A", "KRAS", "p.G12C", "")],
    "BRAF_V600E": [("chr7", 140753336, "A", "T", "BRAF", "p.V600E", "")],
    "ALK_fusion": [
        ("chr2", 29223528, "G", "G]chr2:42299917]", "ALK", "EML4-ALK", "SVTYPE=BND;MATEID={id}_2"),
        ("chr2", 42299917, "T", "T]chr2:29223528]", "EML4", "EML4-ALK", "SVTYPE=BND;MATEID={id}_1"),
    ],
    "RET_fusion": [
        ("chr10", 43114480, "C", "C]chr10:32028101]", "RET", "KIF5B-RET", "SVTYPE=BND;MATEID={id}_2"),
        ("chr10", 32028101, "A", "A]chr10:43114480]", "KIF5B", "KIF5B-RET", "SVTYPE=BND;MATEID={id}_1"),
    ],
}
PASSENGERS = [
    ("chr17", 7668402, 7687550, "TP53"),
    ("chr19", 1205778, 1228431, "STK11"),
    ("chr19", 10486100, 10503000, "KEAP1"),
    ("chr3", 41194000, 41260000, "CTNNB1"),
    ("chr2", 47403067, 47709830, "MSH2"),
    ("chr10", 87863113, 87971930, "PTEN"),
]
BASES = "ACGT"


def _header(sample: str, date: pd.Timestamp) -> list[str]:
    lines = [
        "##fileformat=VCFv4.2",
        f"##fileDate={date:%Y%m%d}",
        "##source=Mutect2 4.4.0.0",
        "##reference=file:///data/ref/GRCh38/Homo_sapiens_assembly38.fasta",
    ]
    lines += [f"##contig=<ID={c},length={n},assembly=GRCh38>" for c, n in CONTIGS.items()]
    lines += [
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=weak_evidence,Description="Mutation does not meet likelihood threshold">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
        '##INFO=<ID=HGVSP,Number=1,Type=String,Description="Protein change or fusion">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=MATEID,Number=.,Type=String,Description="ID of mate breakend">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions of alternate alleles">',
        f"##SAMPLE=<ID={sample},SampleName={sample},Tissue=tumor,Preservation=FFPE>",
        f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 --input {sample}.sorted.dedup.bam '
        f"--tumor-sample {sample} --reference Homo_sapiens_assembly38.fasta --intervals lung_panel_v2.bed "
        f'--output {sample}.vcf.gz",Version="4.4.0.0">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample]),
    ]
    return lines


def _record(chrom: str, pos: int, vid: str, ref: str, alt: str, info: str, depth: int, af: float) -> str:
    alt_reads = max(1, round(depth * af))
    fmt = f"0/1:{depth - alt_reads},{alt_reads}:{depth}:{alt_reads / depth:.3f}"
    return "\t".join([chrom, str(pos), vid, ref, alt, ".", "PASS", info, "GT:AD:DP:AF", fmt])


def _records(driver: str, k: int, depth: int, *, rng: np.random.Generator) -> list[str]:
    """The VCF records of patient ``k``: its driver calls and a few passengers, in contig order."""
    calls: list[tuple[str, int, str, str, str]] = []
    for i, (chrom, pos, ref, alt, gene, hgvs, extra) in enumerate(DRIVER_CALLS.get(driver, [])):
        vid = f"bnd_{k}_{i + 1}" if extra else "."
        info = f"GENE={gene};HGVSP={hgvs}" + (";" + extra.format(id=f"bnd_{k}") if extra else "")
        calls.append((chrom, pos, vid, ref, alt + "\t" + info))
    for _ in range(int(rng.integers(1, 6))):
        chrom, start, end, gene = PASSENGERS[int(rng.integers(len(PASSENGERS)))]
        pos = int(rng.integers(start, end))
        ref = BASES[int(rng.integers(4))]
        alt = BASES[(BASES.index(ref) + int(rng.integers(1, 4))) % 4]
        calls.append((chrom, pos, ".", ref, alt + "\t" + f"GENE={gene}"))
    chrom_order = list(CONTIGS)
    calls.sort(key=lambda c: (chrom_order.index(c[0]), c[1]))
    lines = []
    for chrom, pos, vid, ref, alt_info in calls:
        alt, info = alt_info.split("\t")
        d = max(8, int(rng.normal(depth, depth * 0.15)))
        lines.append(_record(chrom, pos, vid, ref, alt, info, d, float(rng.uniform(0.08, 0.55))))
    return lines


def _planted(p: pd.Series, col: str) -> float | None:
    v = p.get(col)
    return None if v is None or pd.isna(v) else float(v)


def _sheet_dates(p: pd.Series) -> dict[str, str]:
    """The sample's pathology specimen number, its collection date (a few days after the specimen: a
    section of the block) and the report date (one to two weeks later), planted values aside; no draw."""
    pid = int(p["pid"])
    specimen = p.get("specimen_date")
    start = pd.Timestamp(specimen) if specimen is not None and pd.notna(specimen) else p.get("diagnosis_date")
    if start is None or pd.isna(start):  # a roster without dates: none in the sheet
        return {"specimen_id": str(p.get("specimen_id") or "")}
    start = pd.Timestamp(start)
    offset = _planted(p, "seq_collection_offset")
    collected = start + pd.Timedelta(days=offset if offset is not None else 2 + pid % 6)
    turnaround = _planted(p, "seq_turnaround_days")
    reported = collected + pd.Timedelta(days=turnaround if turnaround is not None else 7 + pid % 8)
    return {
        "specimen_id": str(p.get("specimen_id") or ""),
        "collection_date": f"{collected:%Y-%m-%d}",
        "report_date": f"{reported:%Y-%m-%d}",
    }


def write_genomics(
    roster: pd.DataFrame, out: Path, *, rng: np.random.Generator, log: DemoLog, keyring: Keyring
) -> dict[str, list[dict[str, Any]]]:
    """Write raw/genomics/{vcf/*.vcf, qc.tsv, sample_sheet.csv}; returns the cohort.yaml sources."""
    root = out / "raw" / "genomics"
    (root / "vcf").mkdir(parents=True, exist_ok=True)
    people = roster[roster["has_genomics"].astype(bool)].reset_index(drop=True)
    qc_rows, sheet_rows = [], []
    low_depth = int(rng.integers(len(people))) if len(people) else -1
    malformed = int(rng.integers(len(people))) if len(people) > 1 else -1
    if malformed == low_depth:
        malformed = (malformed + 1) % len(people)
    for k, p in people.iterrows():
        sample = str(p["tumor_sample_id"])
        log.identifier(sample)
        date = pd.Timestamp(p["diagnosis_date"]) + pd.Timedelta(days=int(rng.integers(7, 30)))
        depth = int(rng.normal(650, 120)) if k != low_depth else int(rng.integers(25, 45))
        lines = _header(sample, date) + _records(str(p["driver"]), k, depth, rng=rng)
        rel = f"vcf/{sample}.vcf"  # file tokens are relative to the source root, raw/genomics/vcf
        if k == malformed:
            bad_line = len(lines) + 1  # 1-based line number of the appended broken record
            lines.append(f"chr17\t{int(rng.integers(7668402, 7687550))}\t.\tC")  # cut off after REF
            log.defect(
                modality="genomics",
                site=str(p["site"]),
                record=f"raw/genomics/{rel} line {bad_line}",
                field="(line)",
                kind="malformed_vcf_line",
                dimension="conformance",
                expect="quarantine:malformed_line",
                pseudonym=p["pseudonym"],
                file_token=keyring.token("file", rel.removeprefix("vcf/")),
                note="a record cut off after the REF column",
            )
        (root / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")
        q30 = round(float(rng.uniform(88, 96)), 2)
        pct100 = (
            round(float(np.clip(rng.normal(96, 2), 80, 99.9)), 2)
            if k != low_depth
            else round(float(rng.uniform(3, 15)), 2)
        )
        qc_rows.append({"sample_id": sample, "mean_depth": depth, "pct_q30": q30, "pct_target_100x": pct100})
        sheet_rows.append(
            {
                "sample_id": sample,
                "admission_number": p["mrn"],
                "site": p["site"],
                "specimen": "FFPE tumor",
                "panel": "lung_panel_v2",
                **_sheet_dates(p),
            }
        )
        if k == low_depth:
            log.defect(
                modality="genomics",
                site=str(p["site"]),
                record=f"raw/genomics/qc.tsv row {k + 1}",
                field="mean_depth",
                kind="low_depth",
                dimension="accuracy",
                expect="genomics.accuracy.sequencing_depth",
                pseudonym=p["pseudonym"],
                note=f"mean depth {depth}x against a 200x target",
            )
    pd.DataFrame(qc_rows).to_csv(root / "qc.tsv", sep="\t", index=False, lineterminator="\n")
    pd.DataFrame(sheet_rows).to_csv(root / "sample_sheet.csv", index=False, lineterminator="\n")
    opts = {"sample_sheet": "raw/genomics/sample_sheet.csv", "reference": "GRCh38"}
    return {
        "genomics": [
            {"path": "raw/genomics/vcf/*.vcf", "format": "vcf", "options": opts},
            {"path": "raw/genomics/qc.tsv", "format": "tsv", "table": "qc", "options": opts},
        ]
    }
