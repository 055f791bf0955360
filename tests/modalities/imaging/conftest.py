"""A tiny imaging demo cohort (synthetic DICOM written by curation.demo.imaging)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("pydicom")
# CPython 3.11.7 under pytest's warnings plugin: once a dataset from curation.deid.dicom has gone
# through pydicom's FileSet.write, a module compiled late in the session (hypothesis' terminal
# summary hook imports lazily) fails with "SystemError: AST constructor recursion depth mismatch".
# Not reproducible outside pytest; importing that module up front avoids the late compile.
pytest.importorskip("hypothesis.internal.observability")

from curation.deid.keys import Keyring
from curation.demo._core import DemoLog

KEY_HEX = "ab" * 32
N_PATIENTS = 9
SURNAMES = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄", "周"]
PINYIN = ["ZHANG", "WANG", "LI", "ZHAO", "CHEN", "LIU", "YANG", "HUANG", "ZHOU"]


def make_roster(keyring: Keyring, n: int = N_PATIENTS) -> pd.DataFrame:
    rows = []
    for i in range(n):
        site = "ABC"[i % 3]
        mrn = f"{i + 1:08d}"
        rows.append({
            "pid": i, "site": site, "mrn": mrn, "name": SURNAMES[i] + "小明", "name_pinyin": f"{PINYIN[i]}^XIAOMING",
            "sex": "M" if i % 2 else "F", "birth_date": pd.Timestamp(1950 + i, 3, 1 + i),
            "diagnosis_date": pd.Timestamp(2023, 1 + i, 10), "pseudonym": keyring.patient(mrn, site=site),
            "smoking_status": ["never", "former", "current"][i % 3], "has_imaging": True,
            "dicom_sex": "F" if i == 4 else None,  # one planted sex mismatch (patient 4 is M)
        })
    return pd.DataFrame(rows)


def build_cohort(root: Path, *, n: int = N_PATIENTS, seed: int = 7) -> tuple[Path, DemoLog, pd.DataFrame]:
    from curation.demo import imaging as demo_imaging

    keyring = Keyring(KEY_HEX.encode())  # load_secret uses the key file's text as the secret
    roster = make_roster(keyring, n)
    log = DemoLog()
    sources = demo_imaging.generate(roster, root, rng=np.random.default_rng(seed), log=log, keyring=keyring)
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "demo.key").write_text(KEY_HEX + "\n")
    cohort = {"cohort": {"name": "imaging-test"}, "sites": [{"id": s} for s in "ABC"],
              "sources": sources, "output": "out", "secret": {"file": "keys/demo.key"}}
    (root / "cohort.yaml").write_text(yaml.safe_dump(cohort, allow_unicode=True), encoding="utf-8")
    log.write(root)
    return root / "cohort.yaml", log, roster


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoLog, pd.DataFrame]:
    return build_cohort(tmp_path_factory.mktemp("imaging-demo"))


@pytest.fixture(scope="session")
def curated(demo_cohort: tuple[Path, DemoLog, pd.DataFrame]):
    import curation

    cohort, _, _ = demo_cohort
    return curation.curate("imaging", cohort)
