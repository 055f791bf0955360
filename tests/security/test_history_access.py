"""Versioned runs (history/<run-id>/, `curation history`) and owner-only modes."""

from __future__ import annotations

import grp
import json
import os
import sys
from pathlib import Path

import pytest

from curation.errors import ConfigError
from curation.security import runs, verify_bundle
from curation.security.access import readable_by_others

from .conftest import fake_run, write_cohort


def test_a_rerun_keeps_the_previous_record_in_history(cohort: Path) -> None:
    root = fake_run(cohort)
    first = json.loads((root / "run.json").read_text(encoding="utf-8"))["run_id"]
    fake_run(cohort)
    fake_run(cohort)
    kept = sorted(p.name for p in (root / "history").iterdir())
    assert len(kept) == 2 and kept[0] == first
    for folder in kept:
        have = sorted(
            p.relative_to(root / "history" / folder).as_posix()
            for p in (root / "history" / folder).rglob("*")
            if p.is_file()
        )
        assert have == ["audit.jsonl", "manifest-sha256.txt", "quality/checks.parquet", "run.json"]
    result = verify_bundle(root)  # the current trail continues the archived one; history is in the manifest
    assert result.ok, result.problems
    listed = (root / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert f"  history/{first}/run.json\n" in listed
    rows = runs(root)
    assert [r["current"] for r in rows] == [False, False, True]
    assert {r["verdict"] for r in rows} == {"pass"}
    # a trail that no longer continues the archived one is caught
    archived = root / "history" / kept[-1] / "audit.jsonl"
    archived.write_text(
        archived.read_text(encoding="utf-8") + archived.read_text(encoding="utf-8").splitlines()[0] + "\n",
        encoding="utf-8",
    )
    assert any("history/" in p for p in verify_bundle(root).problems)


def test_history_lists_an_unfinished_run(
    cohort: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_run(cohort)
    fake_run(cohort, finish=False)
    fake_run(cohort)
    assert [r["verdict"] for r in runs(root)] == ["pass", "did not finish", "pass"]
    from curation.cli import main

    monkeypatch.setattr(sys, "argv", ["curation", "history", str(root)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "did not finish" in out and "(current)" in out


def test_no_file_or_folder_of_the_bundle_is_open_to_others(bundle: Path) -> None:
    assert readable_by_others(bundle) == []
    assert (bundle.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == (0o700 if p.is_dir() else 0o600) for p in bundle.rglob("*"))


def test_a_security_group_reads_the_bundle(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    root = fake_run(write_cohort(tmp_path / "c", extra=f"security: {{group: {group}}}\n"))
    assert readable_by_others(root) == []
    for p in [root, *root.rglob("*")]:
        st = p.stat()
        assert st.st_gid == os.getgid()
        assert (st.st_mode & 0o777) == (0o750 if p.is_dir() else 0o640), p
    record = json.loads((root / "run.json").read_text(encoding="utf-8"))
    assert record["security"]["group"] == group


def test_an_unknown_group_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "c", extra="security: {group: no-such-group-here}\n")
    with pytest.raises(ConfigError, match=r"security\.group: no group 'no-such-group-here'.*groupadd"):
        fake_run(cohort)
    assert not (tmp_path / "c" / "out").exists()
