"""The collection report tells the whole truth (issue 14): distinct checks, every non-passing one listed
(folded, never cut), coverage, timeliness, equipment, the privacy measures of run.json, formats,
archive checksum, corrective actions read from the file beside cohort.yaml, and the run-over-run delta."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from curation.io.bundle import Bundle
from curation.quality import Check, Dimension, Outcome, Threshold, make_result, results_frame, run, sites_frame
from curation.report import actions, collection, delta, sections
from curation.report.index import IndexRow, render_index

N_FAILING = 40  # more than the old cut (25) and than a folded group (collection.FOLD)


def _cohort(root: Path, extra: str = "") -> Path:
    (root / "cohort.yaml").write_text(
        "cohort: {name: Lung demo}\nsites: [{id: A, name: Hosp A}, {id: B, name: Hosp B}]\n"
        "secret: {env: CURATION_TEST_SECRET}\noutput: out\n" + extra,
        encoding="utf-8",
    )
    return root / "cohort.yaml"


def _checks(n_failing: int = N_FAILING) -> pd.DataFrame:
    rows = [
        make_result(f"clinical.completeness.f{i:02d}", "clinical", Dimension.COMPLETENESS, n_checked=10, n_failed=1)
        for i in range(n_failing)
    ]
    rows += [
        make_result(
            "lab.accuracy.range", "lab", Dimension.ACCURACY, n_checked=100, n_failed=1, threshold=collection_threshold()
        ),
        make_result("pathology.timeliness.report_delay", "pathology", Dimension.TIMELINESS, n_checked=20, n_failed=0),
        make_result("lab.uniqueness.result", "lab", Dimension.UNIQUENESS, n_checked=100),
    ]
    return results_frame(rows)


def collection_threshold() -> Threshold:
    """A warning, not a failure, up to half failing."""
    return Threshold(0.0, 0.5)


@pytest.fixture
def bundle(tmp_path: Path, secret_env: str) -> tuple[Path, Path]:
    cohort = _cohort(tmp_path, "report: {purpose: lung cancer screening research, retention: 10 years}\n")
    b = Bundle(tmp_path / "out")
    b.write_parquet("quality/checks/all.parquet", _checks())
    b.write_parquet(
        "data/clinical/patients.parquet",
        pd.DataFrame({"patient": [f"PT{i}" for i in range(8)], "site": ["A"] * 4 + ["B"] * 4}),
    )
    b.write_parquet(
        "data/lab/results.parquet",
        pd.DataFrame(
            {
                "patient": ["PT0", "PT1", "PT9"],
                "site": ["A", "A", "B"],
                "analyte": ["CEA"] * 3,
                "loinc": ["2039-6"] * 3,
                "unit_std": ["ng/mL"] * 3,
            }
        ),
    )
    b.write_parquet(
        "data/imaging/series.parquet",
        pd.DataFrame(
            {
                "patient": ["PT0", "PT1"],
                "site": ["A", "A"],
                "modality": ["CT", "CT"],
                "manufacturer": ["SIEMENS"] * 2,
                "model": ["SOMATOM"] * 2,
                "kernel": ["B30f", "B70f"],
                "slice_thickness_mm": [1.0, 5.0],
                "kvp": [120, 120],
            }
        ),
    )
    return cohort, tmp_path / "out"


def test_every_check_that_did_not_pass_is_listed_and_counted_once(bundle: tuple[Path, Path]) -> None:
    cohort, _out = bundle
    rep = collection.build(cohort)
    bad = rep.sections["failing_checks"]
    assert len(bad) == N_FAILING + 1  # 40 fail, 1 warn: none cut
    assert rep.facts["n_checks"] == N_FAILING + 3
    for i in range(N_FAILING):
        assert f"clinical.completeness.f{i:02d}" in rep.markdown
    html = collection.render_html(rep, language="en")
    assert all(f"clinical.completeness.f{i:02d}" in html for i in range(N_FAILING)) and "lab.accuracy.range" in html
    # the long list folds on screen and opens in print
    assert '<details class="cr-group">' in html
    printed = collection.render_html(rep, language="en", fold=False)
    assert '<details class="cr-group">' not in printed and "<details open" in printed
    assert re.findall(r"<section[^>]*><h2>(\d+)\.", html) == [str(i) for i in range(1, 15)]


def test_quality_counts_distinct_checks_not_site_rows() -> None:
    per_site = Check(
        "completeness.sex",
        Dimension.COMPLETENESS,
        lambda df: [Outcome(4, n_failed=1), Outcome(2, n_failed=1, site="A"), Outcome(2, site="B")],
    )
    results = run([per_site], None, modality="clinical")
    checks, by_site = results_frame(results), sites_frame(results)
    assert len(checks) == 1 and len(by_site) == 2
    q = collection.quality_by_dimension(checks).set_index("dimension")
    assert q.loc["completeness"].sum() == 1
    assert sections.quality_by_modality(checks).loc[0, "completeness"] == "1 / 1"
    # a bundle from before checks_by_site (site rows in checks.parquet) is still counted per check
    old = pd.concat([checks.assign(site=""), by_site.assign(dimension="completeness")], ignore_index=True)
    assert len(delta._one_per_check(old)) == 1


def test_coverage_timeliness_equipment(bundle: tuple[Path, Path]) -> None:
    cohort, _out = bundle
    rep = collection.build(cohort)
    cov = rep.sections["coverage"].set_index("modality")
    assert cov.loc["clinical", "patients"] == 8 and cov.loc["lab", "patients"] == 3
    matrix = rep.sections["coverage_matrix"]
    assert matrix["patients"].sum() == 9 and set(matrix.columns) >= {"clinical", "imaging", "lab"}
    assert "coverage" in collection.figures(rep, language="en")
    t = rep.sections["timeliness"]
    assert t.loc[0, "check_id"] == "pathology.timeliness.report_delay"
    assert "timeliness.pathology_report_days" in t.loc[0, "target"]
    img = rep.equipment["imaging"].iloc[0]
    assert (img["manufacturer"], img["kernel"], img["slice_thickness"]) == ("SIEMENS", "B30f, B70f", "1–5 mm")
    assert rep.equipment["lab"].iloc[0]["analyzer"] == "not recorded"
    assert rep.facts["purpose"] == "lung cancer screening research"
    assert dict(rep.lists["archiving"])["retention"] == "10 years"


def test_privacy_measures_come_from_run_json(bundle: tuple[Path, Path]) -> None:
    cohort, out = bundle
    pending = dict(collection.build(cohort).lists["privacy"])
    assert pending["leak scan"].startswith("pending")
    record = {
        "key_fingerprint": "hmac-sha256:abcd",
        "leak_scan": "clean (42 identifier values searched)",
        "releasable": False,
        "withheld": ["reports/x.html"],
        "run_id": "20990101T000000Z",
        "leak_scan_detail": {"files": 7, "findings": 1, "identifier_classes": {"mrn": 30, "name": 12}},
        "security": {"modes": "folders 0700, files 0600", "group": None, "audit_trail": "audit.jsonl"},
    }
    (out / "run.json").write_text(json.dumps(record), encoding="utf-8")
    got = dict(collection.build(cohort).lists["privacy"])
    assert "hmac-sha256:abcd" in got["pseudonyms"]
    assert got["leak scan"] == record["leak_scan"] and got["withheld files"] == "reports/x.html"
    assert got["identifier classes"].startswith("42 values in 2 classes") and got["releasable"] == "no"
    assert "0600" in got["access"] and "audit.jsonl" in got["audit trail"]


def test_formats_and_the_data_checksum_match_the_manifest(bundle: tuple[Path, Path]) -> None:
    _, out = bundle
    b = Bundle(out)
    b.write_bytes("exports/fhir/Patient.ndjson", b"{}\n")
    fmt = sections.compatibility(out)
    assert {"Apache Parquet", "FHIR R4 NDJSON"} <= set(fmt["format"])
    assert "exports/fhir" in set(fmt["area"])
    b.write_manifest()
    lines = [
        ln
        for ln in (out / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines()
        if re.search(r"  (data|exports)/", ln)
    ]
    digest, n, _ = sections.data_checksum(out)
    assert digest == hashlib.sha256("".join(f"{ln}\n" for ln in lines).encode()).hexdigest() and n == len(lines)


def test_corrective_actions_are_read_and_reported(bundle: tuple[Path, Path]) -> None:
    cohort, _out = bundle
    (cohort.parent / "corrective_actions.yaml").write_text(
        "clinical.completeness.f00: {owner: site A data manager, action: re-export, due: 2000-01-31, status: open}\n"
        "lab.uniqueness.result: {owner: lab, action: dedupe, status: done}\n"
        "clinical.completeness.f01: {owner: x, status: maybe}\n",
        encoding="utf-8",
    )
    rep = collection.build(cohort)
    t = rep.sections["corrective_actions"].set_index("check_id")
    assert t.loc["clinical.completeness.f00", "follow_up"] == "overdue"
    assert t.loc["clinical.completeness.f02", "action"] == "no action recorded"
    assert t.loc["lab.uniqueness.result", "follow_up"] == "check pass now"
    assert (t["verdict"] == "fail").sum() == N_FAILING  # one row per failing check
    assert any("clinical.completeness.f01.status" in p for p in rep.problems)
    todo = actions.template_yaml(rep.sections["corrective_actions"])
    assert "clinical.completeness.f02:" in todo and "clinical.completeness.f00:" not in todo


def test_overdue_is_judged_against_today() -> None:
    checks = pd.DataFrame({"check_id": ["a.b.c"], "verdict": ["fail"]})
    acts = {"a.b.c": actions.Action(owner="o", action="x", due=date(2030, 1, 1))}
    assert actions.actions_table(checks, acts, today=date(2029, 1, 1)).loc[0, "follow_up"] == ""
    assert actions.actions_table(checks, acts, today=date(2031, 1, 1)).loc[0, "follow_up"] == "overdue"


def test_run_over_run_delta_in_the_report_and_the_index(bundle: tuple[Path, Path]) -> None:
    cohort, out = bundle
    then = _checks(N_FAILING - 1).copy()  # f39 is new this run
    then.loc[then["check_id"] == "clinical.completeness.f00", ["verdict", "n_failed"]] = ["pass", 0]  # newly failing
    then.loc[then["check_id"] == "clinical.completeness.f01", "n_failed"] = 3  # count moved
    fixed = make_result("lab.conformance.unit", "lab", Dimension.CONFORMANCE, n_checked=5, n_failed=5)
    # gone this run; the previous leak scan's check is not "gone" while this run's scan is still to come
    leak = make_result("privacy.leak_scan", "privacy", Dimension.CONFORMANCE, n_checked=9)
    then = pd.concat([then, results_frame([fixed, leak])], ignore_index=True)
    old = out / "history" / "20250101T000000Z"
    Bundle(old).write_parquet("quality/checks.parquet", then)
    (old / "run.json").write_text(json.dumps({"started": "2025-01-01T00:00:00+00:00"}), encoding="utf-8")
    rep = collection.build(cohort)
    assert rep.delta is not None
    counts = rep.delta.counts()
    assert counts == {"newly failing": 1, "count moved": 1, "new check": 1, "check gone": 1}
    assert "Changes since the previous run" in collection.render_html(rep, language="en")
    got = delta.summary(out, run_id="20990101T000000Z")
    assert got is None  # no merged checks.parquet yet
    Bundle(out).write_parquet("quality/checks.parquet", _checks())
    got = delta.summary(out, run_id="20990101T000000Z")
    assert got is not None and got["counts"]["newly failing"] == 1
    assert delta.summary(out, run_id="20250101T000000Z") is None  # no run before the first
    page = render_index(
        [IndexRow("clinical", "Clinical", "ok", "fail", 1.0, "", "")],
        cohort="c",
        summary={
            "started": "",
            "ended": "",
            "duration_s": 1.0,
            "version": "0",
            "checks": {},
            "quarantined": 0,
            "leak_scan": "clean",
            "modalities": [],
            "delta": got,
        },
        language="en",
    )
    assert 'id="delta"' in page and "1 newly failing" in page and "clinical.completeness.f00" in page


def test_the_runner_completes_the_report_after_the_leak_scan(bundle: tuple[Path, Path]) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from curation.config import load_cohort
    from curation.modalities.collection_report import finalize

    cohort, out = bundle
    config = load_cohort(cohort)
    step = collection.fill(config, out, **{k: collection.read_all(out, k) for k in collection.KINDS}, run=None)
    assert "pending" in dict(step.lists["privacy"])["leak scan"]
    cell = new_code_cell(
        "collection_report.view(run.data)",
        outputs=[
            new_output(
                "display_data", data={"text/html": collection.render_html(step, language="en"), "text/plain": "<HTML>"}
            )
        ],
    )
    (out / "reports").mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[cell]), str(out / "reports" / "collection_report.ipynb"))
    record = {
        "leak_scan": "clean (12 identifier values searched)",
        "releasable": True,
        "withheld": [],
        "run_id": "20990101T000000Z",
        "key_fingerprint": "hmac-sha256:feed",
    }
    written = finalize(config, out, record, skip={"reports/collection_report.pdf"})
    names = {p.name for p in written}
    assert {"collection_report.md", "collection_report.ipynb", "collection_report.html"} <= names
    assert "collection_report.pdf" not in names  # withheld files are left alone
    md = (out / "reports" / "collection_report.md").read_text(encoding="utf-8")
    assert "leak scan: clean (12 identifier values searched)" in md and "pending" not in md
    page = (out / "reports" / "collection_report.html").read_text(encoding="utf-8")
    assert "clean (12 identifier values searched)" in page and "hmac-sha256:feed" in page
    assert finalize(config, out / "nowhere", record) == []  # the step did not run: nothing to complete


def test_reviewer_pages_fold_the_sites_of_a_check_from_checks_by_site() -> None:
    from curation.report.review import review

    sex = Check(
        "completeness.sex",
        Dimension.COMPLETENESS,
        lambda df: [Outcome(4, n_failed=1), Outcome(2, n_failed=1, site="A"), Outcome(2, site="B")],
    )
    results = run([sex], None, modality="clinical")
    rev = review(checks=results_frame(results), by_site=sites_frame(results), name="clinical", language="en")
    assert rev.n_checks == 1 and len(rev.findings) == 1
    (f,) = rev.findings
    assert [(s["site"], s["n_failed"], s["n_checked"]) for s in f.by_site] == [("A", 1, 2), ("B", 0, 2)]
    assert '<details class="cr-sites">' in rev.html() and "A (1 of 2)" in rev.html()


def test_coverage_matrix_order_is_the_same_in_every_process() -> None:
    # the patients are a set: its order follows Python's per-process string hashing
    code = (
        "from curation.report.sections import coverage;"
        "s={'a':{f'P{i}' for i in range(9)},'b':{'P1','P2','Q1'},'c':{'Q2','Q3','P5'},'d':{'Q4'}};"
        "print(coverage(s)[1].to_csv())"
    )
    tables = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(tables) == 1, tables
