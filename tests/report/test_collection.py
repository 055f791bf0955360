from __future__ import annotations

from pathlib import Path

import pandas as pd

from curation.io.bundle import Bundle
from curation.quality import Dimension, Ledger, failures_frame, make_result, results_frame
from curation.report import collection


def test_collection_report_from_bundle(tmp_path: Path, secret_env: str) -> None:
    (tmp_path / "cohort.yaml").write_text(
        "cohort: {name: Lung demo, description: three sites}\nsites: [{id: A, name: Hosp A}]\n"
        "secret: {env: CURATION_TEST_SECRET}\noutput: out\noptions: {demo: true}\n",
        encoding="utf-8",
    )
    b = Bundle(tmp_path / "out")
    fails = failures_frame(
        "clinical.conformance.icd10",
        "clinical",
        pseudonym=["PT1"],
        row=[4],
        field="icd10",
        rule="not a lung ICD-10 code",
    )
    checks = results_frame(
        [
            make_result("clinical.conformance.icd10", "clinical", Dimension.CONFORMANCE, n_checked=50, failures=fails),
            make_result("clinical.completeness.sex", "clinical", Dimension.COMPLETENESS, n_checked=50),
        ]
    )
    b.write_parquet("quality/checks/clinical.parquet", checks)
    led = Ledger("clinical")
    led.record("load", source="clinical[0]", n_in=52, n_accepted=50, quarantined={"malformed_line": 2})
    b.write_parquet("quality/ledger/clinical.parquet", led.frame())
    b.write_parquet(
        "quality/quarantine/clinical.parquet",
        pd.DataFrame({"modality": ["clinical"] * 2, "reason": ["malformed_line", "malformed_line"]}),
    )
    rep = collection.build(tmp_path / "cohort.yaml")
    md = rep.markdown
    assert "Overall verdict: FAIL" in md and "Demo cohort" in md
    assert "clinical.conformance.icd10" in md and "malformed_line" in md
    assert rep.sections["reconciliation"].loc[0, "n_quarantined"] == 2
    q = rep.sections["quality_by_dimension"].set_index("dimension")
    assert q.loc["conformance", "fail"] == 1 and q.loc["completeness", "pass"] == 1
    assert rep.write().read_text(encoding="utf-8") == md


def test_sources_received_are_aggregated(tmp_path: Path, secret_env: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for n in ("a1.csv", "a2.csv", "a3.csv", "b.csv"):
        (raw / n).write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "cohort.yaml").write_text(
        "cohort: {name: t}\nsites: [{id: A}, {id: B}]\nsecret: {env: CURATION_TEST_SECRET}\n"
        "sources:\n  clinical:\n    - {site: A, path: raw/a1.csv, format: csv, table: patients}\n"
        "    - {site: A, path: 'raw/a[23].csv', format: csv, table: treatments}\n"
        "    - {site: B, path: raw/b.csv, format: csv}\n",
        encoding="utf-8",
    )
    from curation.config import load_cohort

    df = collection.sources_received(load_cohort(tmp_path / "cohort.yaml"))
    assert df.to_dict("records") == [
        {"modality": "clinical", "site": "A", "format": "csv", "sources": 2, "files": 3},
        {"modality": "clinical", "site": "B", "format": "csv", "sources": 1, "files": 1},
    ]
