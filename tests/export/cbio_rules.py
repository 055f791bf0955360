"""cBioPortal's documented file-format rules (docs/File-Formats.md, docs/data-loading/README.md of
cBioPortal/cbioportal), as checks on a study folder: meta files and their keys, the clinical files'
four header rows, identifiers, datatypes, banned columns, MAF required columns and values, case lists."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curation.export.cbioportal import VARIANT_CLASSIFICATIONS

ID = re.compile(r"^[A-Za-z0-9._-]+$")  # PATIENT_ID and SAMPLE_ID: numbers, letters, points, underscores, hyphens
META_KEYS = {  # (genetic_alteration_type, datatype) -> required keys of the meta file
    ("CLINICAL", "PATIENT_ATTRIBUTES"): {"cancer_study_identifier", "data_filename"},
    ("CLINICAL", "SAMPLE_ATTRIBUTES"): {"cancer_study_identifier", "data_filename"},
    ("MUTATION_EXTENDED", "MAF"): {
        "cancer_study_identifier",
        "stable_id",
        "show_profile_in_analysis_tab",
        "profile_name",
        "profile_description",
        "data_filename",
    },
}
STUDY_KEYS = {"type_of_cancer", "cancer_study_identifier", "name", "description"}
CASE_LIST_KEYS = {"cancer_study_identifier", "stable_id", "case_list_name", "case_list_description", "case_list_ids"}
MAF_REQUIRED = {
    "Hugo_Symbol",
    "NCBI_Build",
    "Chromosome",
    "Variant_Classification",
    "Reference_Allele",
    "Tumor_Seq_Allele2",
    "Tumor_Sample_Barcode",
    "HGVSp_Short",
}
CATEGORIES = {
    "all_cases_in_study",
    "all_cases_with_mutation_data",
    "all_cases_with_cna_data",
    "all_cases_with_log2_cna_data",
    "all_cases_with_methylation_data",
    "all_cases_with_mrna_array_data",
    "all_cases_with_mrna_rnaseq_data",
    "all_cases_with_rppa_data",
    "all_cases_with_microrna_data",
    "all_cases_with_mutation_and_cna_data",
    "all_cases_with_mutation_and_cna_and_mrna_data",
    "all_cases_with_gsva_data",
    "all_cases_with_sv_data",
    "other",
}


def read_meta(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, sep, value = line.partition(": ")
            assert sep, f"{path.name}: {line!r} is not 'key: value'"
            out[key] = value
    return out


def clinical(path: Path) -> pd.DataFrame:
    """A clinical file checked against the rules: 4 '#' rows, then the attribute row, then data."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head, names = lines[:4], lines[4].split("\t")
    assert all(h.startswith("#") for h in head), "the first four rows start with '#'"
    rows = [h[1:].split("\t") for h in head]
    assert all(len(r) == len(names) for r in rows), "every metadata row has one entry per attribute"
    assert set(rows[2]) <= {"STRING", "NUMBER", "BOOLEAN"}
    assert all(p.lstrip("-").isdigit() for p in rows[3]), "priorities are integers"
    assert all(n == n.upper() for n in names), "attribute names are upper case"
    assert not {"MUTATION_COUNT", "FRACTION_GENOME_ALTERED"} & set(names), "banned column names"
    assert not lines[5:] or not lines[5].startswith("#")
    df = pd.DataFrame([line.split("\t") for line in lines[5:]], columns=names)
    for name, kind in zip(names, rows[2], strict=True):
        if kind == "NUMBER":
            vals = df[name][~df[name].isin(["NA", ""])]
            assert pd.to_numeric(vals, errors="coerce").notna().all(), f"{name}: NUMBER values"
    return df


def check_study(to: Path) -> None:
    """Every rule of the format documentation this study uses; an AssertionError names the one broken."""
    meta_study = read_meta(to / "meta_study.txt")
    assert set(meta_study) >= STUDY_KEYS
    sid = meta_study["cancer_study_identifier"]
    assert re.fullmatch(r"[a-z0-9_]+", sid)
    metas = [p for p in to.iterdir() if p.is_file() and (p.name.startswith("meta") or p.stem.endswith("meta"))]
    datatypes = set()
    for path in metas:
        if path.name == "meta_study.txt":
            continue
        meta = read_meta(path)
        kind = (meta.get("genetic_alteration_type"), meta.get("datatype"))
        assert kind in META_KEYS, f"{path.name}: {kind}"
        assert META_KEYS[kind] <= set(meta), f"{path.name}: missing {META_KEYS[kind] - set(meta)}"
        assert meta["cancer_study_identifier"] == sid
        assert (to / meta["data_filename"]).is_file(), f"{path.name}: data_filename names no file"
        datatypes.add(kind[1])
    assert {"PATIENT_ATTRIBUTES", "SAMPLE_ATTRIBUTES", "MAF"} <= datatypes
    patients = clinical(to / "data_clinical_patient.txt")
    samples = clinical(to / "data_clinical_sample.txt")
    assert patients["PATIENT_ID"].map(ID.match).all() and patients["PATIENT_ID"].is_unique
    assert samples["SAMPLE_ID"].map(ID.match).all() and samples["SAMPLE_ID"].is_unique
    assert set(samples["PATIENT_ID"]) <= set(patients["PATIENT_ID"])
    assert set(patients["OS_STATUS"]) <= {"0:LIVING", "1:DECEASED", "NA"}
    maf = pd.read_csv(to / "data_mutations.txt", sep="\t", dtype=str, keep_default_na=False)
    assert set(maf.columns) >= MAF_REQUIRED
    assert set(maf["Variant_Classification"]) <= set(VARIANT_CLASSIFICATIONS)
    assert set(maf["NCBI_Build"]) <= {"GRCh37", "GRCh38"}
    assert set(maf["Tumor_Sample_Barcode"]) <= set(samples["SAMPLE_ID"])
    start, end = maf["Start_Position"].astype(int), maf["End_Position"].astype(int)
    assert (start <= end).all()
    assert maf["Tumor_Seq_Allele2"].str.fullmatch(r"[ACGTN]+|-").all()
    assert maf["Reference_Allele"].str.fullmatch(r"[ACGTN]+|-").all()
    lists = {p.name: read_meta(p) for p in (to / "case_lists").iterdir()}
    stable = {m["stable_id"] for m in lists.values()}
    assert {f"{sid}_all", f"{sid}_sequenced"} <= stable  # required: _all (no add_global_case_list), _sequenced
    for meta in lists.values():
        assert set(meta) >= CASE_LIST_KEYS and meta["stable_id"].startswith(sid + "_")
        assert meta["cancer_study_identifier"] == sid
        assert meta.get("case_list_category", "other") in CATEGORIES
        assert set(meta["case_list_ids"].split("\t")) <= set(samples["SAMPLE_ID"])
