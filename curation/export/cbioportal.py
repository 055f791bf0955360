"""cBioPortal study folder of a curated bundle (docs/File-Formats.md of cBioPortal/cbioportal).

``curation export cbioportal BUNDLE`` writes, under ``exports/cbioportal/`` (or ``--to``): meta_study.txt;
meta/data_clinical_patient.txt and meta/data_clinical_sample.txt (four ``#`` header lines: display
names, descriptions, datatypes, priorities); meta/data_mutations.txt (MAF: the genomic variants, indels
in MAF's ``-`` notation; fusions are structural variants and left out, counted in coverage);
case_lists/cases_all.txt and cases_sequenced.txt; coverage.csv.

Samples are the sequenced samples (``data/genomics/samples.parquet``); TMB is the number of mutations of
a sample per megabase of the declared panel (cohort.yaml ``exports.panel_size_mb``), empty without it.
Identifiers are the bundle's pseudonyms and sample tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.bundle import write_text
from ._common import COVERAGE_FILE, PATIENT, Coverage, ExportResult, anchors, dates, tables

__all__ = ["MAF_COLUMNS", "VARIANT_CLASSIFICATIONS", "export", "maf", "study_id"]

# the columns of the cBioPortal mutation file written here (File-Formats.md, "Mutation Data")
MAF_COLUMNS = [
    "Hugo_Symbol",
    "Entrez_Gene_Id",
    "Center",
    "NCBI_Build",
    "Chromosome",
    "Start_Position",
    "End_Position",
    "Strand",
    "Variant_Classification",
    "Variant_Type",
    "Reference_Allele",
    "Tumor_Seq_Allele1",
    "Tumor_Seq_Allele2",
    "Tumor_Sample_Barcode",
    "Mutation_Status",
    "HGVSp_Short",
    "t_alt_count",
    "t_ref_count",
]
VARIANT_CLASSIFICATIONS = (
    "Frame_Shift_Del",
    "Frame_Shift_Ins",
    "In_Frame_Del",
    "In_Frame_Ins",
    "Missense_Mutation",
    "Nonsense_Mutation",
    "Silent",
    "Splice_Site",
    "Translation_Start_Site",
    "Nonstop_Mutation",
    "3'UTR",
    "3'Flank",
    "5'UTR",
    "5'Flank",
    "IGR",
    "Intron",
    "RNA",
    "Targeted_Region",
    "De_novo_Start_InFrame",
    "De_novo_Start_OutOfFrame",
    "Splice_Region",
    "Unknown",
)
_CANCER = {
    "adenocarcinoma": ("Non-Small Cell Lung Cancer", "Lung Adenocarcinoma"),
    "squamous_cell_carcinoma": ("Non-Small Cell Lung Cancer", "Lung Squamous Cell Carcinoma"),
    "large_cell_carcinoma": ("Non-Small Cell Lung Cancer", "Large Cell Lung Carcinoma"),
    "small_cell_carcinoma": ("Small Cell Lung Cancer", "Small Cell Lung Cancer"),
    "other": ("Non-Small Cell Lung Cancer", "Non-Small Cell Lung Cancer"),
}
_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_DAYS_PER_MONTH = 365.25 / 12


def study_id(name: str) -> str:
    """A cancer_study_identifier from a cohort name (letters, digits, underscores)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "curation"


def _meta(fields: dict[str, str]) -> str:
    return "".join(f"{k}: {v}\n" for k, v in fields.items())


def _clinical(df: pd.DataFrame, attrs: list[tuple[str, str, str, str, int]]) -> str:
    """A clinical data file: 4 ``#`` lines (name, description, datatype, priority), the header, the rows."""
    head = [
        "#" + "\t".join(a[1] for a in attrs),
        "#" + "\t".join(a[2] for a in attrs),
        "#" + "\t".join(a[3] for a in attrs),
        "#" + "\t".join(str(a[4]) for a in attrs),
        "\t".join(a[0] for a in attrs),
    ]
    body = df[[a[0] for a in attrs]].astype("string").fillna("NA")
    body = body.replace({"": "NA"})
    lines = ["\t".join(row) for row in body.itertuples(index=False, name=None)]
    return "\n".join(head + lines) + "\n"


def _aa(protein: pd.Series) -> pd.Series:
    """Variant_Classification from a one-letter HGVS p. change where it tells (else Unknown)."""
    p = protein.astype("string").fillna("")
    out = pd.Series("Unknown", index=p.index, dtype=object)
    single = p.str.extract(r"^p\.([A-Z])(\d+)([A-Z*=]|fs\*?\d*)$")
    out[(single[2] == "*").fillna(False)] = "Nonsense_Mutation"
    out[(single[2] == "=").fillna(False)] = "Silent"
    missense = single[2].str.fullmatch(r"[A-Z]").fillna(False) & (single[0] != single[2]).fillna(False)
    out[missense] = "Missense_Mutation"
    out[p.str.contains(r"fs", regex=False).fillna(False)] = "Frame_Shift_Del"
    out[p.str.contains(r"^p\..*del$", regex=True).fillna(False)] = "In_Frame_Del"
    out[p.str.contains(r"^p\..*ins[A-Z]+$", regex=True).fillna(False)] = "In_Frame_Ins"
    return out


def maf(variants: pd.DataFrame, *, build: str = "GRCh38") -> pd.DataFrame:
    """The MAF rows of a variants table (fusions left out): positions and alleles in MAF notation."""
    v = variants[variants.get("variant_type", pd.Series("", index=variants.index)).astype("string") != "fusion"]
    ref = v["ref"].astype("string").fillna("")
    alt = v["alt"].astype("string").fillna("")
    pos = pd.to_numeric(v["pos"], errors="coerce").astype("Int64")
    # VCF anchors indels on a shared first base; MAF drops it and writes "-" for the empty allele
    shared = (ref.str.len() != alt.str.len()) & (ref.str.slice(0, 1) == alt.str.slice(0, 1))
    ref_m = ref.where(~shared, ref.str.slice(1)).replace("", "-")
    alt_m = alt.where(~shared, alt.str.slice(1)).replace("", "-")
    start = pos.where(~shared, pos + 1)
    is_ins = ref_m == "-"
    end = (start + ref_m.str.len() - 1).where(~is_ins, pos + 1)
    start = start.where(~is_ins, pos)
    n = ref_m.str.len()
    kind = np.select([is_ins, alt_m == "-", n == 1, n == 2, n == 3], ["INS", "DEL", "SNP", "DNP", "TNP"], "ONP")
    cls = _aa(v.get("protein_change", pd.Series(pd.NA, index=v.index)))
    cls = cls.where(~(pd.Series(kind, index=v.index) == "DEL") | (cls != "Unknown"), "Unknown")
    depth = pd.to_numeric(v.get("depth"), errors="coerce")
    vaf = pd.to_numeric(v.get("vaf"), errors="coerce")
    alt_count = (depth * vaf).round().astype("Int64")
    prot = v.get("protein_change", pd.Series(pd.NA, index=v.index)).astype("string")
    out = pd.DataFrame(
        {
            "Hugo_Symbol": v["gene"].astype("string").fillna("Unknown"),
            "Entrez_Gene_Id": "",
            "Center": "",
            "NCBI_Build": build,
            "Chromosome": v["chrom"].astype("string").str.replace(r"^chr", "", regex=True),
            "Start_Position": start,
            "End_Position": end,
            "Strand": "+",
            "Variant_Classification": cls,
            "Variant_Type": kind,
            "Reference_Allele": ref_m,
            "Tumor_Seq_Allele1": "",
            "Tumor_Seq_Allele2": alt_m,
            "Tumor_Sample_Barcode": v["sample"].astype("string"),
            "Mutation_Status": "Somatic",
            "HGVSp_Short": prot.where(prot.str.startswith("p."), ""),
            "t_alt_count": alt_count,
            "t_ref_count": (depth.round().astype("Int64") - alt_count),
        }
    )
    return out[MAF_COLUMNS]


def export(
    root: Path, *, to: Path, name: str = "curation", panel_size_mb: float | None = None, build: str = "GRCh38"
) -> ExportResult:
    """Write the cBioPortal study of the bundle at ``root`` into ``to``.

    Parameters
    ----------
    root
        The curated bundle.
    to
        The study folder.
    name
        The study name (the cohort's); its slug is the cancer_study_identifier.
    panel_size_mb
        Territory of the sequencing panel in megabases, for TMB; TMB is empty without it.
    build
        NCBI_Build of the positions (the genomics source's reference).
    """
    t = tables(root)
    anchor = anchors(root)
    cov = Coverage("cbioportal")
    sid = study_id(name)
    pts, out, cond = t["clinical/patients"], t["clinical/outcomes"], t["clinical/conditions"]
    samples = t["genomics/samples"].dropna(subset=["sample", PATIENT]) if len(t["genomics/samples"]) else None
    ids = sorted(
        set(pts.get(PATIENT, pd.Series(dtype="string")).dropna()) | set(samples[PATIENT] if samples is not None else [])
    )
    p = pd.DataFrame({"PATIENT_ID": pd.Series(ids, dtype="string")})
    info = pts.drop_duplicates(PATIENT).set_index(PATIENT) if len(pts) else pd.DataFrame()
    p["SEX"] = p["PATIENT_ID"].map(info.get("sex", pd.Series(dtype="string"))).str.capitalize()
    p["AGE"] = pd.to_numeric(
        p["PATIENT_ID"].map(info.get("age_at_diagnosis", pd.Series(dtype="string"))).astype("string").str.rstrip("+"),
        errors="coerce",
    ).astype("Int64")
    if len(out):
        o = out.copy()
        end = dates(o, "death_date", anchor).fillna(dates(o, "last_followup_date", anchor))
        months = ((end - pd.to_datetime(o[PATIENT].map(anchor))).dt.days / _DAYS_PER_MONTH).round(2)
        o = o.assign(_m=months).drop_duplicates(PATIENT, keep="last").set_index(PATIENT)
        status = o["vital_status"].map({"dead": "1:DECEASED", "alive": "0:LIVING"})
        p["OS_STATUS"] = p["PATIENT_ID"].map(status)
        p["OS_MONTHS"] = p["PATIENT_ID"].map(o["_m"].where(o["_m"] >= 0))
    else:
        p["OS_STATUS"], p["OS_MONTHS"] = pd.NA, pd.NA
    stg = t["clinical/staging"]
    stage = stg.drop_duplicates(PATIENT).set_index(PATIENT)["stage_group"] if len(stg) else pd.Series(dtype="string")
    p["STAGE_GROUP"] = p["PATIENT_ID"].map(stage)
    patient_attrs = [
        ("PATIENT_ID", "Patient Identifier", "Pseudonym of the patient", "STRING", 1),
        ("SEX", "Sex", "Sex", "STRING", 1),
        ("AGE", "Diagnosis Age", "Age at diagnosis in years (90 for 90 and above)", "NUMBER", 1),
        ("OS_STATUS", "Overall Survival Status", "Overall survival status", "STRING", 1),
        ("OS_MONTHS", "Overall Survival (Months)", "Months from diagnosis to death or last follow-up", "NUMBER", 1),
        ("STAGE_GROUP", "Stage Group", "AJCC clinical stage group", "STRING", 1),
    ]
    files: dict[str, str] = {}
    files["meta_study.txt"] = _meta(
        {
            "type_of_cancer": "nsclc",
            "cancer_study_identifier": sid,
            "name": name,
            "description": f"{name}: curated, de-identified cohort (pseudonyms, shifted dates) exported by curation",
            "add_global_case_list": "false",
            "reference_genome": "hg38" if build == "GRCh38" else "hg19",
        }
    )
    files["meta_clinical_patient.txt"] = _meta(
        {
            "cancer_study_identifier": sid,
            "genetic_alteration_type": "CLINICAL",
            "datatype": "PATIENT_ATTRIBUTES",
            "data_filename": "data_clinical_patient.txt",
        }
    )
    files["data_clinical_patient.txt"] = _clinical(p, patient_attrs)
    counts = {"patients": len(p), "samples": 0, "mutations": 0}
    if samples is not None:
        s = samples.drop_duplicates("sample")
        m = (
            maf(t["genomics/variants"].dropna(subset=["sample"]), build=build)
            if len(t["genomics/variants"])
            else pd.DataFrame(columns=MAF_COLUMNS)
        )
        m = m[m["Tumor_Sample_Barcode"].isin(set(s["sample"]))]
        n_fusion = int((t["genomics/variants"].get("variant_type", pd.Series(dtype="string")) == "fusion").sum())
        if n_fusion:
            cov.add("fusions (structural variants, not in the MAF)", "-", 0, total=n_fusion)
        cov.add("MAF Variant_Classification", "MAF", m["Variant_Classification"] != "Unknown")
        per = m.groupby("Tumor_Sample_Barcode").size()
        hist = (
            s[PATIENT].map(cond.drop_duplicates(PATIENT).set_index(PATIENT)["histology"])
            if len(cond)
            else pd.Series(pd.NA, index=s.index)
        )
        cancer = hist.map(lambda h: _CANCER.get(h, (None, None)) if isinstance(h, str) else (None, None))
        sd = pd.DataFrame(
            {
                "PATIENT_ID": s[PATIENT].astype("string").to_numpy(),
                "SAMPLE_ID": s["sample"].astype("string").to_numpy(),
                "CANCER_TYPE": [c[0] for c in cancer],
                "CANCER_TYPE_DETAILED": [c[1] for c in cancer],
                "SAMPLE_TYPE": s.get("tissue").map({"tumor": "Primary", "normal": "Normal"}).to_numpy(),
                "MEAN_DEPTH": s.get("mean_depth").to_numpy(),
            }
        )
        n_mut = sd["SAMPLE_ID"].map(per).fillna(0)
        sd["TMB"] = (n_mut / panel_size_mb).round(3) if panel_size_mb else pd.NA
        cov.add("sample TMB (needs exports.panel_size_mb)", "-", int(bool(panel_size_mb)) * len(sd), total=len(sd))
        sample_attrs = [
            ("PATIENT_ID", "Patient Identifier", "Pseudonym of the patient", "STRING", 1),
            ("SAMPLE_ID", "Sample Identifier", "Keyed token of the sequenced sample", "STRING", 1),
            ("CANCER_TYPE", "Cancer Type", "Cancer type", "STRING", 1),
            ("CANCER_TYPE_DETAILED", "Cancer Type Detailed", "Histology of the primary", "STRING", 1),
            ("SAMPLE_TYPE", "Sample Type", "Tumor or normal", "STRING", 1),
            ("MEAN_DEPTH", "Mean Depth", "Mean target sequencing depth", "NUMBER", 1),
            ("TMB", "TMB", f"Mutations per Mb of the {panel_size_mb or '?'} Mb panel", "NUMBER", 1),
        ]
        files["meta_clinical_sample.txt"] = _meta(
            {
                "cancer_study_identifier": sid,
                "genetic_alteration_type": "CLINICAL",
                "datatype": "SAMPLE_ATTRIBUTES",
                "data_filename": "data_clinical_sample.txt",
            }
        )
        files["data_clinical_sample.txt"] = _clinical(sd, sample_attrs)
        files["meta_mutations.txt"] = _meta(
            {
                "cancer_study_identifier": sid,
                "genetic_alteration_type": "MUTATION_EXTENDED",
                "datatype": "MAF",
                "stable_id": "mutations",
                "show_profile_in_analysis_tab": "true",
                "profile_name": "Mutations",
                "profile_description": "Somatic calls of the tumour panel (curated, de-identified)",
                "data_filename": "data_mutations.txt",
            }
        )
        files["data_mutations.txt"] = m.astype("string").fillna("").to_csv(sep="\t", index=False, lineterminator="\n")
        all_ids = "\t".join(sd["SAMPLE_ID"])
        for suffix, label, category in (
            ("all", "All samples", "all_cases_in_study"),
            ("sequenced", "Sequenced samples", "all_cases_with_mutation_data"),
        ):
            files[f"case_lists/cases_{suffix}.txt"] = _meta(
                {
                    "cancer_study_identifier": sid,
                    "stable_id": f"{sid}_{suffix}",
                    "case_list_name": label,
                    "case_list_description": f"{label} ({len(sd)} samples)",
                    "case_list_category": category,
                    "case_list_ids": all_ids,
                }
            )
        counts.update(samples=len(sd), mutations=len(m))
    files[COVERAGE_FILE] = cov.csv()
    for rel, text in files.items():
        write_text(to / rel, text)
    return ExportResult("cbioportal", to, sorted(files), cov.frame(), counts)
