"""Incremental re-runs on the fake cohort: an unchanged step is reused, a changed one re-runs, --force runs all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from curation.run.incremental import Previous, read_previous, step_keys

from .conftest import make_fake_cohort, register_fakes


def _run(cohort: Path, root: Path, **kw: Any) -> tuple[Any, list[str], dict[str, Any]]:
    """The outcome, the progress lines and run.json (the runs share one bundle: read it before the next)."""
    from curation.run import run_cohort

    lines: list[str] = []
    outcome = run_cohort(cohort, jobs=2, notebooks=root / "notebooks", progress=lines.append, **kw)
    return outcome, lines, json.loads(outcome.run_json.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reruns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A first run, an unchanged re-run, a re-run after fake's source changed, and a forced re-run."""
    root = tmp_path_factory.mktemp("incremental")
    cohort = make_fake_cohort(root)
    got: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        register_fakes(mp, root / "modules")
        got["first"] = _run(cohort, root)
        got["first_checks"] = pd.read_parquet(got["first"][0].out / "quality" / "checks.parquet")
        got["first_data"] = (got["first"][0].out / "data" / "fake" / "fake.parquet").read_bytes()
        got["again"] = _run(cohort, root)
        got["again_checks"] = pd.read_parquet(got["again"][0].out / "quality" / "checks.parquet")
        got["again_data"] = (got["again"][0].out / "data" / "fake" / "fake.parquet").read_bytes()
        raw = cohort.parent / "raw" / "fake.csv"
        raw.write_text(raw.read_text(encoding="utf-8").replace(",7\n", ",8\n"), encoding="utf-8")  # not an id
        got["changed"] = _run(cohort, root)
        got["forced"] = _run(cohort, root, force=True)
    return got


def test_first_run_records_a_key_per_step_and_reuses_nothing(reruns: dict[str, Any]) -> None:
    outcome, lines, record = reruns["first"]
    steps = record["steps"]
    assert set(steps) == {"fake", "boom"}
    assert all(len(s["key"]) == 64 and s["reused"] is False for s in steps.values())
    assert not any(n.reused for n in outcome.notebooks)
    assert "reused" not in lines[-1]


def test_unchanged_rerun_reuses_the_step_that_ended_ok(reruns: dict[str, Any]) -> None:
    _, lines, record = reruns["again"]
    first = reruns["first"][2]
    assert record["steps"]["fake"] == {**first["steps"]["fake"], "reused": True}  # same key, run id of the first
    assert record["steps"]["boom"]["reused"] is False  # an error is never reused: it runs again
    fake = next(n for n in record["notebooks"] if n["name"] == "fake")
    assert fake["reused"] is True and fake["verdict"] == "fail" and fake["html"] == "reports/fake.html"
    assert "  [1/2] fake: fail (reused)" in lines
    assert "1 reused" in lines[-1]
    # the same checks, and the leak scan read every file of the bundle again
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    again, first_checks = reruns["again_checks"][cols], reruns["first_checks"][cols]
    pd.testing.assert_frame_equal(again.drop(columns="n_checked"), first_checks.drop(columns="n_checked"))
    mine = again["check_id"] != "privacy.leak_scan"  # the leak scan counts files: history/ holds 4 more
    assert again.loc[mine, "n_checked"].tolist() == first_checks.loc[mine, "n_checked"].tolist()
    assert record["leak_scan_detail"]["files"] == reruns["first"][2]["leak_scan_detail"]["files"] + 4
    assert reruns["again_data"] == reruns["first_data"]


def test_reuse_keeps_the_bundle_verified_and_the_audit_trail_appended(reruns: dict[str, Any]) -> None:
    from curation.security.verify import verify_bundle

    outcome, _, _record = reruns["forced"]
    assert outcome.verification is not None and outcome.verification.ok
    assert verify_bundle(outcome.out).ok
    events = [json.loads(line)["event"] for line in (outcome.out / "audit.jsonl").read_text().splitlines()]
    assert events.count("run_start") == 1 and events[-1] == "run_end"  # the current run's trail ...
    history = sorted((outcome.out / "history").iterdir())
    assert len(history) == 3  # ... continues those of the three runs before it


def test_a_changed_source_reruns_its_step(reruns: dict[str, Any]) -> None:
    _outcome, _, record = reruns["changed"]
    assert record["steps"]["fake"]["reused"] is False
    assert record["steps"]["fake"]["key"] != reruns["first"][2]["steps"]["fake"]["key"]


def test_force_reruns_every_step(reruns: dict[str, Any]) -> None:
    _outcome, lines, record = reruns["forced"]
    assert not any(s["reused"] for s in record["steps"].values())
    assert record["steps"]["fake"]["key"] == reruns["changed"][2]["steps"]["fake"]["key"]
    assert "reused" not in lines[-1]


def test_keys_follow_each_step_s_own_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.modalities.registry import load_cohort
    from curation.run.plan import members, plan

    cohort = make_fake_cohort(tmp_path)
    register_fakes(monkeypatch, tmp_path / "modules")

    def keys() -> dict[str, str]:
        config = load_cohort(cohort)
        jobs = [j for s in plan(config, out=tmp_path / "out", notebooks=tmp_path / "notebooks") for j in s]
        return step_keys(config, jobs, members=members(config, notebooks=tmp_path / "notebooks"), extra={})

    before = keys()
    (cohort.parent / "raw" / "boom.csv").write_text("mrn,value\n00012345,1\n", encoding="utf-8")
    after = keys()
    assert after["fake"] == before["fake"] and after["boom"] != before["boom"]
    text = cohort.read_text(encoding="utf-8")
    cohort.write_text(text + "executor: {jobs: 1}\n", encoding="utf-8")
    assert keys() == after  # where the notebooks run changes no output
    cohort.write_text(text.replace("Site A", "Site A (renamed)") + "executor: {jobs: 1}\n", encoding="utf-8")
    assert keys()["fake"] != after["fake"]


def test_curators_files_beside_the_cohort_change_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.modalities.registry import load_cohort
    from curation.run.incremental import decisions_digest

    cohort = make_fake_cohort(tmp_path, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    config = load_cohort(cohort)
    out = tmp_path / "out"
    assert decisions_digest(config, out) == ""
    (cohort.parent / "decisions.yaml").write_text("thresholds: {}\n", encoding="utf-8")
    first = decisions_digest(config, out)
    (cohort.parent / "corrective_actions.yaml").write_text("fake.plausibility.value: {}\n", encoding="utf-8")
    assert "" != first != decisions_digest(config, out)


def test_previous_run_is_unusable_when_it_did_not_finish_or_does_not_verify(tmp_path: Path) -> None:
    assert read_previous(tmp_path) == Previous()
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "x", "status": "running"}), encoding="utf-8")
    assert read_previous(tmp_path).why == "the previous run did not finish"
    record = {"run_id": "x", "status": "finished", "withheld": [], "steps": {"a": {"key": "k"}}}
    (tmp_path / "run.json").write_text(json.dumps(record), encoding="utf-8")
    got = read_previous(tmp_path)
    assert not got.usable and got.why.startswith("the bundle does not verify")
