"""Standardize: identifiers become tokens, then three stages.

QC         per sample: metrics, MAD outliers, empty droplets (raw matrix knee when given), doublets
           scored on the cells that pass every other rule; cells failing stay with ``qc_pass`` False
embedding  on the passing cells of every sample: normalization, HVG, PCA, neighbours, Leiden, UMAP
typing     marker-gene scores per cell type, composition, sex per sample; V(D)J chain QC and the
           protein matrix joined by barcode
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...security.consent import exclude_withdrawn, exclude_withdrawn_samples
from ..base import Context, ModalityData
from ._load import RawSample
from ._qc import QCParams

if TYPE_CHECKING:
    import anndata as ad

SCHEMA_VERSION = "1.0"
_OBS_KEYS = ("sample", "patient", "tissue", "timepoint", "site")


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Tokens for identifiers, per-sample QC, processing, typing, composition and sex per sample."""
    import anndata as ad
    import scipy.sparse as sp

    from ._sex import infer_sex
    from ._typing import composition, load_markers

    # consent withdrawn: the patient's samples and sample-sheet rows stop here (samples counted in the ledger)
    samples: list[RawSample] = exclude_withdrawn_samples(data.objects.pop("samples", []), data=data, ctx=ctx)
    data.objects["sheets"] = exclude_withdrawn(
        data.objects.get("sheets", pd.DataFrame()),
        data=data,
        ctx=ctx,
        id_col="admission_number",
        site_col="site",
        source_col=None,
    )
    table = load_markers()
    parts, prots, airrs, qc_rows = [], [], [], []
    params_used: dict[str, Any] = {}
    dup_barcodes: dict[str, int] = {}
    for q in _qc_samples(samples, ctx, data=data):
        dup_barcodes[q.token] = q.duplicates
        parts.append(q.part)
        if q.ambient is not None:
            params_used.setdefault("ambient", {})[q.token] = q.ambient
        qc_rows.append(q.row)
        params_used.setdefault("qc", {})[q.token] = q.params
        if q.protein is not None:
            prots.append(q.protein)
        if q.airr is not None:
            airrs.append(q.airr)
    data.objects["sheets"] = data.objects.get("sheets", pd.DataFrame())
    data.objects["duplicate_barcodes"] = dup_barcodes
    data.tables["qc"] = pd.DataFrame(qc_rows)
    if not parts:
        data.tables["composition"] = composition(pd.DataFrame(columns=["qc_pass"]))
        data.tables["sample_sex"] = pd.DataFrame(columns=["sample", "patient", "tissue", "inferred_sex"])
        data.standardized = True
        return data
    adata = ad.concat(parts, join="outer", merge="first", fill_value=0)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    for c in _OBS_KEYS:
        adata.obs[c] = adata.obs[c].astype("category")
    pp = _process_params(samples, ctx)
    proc = _embed(adata, pp)
    _type_cells(adata, proc, pp, table=table)
    if airrs:
        data.objects["airr"] = _join_vdj(adata, airrs)
    if prots:
        data.objects["protein"] = ad.concat(prots, join="outer", merge="first", fill_value=0)
    adata.var.index.name = None
    adata.obs.index.name = None
    sex = infer_sex(adata, table)
    _provenance(adata, pp, params_used, qc_rows, table=table)
    data.objects["adata"] = adata
    data.tables["composition"] = composition(adata.obs)
    data.tables["sample_sex"] = sex
    data.standardized = True
    return data


# ------------------------------------------------------------------------------------------- QC


@dataclass
class _SampleQC:
    """One sample after QC: its cells (tokens, QC columns), its row of the QC table, what QC used."""

    token: str
    part: ad.AnnData
    row: dict[str, Any]
    params: dict[str, Any]
    duplicates: int
    ambient: dict[str, Any] | None = None
    protein: ad.AnnData | None = None
    airr: ad.AnnData | None = None


def _qc_layers(s: RawSample, ctx: Context) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    dec = (ctx.decisions.get("immune") or {}).get("qc") if isinstance(ctx.decisions, dict) else None
    return s.options.qc.layer(), dec


@dataclass
class _QCInput:
    """What one sample's QC computes on, in a task of its own (a Dask worker's): counts, gene symbols,
    tokenized cell names, thresholds and the raw matrix; never the keyring or a raw identifier."""

    X: Any  # csr, float32
    symbols: Any  # the matrix's feature_name column
    names: pd.Index
    params: QCParams
    n_genes: int
    raw_X: Any = None
    raw_genes: Any = None


def _qc_compute(inputs: list[_QCInput]) -> list[tuple[Any, ...]]:
    """QC metrics, gene-subset floors, raw-matrix knee and ambient profile, every QC rule and the doublet
    scores of each sample (one task of :func:`curation.parallel.map_chunks`); pure, so its values do not
    depend on where it runs."""
    from ._qc import qc_metrics

    out: list[tuple[Any, ...]] = []
    for q in inputs:
        m = qc_metrics(q.X, q.symbols, index=q.names)
        p, subset = _gene_subset_floors(m, q.params, n_genes=q.n_genes)
        p, amb, raw_info = _raw_barcodes(q.raw_X, q.raw_genes, p)
        obs, info, dinfo = _flag_cells(q.X, m, p)
        out.append((p, subset, amb, raw_info, obs, info, dinfo))
    return out


def _qc_samples(samples: list[RawSample], ctx: Context, *, data: ModalityData) -> list[_SampleQC]:
    """Every sample's QC: tokens here, the computing per sample on the run's Dask cluster when it has one
    (one task per sample), else here one after the other; the ledger rows in sample order either way."""
    from ...parallel import map_chunks

    prepared = [_qc_input(s, ctx) for s in samples]
    computed = map_chunks(_qc_compute, [q for q, *_ in prepared], chunk=1)
    return [_qc_sample(s, *ready, got, data=data) for s, ready, got in zip(samples, prepared, computed, strict=True)]


def _qc_input(s: RawSample, ctx: Context) -> tuple[_QCInput, str, str, int]:
    """The sample's QC input, its token, its patient's pseudonym and its duplicate barcodes."""
    import anndata as ad
    import scipy.sparse as sp

    from ._ingest import clean_barcode

    token = ctx.keyring.token("sample", s.sample_id)
    patient = ctx.keyring.patient(s.admission_number, site=s.site) if s.admission_number else ""
    a = s.adata
    bcs = [clean_barcode(b, i) for i, b in enumerate(a.obs_names)]
    names = pd.Index([f"{token}-{b}" for b in bcs])
    duplicates = int(names.duplicated().sum())
    if duplicates:
        names = pd.Index(ad.utils.make_index_unique(names))
    X = sp.csr_matrix(a.X, dtype=np.float32)
    var = a.var[[c for c in ("gene_ids", "feature_name", "feature_types") if c in a.var]].copy()
    p = QCParams.resolve(*_qc_layers(s, ctx), tissue=s.tissue, sample=token)
    raw = (s.raw.X, s.raw.var_names) if s.raw is not None else (None, None)
    return _QCInput(X, var["feature_name"], names, p, int(a.n_vars), *raw), token, patient, duplicates


def _qc_sample(
    s: RawSample,
    q: _QCInput,
    token: str,
    patient: str,
    duplicates: int,
    computed: tuple[Any, ...],
    *,
    data: ModalityData,
) -> _SampleQC:
    """The sample's cells (tokens, QC columns; cells failing stay, flagged) and its ledger row."""
    import anndata as ad

    X, names = q.X, q.names
    var = s.adata.var[[c for c in ("gene_ids", "feature_name", "feature_types") if c in s.adata.var]].copy()
    p, subset, amb, raw_info, obs, info, dinfo = computed
    for i, (c, v) in enumerate(zip(_OBS_KEYS, (token, patient, s.tissue, s.timepoint, s.site), strict=True)):
        obs.insert(i, c, v)
    removed = {k: v for k, v in info["removed"].items() if v}
    data.ledger.record("qc", source=token, n_in=info["n_cells"], n_accepted=info["n_kept"], excluded=removed)
    live, dpred = dinfo.pop("_live"), dinfo.pop("_predicted")
    row = {
        "sample": token,
        "patient": patient,
        "tissue": s.tissue,
        "timepoint": s.timepoint,
        "site": s.site,
        "source": s.source,
        "counts_from": s.counts_from,
        "n_cells": info["n_cells"],
        "n_kept": info["n_kept"],
        "empty_fraction": info["empty_fraction"],
        "doublet_fraction": float(dpred[live].mean()) if live.any() else 0.0,
        "doublet_threshold": float(dinfo.get("threshold", np.nan)),
        "doublet_rate_estimated": float(dinfo.get("estimated_rate_median", np.nan)),
        "high_mt_fraction": info["high_mt_fraction"],
        **{f"removed_{k}": v for k, v in info["removed"].items()},
        **{f"threshold_{k}": (np.nan if v is None else v) for k, v in info["thresholds"].items()},
        "max_empty_fraction": p.max_empty_fraction,
        "max_high_mt_fraction": p.max_high_mt_fraction,
        "min_cells": p.min_cells,
        "sorted_population": s.sorted_population,
        "max_outside_population": p.max_outside_population,
        "expected_doublet_rate": p.expected_doublet_rate,
        **raw_info,
        **subset,
    }
    out = _SampleQC(
        token=token,
        part=ad.AnnData(X=X, obs=obs, var=var),
        row=row,
        duplicates=duplicates,
        params={**p.as_dict(), "doublet": dict(dinfo)},
        ambient=amb,
    )
    _attach_modalities(out, s, names)
    return out


GENE_SUBSET = 10_000  # fewer genes than this: a gene subset (a chromosome, a panel, variable genes only)
TRANSCRIPTOME = 20_000  # protein-coding genes: what the default empty-droplet floors were set for
MOSTLY_EMPTY = 0.9  # a cell-called matrix this empty under the default floors: the floors, not the cells


def _gene_subset_floors(m: pd.DataFrame, p: QCParams, *, n_genes: int) -> tuple[QCParams, dict[str, Any]]:
    """Empty-droplet floors for a matrix that holds a gene subset (scanpy's chr21 test data, Seurat's
    pbmc_small): a cell's counts and genes scale with the genes measured, so the default floors (200
    counts, 100 genes) call every cell empty. When the matrix holds fewer than GENE_SUBSET genes, the
    floors are the defaults (not set in cohort.yaml) and they would call more than MOSTLY_EMPTY of the
    barcodes empty, they are scaled by n_genes / TRANSCRIPTOME; the reason goes to the QC table
    (``floors_note``) and the ``conformance.gene_subset`` check."""
    row: dict[str, Any] = {"n_genes": n_genes, "gene_subset": n_genes < GENE_SUBSET, "floors_note": ""}
    default = QCParams()
    if not row["gene_subset"] or (p.min_counts, p.min_genes) != (default.min_counts, default.min_genes) or not len(m):
        return p, row
    empty = float(((m["total_counts"] < p.min_counts) | (m["n_genes_by_counts"] < p.min_genes)).mean())
    if empty <= MOSTLY_EMPTY:
        return p, row
    scale = n_genes / TRANSCRIPTOME
    counts, genes = max(1.0, round(p.min_counts * scale)), max(1.0, round(p.min_genes * scale))
    row["floors_note"] = (
        f"the matrix holds {n_genes} genes (a gene subset, < {GENE_SUBSET:,}); the default empty-"
        f"droplet floors ({p.min_counts:g} counts, {p.min_genes:g} genes) called {empty:.0%} of its "
        f"barcodes empty, so they were scaled by {n_genes}/{TRANSCRIPTOME:,} to {counts:g} counts "
        f"and {genes:g} genes; set options.qc.min_counts and min_genes to choose them"
    )
    return replace(p, min_counts=counts, min_genes=genes), row


def _raw_barcodes(raw: Any, genes: Any, p: QCParams) -> tuple[QCParams, dict[str, Any] | None, dict[str, Any]]:
    """The raw (unfiltered) matrix and its genes, when given: barcode-rank knee and inflection, and the ambient
    profile. Filtered barcodes below the inflection look like empty droplets, so it raises the counts floor."""
    import scipy.sparse as sp

    from ._qc import ambient_profile, barcode_rank

    if raw is None:
        return p, None, {}
    knee = barcode_rank(np.ravel(raw.sum(axis=1)))
    amb = ambient_profile(sp.csr_matrix(raw), genes)
    raw_info = {
        "raw_barcodes": int(raw.shape[0]),
        "knee": knee["knee"],
        "inflection": knee["inflection"],
        "ambient_count_share": amb["empty_droplet_count_share"],
    }
    if np.isfinite(knee["inflection"]):
        p = replace(p, min_counts=max(p.min_counts, knee["inflection"]))
    return p, amb, raw_info


def _flag_cells(X: Any, m: pd.DataFrame, p: QCParams) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Every QC rule on the sample's cells: (obs with ``qc_pass`` and ``qc_rule``, QC summary, doublet
    summary; the latter also holds the cells that passed the other rules and the predicted doublets)."""
    from ._doublets import DoubletParams, doublet_scores
    from ._qc import qc_sample

    # doublets are scored on the cells that pass every other rule (empty droplets and dying
    # cells would otherwise pose as the "singlets" the simulated doublets are compared with)
    obs, info = qc_sample(m, p)
    live = obs["qc_pass"].to_numpy()
    dscore = np.full(len(m), np.nan)
    dpred = np.zeros(len(m), bool)
    dinfo: dict[str, Any] = {"skipped": "disabled" if not p.doublets else "too few cells"}
    if p.doublets and live.sum() >= DoubletParams.min_cells:
        sc_, pr_, dinfo = doublet_scores(X[live], params=DoubletParams(expected_rate=p.expected_doublet_rate))
        dscore[live], dpred[live] = sc_, pr_
    m["doublet_score"] = dscore
    m["predicted_doublet"] = dpred
    obs, info = qc_sample(m, p, doublet=dpred)
    return obs, info, {**dinfo, "_live": live, "_predicted": dpred}


def _attach_modalities(out: _SampleQC, s: RawSample, names: pd.Index) -> None:
    """The sample's protein counts and V(D)J chains, renamed to the tokenized barcodes."""
    if s.protein is not None:
        pr = s.protein.copy()
        pr.obs_names = names
        pr.obs = pr.obs.iloc[:, :0]
        out.protein = pr
    if s.airr is not None:
        matched = match_barcodes(s.airr.obs_names.astype(str), s.adata.obs_names.astype(str), names)
        keep = matched.notna().to_numpy()
        out.row["vdj_cells"] = int(s.airr.n_obs)
        out.row["vdj_matched"] = int(keep.sum())
        out.row["vdj_from"] = s.airr_from
        if not keep.any():  # nothing to join: the vdj_matched check names the sample and its source
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy's chains) are "experimental"
            air = s.airr[keep].copy()
            air.obs_names = matched[keep].to_numpy()
        out.airr = air


def match_barcodes(vdj: pd.Index, cells: pd.Index, names: pd.Index) -> pd.Series:
    """The tokenized cell name of each V(D)J barcode (NaN: no cell of the sample has it).

    By the exact barcode first; then by the 10x sequence with its suffix (an export that prefixed
    one side with a sample ID); then by the bare sequence when it is unique in the sample (one side
    without the ``-1`` suffix).
    """
    from ._ingest import BARCODE

    exact = dict(zip(cells, names, strict=True))
    by_seq: dict[str, str] = {}
    by_bare: dict[str, list[str]] = {}
    for c, n in zip(cells, names, strict=True):
        m = BARCODE.search(c)
        if m:
            by_seq.setdefault(m.group(1) + (m.group(2) or ""), n)
            by_bare.setdefault(m.group(1), []).append(n)
    out = []
    for b in vdj:
        hit = exact.get(b)
        if hit is None and (m := BARCODE.search(b)):
            hit = by_seq.get(m.group(1) + (m.group(2) or ""))
            if hit is None and len(bare := by_bare.get(m.group(1), [])) == 1:
                hit = bare[0]
        out.append(hit)
    return pd.Series(out, index=vdj, dtype=object)


# ------------------------------------------------------------------------------------ embedding


def _embed(adata: ad.AnnData, pp: Any) -> ad.AnnData | None:
    """Normalize, HVG, PCA, neighbours, Leiden and UMAP on the cells that pass QC (at least 10); their
    Leiden cluster, PCA / UMAP coordinates (NaN for the others), highly variable genes and
    log-normalized values are written into ``adata``. Returns the processed cells (None: too few)."""
    import scipy.sparse as sp

    from ._typing import process

    ok = adata.obs["qc_pass"].to_numpy()
    if ok.sum() < 10:
        return None
    proc = process(adata[ok], pp)
    adata.obs["leiden"] = pd.Categorical(
        pd.Series(proc.obs["leiden"].astype(str), index=proc.obs_names).reindex(adata.obs_names).fillna("").to_numpy()
    )
    for key in ("X_pca", "X_umap"):
        if key in proc.obsm:
            full = np.full((adata.n_obs, proc.obsm[key].shape[1]), np.nan, np.float32)
            full[ok] = proc.obsm[key]
            adata.obsm[key] = full
    adata.var["highly_variable"] = (
        proc.var["highly_variable"].reindex(adata.var_names).fillna(False).to_numpy()
        if "highly_variable" in proc.var
        else False
    )
    # log-normalized values of the passing cells (zero rows for the others), for plots and reuse
    idx = np.flatnonzero(ok)
    sel = sp.csr_matrix((np.ones(idx.size, np.float32), (idx, np.arange(idx.size))), shape=(adata.n_obs, idx.size))
    adata.layers["log1p_norm"] = sp.csr_matrix(sel @ sp.csr_matrix(proc.X, dtype=np.float32))
    return proc


# --------------------------------------------------------------------------------------- typing


def _type_cells(adata: ad.AnnData, proc: ad.AnnData | None, pp: Any, *, table: dict[str, Any]) -> None:
    """Marker-gene cell types and scores of the processed cells into ``adata.obs``; every other cell
    is "unassigned" (ontology id "unknown", NaN scores)."""
    from ._typing import score_cell_types

    unassigned = table["unassigned"]
    typed = pd.DataFrame(
        {"cell_type": unassigned["label"], "cell_type_ontology_term_id": unassigned["ontology_id"]},
        index=adata.obs_names,
    )
    if proc is not None:
        t = score_cell_types(proc, pp, table=table)
        typed = typed.astype(object)
        for c in t.columns:
            typed.loc[t.index, c] = t[c].astype(object)
    for c in typed.columns:
        vals = typed[c]
        if c == "cell_type":
            adata.obs[c] = pd.Categorical(vals.astype(str), categories=[*table["cell_types"], unassigned["label"]])
        elif c == "cell_type_ontology_term_id":
            adata.obs[c] = vals.astype(str).astype("category")
        else:
            adata.obs[c] = pd.to_numeric(vals, errors="coerce").astype(float)


def _join_vdj(adata: ad.AnnData, airrs: list[ad.AnnData]) -> ad.AnnData:
    """The samples' V(D)J chains in one AnnData; their chain QC joined to the cells by barcode."""
    import anndata as ad

    from ._vdj import chain_qc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy's chains) are "experimental"
        airr = ad.concat(airrs, join="outer")
    qc = chain_qc(airr)
    for c in qc.columns:
        adata.obs[c] = qc[c].reindex(adata.obs_names)
        if c != "clone_id_size":
            adata.obs[c] = adata.obs[c].fillna("no_ir").astype("category")
    return airr


def _provenance(
    adata: ad.AnnData, pp: Any, params_used: dict[str, Any], qc_rows: list[dict[str, Any]], *, table: dict[str, Any]
) -> None:
    """Schema, versions and every parameter QC and processing used, in ``adata.uns``."""
    adata.uns["schema_version"] = SCHEMA_VERSION
    adata.uns["schema_reference"] = "CELLxGENE schema 5 where it fits (counts in X, feature_name, CL ontology ids)"
    adata.uns["curation_version"] = _version("curation")
    adata.uns["scanpy_version"] = _version("scanpy")
    adata.uns["marker_table_version"] = str(table.get("version", ""))
    adata.uns["parameters"] = _clean_uns(
        {
            "processing": pp.as_dict(),
            **params_used,
            "counts_from": {r["sample"]: r["counts_from"] for r in qc_rows},
            "thresholds_applied": {
                r["sample"]: {k.removeprefix("threshold_"): r[k] for k in r if k.startswith("threshold_")}
                for r in qc_rows
            },
        }
    )


def _process_params(samples: list[RawSample], ctx: Context) -> Any:
    from dataclasses import fields

    from ._typing import ProcessParams

    opts: dict[str, Any] = {}
    for s in samples:
        opts.update(s.options.processing.layer())
    dec = ((ctx.decisions.get("immune") or {}).get("processing") or {}) if isinstance(ctx.decisions, dict) else {}
    known = {f.name for f in fields(ProcessParams)}
    return ProcessParams(**{k: v for k, v in {**opts, **dec}.items() if k in known})


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _clean_uns(obj: Any) -> Any:
    """h5ad cannot store None or numpy scalars inside nested dicts: make them plain values."""
    if isinstance(obj, dict):
        return {str(k): _clean_uns(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_uns(v) for v in obj]
    if obj is None:
        return "none"
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
