"""The runner on a fake cohort: parallel notebooks, a failing one, the bundle around them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from curation.errors import ConfigError
from curation.io.bundle import Bundle
from curation.run import NotebookStatus, exit_status
from curation.run.runner import identifier_values

from .conftest import MRNS, make_fake_cohort, register_fakes


def english(page: str) -> str:
    """index.html as an English reader sees it (the page carries both languages; the switch hides one)."""
    return re.sub(r'<span lang="en">(.*?)</span>', r"\1", re.sub(r'<span lang="zh">.*?</span>', "", page))


def test_failing_notebook_does_not_stop_the_others(fake_run: tuple) -> None:
    outcome, _ = fake_run
    assert outcome.statuses == {"boom": "error", "fake": "fail"}
    assert outcome.exit_code == 2  # a notebook that could not run outranks a failed check
    boom = next(n for n in outcome.notebooks if n.name == "boom")
    assert boom.error == "RuntimeError"
    # the executed notebook keeps papermill's error banner, and is rendered
    executed = (outcome.out / "reports" / "boom.ipynb").read_text(encoding="utf-8")
    assert "papermill-error-cell-tag" in executed
    assert (outcome.out / "reports" / "boom.html").is_file()


def test_index_shows_verdict_first_and_the_failing_cell(fake_run: tuple) -> None:
    outcome, _ = fake_run
    page = english(outcome.index_html.read_text(encoding="utf-8"))
    rows = page.split("<tbody>", 1)[1]
    assert rows.index('data-notebook="boom"') < rows.index('data-notebook="fake"')  # worst first
    assert "notebook stopped: RuntimeError in cell" in page
    assert "raise RuntimeError(" in page  # the failing cell's code
    assert "accuracy" in page and "1 fail" in page
    assert 'href="fake.html"' in page


def test_bundle_has_merged_quality_run_json_datapackage_and_manifest(fake_run: tuple) -> None:
    outcome, _ = fake_run
    root = outcome.out
    checks = pd.read_parquet(root / "quality" / "checks.parquet")
    assert set(checks["check_id"]) == {"fake.plausibility.value", "fake.ledger_balanced", "privacy.leak_scan"}
    leak = checks[checks["check_id"] == "privacy.leak_scan"].iloc[0]
    assert (leak["verdict"], leak["severity"], leak["n_failed"]) == ("pass", "critical", 0)
    for kind in ("failures", "quarantine", "ledger"):
        assert (root / "quality" / f"{kind}.parquet").is_file()
    assert (root / "datapackage.json").is_file()
    assert (root / "reports" / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert Bundle(root).verify_manifest() == []
    listed = (root / "manifest-sha256.txt").read_text(encoding="utf-8")
    for rel in ("run.json", "reports/index.html", "datapackage.json", "quality/checks.parquet"):
        assert f"  {rel}\n" in listed


def test_run_json_records_provenance_without_identifiers(fake_run: tuple) -> None:
    outcome, cohort = fake_run
    record = json.loads(outcome.run_json.read_text(encoding="utf-8"))
    assert len(record["cohort"]["sha256"]) == 64
    assert record["key_fingerprint"].startswith("hmac-sha256:")
    assert {"curation", "python", "pandas", "pydicom", "scanpy", "papermill", "plotly"} <= set(record["versions"])
    assert [n["name"] for n in record["notebooks"]] == ["boom", "fake"] or len(record["notebooks"]) == 2
    assert record["exit_code"] == 2
    inputs = record["inputs"]
    assert inputs and all(len(i["sha256"]) == 64 for i in inputs)
    text = outcome.run_json.read_text(encoding="utf-8")
    assert "fake.csv" not in text  # raw file names are tokens
    key = (cohort.parent / "keys" / "test.key").read_text(encoding="utf-8").strip()
    assert key not in text


def test_no_output_quotes_an_identifier(fake_run: tuple) -> None:
    outcome, _ = fake_run
    for path in outcome.out.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".json", ".ipynb", ".txt"}:
            text = path.read_text(encoding="utf-8")
            assert not [m for m in MRNS if m in text], path


def test_progress_lines_and_summary(fake_run: tuple) -> None:
    outcome, _ = fake_run
    lines = outcome.progress_lines
    assert any("fake: fail" in ln for ln in lines)
    assert any("boom: error" in ln for ln in lines)
    assert lines[-1].startswith("curation run: 2 notebook(s) (1 ok, 1 error)") and "exit 2" in lines[-1]


def test_timings_are_recorded(fake_run: tuple) -> None:
    outcome, _ = fake_run
    fake = next(n for n in outcome.notebooks if n.name == "fake")
    assert fake.kernel_start_s is not None and fake.kernel_start_s > 0
    assert fake.import_s is not None


def test_leak_scan_ran_clean(fake_run: tuple) -> None:
    outcome, _ = fake_run
    pytest.importorskip("curation.deid.scan")
    record = json.loads(outcome.run_json.read_text(encoding="utf-8"))
    assert record["leak_scan"] == f"clean ({len(MRNS)} identifier values searched)"
    assert outcome.leaks == []


def test_a_missing_notebook_is_an_error_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.run import run_cohort

    cohort = make_fake_cohort(tmp_path, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    (tmp_path / "notebooks" / "fake.ipynb").unlink()
    outcome = run_cohort(cohort, notebooks=tmp_path / "notebooks", progress=None)
    assert outcome.exit_code == 2
    assert outcome.notebooks[0].error.startswith("notebook fake.ipynb not found in")
    assert "could not run: notebook fake.ipynb not found" in english(outcome.index_html.read_text(encoding="utf-8"))


def test_only_unknown_modality_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.run import run_cohort

    cohort = make_fake_cohort(tmp_path)
    register_fakes(monkeypatch, tmp_path / "modules")
    with pytest.raises(ConfigError, match=r"--only imagng: not a modality with sources in cohort.yaml; choose from"):
        run_cohort(cohort, only=["imagng"], notebooks=tmp_path / "notebooks", progress=None)
    assert not (tmp_path / "cohort" / "out" / "run.json").exists()


def _steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **needs: tuple[str, ...]) -> None:
    """The fakes, a source modality ``ghost`` without sources, cohort steps ``name=needs`` (each with a
    notebook) and the real collection report."""
    from curation.modalities import registry

    tag = f"step_{tmp_path.name}"  # module names of this test only (imported modules stay cached)
    targets = {
        "fake": "fakemod_a",
        "boom": "fakemod_b",
        "ghost": f"{tag}_ghost",
        "collection_report": "curation.modalities.collection_report",
    }
    (tmp_path / "modules" / f"{tag}_ghost.py").write_text(
        "from curation.modalities.base import ModalitySpec\n"
        "SPEC = ModalitySpec(name='ghost', label='Ghost', formats=('csv',), notebook='ghost.ipynb')\n",
        encoding="utf-8",
    )
    for name, wants in needs.items():
        (tmp_path / "modules" / f"{tag}_{name}.py").write_text(
            "from curation.modalities.base import ModalitySpec\n"
            f"SPEC = ModalitySpec(name={name!r}, label={name.title()!r}, formats=(), notebook={name + '.ipynb'!r}, "
            f"stage='cohort', needs={wants!r})\n",
            encoding="utf-8",
        )
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text("{}", encoding="utf-8")
        targets[name] = f"{tag}_{name}"
    monkeypatch.setattr(registry, "_targets", lambda: targets)
    (tmp_path / "notebooks" / "collection_report.ipynb").write_text("{}", encoding="utf-8")


def test_plan_orders_steps_by_what_they_need(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation import load_cohort
    from curation.run import plan

    cohort = make_fake_cohort(tmp_path)
    register_fakes(monkeypatch, tmp_path / "modules")
    # cross needs the fakes; late needs cross; none needs only a step without sources (not waited on)
    _steps(tmp_path, monkeypatch, cross=("fake", "boom"), late=("cross",), none=("ghost",))
    stages = plan(load_cohort(cohort), out=tmp_path / "o", notebooks=tmp_path / "notebooks")
    assert [[j.name for j in s] for s in stages] == [
        ["boom", "fake", "none"],
        ["cross"],
        ["late"],
        ["collection_report"],
    ]
    jobs = {j.name: j for s in stages for j in s}
    assert jobs["cross"].needs == ("fake", "boom") and jobs["none"].needs == ()
    assert set(jobs["collection_report"].needs) == {"boom", "fake", "cross", "late", "none"}
    assert all(set(j.parameters) == {"cohort", "out"} for j in jobs.values())
    only = plan(load_cohort(cohort), out=tmp_path / "o", only=["fake"], notebooks=tmp_path / "notebooks")
    assert [[j.name for j in s] for s in only] == [["fake"]]
    # a need left out of --only is not waited on (an earlier run left its outputs in the bundle)
    only = plan(load_cohort(cohort), out=tmp_path / "o", only=["late", "cross"], notebooks=tmp_path / "notebooks")
    assert [[(j.name, j.needs) for j in s] for s in only] == [[("cross", ())], [("late", ("cross",))]]


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ({"a": ("b",), "b": ("a",)}, r"steps need each other in a circle \(a -> b -> a\)"),
        ({"a": ("fake", "a2"), "a2": ("c",), "c": ("a",)}, r"circle \(a -> a2 -> c -> a\)"),
        ({"a": ("imagng",)}, r"a: SPEC.needs names 'imagng', which is not a registered step; registered: "),
    ],
)
def test_plan_refuses_a_circle_or_an_unknown_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, needs: dict[str, tuple[str, ...]], message: str
) -> None:
    from curation import load_cohort
    from curation.run import plan

    cohort = make_fake_cohort(tmp_path)
    register_fakes(monkeypatch, tmp_path / "modules")
    _steps(tmp_path, monkeypatch, **needs)
    with pytest.raises(ConfigError, match=message):
        plan(load_cohort(cohort), out=tmp_path / "o", notebooks=tmp_path / "notebooks")


def test_the_real_steps_are_ordered_by_their_needs() -> None:
    """pathology, exposure and lab after clinical (its diagnosis anchors); crossmodal after every modality
    it links; the collection report after everything."""
    from curation.modalities import registry
    from curation.run.plan import order

    levels = order(registry.names())
    at = {n: i for i, level in enumerate(levels) for n in level}
    assert at["clinical"] < min(at["pathology"], at["exposure"], at["lab"])
    assert at["crossmodal"] > max(at[n] for n in registry.names() if registry.spec(n).stage == "source")
    assert levels[-1] == ["collection_report"]


@pytest.mark.parametrize(
    ("notebooks", "checks", "leaks", "releasable", "code"),
    [
        (["ok"], {"pass": 3}, 0, True, 0),
        (["ok"], {"pass": 3, "warn": 1}, 0, True, 0),
        (["ok"], {"pass": 3, "fail": 1}, 0, True, 1),
        (["ok"], {"error": 1}, 0, True, 1),
        (["ok", "error"], {"fail": 1}, 0, True, 2),
        (["ok"], {"pass": 1}, 1, False, 3),
        (["ok"], {"pass": 1}, 0, False, 3),  # identifiers missing: nothing found, still not releasable
        (["ok"], {"pass": 1}, 1, True, 3),  # a leak is never releasable
        (["ok", "error"], {"fail": 1}, 1, False, 3),  # privacy wins over a failed notebook and a failed check
    ],
)
def test_exit_status(notebooks: list[str], checks: dict[str, int], leaks: int, releasable: bool, code: int) -> None:
    statuses = [NotebookStatus(f"n{i}", "N", s, "x", checks=checks) for i, s in enumerate(notebooks)]
    assert exit_status(statuses, [object()] * leaks, releasable=releasable) == code


def test_notebooks_are_found_in_the_checkout_and_shipped_as_package_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import curation
    from curation.run import notebooks_dir

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("CURATION_NOTEBOOKS", raising=False)
    assert notebooks_dir() == repo / "notebooks"
    # the package's notebooks/ is a link to the top-level folder, so wheels carry the same files
    assert (Path(curation.__file__).parent / "notebooks").resolve() == (repo / "notebooks").resolve()
    monkeypatch.setenv("CURATION_NOTEBOOKS", str(tmp_path))
    assert notebooks_dir() == tmp_path


def test_collect_identifiers_uses_a_modality_shortcut_when_it_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation import load_cohort
    from curation.deid.registry import IdentifierRegistry
    from curation.modalities import collect_identifiers, registry

    cohort = make_fake_cohort(tmp_path, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    config = load_cohort(cohort)
    assert set(MRNS) <= identifier_values(collect_identifiers(config, "fake"))
    mod = registry.get("fake")

    def load_everything(*args: object, **kw: object) -> None:
        raise AssertionError("the shortcut must be used")

    def shortcut(sources: list[object], *, ctx: object) -> IdentifierRegistry:
        found = IdentifierRegistry()
        found.add_many("mrn", MRNS[:2])
        return found

    monkeypatch.setattr(mod, "load", load_everything)
    monkeypatch.setattr(mod, "identifiers", shortcut)
    assert identifier_values(collect_identifiers(config, "fake")) == set(MRNS[:2])


def test_dask_executor_names_the_install_command_when_missing() -> None:
    import importlib.util

    from curation.run import make_executor

    if importlib.util.find_spec("distributed") is not None:
        pytest.skip("distributed is installed")
    with pytest.raises(ConfigError, match=r"executor.kind: dask needs the distributed package; .*pip install"):
        make_executor("dask", address="tcp://127.0.0.1:8786")


def test_quality_of_a_modality_no_longer_in_the_cohort_is_not_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from curation.quality import Dimension, make_result, results_frame
    from curation.run import run_cohort

    cohort = make_fake_cohort(tmp_path, negative=False, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    stale = tmp_path / "cohort" / "out" / "quality" / "checks" / "gone.parquet"
    stale.parent.mkdir(parents=True)
    results_frame([make_result("gone.x", "gone", Dimension.ACCURACY, n_checked=3, n_failed=3)]).to_parquet(stale)
    outcome = run_cohort(cohort, jobs=1, notebooks=tmp_path / "notebooks", progress=None)
    assert outcome.exit_code == 0
    assert not stale.exists()
    merged = pd.read_parquet(tmp_path / "cohort" / "out" / "quality" / "checks.parquet")
    assert "gone" not in set(merged["modality"])
