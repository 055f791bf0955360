"""Lab decisions: a plausible range per analyte and a unit mapping, replayed by the lab step; through the
widgets' Python API and the CLI alike."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from modalities.test_lab import make_cohort  # tests/modalities/test_lab.py: a tiny two-site lab cohort

import curation as cu
from curation.cli import main
from curation.decisions import lab_widgets as lw

RANGE, UNIT = "lab.plausibility.range", "lab.conformance.unit"


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


def _press(panel: object) -> str:
    import ipywidgets as w

    kids = list(panel.children)  # type: ignore[attr-defined]
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Wu", "checked with the lab"
    next(k for k in kids if isinstance(k, w.Button)).click()
    return str(kids[-1].value)


def _row(run: cu.modalities.Curated, check: str) -> tuple[str, int]:
    r = run.checks.set_index("check_id").loc[check]
    return str(r["verdict"]), int(r["n_failed"])


def test_range_and_unit_decisions_change_the_lab_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_cohort(tmp_path / "api")
    shutil.copytree(api.parent, tmp_path / "cli")
    cli = tmp_path / "cli" / "cohort.yaml"
    before = cu.curate("lab", api, write=False)
    assert _row(before, RANGE) == ("fail", 1)  # a CEA of 250000 ng/mL, above 100000
    n_unit = _row(before, UNIT)[1]
    cea = lw.ranges_table(before).set_index("analyte").loc["CEA"]
    assert cea["high"] == 100000 and cea["high from"] == "lab_units.yaml" and cea["outside"] == 1
    units = lw.unit_table(before)
    mmol = units[units["unit"] == "mmol/L"].iloc[0]
    assert mmol["analyte"] == "CEA" and mmol["count"] == 1 and "ng/mL (×1)" in mmol["known"]

    panel = lw.range_widget(before)
    which, low_row, high_row = panel.children[:3]
    which.value = "CEA"
    high = high_row.children[0]
    low_row.children[0].value, high.value = 10, 5
    assert "not saved" in _press(panel) and "low < high" in panel.children[-1].value
    low_row.children[0].value, high.value = 0, 300000
    assert _press(panel).startswith("recorded 1")
    assert lw.ranges_table(before).set_index("analyte").loc["CEA", "high from"] == "decision by Dr. Wu"
    panel = lw.unit_widget(before)
    pick = next(k.children[1] for k in panel.children if "mmol/L" in getattr(k.children[0], "value", "") if k.children)
    pick.value = "ng/mL"
    assert _press(panel).startswith("recorded 1")
    for args in (
        ("setting", f"{RANGE}.CEA.high", "300000"),
        ("map", "lab.unit:mmol/L", "ng/mL"),
    ):
        code = _main(monkeypatch, "decide", "set", str(cli), *args, "--author", "Dr. Wu", "--reason", "checked")
        assert code == 0

    runs = []
    for cohort in (api, cli):
        run = cu.curate("lab", cohort, write=False)
        runs.append(run)
        assert _row(run, RANGE) == ("pass", 0)
        assert _row(run, UNIT)[1] == n_unit - 1  # mmol/L read as ng/mL: converts now
        res = run.data.tables["results"]
        assert (res["value_num"] == 250000).sum() == 1 and (res["unit"] == "mmol/L").sum() == 0
        effects = run.decisions.set_index("key")["effect"]
        assert f"{RANGE}: verdict pass (0 of 14 failing)" in effects[f"{RANGE}.CEA.high"]  # 13 + the mmol/L row
        assert effects["lab.unit:mmol/L"] == "unit: 'mmol/L' read as 'ng/mL' (value map)"
        assert lw.unit_table(run).query("unit == 'mmol/L'").empty
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run
