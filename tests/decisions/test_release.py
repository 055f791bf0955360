"""Releases of quarantined records: a released record re-enters the standard tables with the release in the
ledger and the report; the widget's Python API and the CLI change the batch run the same way."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from modalities.test_lab import make_cohort  # tests/modalities/test_lab.py: a tiny two-site lab cohort

import curation as cu
from curation import decisions as dec
from curation.cli import main
from curation.decisions import widgets


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


def test_release_through_the_widget_and_the_cli_readmits_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipywidgets as w

    cohort = make_cohort(tmp_path / "api")
    before = cu.curate("lab", cohort, write=False)
    q = before.quarantine
    held = q[q["reason"] == "unparseable_date"]
    assert len(held) == 1  # the fixture's one record with a date that does not parse
    who = str(held["pseudonym"].iloc[0])
    n = len(before.data.tables["results"])
    other = tmp_path / "cli"
    shutil.copytree(cohort.parent, other)

    panel = widgets.quarantine_widget(before)
    which, action, author, reason, save, status = panel.children
    which.value, action.value = who, "release"
    assert isinstance(save, w.Button)
    author.value, reason.value = "Dr. Li", "the date is unreadable but the result is sound"
    save.click()
    assert status.value.startswith("recorded 1")
    # a malformed line cannot re-enter: released, it is flagged as not applicable, never silently dropped
    dec.set_decision(
        dec.decisions_path(cohort),
        {"kind": "release", "key": "lab.line 15", "value": "release"},
        author="Dr. Li",
        reason="try it",
    )
    code = _main(
        monkeypatch,
        *("decide", "set", str(other / "cohort.yaml"), "release", f"lab.{who}", "release"),
        *("--author", "Dr. Li", "--reason", "the date is unreadable but the result is sound"),
    )
    assert code == 0
    via_api, via_cli = cu.curate("lab", cohort, write=False), cu.curate("lab", other / "cohort.yaml", write=False)
    for got in (via_api, via_cli):
        results = got.data.tables["results"]
        assert len(results) == n + 1 and who in set(results["patient"])
        assert "unparseable_date" not in set(got.quarantine["reason"])
        ledger = got.ledger.set_index("stage")
        assert ledger.loc["release:results", "n_accepted"] == 1 and ledger["balanced"].all()
        row = got.decisions.set_index("key").loc[f"lab.{who}"]
        assert row["status"] == "applied" and "1 record(s) of results re-entered" in row["effect"]
    flagged = via_api.decisions.set_index("key").loc["lab.line 15"]
    assert flagged["status"] == "flagged: not applicable"
    assert str(via_api.checks.set_index("check_id").loc["lab.decisions.review", "verdict"]) == "warn"
    assert via_cli.checks.set_index("check_id").loc["lab.decisions.review", "verdict"] == "pass"
