"""Cell-type label corrections per cluster: replayed through the immune modality's relabel hook."""

from __future__ import annotations

from pathlib import Path

from modalities.immune.conftest import write_cohort  # tests/modalities/immune/conftest.py

import curation as cu
from curation import decisions as dec
from curation.modalities.immune._typing import load_markers


def test_label_correction_per_cluster_relabels_and_rebuilds_the_composition(tmp_path: Path) -> None:
    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(120, 160),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    leiden = cu.curate("immune", cohort, write=False).data.objects["adata"].obs["leiden"].astype(str)
    clusters = sorted({c for c in leiden if c.isdigit()}, key=int)  # cells failing QC have no cluster
    label = sorted(load_markers()["cell_types"])[0]
    path = dec.decisions_path(cohort)
    dec.set_decision(
        path,
        {"kind": "label", "key": f"immune.{clusters[0]}", "value": label},
        author="Dr. Chen",
        reason="markers read by hand",
    )
    dec.set_decision(path, {"kind": "label", "key": "immune.999", "value": label}, author="Dr. Chen", reason="typo")
    run = cu.curate("immune", cohort, write=False)
    obs = run.data.objects["adata"].obs
    assert set(obs.loc[obs["leiden"].astype(str) == clusters[0], "cell_type"].astype(str)) == {label}
    comp = run.data.tables["composition"]
    assert comp.loc[comp["cell_type"].astype(str) == label, "n_cells"].sum() >= 1
    by_key = run.decisions.set_index("key")
    assert by_key.loc[f"immune.{clusters[0]}", "status"] == "applied"
    assert f"-> {label}" in by_key.loc[f"immune.{clusters[0]}", "effect"]
    assert by_key.loc["immune.999", "status"] == "flagged: not applicable"
    review = run.checks.set_index("check_id").loc["immune.decisions.review"]
    assert review["verdict"] == "warn" and "no cluster 999" in review["message"]
    from curation.modalities import immune

    panel = immune.label_widget(run)
    which, pick, author, reason, save, status = panel.children
    assert which.value == clusters[0] and label in pick.options
    author.value, reason.value = "Dr. Chen", "second look"
    save.click()
    assert status.value.startswith("recorded 1")
