"""A small curated bundle written directly (synthetic pseudonyms, shifted dates): the exports' input.

Its tables have the columns and types the modalities write (``data/<modality>/*.parquet``), so the
exports are tested in a second; the end-to-end test (``test_demo.py``, slow) runs them on the demo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N = 12  # patients
PATIENTS = [f"PT{i:04d}ABCDEFGH" for i in range(N)]
ANALYTES = ["CEA", "CYFRA21-1", "NSE", "ProGRP", "SCC", "CA125"]
UNITS = {"CEA": "ng/mL", "CYFRA21-1": "ng/mL", "NSE": "ng/mL", "ProGRP": "pg/mL", "SCC": "ng/mL", "CA125": "U/mL"}
GENES = ["CD3E", "CD3D", "CD4", "CD8A", "MS4A1", "CD79A", "CD14", "LYZ", "NKG7", "GNLY", "DEMOG0001", "DEMOG0002"]


def _write(root: Path, rel: str, df: pd.DataFrame) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def _dates(base: pd.Timestamp, days: list[int]) -> list[object]:
    return [(base + pd.Timedelta(days=d)).date() for d in days]


def make_bundle(root: Path, *, relative: bool = False) -> Path:
    """Write the synthetic bundle under ``root``; ``relative``: dates as ``<name>_days`` (dates.mode relative)."""
    rng = np.random.default_rng(7)
    dx = [pd.Timestamp("2021-01-01") + pd.Timedelta(days=int(d)) for d in rng.integers(0, 900, N)]
    site = ["A" if i % 2 else "B" for i in range(N)]

    def day_col(name: str, patients: list[str], days: list[int]) -> dict[str, list[object]]:
        if relative:
            return {f"{name}_days": days}
        return {
            name: [(dx[PATIENTS.index(p)] + pd.Timedelta(days=d)).date() for p, d in zip(patients, days, strict=True)]
        }

    _write(
        root,
        "quality/anchors/clinical.parquet",
        pd.DataFrame({"patient": PATIENTS, "diagnosis_date": [d.date() for d in dx]}),
    )
    _write(
        root,
        "data/clinical/patients.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS, dtype="string"),
                "site": pd.array(site, dtype="string"),
                "sex": pd.array(["male", "female", "male", "unknown"] * (N // 4), dtype="string"),
                "birth_year": pd.array([1950 + i for i in range(N - 1)] + [None], dtype="Int64"),
                "age_at_diagnosis": pd.array([str(70 - i) for i in range(N - 1)] + ["90+"], dtype="string"),
                "ethnicity": pd.array(["汉族"] * (N - 1) + [None], dtype="string"),
            }
        ),
    )
    cond = {
        "patient": PATIENTS[:-1],
        "icd10": ["C34.1", "C34.9", "C34.101", "C34.3"] * 2 + ["C34.1", "C34.2", "C34.9"],
        "icdo3_topography": ["C34.1"] * (N - 1),
        "icdo3_morphology": ["8140/3", "8070/3", "8041/3"] * 3 + ["8012/3", "8140/3"],
        "laterality": ["left", "right", "bilateral", "unknown"] * 2 + ["left", "right", "left"],
        "histology": ["adenocarcinoma", "squamous_cell_carcinoma", "small_cell_carcinoma"] * 3
        + ["large_cell_carcinoma", "adenocarcinoma"],
    }
    _write(
        root,
        "data/clinical/conditions.parquet",
        pd.DataFrame(
            {
                **{k: pd.array(v, dtype="string") for k, v in cond.items()},
                **day_col("diagnosis_date", PATIENTS[:-1], [0] * (N - 1)),
            }
        ),
    )
    _write(
        root,
        "data/clinical/staging.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS, dtype="string"),
                "ct": pd.array(["T3", "T1a", "T2", None] * 3, dtype="string"),
                "cn": pd.array(["N0", "N3", "N1", "N2"] * 3, dtype="string"),
                "cm": pd.array(["M0", "M1c", "M0", None] * 3, dtype="string"),
                "pt": pd.array(["T1a", None, None, None] * 3, dtype="string"),
                "pn": pd.array(["N0", None, None, None] * 3, dtype="string"),
                "pm": pd.array([None] * N, dtype="string"),
                "stage_group": pd.array(["IIIC", "IVB", "IIB", "IA1"] * 3, dtype="string"),
                "ajcc_edition": pd.array(["8"] * (N - 1) + ["5"], dtype="string"),
            }
        ),
    )
    trt_p = [p for p in PATIENTS for _ in range(2)]
    _write(
        root,
        "data/clinical/treatments.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(trt_p, dtype="string"),
                "treatment_type": pd.array(
                    ["surgery", "chemotherapy", "radiotherapy", "targeted"] * (N // 2), dtype="string"
                ),
                "regimen": pd.array(
                    [None, "紫杉醇+卡铂", "调强放疗 60Gy/30次", "osimertinib"] * (N // 2), dtype="string"
                ),
                "line": pd.array([1] * (2 * N), dtype="Int64"),
                **day_col("treatment_start", trt_p, [10, 30] * N),
                **day_col("treatment_end", trt_p, [10, 120] * N),
            }
        ),
    )
    _write(
        root,
        "data/clinical/outcomes.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS, dtype="string"),
                "vital_status": pd.array(["dead", "alive", "alive"] * (N // 3), dtype="string"),
                **day_col("last_followup_date", PATIENTS, [400 + i for i in range(N)]),
                **(
                    {"death_date_days": pd.array([400, None, None] * (N // 3), dtype="Int64")}
                    if relative
                    else {
                        "death_date": [
                            (dx[i] + pd.Timedelta(days=400)).date() if i % 3 == 0 else None for i in range(N)
                        ]
                    }
                ),
            }
        ),
    )
    _write(
        root,
        "data/pathology/pathology.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS, dtype="string"),
                "specimen": pd.array([f"SP{i:012d}" for i in range(N)], dtype="string"),
                "specimen_type": pd.array(["biopsy", "resection"] * (N // 2), dtype="string"),
                **day_col("specimen_date", PATIENTS, [-3] * N),
                "histology": pd.array(["adenocarcinoma"] * N, dtype="string"),
            }
        ),
    )
    _write(
        root,
        "data/exposure/exposure.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS, dtype="string"),
                "smoking_status": pd.array(["never", "former", "current", None] * (N // 4), dtype="string"),
                "pack_years": [0.0, 20.0, 35.5, np.nan] * (N // 4),
                "asbestos": pd.array(["no", "yes", "unknown", "no"] * (N // 4), dtype="string"),
            }
        ),
    )
    lab_p = [p for p in PATIENTS for _ in range(12)]
    n_lab = len(lab_p)
    analyte = [ANALYTES[i % 6] for i in range(n_lab)]
    values = np.round(rng.uniform(0.2, 40, n_lab), 2)
    censored = ["below_limit" if i % 17 == 0 else "none" for i in range(n_lab)]
    _write(
        root,
        "data/lab/results.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(lab_p, dtype="string"),
                "analyte": pd.array(analyte, dtype="string"),
                "value": pd.array(
                    [("<" if c != "none" else "") + str(v) for v, c in zip(values, censored, strict=True)],
                    dtype="string",
                ),
                **day_col("collected_date", lab_p, [int(d) for d in rng.integers(-10, 700, n_lab)]),
                "value_num": values,
                "censored": pd.array(censored, dtype="string"),
                "unit_std": pd.array([UNITS[a] for a in analyte], dtype="string"),
                "ref_low": 0.0,
                "ref_high": 5.0,
                "abnormal": pd.array(["high" if v > 5 else "normal" for v in values], dtype="string"),
            }
        ),
    )
    samples = [f"SA{i:012d}" for i in range(N - 2)]
    _write(
        root,
        "data/genomics/samples.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS[: N - 2], dtype="string"),
                "sample": pd.array(samples, dtype="string"),
                "tissue": pd.array(["tumor"] * (N - 2), dtype="string"),
                "mean_depth": 600.0,
            }
        ),
    )
    var_rows = []
    for i, s in enumerate(samples[:-1]):  # the last sample has no call: sequenced, not mutated
        var_rows += [
            (PATIENTS[i], s, "chr7", 55191822, "T", "G", "EGFR", "p.L858R", "SNV"),
            (PATIENTS[i], s, "chr7", 55174771, "AGGAATTAAGAGAAGC", "A", "EGFR", "p.E746_A750del", "deletion"),
            (PATIENTS[i], s, "chr17", 7674220, "C", "CT", "TP53", None, "insertion"),
            (PATIENTS[i], s, "chr2", 29223000, "N", "N[chr2:42000000[", "ALK", None, "fusion"),
        ]
    var = pd.DataFrame(
        var_rows, columns=["patient", "sample", "chrom", "pos", "ref", "alt", "gene", "protein_change", "variant_type"]
    )
    var = var.astype({c: "string" for c in var.columns if c != "pos"}).astype({"pos": "Int64"})
    var["vaf"], var["depth"] = 0.25, pd.array([400] * len(var), dtype="Int64")
    _write(root, "data/genomics/variants.parquet", var)
    _write(
        root,
        "data/imaging/series.parquet",
        pd.DataFrame(
            {
                "patient": pd.array(PATIENTS[:4] * 2, dtype="string"),
                "study_uid": pd.array([f"2.25.{1000 + i % 4}" for i in range(8)], dtype="string"),
                "series_uid": pd.array([f"2.25.{2000 + i}" for i in range(8)], dtype="string"),
                "modality": pd.array(["CT"] * 8, dtype="string"),
                "n_instances": [20] * 8,
                "study_date": pd.to_datetime([dx[i % 4] for i in range(8)]),
            }
        ),
    )
    return root


def make_h5ad(root: Path) -> Path:
    """A tiny immune.h5ad as the immune step writes it (raw counts in X, Cell Ontology types, QC flag)."""
    import anndata as ad
    from scipy import sparse

    rng = np.random.default_rng(3)
    donors = PATIENTS[:3]
    n = 90
    obs = pd.DataFrame(
        {
            "sample": [f"SA{i % 3:012d}" for i in range(n)],
            "patient": [donors[i % 3] for i in range(n)],
            "tissue": ["tumor", "tumor", "blood"] * (n // 3),
            "timepoint": "baseline",
            "cell_type": ["CD4 T cell", "B cell", "unassigned"] * (n // 3),
            "cell_type_ontology_term_id": ["CL:0000624", "CL:0000236", "unknown"] * (n // 3),
            "qc_pass": [True] * (n - 6) + [False] * 6,
        },
        index=[f"cell{i}" for i in range(n)],
    )
    var = pd.DataFrame(
        {
            "gene_ids": [f"ENSG9{i:010d}" for i in range(len(GENES))],
            "feature_name": GENES,
            "feature_types": "Gene Expression",
        },
        index=GENES,
    )
    x = sparse.csr_matrix(rng.poisson(3, size=(n, len(GENES))).astype(np.float32))
    adata = ad.AnnData(X=x, obs=obs, var=var)
    adata.obsm["X_umap"] = rng.normal(size=(n, 2))
    path = root / "data" / "immune" / "immune.h5ad"
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path)
    return path
