"""Fixtures of the immune tests: a tiny demo cohort written by curation.demo.immune."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

# compiled numba kernels (ours, scanpy's, umap's) are reused across test runs
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "curation" / "numba"))

KEY = "0123456789abcdef0123456789abcdef"


def roster(n: int = 4) -> pd.DataFrame:
    from curation.deid.keys import Keyring

    kr = Keyring(KEY.encode())
    sites = ["A", "B", "C", "A", "B", "C"][:n]
    sex = ["F", "M", "M", "F", "M", "F"][:n]
    df = pd.DataFrame(
        {
            "pid": range(n),
            "site": sites,
            "mrn": [f"00{38557310 + 7 * i}" for i in range(n)],
            "sex": sex,
            "sc_sex": sex,
            "tumor_sample_id": [f"SA23T{100 + i:04d}" for i in range(n)],
            "has_single_cell": True,
        }
    )
    df["pseudonym"] = [kr.patient(m, site=s) for m, s in zip(df["mrn"], df["site"], strict=True)]
    return df


def write_cohort(
    root: Path,
    *,
    n_patients: int = 4,
    cells: tuple[int, int] = (150, 250),
    seed: int = 1,
    extra_options: dict | None = None,
) -> tuple[Path, object]:
    from curation.deid.keys import Keyring
    from curation.demo._core import DemoLog
    from curation.demo.immune import generate

    kr = Keyring(KEY.encode())
    log = DemoLog()
    r = roster(n_patients)
    sources = generate(
        r, root, rng=np.random.default_rng(seed), log=log, keyring=kr, max_patients=n_patients, cells=cells
    )
    for s in sources["immune"]:
        s["options"].update(extra_options or {})
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "demo.key").write_text(KEY)
    (root / "keys" / "demo.key").chmod(0o600)  # the run refuses a key file others can read
    cohort = {
        "cohort": {"name": "immune-test"},
        "sites": [{"id": s} for s in "ABC"],
        "sources": sources,
        "secret": {"file": "keys/demo.key"},
        "output": "out",
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort, allow_unicode=True))
    return root / "cohort.yaml", log


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """One curated run of a 4-patient demo (6 samples), shared by the tests that only read it."""
    import curation as cu

    root = tmp_path_factory.mktemp("immune_demo")
    cohort, log = write_cohort(root, cells=(250, 400))
    run = cu.curate("immune", cohort)
    return run, log, root
