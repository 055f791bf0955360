"""The demo's tabular sources, generated once per session, and a trimmed copy per damaged variant."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

TABULAR = ("clinical", "pathology", "exposure", "lab")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long fuzz variants (marked slow) run only when asked for (``pytest tests/fuzz -m slow``):
    ``make test`` runs every test, and the default fuzz run stays near 30 s."""
    expr = config.getoption("markexpr", "") or ""
    if "slow" in expr and "not slow" not in expr:
        return
    skip = pytest.mark.skip(reason="long fuzz variant: run it with `pytest tests/fuzz -m slow`")
    for item in items:
        if item.get_closest_marker("slow") and "tests/fuzz/" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cohort without imaging and single-cell data (not read by these tests)."""
    from curation.demo import generate

    root = tmp_path_factory.mktemp("fuzz-demo")
    generate(root / "demo", patients=30, seed=3, external=())
    return root / "demo"


def trimmed_cohort(demo: Path, out: Path, modality: str, site: str) -> Path:
    """A copy of one site's raw files and a cohort.yaml with only that modality and site: each run
    reads no more than the damaged file's own neighbours (and the key)."""
    shutil.copytree(demo / "raw" / f"site{site}", out / "raw" / f"site{site}")
    shutil.copytree(demo / "keys", out / "keys")
    cfg = yaml.safe_load((demo / "cohort.yaml").read_text(encoding="utf-8"))
    cfg["sources"] = {modality: [s for s in cfg["sources"][modality] if s.get("site") == site]}
    cfg["output"] = "out"
    path = out / "cohort.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def source_key(cohort: Path, modality: str, file: str, sheet: str = "") -> str:
    cfg = yaml.safe_load(cohort.read_text(encoding="utf-8"))
    for i, s in enumerate(cfg["sources"][modality]):
        if s["path"] == f"raw/{file}" and (not sheet or s.get("sheet") == sheet):
            return f"{modality}[{i}]"
    msg = f"no {modality} source reads raw/{file} {sheet}"
    raise LookupError(msg)
