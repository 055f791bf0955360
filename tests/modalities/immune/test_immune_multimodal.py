"""CITE-seq protein and real V(D)J contigs (scirpy's Liao 2019 test file) end up in a MuData."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .conftest import KEY


def _write_sample(root: Path, real: Path) -> Path:
    """RNA for the barcodes of a real contig file, with two antibody-capture features."""
    from curation.demo import immune as D

    contigs = real / "scirpy-tests" / "liao-2019-covid19" / "GSM4385993_C144_filtered_contig_annotations.csv.gz"
    bcs = sorted(pd.read_csv(contigs, usecols=["barcode"])["barcode"].unique())
    rng = np.random.default_rng(0)
    t = D._markers()
    genes = D._genes(t)
    X = D._simulate(
        "blood", len(bcs), "M", genes, D._profiles(genes, t, rng), t, rng, empty_frac=0, dying_frac=0, doublet_frac=0
    )
    adt = rng.poisson(30, size=(len(bcs), 2)).astype(np.float32)
    folder = root / "raw" / "S900" / "filtered_feature_bc_matrix"
    D._write_mtx(
        folder,
        np.hstack([X, adt]),
        pd.concat(
            [genes, pd.DataFrame({"gene_ids": ["CD3_TotalSeqB", "CD19_TotalSeqB"], "symbol": ["CD3", "CD19"]})],
            ignore_index=True,
        ),
        bcs,
    )
    feats = gzip.open(folder / "features.tsv.gz", "rt").read().splitlines()
    feats[-2:] = [f.replace("Gene Expression", "Antibody Capture") for f in feats[-2:]]
    with gzip.open(folder / "features.tsv.gz", "wt") as fh:
        fh.write("\n".join(feats) + "\n")
    (root / "raw" / "samples.csv").write_text(
        f"sample_id,admission_number,site,tissue,timepoint,vdj\nS900,0042,A,blood,baseline,{contigs}\n"
    )
    (root / "k.key").write_text(KEY)
    (root / "k.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "t"},
        "sites": [{"id": "A"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": {
            "immune": [
                {
                    "path": "raw/*/filtered_feature_bc_matrix",
                    "format": "10x",
                    "site": "A",
                    "options": {"samples": "raw/samples.csv", "processing": {"umap": False}},
                }
            ]
        },
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort))
    return root / "cohort.yaml"


def test_protein_and_vdj_go_to_h5mu(tmp_path: Path, real_data: Path) -> None:
    import mudata as md
    from anndata._warnings import ExperimentalFeatureWarning

    import curation as cu

    run = cu.curate("immune", _write_sample(tmp_path, real_data))
    a = run.data.objects["adata"]
    assert a.n_vars == 1500  # antibody features split off
    assert run.data.objects["protein"].n_vars == 2
    pairing = a.obs["chain_pairing"].astype(str)
    assert (pairing != "no_ir").sum() == 136  # every cell of the contig file found its RNA barcode
    assert a.obs["clone_id_size"].max() > 1  # expanded clonotypes exist in this patient
    res = run.checks.set_index("check_id")
    assert res.loc["immune.consistency.vdj_chain_pairing", "n_checked"] == 136
    with warnings.catch_warnings():  # anndata flags awkward arrays (scirpy's chains) as experimental
        warnings.simplefilter("ignore", ExperimentalFeatureWarning)
        mdata = md.read_h5mu(tmp_path / "out" / "data" / "immune" / "immune.h5mu")
    assert set(mdata.mod) == {"gex", "airr", "prot"}
    assert "Clonotype expansion" in run.figures()
    assert not any("S900" in n for n in mdata.obs_names)


def test_raw_matrix_gives_knee_and_ambient_profile(tmp_path: Path, real_data: Path) -> None:
    """SoupX's toy data: filtered + raw matrices; the raw curve's inflection becomes the empty floor."""
    import curation as cu

    toy = real_data / "soupx-toydata" / "toyData"
    (tmp_path / "samples.csv").write_text(
        "sample_id,admission_number,site,tissue,path,raw_path\n"
        f"TOY1,0001,A,blood,{toy / 'filtered_gene_bc_matrices' / 'GRCh38'},{toy / 'raw_gene_bc_matrices' / 'GRCh38'}\n"
    )
    (tmp_path / "k.key").write_text(KEY)
    (tmp_path / "k.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "t"},
        "sites": [{"id": "A"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": {
            "immune": [
                {
                    "path": str(toy / "filtered_gene_bc_matrices" / "GRCh38"),
                    "format": "10x",
                    "options": {
                        "samples": "samples.csv",
                        "processing": {"umap": False},
                        "qc": {"min_counts": 1, "min_genes": 1, "doublets": False},
                    },
                }
            ]
        },
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(cohort))
    run = cu.curate("immune", tmp_path / "cohort.yaml", write=False)
    q = run.data.tables["qc"].iloc[0]
    assert (q["n_cells"], q["raw_barcodes"]) == (62, 1289)
    assert q["threshold_min_total_counts"] >= q["inflection"] > 1
    assert 0 < q["ambient_count_share"] < 1
    assert run.data.objects["adata"].uns["parameters"]["ambient"]


def test_multi_sample_h5ad_split_by_sample_key(tmp_path: Path, real_data: Path) -> None:
    """Wu et al. 2020 (scirpy's test h5ad): 30 samples in one file; the sheet lists the 13 lung ones."""
    import curation as cu

    h5ad = real_data / "scirpy-tests" / "wu2020_200_v0_6.h5ad"
    tissue = {"T": "tumor", "N": "adjacent_normal", "B": "blood"}
    rows = [f"L{t}{i},{9000 + i},A,{tissue[t]}" for t in "TN" for i in range(1, 7)] + ["LB6,9006,A,blood"]
    (tmp_path / "samples.csv").write_text("sample_id,admission_number,site,tissue\n" + "\n".join(rows) + "\n")
    (tmp_path / "k.key").write_text(KEY)
    (tmp_path / "k.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "t"},
        "sites": [{"id": "A"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": {
            "immune": [
                {
                    "path": str(h5ad),
                    "format": "h5ad",
                    "options": {
                        "samples": "samples.csv",
                        "sample_key": "sample",
                        "processing": {"umap": False},
                        "qc": {"min_counts": 1, "min_genes": 1},
                    },
                }
            ]
        },
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(cohort))
    run = cu.curate("immune", tmp_path / "cohort.yaml", write=False)
    a = run.data.objects["adata"]
    assert a.n_obs == 112 and a.obs["sample"].nunique() == 13 and a.obs["patient"].nunique() == 6
    link = run.ledger[run.ledger["stage"] == "link"].iloc[0]
    assert (link["n_in"], link["n_accepted"], link["n_quarantined"]) == (200, 112, 88)
    assert (run.quarantine["reason"] == "unlinked_sample").sum() == 17
    assert not a.obs_names.str.contains("LN|LT|LB").any()  # the sample prefix of the barcodes is gone
    assert set(a.obs["tissue"].astype(str)) == {"tumor", "adjacent_normal", "blood"}
    assert run.ledger["balanced"].all()
