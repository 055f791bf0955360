"""The genomics tests' shared data: a keyring, tiny VCF texts and records, pseudonyms, failing patients."""

from __future__ import annotations

import curation as cu
from curation.deid.keys import Keyring

KEY = "ef" * 32
KEYRING = Keyring(KEY.encode())
SAMPLES = ["HX-001-T", "HX-002-T", "HX-003-T", "HX-004-T"]
MRNS = ["00123", "B77", "00125"]


def vcf_text(sample: str, records: list[str], *, version: str = "VCFv4.2") -> str:
    head = [
        f"##fileformat={version}",
        "##fileDate=20230105",
        "##source=Mutect2",
        "##reference=GRCh38.fa",
        "##contig=<ID=chr7,length=159345973>",
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">',
        '##INFO=<ID=HGVSP,Number=1,Type=String,Description="Protein change">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        f"##SAMPLE=<ID={sample},SampleName={sample},Tissue=tumor>",
        f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 --tumor-sample {sample} --output {sample}.vcf">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample]),
    ]
    return "\n".join(head + records) + "\n"


def vcf_record(
    chrom: str, pos: int, ref: str, alt: str, info: str, gt: str = "0/1", ad: str = "300,100", dp: int = 400
) -> str:
    return "\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", info, "GT:AD:DP", f"{gt}:{ad}:{dp}"])


S1 = [
    vcf_record("chr7", 55191822, "T", "G", "GENE=EGFR;HGVSP=p.L858R"),  # driver by protein
    vcf_record("chr12", 25245351, "C", "A", "."),  # KRAS G12C by position
    vcf_record("chr7", 55174771, "AGGAATTAAGAGAAGC", "A", "GENE=EGFR"),  # exon 19 del by region
    vcf_record("chr2", 29223528, "G", "G]chr2:42299917]", "GENE=ALK;HGVSP=EML4-ALK;SVTYPE=BND"),  # ALK fusion
    vcf_record("chr17", 7675088, "C", "T", "GENE=TP53", gt="0/0", ad="400,0"),  # no alt: excluded
    "chr17\t7675100\t.\tC",  # malformed: line 20
    vcf_record("chr17", 7675200, "G", "A", "GENE=TP53", ad="150,50", dp=200),
]


def pt(mrn: str, site: str) -> str:
    return KEYRING.patient(mrn, site=site)


def failed_of(run: cu.modalities.Curated, check_id: str) -> set[str]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "pseudonym"])
