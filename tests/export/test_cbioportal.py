"""cBioPortal export: the study folder passes the file-format rules of cBioPortal's documentation
(implemented in :mod:`.cbio_rules`), and its counts and TMB agree with the curated tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from curation.export import export

from .cbio_rules import check_study, clinical


@pytest.fixture(scope="module")
def study(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    to = tmp_path_factory.mktemp("cbioportal")
    return to, export("cbioportal", bundle, to=to, name="Test Cohort 1", panel_size_mb=1.5)


def test_the_study_folder_follows_the_file_formats(study: tuple[Path, object]) -> None:
    to, _ = study
    check_study(to)


def test_counts_and_tmb_agree_with_the_curated_tables(bundle: Path, study: tuple[Path, object]) -> None:
    to, result = study
    variants = pd.read_parquet(bundle / "data/genomics/variants.parquet")
    smp = pd.read_parquet(bundle / "data/genomics/samples.parquet")
    maf = pd.read_csv(to / "data_mutations.txt", sep="\t", dtype=str, keep_default_na=False)
    fusions = variants["variant_type"] == "fusion"
    assert len(maf) == int((~fusions).sum()) == result.counts["mutations"]
    samples = clinical(to / "data_clinical_sample.txt").set_index("SAMPLE_ID")
    assert len(samples) == smp["sample"].nunique() == result.counts["samples"]
    per = variants[~fusions].groupby("sample").size()
    tmb = pd.to_numeric(samples["TMB"])
    assert (tmb == samples.index.map(per).fillna(0) / 1.5).all()
    assert tmb.min() == 0  # a sequenced sample without calls: TMB 0, and in the _sequenced case list
    deletion = maf[maf["HGVSp_Short"] == "p.E746_A750del"].iloc[0]
    assert (deletion["Reference_Allele"], deletion["Tumor_Seq_Allele2"], deletion["Variant_Type"]) == (
        "GGAATTAAGAGAAGC",
        "-",
        "DEL",
    )
    assert int(deletion["Start_Position"]) == 55174772 and int(deletion["End_Position"]) == 55174786
    ins = maf[maf["Hugo_Symbol"] == "TP53"].iloc[0]
    assert (ins["Reference_Allele"], ins["Tumor_Seq_Allele2"], ins["Variant_Type"]) == ("-", "T", "INS")
    cov = result.coverage.set_index("element")
    assert cov.loc["fusions (structural variants, not in the MAF)", "n_values"] == int(fusions.sum())


def test_without_a_panel_size_tmb_is_empty(bundle: Path, tmp_path: Path) -> None:
    export("cbioportal", bundle, to=tmp_path)
    samples = clinical(tmp_path / "data_clinical_sample.txt")
    assert set(samples["TMB"]) == {"NA"}
