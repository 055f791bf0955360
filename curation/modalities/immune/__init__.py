"""Immune microenvironment (single-cell RNA, CITE-seq protein, V(D)J): ingest, QC, typing, output.

load         10x folders / 10x .h5 / .h5ad per sample, linked through the sample sheet
             (``options.samples``); raw counts detected (X, layers['counts'] or .raw); antibody
             capture split off; V(D)J contigs through scirpy. Still holds identifiers.
standardize  sample IDs -> tokens, admission numbers -> patient pseudonyms, barcodes stripped of
             anything but the 10x sequence; per-sample QC (metrics, MAD outliers, empty droplets,
             doublets), processing, marker-score typing, composition, sex per sample.
checks       per-sample QC verdicts, linkage, typing completeness, sex consistency, V(D)J pairing,
             de-identification of the AnnData.
write        data/immune/immune.h5ad (+ .h5mu with protein / V(D)J), composition.parquet,
             sample_sex.parquet, qc_samples.parquet.

Cells failing QC stay in the h5ad with ``qc_pass`` False and ``qc_rule`` naming the rule, so nothing
is lost; the ledger counts them as excluded (from analysis) by rule. They are not embedded or typed
(``cell_type`` "unassigned", ontology id "unknown", NaN in ``obsm``).

Source options (cohort.yaml ``sources.immune[i].options``, :class:`~._options.ImmuneOptions`)::

    samples: raw/singlecell/samples.csv   # sample_id, admission_number, site, tissue (tumor |
                                          # adjacent_normal | blood), timepoint[, path, raw_path, vdj]
    sample_key: sample                    # .h5ad holding several samples: the obs column of sample IDs
    genome: GRCh38                        # legacy multi-genome 10x .h5
    tissue: tumor                         # when there is no sample sheet
    qc: {max_pct_mt: 8, tissue: {tumor: {max_pct_mt: 15}}, sample: {<sample token>: {...}}}
    processing: {n_top_genes: 2000, leiden_resolution: 1.0, umap: true, ...}

The decisions file (``decisions.yaml`` in the bundle, written by the notebook's widget) overrides
``qc`` and ``processing`` under the key ``immune``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...deid.registry import IdentifierRegistry, Kind
from ...errors import SourceError
from ...quality import CheckResult, run
from ..base import Context, ModalityData, ModalitySpec, Source
from ._options import ImmuneOptions
from ._qc import QCParams

if TYPE_CHECKING:
    import anndata as ad
    import plotly.graph_objects as go

__all__ = ["SPEC", "checks", "figures", "load", "standardize", "threshold_widget", "thresholds_table", "write"]

SPEC = ModalitySpec(
    name="immune",
    label="Immune microenvironment (single-cell)",
    formats=("10x", "10x_h5", "h5ad"),
    notebook="immune.ipynb",
    dictionary="immune_markers",
    outputs=("h5ad", "h5mu", "parquet"),
    extra="immune",
    order=70,
    options=ImmuneOptions,
    description="10x / h5ad single-cell RNA (+ CITE-seq, V(D)J): QC, immune cell typing, composition",
)
SCHEMA_VERSION = "1.0"
log = logging.getLogger(__name__)


@dataclass
class RawSample:
    """One sample as loaded: holds identifiers, lives in memory only."""

    source: str
    file_token: str
    sample_id: str
    admission_number: str
    site: str
    tissue: str
    timepoint: str
    sheet_row: int
    adata: ad.AnnData
    counts_from: str
    options: ImmuneOptions
    protein: ad.AnnData | None = None
    airr: ad.AnnData | None = None
    raw: ad.AnnData | None = None


def _deps() -> None:
    from ._qc import _numba_cache

    _numba_cache()
    try:
        import anndata  # noqa: F401
        import scanpy  # noqa: F401
    except ImportError as exc:
        from ...errors import MissingDependency

        raise MissingDependency(exc.name or "scanpy", "immune") from None


def _rel(ctx: Context, p: Path) -> str:
    try:
        return p.resolve().relative_to(ctx.config.base_dir.resolve()).as_posix()
    except ValueError:
        return p.resolve().as_posix()


# ------------------------------------------------------------------------------------------ load


def identifiers(sources: list[Source[ImmuneOptions]], *, ctx: Context) -> IdentifierRegistry:
    """The identifiers :func:`load` learns, without reading count matrices (the run's leak scan).

    Sample sheets give sample IDs and admission numbers; a multi-sample .h5ad gives its
    ``sample_key`` values (read from obs in backed mode); a file without a sheet is named by its path.
    """
    from ...deid.registry import IdentifierRegistry
    from ._ingest import read_sample_sheet

    ids = IdentifierRegistry()
    for src in sources:
        opts = src.options
        if opts.samples:
            try:
                sheet = read_sample_sheet(ctx.config.resolve(opts.samples), where=f"{src.key} options.samples")
            except SourceError:  # load() quarantines the sheet and every file it should link: nothing is written
                continue
            _note_sheet(ids, sheet)
        key = opts.sample_key if src.config.format == "h5ad" else None
        for f in src.files:
            if key:
                import anndata as ad

                try:
                    backed = ad.read_h5ad(f, backed="r")
                except Exception:  # noqa: BLE001 - load() quarantines it and nothing of it is written
                    continue
                try:
                    if key in backed.obs:  # else load() quarantines the file
                        ids.add_many(Kind.sample_id, map(str, backed.obs[key].astype(str).unique()))
                finally:
                    backed.file.close()
            elif not opts.samples:
                ids.add(Kind.file_name, _rel(ctx, f))
    return ids


def _note_sheet(ids: IdentifierRegistry, sheet: pd.DataFrame) -> None:
    """Sample IDs, admission numbers and any column of the sheet whose header names an identifier."""
    from ...deid.collect import note_unmapped
    from ._ingest import SHEET_OPTIONAL, SHEET_REQUIRED

    ids.add_many(Kind.sample_id, [v for v in sheet["sample_id"] if v])
    ids.add_many(Kind.admission_number, [v for v in sheet["admission_number"] if v])
    known = {*SHEET_REQUIRED, *SHEET_OPTIONAL, "sheet_row"}
    note_unmapped(ids, sheet, [c for c in sheet.columns if c not in known])



def load(sources: list[Source[ImmuneOptions]], *, ctx: Context) -> ModalityData:
    """Read every sample of every source; unreadable or non-count files are quarantined.

    Quarantine reasons per file: ``unlinked_sample``, ``unreadable_file``, ``not_raw_counts`` (X,
    ``layers['counts']`` and ``.raw`` each hold a value that is not a count: every value is checked,
    block by block; the message says where the first one sits). A file or folder holding no cell
    (0 bytes, an empty 10x folder, an .h5ad or 10x matrix without cells) is excluded as
    ``source_empty``; it and a file that could not be read are named by the
    ``immune.completeness.source_empty`` check.
    """
    from ._ingest import empty_source, ensure_counts, match_sample, read_matrix, read_sample_sheet, split_features

    _deps()
    data = ModalityData("immune")
    samples: list[RawSample] = []
    sheets: list[pd.DataFrame] = []
    seen_sheets: set[Path] = set()
    records: dict[tuple[str, str], int] = {}  # (source key, file token) -> cells read (0: empty or unreadable)
    notes: dict[tuple[str, str], str] = {}  # why a file gave no cell
    for src in sources:
        opts = src.options
        sheet, sheet_dir = None, ctx.config.base_dir
        reasons: dict[str, int] = {}
        n_ok = n_empty = 0
        if opts.samples:
            sp_path = ctx.config.resolve(opts.samples)
            try:
                sheet = read_sample_sheet(sp_path, where=f"{src.key} options.samples")
            except SourceError as exc:  # a damaged sheet is a finding: its files are set aside unlinked
                if sp_path not in seen_sheets:
                    seen_sheets.add(sp_path)
                    data.quarantine.add(stage="load:sample_sheet", source=src.key, record=ctx.keyring.token(
                        "file", _rel(ctx, sp_path)), field="(file)", reason=getattr(exc, "reason", "unreadable_file"),
                        detail=f"{exc}; until it is fixed, the samples it lists are not linked to a patient")
                for f in src.files:
                    data.quarantine.add(stage="load", source=src.key, record=ctx.keyring.token("file", _rel(ctx, f)),
                                        reason="unlinked_sample", detail="the sample sheet (options.samples) cannot "
                                        "be used (see its own quarantine row); fix it and run again")
                data.ledger.record("load", source=src.key, n_in=len(src.files), n_accepted=0,
                                   quarantined={"unlinked_sample": len(src.files)} if src.files else None)
                continue
            sheet_dir = sp_path.parent
            _note_sheet(data.identifiers, sheet)
            if sp_path not in seen_sheets:  # sources usually share one sheet: check it once
                seen_sheets.add(sp_path)
                sheets.append(sheet.assign(source=src.key))
        for f in src.files:
            rel = _rel(ctx, f)
            token = ctx.keyring.token("file", rel)
            where = f"{src.key} file {token}"

            def _quarantine(
                reason: str,
                detail: str,
                *,
                _token: str = token,
                _key: str = src.key,
                _reasons: dict[str, int] = reasons,
            ) -> None:
                data.quarantine.add(stage="load", source=_key, record=_token, reason=reason, detail=detail)
                _reasons[reason] = _reasons.get(reason, 0) + 1

            why = empty_source(f)
            if why:
                records[(src.key, token)], notes[(src.key, token)] = 0, why
                n_empty += 1
                continue
            key = opts.sample_key if src.config.format == "h5ad" else None
            row = match_sample(sheet, f, sheet_dir=sheet_dir) if sheet is not None and not key else None
            if sheet is not None and row is None and not key:
                _quarantine("unlinked_sample", "no sample-sheet row matches this file; add its sample_id (or path)")
                continue
            try:
                a = read_matrix(f, src.config.format, where=where, genome=opts.genome)
                records[(src.key, token)] = a.n_obs
                if a.n_obs == 0:
                    notes[(src.key, token)] = "no cells in the matrix"
                    n_empty += 1
                    continue
                a, prot = split_features(a)
                a, counts_from = ensure_counts(a, where=where)
                parts = _split(a, prot, key, sheet, row, where=where)
            except SourceError as exc:
                reason = getattr(exc, "reason", "unreadable_file")
                _quarantine(reason, str(exc))
                if (src.key, token) not in records:  # it could not be read: it gave no cell
                    records[(src.key, token)] = 0
                    notes[(src.key, token)] = f"set aside as {reason} (see the quarantine)"
                continue
            if key:  # one file, many samples: cells of samples the sheet does not list are set aside
                unlinked = {v: part.n_obs for v, (r, part, _) in parts.items() if r is None}
                for v in unlinked:
                    data.quarantine.add(
                        stage="link",
                        source=src.key,
                        record=ctx.keyring.token("sample", v),
                        reason="unlinked_sample",
                        detail=f"{where}: {key} value not in the sample sheet",
                    )
                data.identifiers.add_many(Kind.sample_id, map(str, parts))
                data.ledger.record(
                    "link",
                    source=token,
                    n_in=a.n_obs,
                    n_accepted=a.n_obs - sum(unlinked.values()),
                    quarantined={"unlinked_sample": sum(unlinked.values())} if unlinked else {},
                )
            for r, part, part_prot in parts.values():
                if r is None and key:
                    continue
                s = _raw_sample(
                    src, token, rel if r is None else str(r["sample_id"]), r, part, counts_from, opts, part_prot
                )
                data.identifiers.add(Kind.sample_id, s.sample_id)
                if r is not None and r.get("raw_path"):
                    s.raw = _optional_raw(sheet_dir / r["raw_path"], src.config.format, where=f"{where} raw_path")
                if r is not None and r.get("vdj"):
                    from ._vdj import read_vdj

                    try:
                        s.airr = read_vdj(sheet_dir / r["vdj"], where=f"{where} vdj")
                    except SourceError as exc:
                        data.quarantine.add(
                            stage="load", source=src.key, record=token, reason="unreadable_vdj", detail=str(exc)
                        )
                samples.append(s)
            n_ok += 1
            if counts_from != "X":
                log.info("%s: raw counts taken from %s (X is not counts)", where, counts_from)
        data.ledger.record("load", source=src.key, n_in=len(src.files), n_accepted=n_ok, quarantined=reasons,
                           excluded={"source_empty": n_empty} if n_empty else None)
    data.objects["samples"] = samples
    data.objects["source_records"], data.objects["source_notes"] = records, notes
    data.objects["sheets"] = pd.concat(sheets, ignore_index=True) if sheets else pd.DataFrame()
    return data


def _split(
    a: ad.AnnData,
    prot: ad.AnnData | None,
    key: str | None,
    sheet: pd.DataFrame | None,
    row: pd.Series | None,
    *,
    where: str,
) -> dict[str, tuple[pd.Series | None, ad.AnnData, ad.AnnData | None]]:
    """One (sheet row, RNA, protein) per sample: the whole file, or one per value of ``obs[key]``
    (``options.sample_key``, for an .h5ad holding several samples)."""
    if not key:
        return {"": (row, a, prot)}
    if key not in a.obs:
        msg = f"{where}: options.sample_key {key!r} is not an obs column; name the column that holds the sample IDs"
        raise SourceError(msg)
    by_id = {str(r["sample_id"]).upper(): r for _, r in sheet.iterrows()} if sheet is not None else {}
    out: dict[str, tuple[pd.Series | None, ad.AnnData, ad.AnnData | None]] = {}
    for value, idx in a.obs.groupby(key, observed=True).indices.items():
        out[str(value)] = (by_id.get(str(value).upper()), a[idx].copy(), prot[idx].copy() if prot is not None else None)
    return out


def _raw_sample(
    src: Source[ImmuneOptions],
    token: str,
    sid: str,
    row: pd.Series | None,
    a: ad.AnnData,
    counts_from: str,
    opts: ImmuneOptions,
    prot: ad.AnnData | None,
) -> RawSample:
    return RawSample(
        source=src.key,
        file_token=token,
        sample_id=sid,
        admission_number=str(row["admission_number"]) if row is not None else "",
        site=str(row["site"]) if row is not None and row["site"] else src.site,
        tissue=str(row["tissue"]) if row is not None else opts.tissue,
        timepoint=str(row["timepoint"]) if row is not None else "",
        sheet_row=int(row["sheet_row"]) if row is not None else -1,
        adata=a,
        counts_from=counts_from,
        options=opts,
        protein=prot,
    )


def _optional_raw(path: Path, fmt: str, *, where: str) -> ad.AnnData | None:
    from ._ingest import read_matrix

    try:
        return read_matrix(path, fmt if fmt != "h5ad" else "10x", where=where)
    except SourceError as exc:
        log.warning("%s", exc)
        return None


# ----------------------------------------------------------------------------------- standardize


def _qc_layers(s: RawSample, ctx: Context) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    dec = (ctx.decisions.get("immune") or {}).get("qc") if isinstance(ctx.decisions, dict) else None
    return s.options.qc.layer(), dec


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Tokens for identifiers, per-sample QC, processing, typing, composition and sex per sample."""
    import anndata as ad
    import scipy.sparse as sp

    from ._doublets import DoubletParams, doublet_scores
    from ._ingest import clean_barcode
    from ._qc import ambient_profile, barcode_rank, qc_metrics, qc_sample
    from ._sex import infer_sex
    from ._typing import composition, load_markers, process, score_cell_types

    samples: list[RawSample] = data.objects.pop("samples", [])
    table = load_markers()
    parts, prots, airrs, qc_rows = [], [], [], []
    params_used: dict[str, Any] = {}
    dup_barcodes: dict[str, int] = {}
    for s in samples:
        token = ctx.keyring.token("sample", s.sample_id)
        patient = ctx.keyring.patient(s.admission_number, site=s.site) if s.admission_number else ""
        a = s.adata
        bcs = [clean_barcode(b, i) for i, b in enumerate(a.obs_names)]
        names = pd.Index([f"{token}-{b}" for b in bcs])
        dup_barcodes[token] = int(names.duplicated().sum())
        if dup_barcodes[token]:
            names = pd.Index(ad.utils.make_index_unique(names))
        raw_names = a.obs_names
        X = sp.csr_matrix(a.X, dtype=np.float32)
        var = a.var[[c for c in ("gene_ids", "feature_name", "feature_types") if c in a.var]].copy()
        p = QCParams.resolve(*_qc_layers(s, ctx), tissue=s.tissue, sample=token)
        raw_info: dict[str, Any] = {}
        if s.raw is not None:
            # the raw (unfiltered) matrix: barcode-rank knee and inflection, and the ambient profile;
            # filtered barcodes below the inflection look like empty droplets, so it raises the floor
            knee = barcode_rank(np.ravel(s.raw.X.sum(axis=1)))
            amb = ambient_profile(sp.csr_matrix(s.raw.X), s.raw.var_names)
            raw_info = {
                "raw_barcodes": int(s.raw.n_obs),
                "knee": knee["knee"],
                "inflection": knee["inflection"],
                "ambient_count_share": amb["empty_droplet_count_share"],
            }
            if np.isfinite(knee["inflection"]):
                p = replace(p, min_counts=max(p.min_counts, knee["inflection"]))
        m = qc_metrics(X, var["feature_name"], index=names)
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
        obs.insert(0, "sample", token)
        obs.insert(1, "patient", patient)
        obs.insert(2, "tissue", s.tissue)
        obs.insert(3, "timepoint", s.timepoint)
        obs.insert(4, "site", s.site)
        part = ad.AnnData(X=X, obs=obs, var=var)
        parts.append(part)
        removed = {k: v for k, v in info["removed"].items() if v}
        data.ledger.record("qc", source=token, n_in=info["n_cells"], n_accepted=info["n_kept"], excluded=removed)
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
            "expected_doublet_rate": p.expected_doublet_rate,
        }
        if raw_info:
            row.update(raw_info)
            params_used.setdefault("ambient", {})[token] = amb
        qc_rows.append(row)
        params_used.setdefault("qc", {})[token] = {**p.as_dict(), "doublet": {k: v for k, v in dinfo.items()}}
        if s.protein is not None:
            pr = s.protein.copy()
            pr.obs_names = names
            pr.obs = pr.obs.iloc[:, :0]
            prots.append(pr)
        if s.airr is not None:
            mapping = dict(zip(raw_names.astype(str), names, strict=True))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy's chains) are "experimental"
                keep = [b in mapping for b in s.airr.obs_names.astype(str)]
                air = s.airr[keep].copy()
                air.obs_names = [mapping[b] for b in air.obs_names.astype(str)]
            airrs.append(air)
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
    for c in ("sample", "patient", "tissue", "timepoint", "site"):
        adata.obs[c] = adata.obs[c].astype("category")
    pp = _process_params(samples, ctx)
    ok = adata.obs["qc_pass"].to_numpy()
    unassigned = table["unassigned"]
    typed = pd.DataFrame(
        {"cell_type": unassigned["label"], "cell_type_ontology_term_id": unassigned["ontology_id"]},
        index=adata.obs_names,
    )
    if ok.sum() >= 10:
        proc = process(adata[ok], pp)
        t = score_cell_types(proc, pp, table=table)
        typed = typed.astype(object)
        for c in t.columns:
            typed.loc[t.index, c] = t[c].astype(object)
        adata.obs["leiden"] = pd.Categorical(
            pd.Series(proc.obs["leiden"].astype(str), index=proc.obs_names)
            .reindex(adata.obs_names)
            .fillna("")
            .to_numpy()
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
    for c in typed.columns:
        vals = typed[c]
        if c == "cell_type":
            adata.obs[c] = pd.Categorical(vals.astype(str), categories=[*table["cell_types"], unassigned["label"]])
        elif c == "cell_type_ontology_term_id":
            adata.obs[c] = vals.astype(str).astype("category")
        else:
            adata.obs[c] = pd.to_numeric(vals, errors="coerce").astype(float)
    if airrs:
        from ._vdj import chain_qc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as above: awkward arrays
            airr = ad.concat(airrs, join="outer")
        qc = chain_qc(airr)
        for c in qc.columns:
            adata.obs[c] = qc[c].reindex(adata.obs_names)
            if c != "clone_id_size":
                adata.obs[c] = adata.obs[c].fillna("no_ir").astype("category")
        data.objects["airr"] = airr
    if prots:
        data.objects["protein"] = ad.concat(prots, join="outer", merge="first", fill_value=0)
    adata.var.index.name = None
    adata.obs.index.name = None
    sex = infer_sex(adata, table)
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
    data.objects["adata"] = adata
    data.tables["composition"] = composition(adata.obs)
    data.tables["sample_sex"] = sex
    data.standardized = True
    return data


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


# ------------------------------------------------------------------------------------------ checks


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Per-sample QC verdicts, linkage, typing, sex, V(D)J pairing and de-identification."""
    from ._checks import CHECKS

    return run(CHECKS, data, ctx, modality=SPEC.name, thresholds=ctx.thresholds)


# ----------------------------------------------------------------------------------------- figures


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """QC violins and scatter with thresholds, UMAPs, marker dot plot, composition, sex, clonotypes."""
    from . import _figures

    return _figures.all_figures(data)


def thresholds_table(run: Any) -> pd.DataFrame:
    """The thresholds applied and cells removed per sample (the static view of the widget)."""
    from ._widget import thresholds_table as _t

    return _t(run)


def threshold_widget(run: Any) -> Any:
    """An ipywidgets panel to move QC thresholds per tissue and save them to the decisions file."""
    from ._widget import threshold_widget as _w

    return _w(run)


# ------------------------------------------------------------------------------------------- write


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """immune.h5ad (+ immune.h5mu with protein / V(D)J) and the per-sample tables."""
    b = ctx.bundle
    out: list[Path] = []
    adata = data.objects.get("adata")
    if adata is not None:
        out.append(b.write_with("data/immune/immune.h5ad", lambda p: adata.write_h5ad(p, compression="gzip")))
        mods = {k: data.objects[k] for k in ("airr", "protein") if data.objects.get(k) is not None}
        if mods:
            import mudata as md

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy) are "experimental"
                md.set_options(pull_on_update=False)
                mdata = md.MuData({"gex": adata, **{("prot" if k == "protein" else k): v for k, v in mods.items()}})
                out.append(b.write_with("data/immune/immune.h5mu", lambda p: mdata.write(p)))
    for name in ("composition", "sample_sex"):
        if name in data.tables:
            out.append(b.write_parquet(f"data/immune/{name}.parquet", data.tables[name]))
    if "qc" in data.tables:
        out.append(b.write_parquet("data/immune/qc_samples.parquet", data.tables["qc"]))
    return out
