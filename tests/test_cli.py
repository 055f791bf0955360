"""`curation init` and `curation run` from the console entry point: exit codes and messages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from run.conftest import make_fake_cohort, register_fakes  # tests/run/conftest.py

from curation.cli import main
from curation.config import CohortConfig, load_cohort
from curation.run.cli import template_text

REPO = Path(__file__).resolve().parents[1]


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = make_fake_cohort(tmp_path, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    monkeypatch.setenv("CURATION_NOTEBOOKS", str(tmp_path / "notebooks"))
    return path


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("sources:", "sourcse:", r"cohort.yaml: sourcse: unknown key; did you mean 'sources'\?"),
        (
            "path: raw/fake.csv",
            "path: raw/missing.csv",
            r"cohort.yaml: sources.fake\[0\].path: 'raw/missing.csv' matches no file or folder .*; fix the path",
        ),
        ("format: csv", "format: cvs", r"cohort.yaml: sources.fake\[0\].format: 'cvs' is not one of csv"),
        (
            "keys/test.key",
            "keys/nokey.key",
            r"cohort.yaml: secret.file: key file .*nokey.key' does not exist; create it",
        ),
        (
            "output: out",
            "output: [out",
            r"cohort.yaml: line \d+, column \d+: YAML does not parse .*; fix the syntax there",
        ),
    ],
)
def test_config_errors_exit_2_with_one_message(
    cohort: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    _edit(cohort, old, new)
    assert _main(monkeypatch, "run", str(cohort)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert pytest.importorskip("re").search(message, err), err
    assert not (cohort.parent / "out" / "run.json").exists()


def test_missing_secret_env(cohort: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(cohort, "secret: {file: keys/test.key}", "secret: {env: CURATION_NO_SUCH_SECRET}")
    monkeypatch.delenv("CURATION_NO_SUCH_SECRET", raising=False)
    assert _main(monkeypatch, "run", str(cohort)) == 2
    err = capsys.readouterr().err
    assert "secret.env: environment variable CURATION_NO_SUCH_SECRET is not set; export it" in err
    assert "Traceback" not in err


def test_missing_cohort_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(monkeypatch, "run", str(tmp_path / "nope.yaml")) == 2
    assert "cohort file not found; create one with `curation init DIR`" in capsys.readouterr().err


def test_run_only_out_jobs(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "elsewhere"
    assert _main(monkeypatch, "run", str(cohort), "--only", "fake", "--jobs", "1", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("curation run: 1 notebook(s) (1 ok, 0 error); checks: 1 fail")
    assert (out / "reports" / "index.html").is_file() and (out / "manifest-sha256.txt").is_file()


def test_init_writes_the_template_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(monkeypatch, "init", str(tmp_path / "new")) == 0
    written = tmp_path / "new" / "cohort.yaml"
    assert written.read_text(encoding="utf-8") == template_text()
    assert _main(monkeypatch, "init", str(tmp_path / "new")) == 2
    assert "already exists; edit it, or pass --force" in capsys.readouterr().err
    assert _main(monkeypatch, "init", str(tmp_path / "new"), "--force") == 0


def test_template_is_one_file_shipped_and_linked() -> None:
    top = REPO / "templates" / "cohort.yaml"
    assert top.is_symlink() or top.read_text(encoding="utf-8") == template_text()
    assert top.read_text(encoding="utf-8") == template_text()


def _keys(model: type, prefix: str = "") -> set[str]:
    from curation.config import _find_model

    out = set()
    for name, fld in model.model_fields.items():
        out.add(name)
        sub = _find_model(fld.annotation)
        if sub is not None:
            out |= _keys(sub)
    return out


def test_template_explains_every_key_and_validates(tmp_path: Path) -> None:
    text = template_text()
    for key in _keys(CohortConfig):
        assert f"{key}:" in text or f"   {key} " in text, f"template does not explain `{key}`"
    assert "住院号: admission_number" in text and "出生日期: birth_date" in text
    raw = yaml.safe_load(text)
    from curation.modalities import registry

    known = set()
    for name in registry.names():
        try:
            registry.spec(name)
            known.add(name)
        except Exception:  # noqa: BLE001 - a modality under construction must not fail this test
            continue
    raw["sources"] = {k: v for k, v in raw["sources"].items() if k in known}
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cfg = load_cohort(path, check_paths=False)
    assert cfg.cohort.name == "LUNG-2024" and cfg.secret.env == "CURATION_SECRET"
