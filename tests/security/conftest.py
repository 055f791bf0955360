"""A bundle written the way a run writes one, without notebooks: begin, outputs, manifest, end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

SECRET = "cd" * 32


def write_cohort(root: Path, *, extra: str = "") -> Path:
    """A cohort.yaml with no sources and a key file; returns its path."""
    (root / "keys").mkdir(parents=True, exist_ok=True)
    key = root / "keys" / "test.key"
    key.write_text(SECRET, encoding="utf-8")
    key.chmod(0o600)
    cohort = root / "cohort.yaml"
    cohort.write_text(
        "cohort: {name: Security test}\nsecret: {file: keys/test.key}\noutput: out\n"
        "thresholds:\n  x.completeness.a: {warn: 0.1, fail: 0.2, author: steward, reason: known gap}\n" + extra,
        encoding="utf-8",
    )
    return cohort


def fake_run(cohort: Path, *, operator: str | None = None, finish: bool = True) -> Path:
    """One 'run' into the cohort's output: the security steps of the runner around a few outputs."""
    from curation.config import load_cohort
    from curation.deid.keys import keyring_for
    from curation.io.bundle import Bundle
    from curation.security.session import RunSecurity

    config = load_cohort(cohort)
    root = config.output_dir
    sec = RunSecurity.begin(config, keyring_for(config), root, started=datetime.now().astimezone(), operator=operator)
    bundle = Bundle(root)
    bundle.write_parquet("data/fake/patients.parquet", pd.DataFrame({"patient": ["PTAAAA", "PTBBBB"], "v": [1, 2]}))
    bundle.write_parquet("quality/checks.parquet", pd.DataFrame({"check_id": ["x"], "verdict": ["pass"]}))
    bundle.write_text("reports/index.html", "<html>ok</html>\n")
    if not finish:
        return root
    bundle.write_datapackage(name="security test")
    bundle.write_json(
        "run.json",
        {
            **sec.record(finished=True),
            "releasable": True,
            "withheld": [],
            "exit_code": 0,
            "notebooks": [{"name": "fake", "checks": {"pass": 1}}],
        },
    )
    bundle.write_manifest()
    assert sec.end(exit_code=0, releasable=True, withheld=[]).ok
    return root


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    return write_cohort(tmp_path / "cohort")


@pytest.fixture
def bundle(cohort: Path) -> Path:
    return fake_run(cohort)
