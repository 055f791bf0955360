"""`curation demo` and `curation demo generate`."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import curation.demo
from curation.cli import cli


@pytest.fixture
def fast_generate(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The real generator without the slow imaging and immune parts (tested by their own helpers)."""
    gen = importlib.import_module("curation.demo.generate")
    made: list[Path] = []

    def generate(out: Path, *, patients: int, seed: int) -> Path:
        made.append(Path(out))
        return gen.generate(out, patients=patients, seed=seed, external=())

    monkeypatch.setattr(curation.demo, "generate", generate)
    return made


def test_demo_generate_writes_the_cohort_and_names_the_demo_key(tmp_path: Path, fast_generate: list[Path]) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(
        cli,
        ["demo", "generate", "--out", str(out), "--patients", "30", "--seed", "5"],
        standalone_mode=False,
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert res.return_value == 0
    assert (out / "cohort.yaml").is_file() and (out / "keys" / "demo.key").is_file()
    assert "generated DEMO key" in res.output
    assert f"curation run {out / 'cohort.yaml'}" in res.output
    assert fast_generate == [out]


def test_demo_refuses_too_few_patients(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["demo", "generate", "--out", str(tmp_path), "--patients", "5"])
    assert res.exit_code == 2
    assert "--patients" in res.output


def test_demo_generates_then_runs_and_returns_the_run_exit_code(
    tmp_path: Path, fast_generate: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import curation.run as run

    ran: list[Path] = []

    def run_cohort(cohort: Path, **kw: object) -> SimpleNamespace:
        ran.append(Path(cohort))
        return SimpleNamespace(exit_code=1, index_html=Path(cohort).parent / "out" / "reports" / "index.html")

    monkeypatch.setattr(run, "run_cohort", run_cohort)
    out = tmp_path / "demo"
    res = CliRunner().invoke(
        cli, ["demo", "--out", str(out), "--patients", "30"], standalone_mode=False, catch_exceptions=False
    )
    assert res.return_value == 1
    assert ran == [out / "cohort.yaml"]
    assert f"report: {out / 'out' / 'reports' / 'index.html'}" in res.output
    assert "generated DEMO key" in res.output
