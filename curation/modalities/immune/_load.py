"""Load: every sample of every immune source read (10x folders / 10x .h5 / .h5ad), linked through the
sample sheet; raw counts detected, antibody capture split off, V(D)J contigs read. Still holds
identifiers: they stop at :mod:`._standardize`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ...deid.registry import IdentifierRegistry, Kind
from ...errors import SourceError
from ..base import Context, ModalityData, Source
from ._options import ImmuneOptions

if TYPE_CHECKING:
    import anndata as ad

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
    sorted_population: str = ""  # the sheet's sorted_population (e.g. CD3+), "" when not sorted
    airr_from: str = ""  # "contigs" (the sheet's vdj file) or "h5ad" (chains carried in the .h5ad)


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
    _deps()
    loader = _Loader(ModalityData("immune"), ctx)
    for src in sources:
        loader.source(src)
    data = loader.data
    data.objects["samples"] = loader.samples
    data.objects["source_records"], data.objects["source_notes"] = loader.records, loader.notes
    data.objects["sheets"] = pd.concat(loader.sheets, ignore_index=True) if loader.sheets else pd.DataFrame()
    return data


@dataclass
class _Loader:
    """What :func:`load` gathers over the sources: samples, sample sheets, and per file its cell count
    (0: empty or unreadable) and why it gave no cell."""

    data: ModalityData
    ctx: Context
    samples: list[RawSample] = field(default_factory=list)
    sheets: list[pd.DataFrame] = field(default_factory=list)
    seen_sheets: set[Path] = field(default_factory=set)
    records: dict[tuple[str, str], int] = field(default_factory=dict)  # (source key, file token) -> cells read
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # why a file gave no cell

    def source(self, src: Source[ImmuneOptions]) -> None:
        """Every file of one source, and its ledger row."""
        opts = src.options
        sheet, sheet_dir = None, self.ctx.config.base_dir
        reasons: dict[str, int] = {}
        n_ok = n_empty = 0
        if opts.samples:
            sp_path = self.ctx.config.resolve(opts.samples)
            sheet = self._sheet(src, sp_path)
            if sheet is None:
                return
            sheet_dir = sp_path.parent
        for f in src.files:
            outcome = self.file(src, f, sheet=sheet, sheet_dir=sheet_dir, reasons=reasons)
            n_ok += outcome == "ok"
            n_empty += outcome == "empty"
        self.data.ledger.record(
            "load",
            source=src.key,
            n_in=len(src.files),
            n_accepted=n_ok,
            quarantined=reasons,
            excluded={"source_empty": n_empty} if n_empty else None,
        )

    def _sheet(self, src: Source[ImmuneOptions], sp_path: Path) -> pd.DataFrame | None:
        """The source's sample sheet; None when it cannot be used (a finding: its files are set aside unlinked)."""
        from ._ingest import read_sample_sheet

        data, ctx = self.data, self.ctx
        try:
            sheet = read_sample_sheet(sp_path, where=f"{src.key} options.samples")
        except SourceError as exc:
            if sp_path not in self.seen_sheets:
                self.seen_sheets.add(sp_path)
                data.quarantine.add(
                    stage="load:sample_sheet",
                    source=src.key,
                    record=ctx.keyring.token("file", _rel(ctx, sp_path)),
                    field="(file)",
                    reason=getattr(exc, "reason", "unreadable_file"),
                    detail=f"{exc}; until it is fixed, the samples it lists are not linked to a patient",
                )
            for f in src.files:
                data.quarantine.add(
                    stage="load",
                    source=src.key,
                    record=ctx.keyring.token("file", _rel(ctx, f)),
                    reason="unlinked_sample",
                    detail="the sample sheet (options.samples) cannot "
                    "be used (see its own quarantine row); fix it and run again",
                )
            data.ledger.record(
                "load",
                source=src.key,
                n_in=len(src.files),
                n_accepted=0,
                quarantined={"unlinked_sample": len(src.files)} if src.files else None,
            )
            return None
        _note_sheet(data.identifiers, sheet)
        if sp_path not in self.seen_sheets:  # sources usually share one sheet: check it once
            self.seen_sheets.add(sp_path)
            self.sheets.append(sheet.assign(source=src.key))
        return sheet

    def file(
        self,
        src: Source[ImmuneOptions],
        f: Path,
        *,
        sheet: pd.DataFrame | None,
        sheet_dir: Path,
        reasons: dict[str, int],
    ) -> str:
        """Read one file into samples; returns ``ok``, ``empty`` (no cell) or ``quarantined``."""
        from ._ingest import empty_source, ensure_counts, match_sample, read_matrix, split_features

        data, ctx, opts = self.data, self.ctx, src.options
        rel = _rel(ctx, f)
        token = ctx.keyring.token("file", rel)
        where = f"{src.key} file {token}"

        def _quarantine(reason: str, detail: str) -> None:
            data.quarantine.add(stage="load", source=src.key, record=token, reason=reason, detail=detail)
            reasons[reason] = reasons.get(reason, 0) + 1

        why = empty_source(f)
        if why:
            self.records[(src.key, token)], self.notes[(src.key, token)] = 0, why
            return "empty"
        key = opts.sample_key if src.config.format == "h5ad" else None
        row = match_sample(sheet, f, sheet_dir=sheet_dir) if sheet is not None and not key else None
        if sheet is not None and row is None and not key:
            _quarantine("unlinked_sample", "no sample-sheet row matches this file; add its sample_id (or path)")
            return "quarantined"
        try:
            a = read_matrix(f, src.config.format, where=where, genome=opts.genome)
            self.records[(src.key, token)] = a.n_obs
            if a.n_obs == 0:
                self.notes[(src.key, token)] = "no cells in the matrix"
                return "empty"
            chains = self._h5ad_chains(src, token, a, where=where) if src.config.format == "h5ad" else None
            a, prot = split_features(a)
            a, counts_from = ensure_counts(a, where=where)
            parts = _split(a, prot, key, sheet, row, where=where)
        except SourceError as exc:
            reason = getattr(exc, "reason", "unreadable_file")
            _quarantine(reason, str(exc))
            if (src.key, token) not in self.records:  # it could not be read: it gave no cell
                self.records[(src.key, token)] = 0
                self.notes[(src.key, token)] = f"set aside as {reason} (see the quarantine)"
            return "quarantined"
        if key:
            self._link(src, token, key, a.n_obs, parts, where=where)
        for r, part, part_prot in parts.values():
            if r is None and key:
                continue
            s = _raw_sample(
                src, token, rel if r is None else str(r["sample_id"]), r, part, counts_from, opts, part_prot
            )
            data.identifiers.add(Kind.sample_id, s.sample_id)
            if chains is not None:  # the TCR/BCR chains the .h5ad carries (scirpy's AIRR layout)
                from ._vdj import chains_of

                s.airr, s.airr_from = chains_of(chains, part.obs_names), "h5ad"
            if r is not None and r.get("raw_path"):
                s.raw = _optional_raw(sheet_dir / r["raw_path"], src.config.format, where=f"{where} raw_path")
            if r is not None and r.get("vdj"):
                from ._vdj import read_vdj

                try:
                    s.airr, s.airr_from = read_vdj(sheet_dir / r["vdj"], where=f"{where} vdj"), "contigs"
                except SourceError as exc:
                    data.quarantine.add(
                        stage="load", source=src.key, record=token, reason="unreadable_vdj", detail=str(exc)
                    )
            self.samples.append(s)
        if counts_from != "X":
            log.info("%s: raw counts taken from %s (X is not counts)", where, counts_from)
        return "ok"

    def _h5ad_chains(self, src: Source[ImmuneOptions], token: str, a: ad.AnnData, *, where: str) -> ad.AnnData | None:
        """The V(D)J chains an .h5ad carries; chains that cannot be read are reported in the quarantine
        (the cells are kept)."""
        from ._vdj import airr_in_h5ad

        try:
            return airr_in_h5ad(a, where=where)
        except SourceError as exc:
            self.data.quarantine.add(
                stage="load", source=src.key, record=token, reason="unreadable_vdj", detail=str(exc)
            )
            return None

    def _link(
        self,
        src: Source[ImmuneOptions],
        token: str,
        key: str,
        n_obs: int,
        parts: dict[str, tuple[pd.Series | None, ad.AnnData, ad.AnnData | None]],
        *,
        where: str,
    ) -> None:
        """One file, many samples: cells of samples the sheet does not list are set aside."""
        data, ctx = self.data, self.ctx
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
            n_in=n_obs,
            n_accepted=n_obs - sum(unlinked.values()),
            quarantined={"unlinked_sample": sum(unlinked.values())} if unlinked else {},
        )


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
        sorted_population=str(row.get("sorted_population") or "") if row is not None else "",
    )


def _optional_raw(path: Path, fmt: str, *, where: str) -> ad.AnnData | None:
    from ._ingest import read_matrix

    try:
        return read_matrix(path, fmt if fmt != "h5ad" else "10x", where=where)
    except SourceError as exc:
        log.warning("%s", exc)
        return None
