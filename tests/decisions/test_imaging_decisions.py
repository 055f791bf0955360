"""Imaging decisions: an excluded series leaves every output (counted in the ledger), an adjudicated nodule
is no longer an open reader disagreement; through the widgets' Python API and the CLI alike."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pydicom")
from modalities.imaging.conftest import build_cohort  # tests/modalities/imaging/conftest.py

import curation as cu
from curation.cli import main
from curation.decisions import imaging_widgets as iw

AGREEMENT = "imaging.consistency.reader_agreement"


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["curation", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


def _set(monkeypatch: pytest.MonkeyPatch, cohort: Path, kind: str, key: str, value: str) -> None:
    args = ("decide", "set", str(cohort), kind, key, value, "--author", "Dr. Sun", "--reason", "read again")
    assert _main(monkeypatch, *args) == 0


def _press(panel: object) -> str:
    import ipywidgets as w

    def walk(x: object) -> list[object]:
        kids = list(getattr(x, "children", ()))
        return [k for c in kids for k in [c, *walk(c)]]

    kids = walk(panel)
    author, reason = (k for k in kids if isinstance(k, w.Text))
    author.value, reason.value = "Dr. Sun", "read again"
    next(k for k in kids if isinstance(k, w.Button)).click()
    return str([k for k in kids if isinstance(k, w.HTML)][-2 if isinstance(panel, w.HBox) else -1].value)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, cu.modalities.Curated]:
    """Two copies of a 3-patient DICOM cohort, one nodule with readers two categories apart, and the run of one."""
    root = tmp_path_factory.mktemp("imaging-decide")
    api, _, _ = build_cohort(root / "api", n=3)
    for csv in sorted((root / "api" / "raw" / "dicom").glob("nodules_site*.csv"))[:1]:
        reads = pd.read_csv(csv, dtype=str)
        first = reads.iloc[0]
        same = (reads["patient"] == first["patient"]) & (reads["location"] == first["location"])
        reads.loc[same, "type"] = "solid"
        reads.loc[same & (reads["reader"] == "R1"), "diameter_mm"] = "5"  # Lung-RADS 2
        reads.loc[same & (reads["reader"] == "R2"), "diameter_mm"] = "12"  # Lung-RADS 4A
        reads.to_csv(csv, index=False)
    shutil.copytree(root / "api", root / "cli")
    return api, root / "cli" / "cohort.yaml", cu.curate("imaging", api, write=False)


def test_series_exclusion_beside_its_slices(cohorts: tuple[Path, Path, cu.modalities.Curated], monkeypatch) -> None:
    api, cli, before = cohorts
    table = iw.series_table(before)
    uid = str(table["series_uid"].iloc[0])
    n_inst = int((before.data.tables["instances"]["series_uid"] == uid).sum())
    page = iw.series_review_html(before)
    assert "<img" in page and "data:image/png;base64," in page  # the sampled slices, inline

    panel = iw.series_widget(before)
    controls, strip = panel.children
    which, _, action = controls.children[:3]
    which.value, action.value = uid, "exclude"
    assert "<img" in strip.value  # the series' slices beside the decision
    assert _press(panel).startswith("recorded 1")
    assert iw.series_table(before).set_index("series_uid").loc[uid, "decision"] == "exclude by Dr. Sun"
    _set(monkeypatch, cli, "exclude", f"imaging.{uid}", "exclude")

    runs = []
    for cohort in (api, cli):
        run = cu.curate("imaging", cohort, write=True)
        runs.append(run)
        for t in ("series", "instances"):
            assert uid not in set(run.data.tables[t]["series_uid"])
        written = pd.read_parquet(cohort.parent / "out" / "data" / "imaging" / "series.parquet")
        assert uid not in set(written["series_uid"])
        ledger = run.ledger.set_index("stage")
        assert ledger.loc["decisions:series", "n_excluded"] == 1
        assert ledger.loc["decisions:instances", "n_excluded"] == n_inst and ledger["balanced"].all()
        effect = run.decisions.set_index("key").loc[f"imaging.{uid}", "effect"]
        assert effect.startswith(f"1 series, {n_inst} instance(s)")
        (cohort.parent / "decisions.yaml").unlink()
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run


def test_nodule_adjudication_closes_the_disagreement(
    cohorts: tuple[Path, Path, cu.modalities.Curated], monkeypatch
) -> None:
    api, cli, before = cohorts
    open_ = iw.disagreements(before)
    assert len(open_) >= 1
    planted = [{a, b} == {"2", "4A"} for a, b in zip(open_["category_a"], open_["category_b"], strict=True)]
    row = open_[planted].iloc[0]  # reader order follows their tokens
    check = before.checks.set_index("check_id").loc[AGREEMENT]
    n_open = int(check["n_failed"])

    panel = iw.adjudication_widget(before)
    which, category = panel.children[:2]
    which.value, category.value = row["key"], "4A"
    assert _press(panel).startswith("recorded 1")
    assert iw.disagreements(before).set_index("key").loc[row["key"], "decision"] == "4A by Dr. Sun"
    _set(monkeypatch, cli, "label", str(row["key"]), "4A")

    runs = []
    for cohort in (api, cli):
        run = cu.curate("imaging", cohort, write=False)
        runs.append(run)
        after = run.checks.set_index("check_id").loc[AGREEMENT]
        assert int(after["n_failed"]) == n_open - 1 and after["n_checked"] == check["n_checked"]
        assert "1 adjudicated by a curator" in after["message"]
        nod = run.data.tables["nodules"]
        got = nod.loc[
            (nod["patient"] == row["patient"]) & (nod["location"] == row["location"]), "lung_rads_adjudicated"
        ]
        assert set(got) == {"4A"}
        effect = run.decisions.set_index("key").loc[row["key"], "effect"]
        assert effect.startswith("Lung-RADS adjudicated 4A (readers: 2, 4A)")
    cols = ["check_id", "verdict", "n_checked", "n_failed"]
    assert runs[0].checks[cols].equals(runs[1].checks[cols])  # the widget and the CLI: the same run
