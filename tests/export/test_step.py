"""The run writes the exports: cohort.yaml `exports:`, the `exports` cohort step, the bundle's
datapackage.json and manifest listing them, and the `curation export` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import curation
from curation.errors import ConfigError
from curation.io.bundle import Bundle

from .bundle_fixture import make_h5ad


def _cohort(root: Path, env: str, exports: object) -> Path:
    doc = {"cohort": {"name": "export-test"}, "secret": {"env": env}, "output": "bundle", "exports": exports}
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def run_dir(bundle: Path, tmp_path: Path) -> Path:
    shutil.copytree(bundle, tmp_path / "bundle")
    return tmp_path


def test_exports_key_list_and_mapping_forms(tmp_path: Path, secret_env: str) -> None:
    cfg = curation.load_cohort(_cohort(tmp_path, secret_env, ["fhir", "omop"]))
    assert cfg.exports.targets == ["fhir", "omop"] and cfg.exports.panel_size_mb is None
    cfg = curation.load_cohort(_cohort(tmp_path, secret_env, {"targets": ["cbioportal"], "panel_size_mb": 1.2}))
    assert cfg.exports.targets == ["cbioportal"] and cfg.exports.panel_size_mb == 1.2
    with pytest.raises(ConfigError, match=r"exports.targets\[0\]: 'fhr' is not one of"):
        curation.load_cohort(_cohort(tmp_path, secret_env, ["fhr"]))
    with pytest.raises(ConfigError, match=r"exports.panel_sise_mb: unknown key; did you mean 'panel_size_mb'"):
        curation.load_cohort(_cohort(tmp_path, secret_env, {"targets": [], "panel_sise_mb": 1}))


def test_the_step_writes_every_target_into_the_bundle(run_dir: Path, secret_env: str) -> None:
    pytest.importorskip("cellxgene_schema", reason="pip install 'curation[export]'")
    make_h5ad(run_dir / "bundle")
    cohort = _cohort(
        run_dir, secret_env, {"targets": ["fhir", "omop", "cbioportal", "cellxgene"], "panel_size_mb": 1.0}
    )
    run = curation.curate("exports", cohort)
    root = run_dir / "bundle"
    for rel in (
        "exports/fhir/Patient.ndjson",
        "exports/fhir/coverage.csv",
        "exports/omop/person.parquet",
        "exports/omop/person.csv",
        "exports/cbioportal/meta_study.txt",
        "exports/cbioportal/case_lists/cases_sequenced.txt",
        "exports/cellxgene/immune_cellxgene.h5ad",
    ):
        assert (root / rel).is_file(), rel
    assert run.checks.empty and (root / "quality/checks/exports.parquet").is_file()  # it judges nothing
    from curation.export import step

    assert set(step.summary(run.data)["target"]) == {"fhir", "omop", "cbioportal", "cellxgene"}
    assert set(step.coverage(run.data)["target"]) == {"fhir", "omop", "cbioportal", "cellxgene"}
    b = Bundle(root)
    b.write_datapackage(name="export-test")
    b.write_manifest()
    listed = {r["path"] for r in json.loads((root / "datapackage.json").read_text(encoding="utf-8"))["resources"]}
    exported = {p.relative_to(root).as_posix() for p in (root / "exports").rglob("*") if p.is_file()}
    assert exported <= listed
    manifest = (root / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert all(f"  {rel}\n" in manifest for rel in exported)
    assert b.verify_manifest() == []


def test_no_targets_no_exports(run_dir: Path, secret_env: str) -> None:
    curation.curate("exports", _cohort(run_dir, secret_env, []))
    assert not (run_dir / "bundle" / "exports").exists()


def test_export_command(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from curation.cli import main

    monkeypatch.setattr(
        sys,
        "argv",
        ["curation", "export", "cbioportal", str(bundle), "--to", str(tmp_path / "s"), "--panel-size-mb", "2"],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("cbioportal: ") and "MAF Variant_Classification [MAF]" in out
    assert (tmp_path / "s" / "data_mutations.txt").is_file()
    monkeypatch.setattr(sys, "argv", ["curation", "export", "fhirr", str(bundle)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "'fhirr' is not one of 'fhir', 'omop', 'cbioportal', 'cellxgene'" in capsys.readouterr().err
