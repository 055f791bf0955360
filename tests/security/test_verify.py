"""`curation verify`: a bundle verifies as written, and not after any one byte changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from curation.security import verify_bundle
from curation.security.audit import check_chain

from .conftest import fake_run


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_fresh_bundle_verifies(bundle: Path) -> None:
    result = verify_bundle(bundle)
    assert result.ok, result.problems
    assert result.n_files == len(_files(bundle)) - 2  # all but the manifest and the audit trail
    assert "verified" in str(result)


def test_any_one_byte_changed_fails(bundle: Path) -> None:
    for rel in _files(bundle):
        path = bundle / rel
        data = bytearray(path.read_bytes())
        for at in {0, len(data) // 2, len(data) - 2}:
            changed = bytearray(data)
            changed[at] = changed[at] ^ 0x01
            path.write_bytes(bytes(changed))
            problems = verify_bundle(bundle).problems
            assert problems, f"{rel} byte {at}"
        path.write_bytes(bytes(data))
        assert verify_bundle(bundle).ok, rel


def test_added_and_removed_files_are_named(bundle: Path) -> None:
    (bundle / "data" / "fake" / "extra.csv").write_text("a\n", encoding="utf-8")
    (bundle / "reports" / "index.html").unlink()
    problems = verify_bundle(bundle).problems
    assert "data/fake/extra.csv: not in the manifest" in problems
    assert "reports/index.html: listed in the manifest but missing" in problems


def test_a_run_that_did_not_finish_does_not_verify(cohort: Path) -> None:
    root = fake_run(cohort, finish=False)  # as a run killed with SIGKILL after writing data leaves it
    problems = verify_bundle(root).problems
    assert any("status 'running': the run did not finish" in p for p in problems), problems
    assert any("manifest-sha256.txt: missing" in p for p in problems)
    assert any("no run_end event" in p for p in problems)


def test_every_edited_audit_line_breaks_the_chain(bundle: Path) -> None:
    trail = bundle / "audit.jsonl"
    lines = trail.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [json.loads(line)["event"] for line in lines] == ["run_start", "run_end"]
    for i, line in enumerate(lines):
        edited = list(lines)
        edited[i] = line.replace('"operator": "', '"operator": "x')
        trail.write_text("".join(edited), encoding="utf-8")
        assert check_chain(trail), i
        assert any("audit.jsonl line" in p for p in verify_bundle(bundle).problems), i
    for dropped in range(len(lines)):  # a removed line too
        trail.write_text("".join(line for j, line in enumerate(lines) if j != dropped), encoding="utf-8")
        assert not verify_bundle(bundle).ok, dropped
    trail.write_text("".join(lines), encoding="utf-8")
    assert verify_bundle(bundle).ok


def test_audit_records_operator_overrides_and_key_fingerprint_never_the_secret(cohort: Path) -> None:
    from .conftest import SECRET

    root = fake_run(cohort, operator="dr. steward")
    events = [json.loads(line) for line in (root / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    start, end = events
    assert start["operator"] == "dr. steward" and start["host"].startswith("sha256:")
    assert start["key_fingerprint"].startswith("hmac-sha256:")
    assert start["thresholds"] == [
        {
            "check": "x.completeness.a",
            "warn": 0.1,
            "fail": 0.2,
            "author": "steward",
            "reason": "known gap",
            "source": "cohort.yaml",
        }
    ]
    assert end["manifest_sha256"] and end["exit_code"] == 0
    for p in root.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


def test_cli_verify_exit_status(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from curation.cli import main

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["curation", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        return int(exc.value.code or 0)

    assert run("verify", str(bundle)) == 0
    assert "verified" in capsys.readouterr().out
    (bundle / "data" / "fake" / "patients.parquet").write_bytes(b"changed")
    assert run("verify", str(bundle)) == 1
    assert "data/fake/patients.parquet: changed since the manifest was written" in capsys.readouterr().err
    assert run("verify", str(bundle / "nope")) == 2
