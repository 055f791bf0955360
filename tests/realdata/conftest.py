"""Fixtures of the real-data round (issue 13): the public corpora in ../shared/data/real (see its
README.md) and the test files that ship with pydicom and scanpy. A clean clone may lack the corpora:
every test that needs them skips, saying where it looked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REAL = Path(os.environ.get("CURATION_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "real"))
KEY = "0123456789abcdef0123456789abcdef"


def need(*parts: str) -> Path:
    """A file or folder of the corpora, or a skip naming where it was looked for."""
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not found: {path} (set CURATION_REAL_DATA)")
    return path


def write_cohort(root: Path, sources: dict[str, list[dict]], **extra: object) -> Path:
    """cohort.yaml with one site (A), a key file readable by its owner only, and ``sources``."""
    (root / "k.key").write_text(KEY)
    (root / "k.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "real"},
        "sites": [{"id": "A"}],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": sources,
        **extra,
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort, allow_unicode=True), encoding="utf-8")
    return root / "cohort.yaml"
