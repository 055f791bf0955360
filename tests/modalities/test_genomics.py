"""Genomics modality: VCF / MAF / QC ingest, driver calls, checks, de-identified outputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu
from curation.modalities.genomics import _drivers, _vcf

from .genomics_fixture import KEY, KEYRING, MRNS, S1, SAMPLES, failed_of, pt, vcf_record, vcf_text


def make_cohort(root: Path) -> Path:
    vcf = root / "raw" / "genomics" / "vcf"
    vcf.mkdir(parents=True)
    (vcf / "HX-001-T.vcf").write_text(vcf_text("HX-001-T", S1), encoding="utf-8")
    (vcf / "HX-002-T.vcf").write_text(
        vcf_text("HX-002-T", [vcf_record("chr7", 140753336, "A", "T", "GENE=BRAF")], version="VCFv3.3"),
        encoding="utf-8",
    )
    with gzip.open(vcf / "HX-003-T.vcf.gz", "wt", encoding="utf-8") as fh:
        fh.write(vcf_text("HX-003-T", [vcf_record("chr7", 55191822, "T", "G", "GENE=EGFR;HGVSP=p.Leu858Arg")]))
    g = root / "raw" / "genomics"
    (g / "qc.tsv").write_text(
        "sample_id\tmean_depth\tpct_q30\tpct_target_100x\n"
        "HX-001-T\t650\t93.1\t96.2\nHX-002-T\t40\t71.0\t10.5\nHX-004-T\t480\t\t90.0\n",
        encoding="utf-8",
    )
    (g / "sample_sheet.csv").write_text(
        "sample_id,admission_number,site,specimen\n"
        "HX-001-T,00123,A,FFPE tumor\nHX-002-T,B77,B,FFPE tumor\n"
        "HX-004-T,00125,A,FFPE tumor\n",
        encoding="utf-8",
    )
    (root / "key").write_text(KEY, encoding="ascii")
    (root / "key").chmod(0o600)  # the run refuses a key file others can read
    opts = {"sample_sheet": "raw/genomics/sample_sheet.csv", "reference": "GRCh38"}
    doc = {
        "cohort": {"name": "tiny-genomics"},
        "sites": [{"id": "A"}, {"id": "B"}],
        "sources": {
            "genomics": [
                {"path": "raw/genomics/vcf/*.vcf*", "format": "vcf", "options": opts},
                {"path": "raw/genomics/qc.tsv", "format": "tsv", "table": "qc", "options": opts},
            ]
        },
        "secret": {"file": "key"},
        "output": "out",
    }
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("genomics", make_cohort(tmp_path_factory.mktemp("genomics")))


# ------------------------------------------------------------------------------ reader
def test_reader_streams_past_a_malformed_line(tmp_path: Path) -> None:
    p = tmp_path / "x.vcf"
    p.write_text(vcf_text("S", S1), encoding="utf-8")
    header, records = _vcf.read_vcf(p)
    got = list(records)
    bad = [r for r in got if isinstance(r, _vcf.BadRecord)]
    assert header.version == "4.2" and header.samples == ["S"] and header.sample_meta["S"]["Tissue"] == "tumor"
    assert [(b.line, b.reason) for b in bad] == [(20, "4 columns where a VCF record has at least 8")]
    assert len(got) - len(bad) == 6 and isinstance(got[-1], _vcf.Record)


def test_reader_reports_a_wrong_version_and_a_missing_header(tmp_path: Path) -> None:
    p = tmp_path / "old.vcf"
    p.write_text("##fileformat=VCFv3.3\nchr1\t1\t.\tA\tT\t.\tPASS\t.\n", encoding="utf-8")
    header, records = _vcf.read_vcf(p)
    assert "##fileformat is not VCFv4.0–4.5" in header.problems and "no #CHROM column header line" in header.problems
    assert [type(r) for r in records] == [_vcf.BadRecord]


def test_variant_types_and_drivers_from_data() -> None:
    df = pd.DataFrame(
        {
            "gene": ["BRAF", "EGFR", "EGFR", "RET", "KRAS", "EGFR"],
            "protein_change": ["p.Val600Glu", "p.L747_P753delinsS", "", "", "p.G12D", "p.T790M"],
            "chrom": ["chr7", "7", "chr7", "chr10", "chr12", "chr7"],
            "pos": [140753336, 1, 55174771, 43114480, 25245350, 55181378],
            "ref": ["A", "A", "AGGAATTAAGAGAAGC", "C", "C", "C"],
            "alt": ["T", "T", "A", "C]chr10:32028101]", "T", "T"],
        }
    )
    df["variant_type"] = _drivers.variant_type(df["ref"], df["alt"], pd.Series([""] * 6))
    assert df["variant_type"].tolist() == ["SNV", "SNV", "deletion", "fusion", "SNV", "SNV"]
    assert _drivers.call_drivers(df).tolist() == [
        "BRAF_V600E",
        "EGFR_exon19del",
        "EGFR_exon19del",
        "RET_fusion",
        "",
        "",
    ]


# ------------------------------------------------------------------------------ end to end
def test_driver_calls_and_variant_fields(run: cu.modalities.Curated) -> None:
    v = run.data.tables["variants"]
    mine = v[v["patient"] == pt("00123", "A")]
    assert sorted(d for d in mine["driver"] if d) == ["ALK_fusion", "EGFR_L858R", "EGFR_exon19del", "KRAS_G12C"]
    tp53 = mine[mine["gene"] == "TP53"].iloc[0]
    assert (tp53["vaf"], tp53["depth"], tp53["filter"]) == (0.25, 200, "PASS")
    assert set(mine["sample"]) == {KEYRING.token("sample", "HX-001-T")}


def test_planted_defects_are_caught_by_name(run: cu.modalities.Curated) -> None:
    assert failed_of(run, "genomics.accuracy.sequencing_depth") == {pt("B77", "B")}
    assert failed_of(run, "genomics.accuracy.q30") == {pt("B77", "B")}
    assert failed_of(run, "genomics.conformance.vcf") == {pt("B77", "B")}
    assert failed_of(run, "genomics.consistency.sample_linkage") == {KEYRING.token("sample", "HX-003-T")}
    assert pt("00125", "A") in failed_of(run, "genomics.completeness.qc_metrics")
    q = run.quarantine
    mal = q[q["reason"] == "malformed_line"]
    assert mal["record"].tolist() == [KEYRING.token("file", "HX-001-T.vcf")]
    assert mal["pseudonym"].tolist() == [pt("00123", "A")] and "site A: line 20" in mal["detail"].iloc[0]
    assert run.ledger["balanced"].all()


def test_thresholds_are_decisions(tmp_path: Path) -> None:
    cohort = make_cohort(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "decisions.yaml").write_text(
        "genomics.accuracy.sequencing_depth.min_depth: 30\n", encoding="utf-8"
    )
    run = cu.curate("genomics", cohort, write=False)
    assert not failed_of(run, "genomics.accuracy.sequencing_depth")


def test_outputs_are_deidentified(run: cu.modalities.Curated) -> None:
    root = run.ctx.bundle.root / "data" / "genomics"
    v = pd.read_parquet(root / "variants.parquet")
    s = pd.read_parquet(root / "samples.parquet")
    assert v.columns[0] == "patient" and s.columns[0] == "patient"
    assert {"chrom", "pos", "ref", "alt", "gene", "protein_change", "vaf", "depth", "filter"} <= set(v.columns)
    assert {"sample", "tissue", "mean_depth", "pct_q30", "pct_target_100x"} <= set(s.columns)
    copy = (root / "vcf" / f"{KEYRING.token('sample', 'HX-001-T')}.vcf").read_text(encoding="utf-8").splitlines()
    meta = [ln for ln in copy if ln.startswith("##")]
    assert all(ln.startswith(_vcf.KEEP_META) for ln in meta) and meta[0] == "##fileformat=VCFv4.2"
    assert copy[len(meta)].endswith("\t" + KEYRING.token("sample", "HX-001-T"))
    assert len(copy) == len(meta) + 1 + 6  # every well-formed record, the malformed one left out
    blob = b"".join(p.read_bytes() for p in run.ctx.bundle.root.rglob("*") if p.is_file())
    for ident in [*SAMPLES, *MRNS]:
        assert ident.encode() not in blob, ident


def test_figures(run: cu.modalities.Curated) -> None:
    figs = run.figures()
    assert {"Sequencing QC per sample", "Driver oncoprint"} <= set(figs)
    onco = figs["Driver oncoprint"].data[0]
    assert pt("00123", "A") in list(onco.x) and "EGFR" in list(onco.y)


# ------------------------------------------------------------------------------ real data
def test_real_vcfs_and_maf_ingest(real_data: Path, tmp_path: Path) -> None:
    lung = real_data / "musicatk-tcga-lung"
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key").chmod(0o600)  # the run refuses a key file others can read
    tcga = {"patient_id_pattern": r"^(TCGA-\w{2}-\w{4})", "reference": "GRCh38"}
    doc = {
        "cohort": {"name": "tcga"},
        "sites": [{"id": "TCGA"}],
        "sources": {
            "genomics": [
                {"site": "TCGA", "path": str(lung / "public_TCGA.LUSC.maf"), "format": "maf", "options": tcga},
                {"site": "TCGA", "path": str(lung / "public_LUAD_TCGA-97-7938.vcf"), "format": "vcf"},
                {
                    "site": "TCGA",
                    "path": str(real_data / "vcf2maf-tests" / "test_merged.vcf"),
                    "format": "vcf",
                    "options": {"reference": "GRCh37"},
                },
            ]
        },
        "secret": {"file": "key"},
        "output": "out",
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cu.curate("genomics", tmp_path / "cohort.yaml")
    v, s = run.data.tables["variants"], run.data.tables["samples"]
    maf = v[v["file"] == KEYRING.token("file", "public_TCGA.LUSC.maf")]
    assert len(maf) == 602 and maf["patient"].nunique() == 3 and maf["gene"].notna().all()
    assert maf["vaf"].between(0, 1).all()
    luad = v[v["file"] == KEYRING.token("file", "public_LUAD_TCGA-97-7938.vcf")]
    assert len(luad) == 126 and (luad["depth"] > 0).all()  # the normal column (0/0) adds no call
    tissue = dict(zip(s["sample"], s["tissue"], strict=True))
    assert tissue[KEYRING.token("sample", "TCGA-97-7938-10A-01D-2167-08")] == "normal"
    assert tissue[KEYRING.token("sample", "TUMOR")] == "tumor"
    checks = run.checks.set_index("check_id")
    assert checks.loc["genomics.conformance.vcf", "verdict"] == "pass"
    assert checks.loc["genomics.conformance.maf", "verdict"] == "pass"
    # patient_id_pattern links every TCGA barcode; vcf2maf's TUMOR / NORMAL columns stay unlinked
    assert checks.loc["genomics.consistency.sample_linkage", "n_failed"] == 2
    assert set(luad["patient"]) == {KEYRING.patient("TCGA-97-7938", site="TCGA")}
    blob = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert b"TCGA-N5-A4R8" not in blob and b"TCGA-94-7557" not in blob and b"phs000178" not in blob


def test_identifiers_for_the_leak_scan(tmp_path: Path) -> None:
    from curation.modalities import collect_identifiers

    ids = collect_identifiers(cu.load_cohort(make_cohort(tmp_path)), "genomics")
    assert {"HX-001-T", "HX-002-T", "HX-003-T", "HX-004-T", "00123", "B77"} <= set(ids.scan_values())
    # ##SAMPLE Tissue= and roles are not identifiers
    assert not {"tumor", "TUMOR", "FFPE tumor"} & set(ids.scan_values())


def test_maf_with_a_broken_line(tmp_path: Path) -> None:
    head = [
        "Hugo_Symbol",
        "Chromosome",
        "Start_Position",
        "Reference_Allele",
        "Tumor_Seq_Allele2",
        "Tumor_Sample_Barcode",
        "HGVSp_Short",
        "t_depth",
        "t_alt_count",
    ]
    rows = [
        ["KRAS", "chr12", "25245351", "C", "A", "HX-001-T", "p.G12C", "400", "100"],
        ["EGFR", "chr7", "55174772", "GGAATTAAGAGAAGC", "-", "HX-001-T", "p.E746_A750del", "300", "60"],
        ["TP53", "chr17", "7675088"],
    ]
    (tmp_path / "calls.maf").write_text(
        "#version 2.4\n" + "\n".join("\t".join(r) for r in [head, *rows]) + "\n", encoding="utf-8"
    )
    (tmp_path / "sheet.csv").write_text("sample_id,admission_number,site\nHX-001-T,00123,A\n", encoding="utf-8")
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key").chmod(0o600)  # the run refuses a key file others can read
    doc = {
        "cohort": {"name": "maf"},
        "sites": [{"id": "A"}],
        "secret": {"file": "key"},
        "output": "out",
        "sources": {
            "genomics": [{"site": "A", "path": "calls.maf", "format": "maf", "options": {"samples": "sheet.csv"}}]
        },
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cu.curate("genomics", tmp_path / "cohort.yaml", write=False)
    v = run.data.tables["variants"]
    assert sorted(v["driver"]) == ["EGFR_exon19del", "KRAS_G12C"] and v["vaf"].tolist() == [0.25, 0.2]
    assert set(v["patient"]) == {pt("00123", "A")} and v["variant_type"].tolist() == ["SNV", "deletion"]
    q = run.quarantine
    assert q[["record", "reason"]].values.tolist() == [[KEYRING.token("file", "calls.maf"), "malformed_line"]]
    assert "line 5" in q["detail"].iloc[0]
