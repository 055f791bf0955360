"""Curator decisions: recorded with author and reason, replayed by the batch run, flagged on changed input."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from modalities.test_lab import make_cohort  # tests/modalities/test_lab.py: a tiny two-site lab cohort

import curation as cu
from curation import decisions as dec
from curation.cli import main
from curation.decisions import widgets
from curation.errors import ConfigError
from curation.security import audit

CHECK = "lab.conformance.allowed_values"
LOOSER = {"kind": "threshold", "key": CHECK, "value": {"warn": 0.0, "fail": 0.5}}


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, cu.modalities.Curated]:
    """The lab cohort and its run without any decision (read only)."""
    cohort = make_cohort(tmp_path_factory.mktemp("decide"))
    return cohort, cu.curate("lab", cohort, write=False)


@pytest.fixture
def cohort(base: tuple[Path, cu.modalities.Curated], tmp_path: Path) -> Path:
    """A fresh copy of the cohort (decisions.yaml lands beside it)."""
    shutil.copytree(base[0].parent, tmp_path / "c", ignore=shutil.ignore_patterns("out", "decisions.yaml"))
    return tmp_path / "c" / "cohort.yaml"


def _verdict(run: cu.modalities.Curated, check: str) -> str:
    return str(run.checks.set_index("check_id").loc[check, "verdict"])


def test_without_decisions_nothing_changes(base: tuple[Path, cu.modalities.Curated]) -> None:
    _, run = base
    assert _verdict(run, CHECK) == "fail"
    assert not run.checks["check_id"].str.endswith("decisions.review").any()  # no decision, no extra check
    assert run.decisions.empty


def test_python_api_and_cli_change_the_verdict_the_same_way(
    base: tuple[Path, cu.modalities.Curated], cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run = base
    widgets.record(run, LOOSER, author="Dr. Wang", reason="AFP is followed in this cohort")
    # the widget's Python API wrote beside the base cohort: move it to this test's copy, then the CLI on another copy
    api_file = dec.decisions_path(base[0])
    shutil.move(api_file, dec.decisions_path(cohort))
    via_api = cu.curate("lab", cohort, write=False)
    other = tmp_path / "cli"
    shutil.copytree(cohort.parent, other, ignore=shutil.ignore_patterns("decisions.yaml"))
    code = _main(
        monkeypatch,
        "decide",
        "set",
        str(other / "cohort.yaml"),
        "threshold",
        CHECK,
        "{warn: 0, fail: 0.5}",
        "--author",
        "Dr. Wang",
        "--reason",
        "AFP is followed in this cohort",
    )
    assert code == 0
    via_cli = cu.curate("lab", other / "cohort.yaml", write=False)
    for got in (via_api, via_cli):
        assert _verdict(got, CHECK) == "warn"
        assert _verdict(got, "lab.decisions.review") == "pass"
        row = got.decisions.iloc[0]
        assert row["status"] == "applied" and row["author"] == "Dr. Wang"
        assert "changed from fail" in row["effect"]
    assert via_api.checks.drop(columns="message").equals(via_cli.checks.drop(columns="message"))


def test_decision_on_changed_input_is_flagged_not_applied(cohort: Path) -> None:
    config = cu.modalities.load_cohort(cohort)
    dec.set_decision(
        dec.decisions_path(cohort), LOOSER, author="A", reason="r", input_sha256=dec.modality_checksum(config, "lab")
    )
    lis = cohort.parent / "raw" / "lis_c.csv"
    row = "ZY301,癌胚抗原,0.9,μg/L,0～5.0,2019/3/15 9:19,2019/3/16 9:19\n"
    lis.write_bytes(lis.read_bytes() + row.encode("gb18030"))
    run = cu.curate("lab", cohort, write=False)
    assert _verdict(run, CHECK) == "fail"  # not applied
    review = run.checks.set_index("check_id").loc["lab.decisions.review"]
    assert review["verdict"] == "warn" and CHECK in review["message"] and "input changed" in review["message"]
    assert run.decisions["status"].tolist() == ["flagged: input changed"]


def test_value_map_decision_maps_an_unmapped_value(base: tuple[Path, cu.modalities.Curated], cohort: Path) -> None:
    _, run = base
    table = widgets.unmapped_values(run)
    assert len(table) and {"field", "value", "count", "allowed"} <= set(table.columns)
    first = table.iloc[0]
    code = first["allowed"].split(", ")[0]
    dec.set_decision(
        dec.decisions_path(cohort),
        {"kind": "map", "key": f"lab.{first['field']}:{first['value']}", "value": code},
        author="A",
        reason="checked with the lab",
    )
    again = cu.curate("lab", cohort, write=False)
    assert widgets.unmapped_values(again).empty
    assert _verdict(again, CHECK) == "pass"
    assert "value map" in again.decisions.iloc[0]["effect"]


def test_list_show_revoke_with_author_and_reason(
    cohort: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = str(cohort)
    assert _main(monkeypatch, "decide", "set", c, "threshold", CHECK, "0.5", "--author", "Dr. Li") == 2  # no reason
    assert (
        _main(monkeypatch, "decide", "set", c, "threshold", CHECK, "0.5", "--author", "Dr. Li", "--reason", "AFP kept")
        == 0
    )
    assert _main(monkeypatch, "decide", "set", c, "threshold", CHECK, "7", "--author", "X", "--reason", "y") == 2
    capsys.readouterr()
    assert _main(monkeypatch, "decide", "list", c) == 0
    out = capsys.readouterr().out
    assert "Dr. Li" in out and "AFP kept" in out and "[in force]" in out
    assert _main(monkeypatch, "decide", "revoke", c, CHECK, "--author", "Dr. Zhao") == 2  # no reason
    assert _main(monkeypatch, "decide", "revoke", c, CHECK, "--author", "Dr. Zhao", "--reason", "back to strict") == 0
    capsys.readouterr()
    assert _main(monkeypatch, "decide", "show", c, CHECK) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown[0]["revoked"]["author"] == "Dr. Zhao" and shown[0]["status"] == "revoked"
    assert _verdict(cu.curate("lab", cohort, write=False), CHECK) == "fail"


def test_old_widget_form_is_read_and_applied(cohort: Path) -> None:
    out = cohort.parent / "out"
    out.mkdir(exist_ok=True)
    (out / "decisions.yaml").write_text("lab:\n  timeliness:\n    report_delay_days: 60\n", encoding="utf-8")
    got = dec.decisions_in_force(cu.modalities.load_cohort(cohort), bundle=out)
    assert [(d.kind, d.key, d.value, d.legacy) for d in got] == [
        ("setting", "lab.timeliness.report_delay_days", 60, True)
    ]
    run = cu.curate("lab", cohort, write=False)
    assert _verdict(run, "lab.timeliness.report_delay") == "pass"
    assert run.decisions["status"].tolist() == ["applied"]


def test_decisions_need_author_reason_and_a_fitting_value(tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    with pytest.raises(ConfigError, match="author and a reason"):
        dec.set_decision(path, LOOSER, author="", reason="x")
    with pytest.raises(ConfigError, match=r"lab\.unit:ug/l"):
        dec.set_decision(path, {"kind": "map", "key": "lab.unit", "value": "ng/mL"}, author="a", reason="b")
    with pytest.raises(ConfigError, match="no decision in force"):
        dec.revoke_decision(path, CHECK, author="a", reason="b")
    path.write_text("version: 1\ndecisions:\n- {kind: threshold, key: lab.x, value: 0.1, time: t, reason: r}\n")
    with pytest.raises(ConfigError, match="author"):
        dec.read_decisions(path)


def test_written_run_reports_and_audits_the_decisions(cohort: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dec.set_decision(dec.decisions_path(cohort), LOOSER, author="Dr. Wang", reason="AFP kept")
    run = cu.curate("lab", cohort)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("lab: cohort 'tiny-lab'") and "decisions applied: 1" in line
    assert str(cohort.parent) not in line
    import pandas as pd

    table = pd.read_parquet(run.ctx.bundle.path("quality/decisions/lab.parquet"))
    assert table["key"].tolist() == [CHECK] and table["status"].tolist() == ["applied"]
    record = dec.audit_record(run.ctx.config, run.ctx.bundle.root)
    assert record["decisions"][0]["author"] == "Dr. Wang" and record["sha256"]
    audit.append(run.ctx.bundle.root, "run_start", decisions=record)
    event = audit.read_events(run.ctx.bundle.root / "audit.jsonl")[-1]
    assert json.dumps(event["decisions"]["decisions"][0]["reason"]) == '"AFP kept"'


def test_widgets_record_what_the_curator_chose(base: tuple[Path, cu.modalities.Curated], cohort: Path) -> None:
    import ipywidgets as w

    _, shared = base
    run = cu.curate("lab", cohort, write=False)
    assert shared.ctx.config.path != run.ctx.config.path

    def parts(panel: w.VBox) -> tuple[list[w.Widget], w.Button, w.HTML]:
        kids = list(panel.children)
        return kids, next(k for k in kids if isinstance(k, w.Button)), kids[-1]

    kids, save, status = parts(widgets.check_threshold_widget(run))
    kids[0].value = CHECK
    warn, fail = kids[2].children
    warn.value, fail.value = 0.5, 0.1
    save.click()
    assert "not saved" in status.value and "warn ≤ fail" in status.value
    fail.value = 0.6
    save.click()
    assert "not saved" in status.value  # no author, no reason
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Wang", "AFP is followed"
    save.click()
    assert status.value.startswith("recorded 1")
    kids, save, status = parts(widgets.mapping_widget(run))
    pick = kids[0].children[1]
    pick.value = pick.options[1]
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Li", "same code at site A"
    save.click()
    kids, save, status = parts(widgets.quarantine_widget(run))
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Li", "checked the source"
    save.click()
    table = widgets.decisions_table(run)
    assert sorted(table["kind"]) == ["map", "release", "threshold"]
    assert set(table["status"]) == {"recorded: applies on the next run"}
    again = cu.curate("lab", cohort, write=False)
    status_of = dict(zip(again.decisions["kind"], again.decisions["status"], strict=True))
    assert status_of == {"threshold": "applied", "map": "applied", "release": "applied"}
    effect = dict(zip(again.decisions["kind"], again.decisions["effect"], strict=True))
    assert effect["release"] == "confirmed: stays in quarantine"  # the widget's default: confirm
    assert _verdict(again, "lab.decisions.review") == "pass"


def test_exclusion_drops_the_records_and_the_ledger_counts_them(cohort: Path) -> None:
    from modalities.test_lab import KEYRING

    who = KEYRING.patient("00108", site="A")  # the implausible CEA of 250000
    dec.set_decision(
        dec.decisions_path(cohort),
        {"kind": "exclude", "key": f"lab.{who}", "value": "exclude"},
        author="Dr. Li",
        reason="sample mix-up confirmed by the lab",
    )
    run = cu.curate("lab", cohort, write=False)
    assert who not in set(run.data.tables["results"]["patient"])
    assert _verdict(run, "lab.plausibility.range") == "pass"
    assert _verdict(run, "lab.ledger_balanced") == "pass"
    led = run.ledger.set_index("stage").loc["decisions:results"]
    assert led["n_excluded"] == 1 and "curator_decision=1" in led["excluded_by_rule"]
    assert run.decisions.iloc[0]["effect"] == "1 record(s) excluded (ledger: curator_decision)"


def test_an_unmapped_value_holding_an_identifier_is_counted_never_shown(
    base: tuple[Path, cu.modalities.Curated],
) -> None:
    from curation.modalities._tabular import INVALID

    _, run = base
    bad = run.data.objects[INVALID]
    allowed = bad[bad["kind"] == "allowed"]
    field = str(allowed["field"].iloc[0])
    planted = allowed.head(1).assign(value="家属电话13812345678")
    run.data.objects[INVALID] = pd.concat([bad, planted], ignore_index=True)
    try:
        table = widgets.unmapped_values(run)
    finally:
        run.data.objects[INVALID] = bad
    assert not table["value"].str.contains("13812345678").any()
    hidden = table[table["value"] == widgets.HIDDEN]
    assert hidden["field"].tolist() == [field] and hidden["count"].tolist() == [1]
