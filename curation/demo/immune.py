"""Demo single-cell exports: 10x folders, one 10x .h5, one scaled .h5ad, and the sample sheet.

Counts are negative-binomial draws around per-cell-type expression profiles built from the marker
table (curation/dictionary/immune_markers.yaml), so the cell typing has something real to find:
T cells (CD4, CD8 with an exhaustion programme in tumours, Tregs), B and plasma cells, NK cells,
monocytes, macrophages, dendritic cells and, in tumours, epithelial (tumour) cells and fibroblasts.
Every cell carries MT-, RPS/RPL and (in blood, as ambient RNA) HB counts, and XIST or chrY genes by
the roster's ``sc_sex``.

Planted and logged: one sample of mostly empty droplets, one scaled (non-count) .h5ad, one sample
with many dying high-mitochondrial cells, doublets in every sample (20% in one), and
barcodes prefixed with the hospital sample ID (an identifier the output must not carry).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._core import DemoLog

__all__ = ["generate"]

N_GENES = 1500
MT_GENES = [
    "MT-ND1",
    "MT-ND2",
    "MT-CO1",
    "MT-CO2",
    "MT-ATP8",
    "MT-ATP6",
    "MT-CO3",
    "MT-ND3",
    "MT-ND4L",
    "MT-ND4",
    "MT-ND5",
    "MT-ND6",
    "MT-CYB",
]
RIBO_GENES = [
    f"RPL{i}"
    for i in (
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        18,
        19,
        21,
        23,
        24,
        26,
        27,
        28,
        29,
        30,
        31,
        32,
        34,
        35,
        36,
        37,
        38,
        39,
        41,
    )
] + [
    f"RPS{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29)
]
HB_GENES = ["HBA1", "HBA2", "HBB", "HBD", "HBM"]
SEX_F = ["XIST"]
SEX_M = ["RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY"]

# cell-type mixtures per tissue (fractions of true cells)
MIX = {
    "tumor": {
        "CD4 T cell": 0.16,
        "CD8 T cell": 0.16,
        "regulatory T cell": 0.06,
        "B cell": 0.07,
        "plasma cell": 0.04,
        "natural killer cell": 0.05,
        "classical monocyte": 0.04,
        "macrophage": 0.18,
        "conventional dendritic cell": 0.03,
        "plasmacytoid dendritic cell": 0.02,
        "mast cell": 0.02,
        "epithelial cell": 0.12,
        "fibroblast": 0.05,
    },
    "blood": {
        "CD4 T cell": 0.30,
        "CD8 T cell": 0.15,
        "regulatory T cell": 0.03,
        "B cell": 0.10,
        "plasma cell": 0.01,
        "natural killer cell": 0.10,
        "classical monocyte": 0.20,
        "non-classical monocyte": 0.06,
        "conventional dendritic cell": 0.03,
        "plasmacytoid dendritic cell": 0.02,
    },
}


def _markers() -> dict[str, Any]:
    import yaml

    path = Path(__file__).resolve().parents[1] / "dictionary" / "immune_markers.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _genes(table: dict[str, Any]) -> pd.DataFrame:
    named: list[str] = []
    for ct in table["cell_types"].values():
        named += ct["markers"]
    named += (
        table["proliferation"]
        + [g for gs in table["gene_sets"].values() for g in gs]
        + MT_GENES
        + RIBO_GENES
        + HB_GENES
    )
    named += SEX_F + SEX_M + ["PTPRC", "ACTB", "B2M", "MALAT1", "TMSB4X", "HLA-DRA"]
    named = list(dict.fromkeys(named))
    fill = [f"DEMOG{i:04d}" for i in range(N_GENES - len(named))]
    symbols = named + fill
    ids = [f"ENSG{int(hashlib.sha256(s.encode()).hexdigest()[:10], 16) % 10**11:011d}" for s in symbols]
    return pd.DataFrame({"gene_ids": ids, "symbol": symbols})


def _profiles(genes: pd.DataFrame, table: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    sym = genes["symbol"].to_numpy()
    idx = {s: i for i, s in enumerate(sym)}
    base = rng.lognormal(0.0, 1.2, len(sym))
    base[[idx[g] for g in MT_GENES]] = 0  # added per cell below
    base[[idx[g] for g in RIBO_GENES]] *= 8
    base[[idx[g] for g in HB_GENES + SEX_F + SEX_M]] = 0
    for g in ("ACTB", "B2M", "MALAT1", "TMSB4X"):
        base[idx[g]] = 60
    marker_genes = {g for ct in table["cell_types"].values() for g in ct["markers"]}
    marker_genes |= {g for gs in table["gene_sets"].values() for g in gs} | set(table["proliferation"])
    base[[idx[g] for g in marker_genes]] = 0.05  # markers are off unless a type turns them on
    out = {}
    for name, ct in table["cell_types"].items():
        p = base.copy()
        for g in ct["markers"]:
            p[idx[g]] = rng.uniform(15, 40)
        if table["cell_types"][name].get("lineage") in ("T", "B", "NK", "myeloid"):
            p[idx["PTPRC"]] = 20
        if name in ("CD8 T cell", "natural killer cell"):
            for g in table["gene_sets"]["cytotoxicity"]:
                p[idx[g]] = max(p[idx[g]], 10)
        out[name] = p
    return out


def _counts(mu: np.ndarray, rng: np.random.Generator, *, r: float = 4.0) -> np.ndarray:
    return rng.negative_binomial(r, r / (r + mu)).astype(np.float32)


def _simulate(
    tissue: str,
    n_cells: int,
    sex: str,
    genes: pd.DataFrame,
    profiles: dict[str, np.ndarray],
    table: dict[str, Any],
    rng: np.random.Generator,
    *,
    empty_frac: float,
    dying_frac: float,
    doublet_frac: float,
) -> np.ndarray:
    sym = genes["symbol"].to_numpy()
    idx = {s: i for i, s in enumerate(sym)}
    mix = MIX[tissue]
    types = rng.choice(list(mix), size=n_cells, p=np.array(list(mix.values())) / sum(mix.values()))
    P = np.stack([profiles[t] for t in types]).astype(np.float64)
    if tissue == "tumor":  # exhausted CD8 and Tregs in the tumour
        ex = [idx[g] for g in table["gene_sets"]["exhaustion"]]
        P[np.ix_(types == "CD8 T cell", ex)] = rng.uniform(4, 12, size=((types == "CD8 T cell").sum(), len(ex)))
    prolif = rng.random(n_cells) < 0.05
    P[np.ix_(prolif, np.array([idx[g] for g in table["proliferation"]]))] = 15
    # sex genes: XIST in female cells; chrY genes in male cells (tumour epithelium loses chrY at times)
    if sex == "F":
        P[:, idx["XIST"]] = 12
    else:
        y = np.ones(n_cells, bool)
        y[types == "epithelial cell"] = rng.random((types == "epithelial cell").sum()) < 0.3
        P[np.ix_(y, np.array([idx[g] for g in SEX_M]))] = 6
    P /= P.sum(1, keepdims=True)
    mt = np.clip(rng.normal(0.03, 0.01, n_cells), 0.005, 0.07)
    lib = rng.lognormal(np.log(2500), 0.35, n_cells)
    dying = rng.random(n_cells) < dying_frac
    mt[dying] = rng.uniform(0.25, 0.6, dying.sum())
    lib[dying] *= 0.35
    mt_idx = [idx[g] for g in MT_GENES]
    P *= (1 - mt)[:, None]
    P[:, mt_idx] = mt[:, None] / len(MT_GENES)
    if tissue == "blood":  # free hemoglobin mRNA from lysed red cells
        P[:, [idx[g] for g in HB_GENES]] = 0.002
        P /= P.sum(1, keepdims=True)
    X = _counts(P * lib[:, None], rng)
    # doublets: two droplets' worth of RNA from cells of (usually) different types
    n_dbl = round(doublet_frac * n_cells)
    if n_dbl:
        a = rng.choice(n_cells, n_dbl, replace=False)
        b = rng.integers(0, n_cells, n_dbl)
        X[a] = X[a] + X[b]
    n_empty = round(empty_frac * n_cells)
    if n_empty:  # ambient RNA only: the average profile at a few dozen counts
        soup = P.mean(0)
        e = rng.choice(n_cells, n_empty, replace=False)
        X[e] = _counts(soup[None, :] * rng.lognormal(np.log(60), 0.5, n_empty)[:, None], rng)
    return X


def _barcodes(n: int, rng: np.random.Generator, prefix: str = "") -> list[str]:
    seqs = rng.choice(list("ACGT"), size=(n, 16))
    bcs = list(dict.fromkeys("".join(s) + "-1" for s in seqs))
    while len(bcs) < n:
        bcs.append("".join(rng.choice(list("ACGT"), 16)) + "-1")
    return [prefix + b for b in bcs[:n]]


def _write_mtx(folder: Path, X: np.ndarray, genes: pd.DataFrame, barcodes: list[str]) -> None:
    import scipy.io
    import scipy.sparse as sp

    folder.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same seed gives byte-identical files
    with gzip.GzipFile(folder / "matrix.mtx.gz", "wb", mtime=0) as fh:
        scipy.io.mmwrite(fh, sp.coo_matrix(X.T.astype(np.int64)), field="integer")
    feats = "".join(f"{i}\t{s}\tGene Expression\n" for i, s in zip(genes["gene_ids"], genes["symbol"], strict=True))
    with gzip.GzipFile(folder / "features.tsv.gz", "wb", mtime=0) as fh:
        fh.write(feats.encode())
    with gzip.GzipFile(folder / "barcodes.tsv.gz", "wb", mtime=0) as fh:
        fh.write("".join(b + "\n" for b in barcodes).encode())


def _write_h5(path: Path, X: np.ndarray, genes: pd.DataFrame, barcodes: list[str]) -> None:
    """Cell Ranger v3 HDF5 layout (/matrix with CSC of genes x cells, /matrix/features)."""
    import h5py
    import scipy.sparse as sp

    path.parent.mkdir(parents=True, exist_ok=True)
    M = sp.csc_matrix(X.T.astype(np.int32))
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        g.create_dataset("data", data=M.data, compression="gzip")
        g.create_dataset("indices", data=M.indices.astype(np.int64), compression="gzip")
        g.create_dataset("indptr", data=M.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array(M.shape, dtype=np.int32))
        ft = g.create_group("features")
        ft.create_dataset("id", data=np.array(genes["gene_ids"], dtype="S"))
        ft.create_dataset("name", data=np.array(genes["symbol"], dtype="S"))
        ft.create_dataset("feature_type", data=np.array(["Gene Expression"] * len(genes), dtype="S"))
        ft.create_dataset("genome", data=np.array(["GRCh38"] * len(genes), dtype="S"))
        ft.create_dataset("_all_tag_keys", data=np.array(["genome"], dtype="S"))
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2


def _write_scaled_h5ad(path: Path, X: np.ndarray, genes: pd.DataFrame, barcodes: list[str]) -> None:
    """What a collaborator sometimes sends: log-normalized, z-scored X and no counts anywhere."""
    import anndata as ad

    tot = X.sum(1, keepdims=True)
    tot[tot == 0] = 1
    L = np.log1p(X / tot * 1e4)
    Z = (L - L.mean(0)) / np.where(L.std(0) > 0, L.std(0), 1)
    a = ad.AnnData(
        X=np.clip(Z, -10, 10).astype(np.float32),
        obs=pd.DataFrame(index=barcodes),
        var=pd.DataFrame({"gene_ids": genes["gene_ids"].to_numpy()}, index=genes["symbol"].to_numpy()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    a.write_h5ad(path)


def _blood_id(tumor_id: str) -> str:
    i = tumor_id.rfind("T")
    return tumor_id[:i] + "B" + tumor_id[i + 1 :] if i >= 0 else tumor_id + "PB"


# sample position -> the QC defect planted in it: (field, kind, check that must catch it, note)
_QC_DEFECTS = {
    2: (
        "total_counts",
        "mostly_empty_droplets",
        "immune.accuracy.empty_droplets",
        "70% of barcodes are ambient-RNA droplets",
    ),
    3: ("doublet_score", "doublets", "immune.accuracy.doublets", "20% doublets"),
    4: (
        "pct_counts_mt",
        "high_mito_dying_cells",
        "immune.accuracy.mitochondrial",
        "25% dying cells with 25-60% mitochondrial counts",
    ),
}


def generate(
    roster: pd.DataFrame,
    out: Path,
    *,
    rng: np.random.Generator,
    log: DemoLog,
    keyring: Any,
    max_patients: int = 6,
    cells: tuple[int, int] = (300, 800),
) -> dict[str, list[dict[str, Any]]]:
    """Write raw/singlecell/ (see the module docstring) and return the cohort.yaml immune sources.

    ``max_patients`` and ``cells`` (range of barcodes per sample) keep tests small.
    """
    table = _markers()
    genes = _genes(table)
    profiles = _profiles(genes, table, rng)
    base = Path(out) / "raw" / "singlecell"
    patients = (
        roster[roster["has_single_cell"].astype(bool)].drop_duplicates("pid").sort_values("pid").head(max_patients)
    )
    if patients.empty:
        return {}
    plans = []
    for k, (_, p) in enumerate(patients.iterrows()):
        tid = str(p["tumor_sample_id"])
        plans.append({"p": p, "sid": tid, "tissue": "tumor", "k": k})
        if k < 2:
            plans.append({"p": p, "sid": _blood_id(tid), "tissue": "blood", "k": k})
    # planted: [0] tumour 10x folder with barcodes prefixed by the sample ID; [1] tumour as 10x .h5;
    # [2] mostly empty droplets; [3] high doublet rate; [4] dying high-mito cells; last: scaled .h5ad
    rows, fmt_used = [], set()
    for j, plan in enumerate(plans):
        p, sid, tissue = plan["p"], plan["sid"], plan["tissue"]
        sex = str(p.get("sc_sex", p["sex"]))
        n = int(rng.integers(cells[0], cells[1]))
        empty = 0.7 if j == 2 else 0.03
        dying = 0.25 if j == 4 else 0.01
        dbl = 0.2 if j == 3 else 0.03
        X = _simulate(tissue, n, sex, genes, profiles, table, rng, empty_frac=empty, dying_frac=dying, doublet_frac=dbl)
        bcs = _barcodes(n, rng, prefix=f"{sid}_" if j == 0 else "")
        log.identifier(sid, p["mrn"])
        planted = {
            "site": str(p["site"]),
            "pseudonym": str(p["pseudonym"]),
            "dimension": "accuracy",
            "modality": "immune",
        }
        scaled = j == len(plans) - 1 and len(plans) > 2
        fmt_used.add(
            _write_sample(Path(out), sid, X, genes, bcs, fmt="h5ad" if scaled else "10x_h5" if j == 1 else "10x")
        )
        if scaled:
            rel = f"raw/singlecell/{sid}/{sid}.h5ad"
            log.defect(
                record=f"single-cell sample file {rel}",
                field="X",
                kind="scaled_matrix",
                expect="quarantine:not_raw_counts",
                file_token=keyring.token("file", rel),
                note="log-normalized, z-scored X without counts",
                **{**planted, "dimension": "conformance"},
            )
        if j in _QC_DEFECTS:
            field, kind, expect, note = _QC_DEFECTS[j]
            log.defect(
                record=f"single-cell sample {tissue} of this patient",
                field=field,
                kind=kind,
                expect=expect,
                note=note,
                **planted,
            )
        rows.append(
            {
                "sample_id": sid,
                "admission_number": str(p["mrn"]),
                "site": str(p["site"]),
                "tissue": tissue,
                "timepoint": "baseline",
                **_sample_dates(p),
            }
        )
    pd.DataFrame(rows).to_csv(base / "samples.csv", index=False)
    return {"immune": _sources(fmt_used)}


def _sample_dates(p: pd.Series) -> dict[str, str]:
    """Collected at diagnosis, the library made the same or the next day (a planted delay aside); no draw."""
    if pd.isna(p.get("diagnosis_date")):  # a roster without dates (the generator's own tests): no dates
        return {}
    collected = pd.Timestamp(p["diagnosis_date"])
    delay = p.get("sc_library_delay")
    days = float(delay) if delay is not None and pd.notna(delay) else float(int(p["pid"]) % 2)
    library = collected + pd.Timedelta(days=days)
    return {"collection_date": f"{collected:%Y-%m-%d}", "library_date": f"{library:%Y-%m-%d}"}


def _write_sample(out: Path, sid: str, X: np.ndarray, genes: pd.DataFrame, bcs: list[str], *, fmt: str) -> str:
    """One sample's matrix as a scaled .h5ad (no counts), a 10x .h5 or a 10x folder; returns the format."""
    folder = out / "raw" / "singlecell" / sid
    if fmt == "h5ad":
        _write_scaled_h5ad(folder / f"{sid}.h5ad", X, genes, bcs)
    elif fmt == "10x_h5":
        _write_h5(folder / "filtered_feature_bc_matrix.h5", X, genes, bcs)
    else:
        _write_mtx(folder / "filtered_feature_bc_matrix", X, genes, bcs)
    return fmt


def _sources(fmt_used: set[str]) -> list[dict[str, Any]]:
    """The cohort.yaml immune sources: one per format written, all linked through the sample sheet."""
    opts = {"samples": "raw/singlecell/samples.csv"}
    paths = {
        "10x": "raw/singlecell/*/filtered_feature_bc_matrix",
        "10x_h5": "raw/singlecell/*/filtered_feature_bc_matrix.h5",
        "h5ad": "raw/singlecell/*/*.h5ad",
    }
    return [{"path": path, "format": fmt, "options": dict(opts)} for fmt, path in paths.items() if fmt in fmt_used]
