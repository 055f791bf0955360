"""Genomics decisions: a per-sample QC limit changes that sample's verdict, a driver review is replayed,
an excluded sample leaves the outputs; through the widgets' Python API and the CLI alike."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from modalities.genomics_fixture import KEYRING, failed_of, pt
from modalities.test_genomics import make_cohort

import curation as cu
from curation.cli import main
from curation.decisions import genomics_widgets as gw

DEPTH = "genomics.accuracy.sequencing_depth"


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


def _set(monkeypatch: pytest.MonkeyPatch, cohort: Path, kind: str, key: str, value: str) -> None:
    args = ("decide", "set", str(cohort), kind, key, value, "--author", "Dr. Zhou", "--reason", "reviewed")
    assert _main(monkeypatch, *args) == 0


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    api = make_cohort(tmp_path / "api")
    shutil.copytree(api.parent, tmp_path / "cli")
    return api, tmp_path / "cli" / "cohort.yaml"


def _press(panel: object, **values: object) -> str:
    import ipywidgets as w

    kids = list(panel.children)  # type: ignore[attr-defined]
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Zhou", "reviewed"
    next(k for k in kids if isinstance(k, w.Button)).click()
    return str(kids[-1].value)


def test_a_sample_limit_changes_that_samples_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api, cli = _pair(tmp_path)
    before = cu.curate("genomics", api, write=False)
    low = KEYRING.token("sample", "HX-002-T")  # 40x and Q30 71 %
    assert failed_of(before, DEPTH) == {pt("B77", "B")}
    assert str(before.checks.set_index("check_id").loc[DEPTH, "verdict"]) == "fail"
    table = gw.sample_qc_table(before)
    row = table.set_index("sample").loc[low]
    assert row["min_depth"] == 100 and row["min_depth from"] == "default" and row["mean_depth verdict"] == "below"

    panel = gw.sample_qc_widget(before)
    which, depth_row = panel.children[0], panel.children[1]
    which.value = low
    box, source = depth_row.children
    assert box.value == 100 and "default" in source.value
    box.value = 20000
    assert "not saved" in _press(panel) and "outside" in panel.children[-1].value
    box.value = 30
    assert _press(panel).startswith("recorded 1")
    assert gw.sample_qc_table(before).set_index("sample").loc[low, "min_depth from"] == "decision by Dr. Zhou"
    _set(monkeypatch, cli, "setting", gw.limit_key("min_depth", low), "30")

    runs = []
    for cohort in (api, cli):
        run = cu.curate("genomics", cohort, write=False)
        runs.append(run)
        assert not failed_of(run, DEPTH)  # that sample now meets its own limit
        assert failed_of(run, "genomics.accuracy.q30") == {pt("B77", "B")}  # its Q30 is still below 80 %
        assert str(run.checks.set_index("check_id").loc[DEPTH, "verdict"]) == "pass"
        effect = run.decisions.set_index("key").loc[gw.limit_key("min_depth", low), "effect"]
        assert f"{DEPTH}: verdict pass (0 of 3 failing); changed from fail (1 of 3 failing) without it" in effect
        assert gw.sample_qc_table(run).set_index("sample").loc[low, "mean_depth verdict"] == "meets"
        depth = run.figures()["Sequencing QC per sample"].data[0]  # the figure agrees: not red any more
        assert dict(zip(depth.x, depth.marker.color, strict=True))[low] == "#4c78a8"
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run


def test_driver_review_and_sample_exclusion_are_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api, cli = _pair(tmp_path)
    before = cu.curate("genomics", api, write=False)
    calls = gw.driver_calls(before)
    kras = calls[calls["driver"].str.contains("KRAS")].iloc[0]
    s1 = KEYRING.token("sample", "HX-001-T")
    n_before = int(before.data.tables["samples"].set_index("sample").loc[s1, "n_drivers"])

    panel = gw.driver_review_widget(before)
    which, action = panel.children[:2]
    which.value, action.value = kras["key"], "reject"
    assert _press(panel).startswith("recorded 1")
    assert gw.driver_calls(before).set_index("key").loc[kras["key"], "review"] == "reject by Dr. Zhou"
    _set(monkeypatch, cli, "label", str(kras["key"]), "reject")
    gone = KEYRING.token("sample", "HX-003-T")
    panel = gw.sample_exclude_widget(before)
    which, action = panel.children[:2]
    which.value, action.value = gone, "exclude"
    assert _press(panel).startswith("recorded 1")
    _set(monkeypatch, cli, "exclude", f"genomics.{gone}", "exclude")

    runs = []
    for cohort in (api, cli):
        run = cu.curate("genomics", cohort, write=True)
        runs.append(run)
        v, s = run.data.tables["variants"], run.data.tables["samples"]
        assert kras["driver"] not in set(v["driver"])  # the call is gone, the variant stays
        assert int(s.set_index("sample").loc[s1, "n_drivers"]) == n_before - 1
        assert gone not in set(s["sample"]) and gone not in set(v["sample"])
        assert not any(p.name.startswith(gone) for p in (cohort.parent / "out" / "data" / "genomics" / "vcf").glob("*"))
        ledger = run.ledger.set_index("stage")
        assert ledger.loc["decisions:samples", "n_excluded"] == 1 and ledger["balanced"].all()
        effects = run.decisions.set_index("key")["effect"]
        assert effects[str(kras["key"])].startswith("driver call") and "rejected" in effects[str(kras["key"])]
        assert effects[f"genomics.{gone}"].startswith("1 sample(s), 1 variant(s) and 1 VCF copy(ies) excluded")
        assert str(run.checks.set_index("check_id").loc["genomics.decisions.review", "verdict"]) == "pass"
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run
