"""Fail closed (issue 10 part 5, issue 11 part 3): a bundle in which the leak scan finds an
identifier, or for which it lacks a modality's identifiers, is never left releasable."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from curation.io.bundle import Bundle
from curation.run.withhold import LOG, Withheld, withheld_dir, withhold

from .conftest import MRNS, make_fake_cohort, register_fakes

pytest.importorskip("curation.deid.scan")


def english(page: str) -> str:
    """index.html as an English reader sees it (the page carries both languages; the switch hides one)."""
    return re.sub(r'<span lang="en">(.*?)</span>', r"\1", re.sub(r'<span lang="zh">.*?</span>', "", page))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(cohort: Path, root: Path) -> tuple[object, list[str]]:
    from curation.run import run_cohort

    lines: list[str] = []
    outcome = run_cohort(cohort, jobs=1, notebooks=root / "notebooks", progress=lines.append)
    return outcome, lines


def _outputs_quote_no_identifier(out: Path, lines: list[str]) -> None:
    texts = [*lines]
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".json", ".txt", ".ipynb"}:
            texts.append(path.read_text(encoding="utf-8"))
    checks = pd.read_parquet(out / "quality" / "checks.parquet")
    texts += [str(v) for v in checks["message"]]
    assert not [m for m in MRNS for t in texts if m in t]


def test_a_leaking_file_leaves_the_bundle_and_the_run_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fakes(monkeypatch, tmp_path / "modules")
    cohort = make_fake_cohort(tmp_path, negative=False, boom=False, leak=True)
    outcome, lines = _run(cohort, tmp_path)
    out = outcome.out
    held = withheld_dir(out)
    assert held == out.parent / "out.withheld"

    # the notebook passed its checks, but the bundle is not releasable: exit 3
    assert outcome.statuses == {"fake": "pass"}
    assert outcome.exit_code == 3
    assert not outcome.releasable
    assert [w.path for w in outcome.withheld] == ["data/fake/fake.parquet"]

    # moved, not deleted: same relative path, owner-only
    assert not (out / "data" / "fake" / "fake.parquet").exists()
    moved = held / "data" / "fake" / "fake.parquet"
    assert moved.is_file() and pd.read_parquet(moved)["mrn"].tolist() == MRNS
    assert _mode(moved) == 0o600
    for d in (held, held / "data", held / "data" / "fake"):
        assert _mode(d) == 0o700, d
    assert _mode(held / LOG) == 0o600
    assert json.loads((held / LOG).read_text(encoding="utf-8").splitlines()[0])["file"] == "data/fake/fake.parquet"

    # never listed: the manifest and the datapackage are written after the move
    manifest = (out / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert "  data/fake/fake.parquet\n" not in manifest and "withheld" not in manifest
    assert Bundle(out).verify_manifest() == []
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], cwd=out, check=True)
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert "data/fake/fake.parquet" not in {r["path"] for r in package["resources"]}
    assert "quality/checks.parquet" in {r["path"] for r in package["resources"]}

    # the check, counted like any other: critical, fails, names the file and the identifiers by number
    checks = pd.read_parquet(out / "quality" / "checks.parquet")
    leak = checks[checks["check_id"] == "privacy.leak_scan"].iloc[0]
    assert (leak["verdict"], leak["severity"], leak["dimension"]) == ("fail", "critical", "conformance")
    assert "data/fake/fake.parquet (identifiers #1, #2" in leak["message"]
    failures = pd.read_parquet(out / "quality" / "failures.parquet")
    assert failures.loc[failures["check_id"] == "privacy.leak_scan", "field"].tolist() == ["data/fake/fake.parquet"]

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["releasable"] is False and record["exit_code"] == 3
    assert record["withheld"] == ["data/fake/fake.parquet"]
    assert record["leak_scan_detail"]["withheld_folder"] == "out.withheld/"
    assert record["leak_scan"].startswith("6 finding(s) in 1 path(s); 1 withheld to out.withheld/")

    # index.html: the banner comes before anything else
    page = english(outcome.index_html.read_text(encoding="utf-8"))
    body = page.split("<body>", 1)[1]
    assert body.index('id="not-releasable"') < body.index("<header>") < body.index('id="notebooks"')
    assert "<code>data/fake/fake.parquet (identifiers #1, #2, #3, #4, #5, #6)</code>" in page
    assert "1 fail" in page.split("<dt>Checks</dt>", 1)[1].split("</dd>", 1)[0]

    assert any("LEAK: data/fake/fake.parquet: column 'mrn'" in ln for ln in lines), lines
    assert any(ln.startswith("  WITHHELD: data/fake/fake.parquet") for ln in lines)
    assert "NOT RELEASABLE" in lines[-1] and "exit 3" in lines[-1]
    _outputs_quote_no_identifier(out, lines)

    # a clean re-run is releasable; what was withheld stays withheld, outside the bundle
    make_fake_cohort(tmp_path, negative=False, boom=False, leak=False)
    outcome, lines = _run(cohort, tmp_path)
    assert outcome.exit_code == 0 and outcome.releasable and outcome.withheld == []
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["releasable"] is True and record["withheld"] == [] and record["exit_code"] == 0
    assert record["leak_scan"] == f"clean ({len(MRNS)} identifier values searched)"
    assert 'id="not-releasable"' not in outcome.index_html.read_text(encoding="utf-8")
    checks = pd.read_parquet(out / "quality" / "checks.parquet")
    assert checks.loc[checks["check_id"] == "privacy.leak_scan", "verdict"].tolist() == ["pass"]
    assert (out / "data" / "fake" / "fake.parquet").is_file() and moved.is_file()
    assert Bundle(out).verify_manifest() == []


def test_missing_identifiers_of_a_modality_fail_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fakes(monkeypatch, tmp_path / "modules")
    cohort = make_fake_cohort(tmp_path, negative=False, boom=False, ids_fail=True)
    outcome, lines = _run(cohort, tmp_path)
    assert outcome.statuses == {"fake": "pass"}
    assert outcome.exit_code == 3 and not outcome.releasable
    assert outcome.withheld == []  # nothing found, nothing to move: the bundle as a whole is unknown
    assert any("could not collect the identifiers of fake (RuntimeError)" in ln for ln in lines)
    scan_line = next(ln for ln in lines if ln.startswith("  leak scan: not known"))
    assert "clean" not in scan_line.replace("not known to be clean", "")
    record = json.loads((outcome.out / "run.json").read_text(encoding="utf-8"))
    assert record["releasable"] is False and record["exit_code"] == 3
    assert record["leak_scan"].startswith("not known to be clean: the identifiers of fake (RuntimeError")
    assert record["leak_scan_detail"]["identifiers_missing"] == {"fake": "RuntimeError while collecting them"}
    checks = pd.read_parquet(outcome.out / "quality" / "checks.parquet")
    leak = checks[checks["check_id"] == "privacy.leak_scan"].iloc[0]
    assert (leak["verdict"], leak["severity"]) == ("error", "critical")
    assert "identifiers of fake" in leak["message"]
    page = english(outcome.index_html.read_text(encoding="utf-8"))
    assert 'id="not-releasable"' in page and "Identifiers missing for: <b>fake</b>" in page


def test_a_leak_in_the_run_own_report_is_withheld_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cohort description lands in index.html: the page is withheld, run.json still says why."""
    register_fakes(monkeypatch, tmp_path / "modules")
    cohort = make_fake_cohort(tmp_path, negative=False, boom=False)
    text = cohort.read_text(encoding="utf-8").replace("two fake modalities", f"patient {MRNS[0]} and others")
    cohort.write_text(text, encoding="utf-8")
    outcome, _ = _run(cohort, tmp_path)
    out = outcome.out
    assert outcome.exit_code == 3
    assert "reports/index.html" in {w.path for w in outcome.withheld}
    assert not (out / "reports" / "index.html").exists()
    assert (withheld_dir(out) / "reports" / "index.html").is_file()
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["releasable"] is False and "reports/index.html" in record["withheld"]
    assert Bundle(out).verify_manifest() == []
    assert "reports/index.html" not in (out / "manifest-sha256.txt").read_text(encoding="utf-8")


# --- withhold(), without a run -------------------------------------------------------------


def _bundle(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    (root / "data" / "ZY20230001").mkdir(parents=True)
    (root / "data" / "ZY20230001" / "a.csv").write_text("x\n", encoding="utf-8")
    (root / "data" / "ZY20230001" / "sub").mkdir()
    (root / "data" / "ZY20230001" / "sub" / "b.csv").write_text("y\n", encoding="utf-8")
    (root / "reports").mkdir()
    (root / "reports" / "r.html").write_text("leak v1", encoding="utf-8")
    return root


def test_withhold_moves_files_and_folders_owner_only(tmp_path: Path) -> None:
    root = _bundle(tmp_path)
    os.umask(0o022)
    paths = {
        "data/ZY20230001": "data/<redacted>",
        "data/ZY20230001/a.csv": "data/<redacted>/a.csv",
        "reports/r.html": "reports/r.html",
    }
    got = withhold(root, paths, {"reports/r.html": "identifier #1"}, run="t1")
    assert [(w.path, w.files, w.error) for w in got] == [("data/<redacted>", 2, ""), ("reports/r.html", 1, "")]
    assert not (root / "data" / "ZY20230001").exists() and not (root / "reports" / "r.html").exists()
    held = withheld_dir(root)
    assert (held / "data" / "ZY20230001" / "sub" / "b.csv").read_text(encoding="utf-8") == "y\n"
    assert {_mode(p) for p in held.rglob("*") if p.is_dir()} | {_mode(held)} == {0o700}
    assert {_mode(p) for p in held.rglob("*") if p.is_file()} == {0o600}
    assert str(got[1]) == "reports/r.html (identifier #1)"


def test_withhold_keeps_both_when_an_earlier_run_withheld_other_bytes(tmp_path: Path) -> None:
    root = _bundle(tmp_path)
    held = withheld_dir(root) / "reports"
    withhold(root, {"reports/r.html": "reports/r.html"}, {}, run="t1")
    (root / "reports" / "r.html").write_text("leak v1", encoding="utf-8")  # the same bytes again
    withhold(root, {"reports/r.html": "reports/r.html"}, {}, run="t2")
    assert sorted(p.name for p in held.iterdir()) == ["r.html"]  # identical: one copy, nothing lost
    (root / "reports" / "r.html").write_text("leak v2", encoding="utf-8")
    withhold(root, {"reports/r.html": "reports/r.html"}, {}, run="t3")
    (root / "reports" / "r.html").write_text("leak v3", encoding="utf-8")
    withhold(root, {"reports/r.html": "reports/r.html"}, {}, run="t4")
    assert {p.name: p.read_text(encoding="utf-8") for p in held.iterdir()} == {
        "r.html": "leak v1",
        "r (2).html": "leak v2",
        "r (3).html": "leak v3",
    }
    log = [json.loads(ln) for ln in (withheld_dir(root) / LOG).read_text(encoding="utf-8").splitlines()]
    assert [(e["run"], e["file"]) for e in log] == [
        ("t1", "reports/r.html"),
        ("t2", "reports/r.html"),
        ("t3", "reports/r (2).html"),
        ("t4", "reports/r (3).html"),
    ]


def test_withhold_reports_a_file_it_cannot_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _bundle(tmp_path)

    def refuse(src: object, dst: object) -> None:
        raise PermissionError("no")

    monkeypatch.setattr(os, "replace", refuse)
    got = withhold(root, {"reports/r.html": "reports/r.html"}, {"reports/r.html": "identifier #1"})
    assert got == [Withheld("reports/r.html", "identifier #1", 0, "PermissionError")]
    assert "NOT MOVED" in str(got[0])


def test_identifiers_are_read_from_the_registry_the_hook_returns() -> None:
    from curation.deid.registry import IdentifierRegistry
    from curation.run.runner import identifier_sizes, identifier_values

    found = IdentifierRegistry()
    found.add("mrn", "ZY20230001")
    found.add("name", "张三丰")
    assert {"ZY20230001", "张三丰"} <= identifier_values(found)
    sizes = identifier_sizes(found)
    assert sizes["mrn"] == 1 and sizes["name"] == 1


def test_a_file_the_scan_cannot_read_is_withheld_too(tmp_path: Path) -> None:
    from curation.deid.scan import scan_bundle
    from curation.run.privacy import withheld_reasons

    root = tmp_path / "out"
    (root / "data").mkdir(parents=True)
    (root / "data" / "broken.parquet").write_bytes(b"PAR1 not really")
    (root / "data" / "ok.csv").write_text("patient\nPT01\n", encoding="utf-8")
    result = scan_bundle(root, ["ZY20230001"])
    assert result.found == {"data/broken.parquet": {0}}  # not known to be clean
    got = withhold(root, result.paths, withheld_reasons(result))
    assert [str(w) for w in got] == ["data/broken.parquet (not readable by the leak scan)"]
    assert (withheld_dir(root) / "data" / "broken.parquet").is_file() and (root / "data" / "ok.csv").is_file()
