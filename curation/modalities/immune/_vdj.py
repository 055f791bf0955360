"""10x V(D)J contig annotations (TCR/BCR) through scirpy: chain pairing QC and clonotypes.

scirpy (0.22) installs and imports cleanly here, so the repertoire is read by
``scirpy.io.read_10x_vdj`` and analysed by scirpy; it lands in the MuData beside the RNA as the
``airr`` modality.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ...errors import MissingDependency, SourceError

if TYPE_CHECKING:
    import anndata as ad

#: scirpy chain_pairing categories that mean a cell's receptor is not one clean pair
AMBIGUOUS = ("ambiguous", "multichain", "extra VJ", "extra VDJ", "two full chains")


def _scirpy():  # type: ignore[no-untyped-def]
    try:
        import scirpy as ir
    except ImportError:
        raise MissingDependency("scirpy", "immune") from None
    return ir


def read_vdj(path: Path, *, where: str) -> ad.AnnData:
    """Contig annotations (CSV, CSV.GZ or JSON from Cell Ranger vdj) as a scirpy AIRR AnnData."""
    ir = _scirpy()
    try:
        with warnings.catch_warnings():
            # anndata flags awkward arrays (scirpy's storage) as experimental; scirpy logs odd loci
            warnings.simplefilter("ignore")
            return ir.io.read_10x_vdj(path)
    except Exception as exc:  # noqa: BLE001 - a bad contig file is a rejected file, not a crash
        msg = (
            f"{where}: V(D)J contig annotations cannot be read ({type(exc).__name__}); "
            "give Cell Ranger's filtered_contig_annotations.csv"
        )
        raise SourceError(msg) from None


def chain_qc(airr: ad.AnnData) -> pd.DataFrame:
    """scirpy's chain pairing QC and clonotype definition (identical CDR3 nucleotide sequences,
    both arms, primary chains only). Returns obs columns ``receptor_type``, ``chain_pairing``,
    ``clone_id``, ``clone_id_size``."""
    ir = _scirpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ir.pp.index_chains(airr)
        ir.tl.chain_qc(airr)
        # scirpy refuses to define clonotypes when no cell keeps a chain (every contig non-productive,
        # or no cell at all): the pairing QC above stands, the cells get no clone
        if airr.n_obs and _has_chains(airr):
            ir.pp.ir_dist(airr)
            ir.tl.define_clonotypes(airr, receptor_arms="all", dual_ir="primary_only")
    cols = ["receptor_type", "receptor_subtype", "chain_pairing", "clone_id", "clone_id_size"]
    out = airr.obs[[c for c in cols if c in airr.obs]].copy()
    for c in out.columns:
        if c != "clone_id_size":
            out[c] = out[c].astype(str)
    return out


def _has_chains(airr: ad.AnnData) -> bool:
    """Any cell with a chain scirpy indexed (``index_chains`` keeps productive, known-locus chains)."""
    idx = airr.obsm.get("chain_indices")
    if idx is None:
        return False
    try:
        import awkward as ak

        return bool(any(ak.any(~ak.is_none(idx[k], axis=-1), axis=None) for k in idx.fields))
    except Exception:  # noqa: BLE001 - a layout scirpy may change: let scirpy decide
        return True


_LEGACY = re.compile(r"^IR_(VJ|VDJ)_([12])_(.+)$")  # scirpy < 0.7: one obs column per arm, chain and field
#: scirpy < 0.7's field -> the AIRR rearrangement field scirpy reads today
_LEGACY_FIELDS = {
    "locus": "locus",
    "cdr3": "junction_aa",
    "cdr3_nt": "junction",
    "v_gene": "v_call",
    "d_gene": "d_call",
    "j_gene": "j_call",
    "c_gene": "c_call",
    "expr": "umi_count",
}


def airr_in_h5ad(adata: ad.AnnData, *, where: str) -> ad.AnnData | None:
    """The V(D)J chains an .h5ad carries, as a scirpy AIRR AnnData with the same cells (None: none).

    Two layouts: scirpy >= 0.13 (``obsm['airr']``, an awkward array of AIRR rearrangements) and
    scirpy < 0.7 (``obs`` columns ``IR_VJ_1_cdr3``, ``IR_VDJ_1_v_gene`` ...), which today's scirpy
    refuses to upgrade: its chains are rebuilt as AIRR rearrangements (every chain it kept was
    productive) and read with ``scirpy.io.read_airr``.

    Raises
    ------
    SourceError
        The chains are there but cannot be read (reason ``unreadable_vdj``): the caller reports it.
    """
    import anndata as ad

    legacy = [c for c in adata.obs.columns if _LEGACY.match(str(c))]
    if "airr" not in adata.obsm and not legacy:
        return None
    ir = _scirpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # anndata: awkward arrays are "experimental"; scirpy's odd loci
            if "airr" in adata.obsm:
                return ad.AnnData(obs=pd.DataFrame(index=adata.obs_names.copy()), obsm={"airr": adata.obsm["airr"]})
            rows = _legacy_rearrangements(adata.obs, legacy)
            if rows.empty:
                return None
            air = ir.io.read_airr(rows, infer_locus=True)
        # cells without a chain are not in read_airr's output: every cell of the matrix is kept
        return air
    except Exception as exc:  # noqa: BLE001 - chains that cannot be read are reported, never dropped silently
        msg = (
            f"{where}: the .h5ad carries V(D)J chains ({'obsm airr' if 'airr' in adata.obsm else 'obs IR_*'}) "
            f"that cannot be read ({type(exc).__name__}); export them as an AIRR rearrangement TSV"
        )
        raise VdjError(msg) from None


def chains_of(airr: ad.AnnData, cells: pd.Index) -> ad.AnnData:
    """The chains of some cells (one sample of a multi-sample .h5ad)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata: awkward arrays (scirpy's chains) are "experimental"
        return airr[airr.obs_names.isin(cells)].copy()


class VdjError(SourceError):
    """V(D)J chains that cannot be read; quarantine reason code."""

    reason = "unreadable_vdj"


def _legacy_rearrangements(obs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One AIRR rearrangement row per chain of scirpy < 0.7's ``IR_<arm>_<i>_<field>`` columns."""
    parts = []
    for arm in ("VJ", "VDJ"):
        for i in ("1", "2"):
            cols = {m.group(3): c for c in columns if (m := _LEGACY.match(str(c))) and m.group(1, 2) == (arm, i)}
            take = {_LEGACY_FIELDS[f]: c for f, c in cols.items() if f in _LEGACY_FIELDS}
            if not take:
                continue
            df = pd.DataFrame({k: obs[c].astype(object).to_numpy() for k, c in take.items()}, index=obs.index)
            df = df.map(lambda v: None if v is None or (isinstance(v, float) and v != v) or v in ("nan", "None") else v)
            present = df.get("junction_aa", pd.Series(None, index=df.index)).notna()
            if "junction" in df:
                present |= df["junction"].notna()
            df = df[present]
            df.insert(0, "cell_id", df.index.astype(str))
            df.insert(1, "sequence_id", [f"{c}_{arm}_{i}" for c in df["cell_id"]])
            df["productive"] = True
            parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
