"""CELLxGENE export: the schema's obs, var and uns from the bundle, accepted by the CELLxGENE
project's own validator (cellxgene-schema), offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from curation.errors import CurationError
from curation.export import export

from .bundle_fixture import make_bundle, make_h5ad

pytest.importorskip("cellxgene_schema", reason="pip install 'curation[export]'")


@pytest.fixture(scope="module")
def cxg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    root = make_bundle(tmp_path_factory.mktemp("cxg") / "bundle")
    make_h5ad(root)
    to = root.parent / "out"
    return root, to, export("cellxgene", root, to=to, title="test cohort")


def test_obs_var_and_uns_follow_the_schema(cxg: tuple[Path, Path, object]) -> None:
    import anndata as ad

    root, to, result = cxg
    adata = ad.read_h5ad(to / "immune_cellxgene.h5ad")
    src = ad.read_h5ad(root / "data/immune/immune.h5ad")
    assert adata.n_obs == int(src.obs["qc_pass"].sum()) == result.counts["cells"]  # QC-passing cells only
    assert adata.var_names.str.fullmatch(r"ENSG\d{11}").all()
    assert not adata.var_names.str.contains("DEMOG").any() and not adata.var["feature_is_filtered"].any()
    assert adata.uns["organism_ontology_term_id"] == "NCBITaxon:9606" and adata.uns["title"] == "test cohort"
    obs = adata.obs
    pts = pd.read_parquet(root / "data/clinical/patients.parquet").set_index("patient")
    assert set(obs["donor_id"]) <= set(pts.index)  # the pseudonym
    male = obs["donor_id"].astype(str).map(pts["sex"]) == "male"
    assert (obs.loc[male, "sex_ontology_term_id"] == "PATO:0000384").all()
    assert set(obs["tissue_ontology_term_id"]) == {"UBERON:0002048", "UBERON:0000178"}  # lung, blood
    assert set(obs["assay_ontology_term_id"]) == {"EFO:0009922"}
    assert set(obs["self_reported_ethnicity_ontology_term_id"]) <= {"HANCESTRO:0027", "unknown"}
    assert obs["development_stage_ontology_term_id"].astype(str).str.startswith("HsapDv:").all()
    assert "unknown" in set(obs["cell_type_ontology_term_id"]) and "tissue" not in obs and "cell_type" not in obs
    cov = result.coverage.set_index("element")
    assert cov.loc["var index (Ensembl gene id)", "n_unmapped"] == 2  # the two DEMOG placeholder genes


def test_a_bundle_without_immune_data_names_the_step(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(CurationError, match=r"no immune.h5ad in the bundle; run the immune step first"):
        export("cellxgene", bundle, to=tmp_path)


@pytest.mark.slow
def test_the_cellxgene_validator_accepts_the_h5ad(cxg: tuple[Path, Path, object], tmp_path: Path) -> None:
    """cellxgene-schema's validator, offline: its ontologies and gene references ship in the package (~60 s)."""
    from cellxgene_schema.validate import validate

    _, to, _ = cxg
    path = tmp_path / "immune_cellxgene.h5ad"
    shutil.copy(to / "immune_cellxgene.h5ad", path)  # the validator may write beside the file
    ok, errors, _ = validate(str(path))
    assert ok, errors
