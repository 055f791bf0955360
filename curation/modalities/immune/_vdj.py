"""10x V(D)J contig annotations (TCR/BCR) through scirpy: chain pairing QC and clonotypes.

scirpy (0.22) installs and imports cleanly here, so the repertoire is read by
``scirpy.io.read_10x_vdj`` and analysed by scirpy; it lands in the MuData beside the RNA as the
``airr`` modality.
"""

from __future__ import annotations

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
        msg = (f"{where}: V(D)J contig annotations cannot be read ({type(exc).__name__}); "
               "give Cell Ranger's filtered_contig_annotations.csv")
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
        ir.pp.ir_dist(airr)
        ir.tl.define_clonotypes(airr, receptor_arms="all", dual_ir="primary_only")
    cols = ["receptor_type", "receptor_subtype", "chain_pairing", "clone_id", "clone_id_size"]
    out = airr.obs[[c for c in cols if c in airr.obs]].copy()
    for c in out.columns:
        if c != "clone_id_size":
            out[c] = out[c].astype(str)
    return out
