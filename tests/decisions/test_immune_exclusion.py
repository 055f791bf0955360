"""Excluding a single-cell sample: its cells and per-sample rows leave the outputs, counted in the ledger; the
exclusion widget's Python API and the CLI change the batch run the same way."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from modalities.immune.conftest import write_cohort  # tests/modalities/immune/conftest.py

import curation as cu
from curation.cli import main
from curation.decisions import widgets


def test_an_excluded_sample_leaves_the_cells_and_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets as w

    options = {"processing": {"umap": False}, "qc": {"doublets": False}}
    api, _ = write_cohort(tmp_path / "api", n_patients=2, cells=(120, 160), extra_options=options)
    shutil.copytree(api.parent, tmp_path / "cli")
    cli = tmp_path / "cli" / api.name
    before = cu.curate("immune", api, write=False)
    samples = sorted(before.data.tables["qc"]["sample"].astype(str))
    gone = samples[0]
    n_cells = int((before.data.objects["adata"].obs["sample"].astype(str) == gone).sum())
    assert n_cells > 0

    panel = widgets.exclude_widget(before, samples, what="sample")
    which, action, author, reason, save, status = panel.children
    which.value, action.value = gone, "exclude"
    author.value, reason.value = "Dr. Chen", "sample swap confirmed"
    assert isinstance(save, w.Button)
    save.click()
    assert status.value.startswith("recorded 1")
    args = ("decide", "set", str(cli), "exclude", f"immune.{gone}", "exclude")
    monkeypatch.setattr(sys, "argv", ["curation", *args, "--author", "Dr. Chen", "--reason", "sample swap confirmed"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert not exc.value.code

    runs = []
    for cohort in (api, cli):
        run = cu.curate("immune", cohort, write=False)
        runs.append(run)
        assert gone not in set(run.data.tables["qc"]["sample"].astype(str))
        assert gone not in set(run.data.objects["adata"].obs["sample"].astype(str))
        assert gone not in set(run.data.tables["composition"]["sample"].astype(str))
        ledger = run.ledger.set_index("stage")
        assert ledger.loc["decisions:qc", "n_excluded"] == 1
        assert ledger.loc["decisions:cells", "n_excluded"] == n_cells and run.ledger["balanced"].all()
        effect = run.decisions.set_index("key").loc[f"immune.{gone}", "effect"]
        assert effect == f"1 sample(s), {n_cells} cell(s) excluded (ledger: curator_decision)"
        assert str(run.checks.set_index("check_id").loc["immune.decisions.review", "verdict"]) == "pass"
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run
