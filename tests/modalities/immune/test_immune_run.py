"""End to end on a tiny demo cohort: planted defects caught, ledger balanced, outputs de-identified."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from .conftest import write_cohort


def test_planted_defects_are_caught(demo_run) -> None:
    run, log, _ = demo_run
    failures, quarantine = run.failures, run.quarantine
    assert log.defects, "the generator planted nothing"
    for d in log.defects:
        if d.expect.startswith("quarantine:"):
            reason = d.expect.split(":", 1)[1]
            hit = quarantine[(quarantine["reason"] == reason) & (quarantine["record"] == d.file_token)]
        else:
            hit = failures[(failures["check_id"] == d.expect) & (failures["pseudonym"] == d.pseudonym)]
        assert len(hit), f"{d.kind} not caught by {d.expect}"


def test_ledger_balances_per_sample(demo_run) -> None:
    run, _, _ = demo_run
    led = run.ledger
    assert led["balanced"].all()
    qc = led[led["stage"] == "qc"]
    assert len(qc) == len(run.data.tables["qc"])
    assert (qc["n_in"] == qc["n_accepted"] + qc["n_excluded"]).all()
    assert run.checks.set_index("check_id").loc["immune.conformance.deidentified", "verdict"] == "pass"


def test_outputs_follow_the_schema_and_carry_no_identifier(demo_run) -> None:
    import anndata as ad

    _, log, root = demo_run
    out = root / "out" / "data" / "immune"
    a = ad.read_h5ad(out / "immune.h5ad")
    for col in (
        "sample",
        "patient",
        "tissue",
        "cell_type",
        "cell_type_ontology_term_id",
        "total_counts",
        "n_genes_by_counts",
        "pct_counts_mt",
        "pct_counts_ribo",
        "pct_counts_hb",
        "pct_counts_in_top_20_genes",
        "qc_pass",
        "doublet_score",
        "exhaustion_score",
        "cytotoxicity_score",
    ):
        assert col in a.obs, col
    assert {"gene_ids", "feature_name"} <= set(a.var.columns)
    assert a.var["gene_ids"].str.startswith("ENSG").all()
    assert a.uns["schema_version"] and "qc" in a.uns["parameters"] and "processing" in a.uns["parameters"]
    x = a.X[:200].toarray()
    assert (x >= 0).all() and (x % 1 == 0).all()  # raw counts in X
    assert a.obs["cell_type_ontology_term_id"].astype(str).str.match(r"^(CL:\d{7}|unknown)$").all()
    assert set(a.obs["patient"].astype(str)) <= set(log_pseudonyms(root))
    # no hospital sample ID or admission number anywhere in the files written
    blobs = b"".join(p.read_bytes() for p in out.glob("*") if p.suffix in (".parquet",))
    text = "\n".join(map(str, a.obs_names)) + str(dict(a.uns)) + a.obs.astype(str).to_csv()
    for ident in log.identifiers:
        assert ident not in text and ident.encode() not in blobs
    comp = pd.read_parquet(out / "composition.parquet")
    assert set(comp.columns) >= {"sample", "patient", "tissue", "cell_type", "n_cells", "fraction"}
    assert comp.groupby("sample")["fraction"].sum().round(6).eq(1).all()
    sex = pd.read_parquet(out / "sample_sex.parquet")
    assert set(sex["inferred_sex"]) <= {"male", "female", "unknown"}


def test_leak_scan_of_the_bundle_is_clean(demo_run) -> None:
    from curation.deid.scan import scan_bundle

    _, log, root = demo_run
    assert scan_bundle(root / "out", log.identifiers) == []


def log_pseudonyms(root: Path) -> list[str]:
    from .conftest import roster

    return list(roster(4)["pseudonym"])


def test_typing_finds_the_planted_populations(demo_run) -> None:
    run, _, _ = demo_run
    o = run.data.objects["adata"].obs
    ok = o[o["qc_pass"]]
    assert (ok["cell_type"] == "unassigned").mean() < 0.1
    assert {"CD4 T cell", "CD8 T cell", "B cell", "classical monocyte", "macrophage"} <= set(
        ok["cell_type"].astype(str)
    )
    t = ok[ok["cell_type"].astype(str) == "CD8 T cell"]
    assert t["exhaustion_score"].notna().all() and ok.loc[ok["cell_type"] == "B cell", "exhaustion_score"].isna().all()


def test_sex_per_sample_follows_the_roster(demo_run) -> None:
    from .conftest import roster

    run, _, _ = demo_run
    r = roster(4).set_index("pseudonym")["sc_sex"].map({"F": "female", "M": "male"})
    sex = run.data.tables["sample_sex"]
    assert (sex["inferred_sex"] == sex["patient"].map(r)).all()


def test_figures_build(demo_run) -> None:
    from curation.modalities.immune._figures import FIGURES

    run, _, _ = demo_run
    figs = run.figures()
    assert set(figs) == set(FIGURES)  # the notebook shows each by name


def test_decisions_override_thresholds(tmp_path: Path) -> None:
    """A per-tissue threshold saved by the widget changes the next run."""
    import curation as cu
    from curation.modalities.immune._widget import decision_for, save_decisions

    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(120, 160),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    run = cu.curate("immune", cohort, write=False)
    save_decisions(run.ctx.bundle, decision_for("tumor", {"max_pct_mt": 1.0}))
    again = cu.curate("immune", cohort, write=False)
    q0 = run.data.tables["qc"].set_index("sample")
    q1 = again.data.tables["qc"].set_index("sample")
    tumor = q1[q1["tissue"] == "tumor"].index
    assert (q1.loc[tumor, "threshold_max_pct_counts_mt"] <= 1.0).all()
    assert (q1.loc[tumor, "n_kept"] < q0.loc[tumor, "n_kept"]).all()


@pytest.mark.parametrize("bad", ["tissue: lung"])
def test_bad_sheet_value_is_reported(tmp_path: Path, bad: str) -> None:
    import curation as cu

    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(100, 130),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    sheet = tmp_path / "raw" / "singlecell" / "samples.csv"
    df = pd.read_csv(sheet, dtype=str)
    df.loc[0, "tissue"] = "lung"
    df.to_csv(sheet, index=False)
    run = cu.curate("immune", cohort, write=False)
    f = run.failures
    row = f[f["check_id"] == "immune.conformance.sample_sheet"]
    assert row["field"].tolist() == ["tissue"] and row["row"].tolist() == [2]


def test_widget_and_static_table(demo_run) -> None:
    """The widget shows the values in effect and their source, refuses out-of-range input, warns before
    discarding edits, records decisions with author and reason, and reloads them when the tissue changes."""
    import ipywidgets as w

    from curation.decisions import decisions_path, read_decisions
    from curation.modalities import immune
    from curation.modalities.immune._widget import values_in_effect

    run, _, _ = demo_run
    table = immune.thresholds_table(run)
    assert {"sample", "tissue", "n_cells", "n_kept", "removed_high_mt", "threshold_max_pct_counts_mt"} <= set(
        table.columns
    )
    panel = immune.threshold_widget(run)
    assert isinstance(panel, w.VBox)
    tissue = panel.children[0]
    boxes = {
        b.description: b
        for row in panel.children
        if isinstance(row, w.HBox)
        for b in row.children
        if isinstance(b, w.FloatText)
    }
    author, reason = (c for c in panel.children if isinstance(c, w.Text))
    save, discard, _apply = next(
        c for c in panel.children if isinstance(c, w.HBox) and isinstance(c.children[0], w.Button)
    ).children
    status = next(c for c in panel.children if isinstance(c, w.HTML))
    assert values_in_effect(run, tissue.value)["min_counts"] == (200.0, "default")
    first, other = tissue.value, next(t for t in tissue.options if t != tissue.value)
    boxes["min_counts"].value = 5000.0
    assert boxes["min_counts"].value == 5000.0 and "outside 0–2000" in status.value  # refused, not clipped
    author.value, reason.value = "Dr. Chen", "ambient RNA in this batch"
    save.click()
    assert "not saved" in status.value
    assert not decisions_path(run.ctx.config).is_file()
    boxes["min_counts"].value = 300.0
    tissue.value = other
    assert tissue.value == first and "unsaved edits" in status.value  # kept on screen, not lost
    save.click()
    doc = read_decisions(decisions_path(run.ctx.config))
    d = doc.find(f"immune.qc.tissue.{first}.min_counts")
    assert d is not None and d.value == 300.0 and d.author == "Dr. Chen" and d.input_sha256
    tissue.value = other
    assert boxes["min_counts"].value == 200.0
    tissue.value = first
    assert boxes["min_counts"].value == 300.0  # the saved value, not the default
    assert values_in_effect(run, first)["min_counts"] == (300.0, "decision by Dr. Chen")
    boxes["min_genes"].value = 150.0
    discard.click()
    assert boxes["min_genes"].value == 100.0
    _apply.click()  # re-runs the step with the decision and redraws under the widget
    assert status.value.startswith("applied"), status.value
    decisions_path(run.ctx.config).unlink()  # leave the shared run as it was


def test_file_missing_from_the_sheet_is_quarantined(tmp_path: Path) -> None:
    import shutil

    import curation as cu

    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(100, 130),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    sc_dir = tmp_path / "raw" / "singlecell"
    first = next(sc_dir.glob("*/filtered_feature_bc_matrix"))
    shutil.copytree(first, sc_dir / "XX99" / "filtered_feature_bc_matrix")
    run = cu.curate("immune", cohort, write=False)
    q = run.quarantine
    assert q["reason"].tolist().count("unlinked_sample") == 1
    assert "XX99" not in " ".join(q.astype(str).to_numpy().ravel())
    assert run.ledger["balanced"].all()


def test_cheap_identifiers_match_load(demo_run) -> None:
    """The leak scan's identifier set comes from identifiers(); it must equal what load() learns."""
    import curation.modalities.immune as immune
    from curation.modalities import make_context, sources_of

    run, _log, _root = demo_run
    ctx = run.ctx
    cheap = immune.identifiers(sources_of(ctx.config, "immune"), ctx=make_context(ctx.config))
    assert sorted(cheap.items()) == sorted(run.data.identifiers.items())


def test_empty_sources_and_late_non_counts_are_findings_not_crashes(tmp_path: Path) -> None:
    """An .h5ad whose non-integers come after its first 200,000 values is quarantined (not_raw_counts,
    naming the row and column); 0-byte files, .h5ad without cells, empty and cell-less 10x folders
    are the immune.completeness.source_empty finding."""
    import anndata as ad
    import numpy as np
    import scipy.io
    import scipy.sparse as sp
    import yaml

    import curation as cu
    from curation.deid.keys import Keyring

    from .conftest import KEY
    from .test_immune_ingest import _late_fraction

    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(100, 130),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    extra = tmp_path / "raw" / "extra"
    (extra / "h5ad").mkdir(parents=True)
    X, row, col = _late_fraction()
    ad.AnnData(X=X).write_h5ad(extra / "h5ad" / "late.h5ad")
    ad.AnnData(X=sp.csr_matrix((0, 5), dtype=np.float32)).write_h5ad(extra / "h5ad" / "nocells.h5ad")
    (extra / "h5ad" / "zero.h5ad").write_bytes(b"")
    (extra / "tenx" / "emptydir").mkdir(parents=True)
    nocells = extra / "tenx" / "nocells"
    nocells.mkdir()
    scipy.io.mmwrite(str(nocells / "matrix.mtx"), sp.coo_matrix((3, 0)))
    (nocells / "features.tsv").write_text("".join(f"G{i}\tG{i}\tGene Expression\n" for i in range(3)))
    (nocells / "barcodes.tsv").write_text("")
    doc = yaml.safe_load(cohort.read_text())
    doc["sources"]["immune"] += [
        {"path": "raw/extra/h5ad/*.h5ad", "format": "h5ad", "options": {"tissue": "tumor"}},
        {"path": "raw/extra/tenx/*", "format": "10x", "options": {"tissue": "tumor"}},
    ]
    cohort.write_text(yaml.safe_dump(doc))
    n = len(doc["sources"]["immune"])
    run = cu.curate("immune", cohort, write=False)

    kr = Keyring(KEY.encode())
    q = run.quarantine
    late = q[q["record"] == kr.token("file", "raw/extra/h5ad/late.h5ad")]
    assert late["reason"].tolist() == ["not_raw_counts"]
    assert (
        late["detail"]
        .iloc[0]
        .startswith(
            f"immune[{n - 2}] file {kr.token('file', 'raw/extra/h5ad/late.h5ad')}: not raw counts: "
            f"X holds a non-integer value at row {row}, column {col} (cell and gene, 0-based)"
        )
    )
    res = run.checks.set_index("check_id").loc["immune.completeness.source_empty"]
    assert (res["verdict"], res["n_failed"]) == ("fail", 4)
    f = run.failures
    rules = sorted(f.loc[f["check_id"] == "immune.completeness.source_empty", ["field", "rule"]].values.tolist())
    expected = [
        (n - 2, "raw/extra/h5ad/nocells.h5ad", "no cells in the matrix"),
        (n - 2, "raw/extra/h5ad/zero.h5ad", "0-byte file"),
        (n - 1, "raw/extra/tenx/emptydir", "empty folder"),
        (n - 1, "raw/extra/tenx/nocells", "no cells in the matrix"),
    ]
    assert rules == sorted(
        [
            f"immune[{i}]",
            f"file {kr.token('file', rel)}: {what}; re-export it with its records, or remove it from the source",
        ]
        for i, rel, what in expected
    )
    led = run.ledger.set_index(["stage", "source"])
    assert led.loc[("load", f"immune[{n - 2}]"), "excluded_by_rule"] == "source_empty=2"
    assert led.loc[("load", f"immune[{n - 1}]"), "excluded_by_rule"] == "source_empty=2"
    assert run.ledger["balanced"].all() and not run.checks["verdict"].eq("error").any()
    assert (run.ledger["stage"] == "qc").sum() >= 2  # the good samples went on through QC


@pytest.mark.parametrize(("text", "reason"), [("sample_id,site\nX,A\n", "missing_columns"), ("", "unreadable_file")])
def test_a_damaged_sample_sheet_sets_its_files_aside_instead_of_crashing(
    tmp_path: Path, text: str, reason: str
) -> None:
    import curation as cu
    from curation.modalities import collect_identifiers

    cohort, _ = write_cohort(
        tmp_path,
        n_patients=2,
        cells=(100, 130),
        extra_options={"processing": {"umap": False}, "qc": {"doublets": False}},
    )
    (tmp_path / "raw" / "singlecell" / "samples.csv").write_text(text, encoding="utf-8")
    run = cu.curate("immune", cohort, write=False)
    q = run.quarantine
    sheet = q[q["stage"] == "load:sample_sheet"]
    assert sheet[["field", "reason"]].values.tolist() == [["(file)", reason]]
    assert sheet["detail"].iloc[0].startswith("immune[0] options.samples: sample sheet ")
    files = q[q["stage"] == "load"]
    assert len(files) >= 2 and set(files["reason"]) == {"unlinked_sample"}
    assert run.ledger["balanced"].all() and not run.checks["verdict"].eq("error").any()
    collect_identifiers(cu.load_cohort(cohort), "immune")  # the leak scan's hook does not crash either
