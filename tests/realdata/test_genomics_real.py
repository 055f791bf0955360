"""Genomics on the public VCFs (issue 13, item 7 in part): vcf2maf's TCGA VCF merged from four callers
carries Strelka indels with tier counts (TIR / TAR) and no AD or AF; their allele fraction is computed
from the tier-1 counts, as Strelka's documentation says."""

from __future__ import annotations

import pytest

from curation.modalities.genomics._vcf import Record, carries_alt, depth_and_vaf, read_vcf, strelka_vaf

from .conftest import need


def test_strelka_indels_get_an_allele_fraction_from_tier_counts() -> None:
    _, records = read_vcf(need("vcf2maf-tests", "test_merged.vcf"))
    strelka = []
    for r in records:
        if isinstance(r, Record) and len(r.ref) != len(r.alt) and r.sample_value(1, "TIR"):
            _, allele = carries_alt(r, 1)
            strelka.append((r, depth_and_vaf(r, 1, allele or 1)[1]))
    assert len(strelka) == 26  # before: none of them had an allele fraction
    for r, vaf in strelka:
        tir, tar = int(r.sample_value(1, "TIR").split(",")[0]), int(r.sample_value(1, "TAR").split(",")[0])
        assert vaf == (pytest.approx(tir / (tir + tar), abs=1e-6) if tir + tar else None)
    first = next(v for r, v in strelka if (r.chrom, r.pos) == ("1", 26158900))
    assert first == pytest.approx(5 / 6, abs=1e-6)  # TIR 5,5 and TAR 1,1 in the tumour column


def test_strelka_snv_tier_counts_when_ad_is_absent() -> None:
    rec = Record(
        1, "1", 10, ".", "C", "A", ".", "PASS", {}, ["AU", "CU", "GU", "TU"], [["6,8", "12,27", "0,0", "0,1"]], [], []
    )
    assert strelka_vaf(rec, 0) == pytest.approx(6 / 18)
    assert depth_and_vaf(rec, 0, 1) == (None, pytest.approx(0.333333))


def test_each_source_calls_drivers_on_its_own_genome_build() -> None:
    """Before, the first source that set ``reference`` gave its build to every source."""
    import pandas as pd

    from curation.modalities.genomics._drivers import call_drivers_by_source

    row = {
        "gene": "",
        "protein_change": "",
        "chrom": "chr7",
        "pos": 55259515,
        "ref": "T",
        "alt": "G",
        "variant_type": "SNV",
    }  # EGFR L858R on GRCh37
    df = pd.DataFrame([{**row, "_source": "genomics[0]"}, {**row, "_source": "genomics[1]"}])
    got = call_drivers_by_source(df, references={"genomics[0]": "GRCh38", "genomics[1]": "GRCh37"})
    assert got.tolist()[0] == "" and got.tolist()[1] != ""
