from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import curation as cu

from .tabular_fixture import make_cohort, pseudonym


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("pathology", make_cohort(tmp_path_factory.mktemp("path")))


def _failed(run: cu.modalities.Curated, check_id: str) -> set[str]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "pseudonym"])


def test_histology_ihc_contradiction(run: cu.modalities.Curated) -> None:
    assert _failed(run, "pathology.consistency.histology_ihc") == {pseudonym("00100", "A")}


def test_pdl1_out_of_range_and_percent_sign(run: cu.modalities.Curated) -> None:
    assert _failed(run, "pathology.plausibility.range") == {pseudonym("00101", "A")}
    p = run.data.tables["pathology"]
    assert p.loc[p["patient"] == pseudonym("00104", "A"), "pdl1_tps"].iloc[0] == 40.0


def test_duplicate_specimen_through_keyed_token(run: cu.modalities.Curated) -> None:
    assert _failed(run, "pathology.uniqueness.specimen") == {pseudonym("00102", "A"), pseudonym("00103", "A")}


def test_report_text_scrubbed_and_specimen_tokenized(run: cu.modalities.Curated) -> None:
    out = run.ctx.bundle.root / "data/pathology/pathology.parquet"
    df = pd.read_parquet(out)
    assert "specimen_id" not in df and df["specimen"].str.startswith("SP").all()
    assert not df["report_text"].str.contains("张|00101|P23-0", regex=True).any()
    assert df["report_text"].str.contains("鳞状细胞癌").all()
    assert str(pq.read_schema(out).field("specimen_date").type) == "date32[day]"
    blob = out.read_bytes()
    assert b"P23-01123" not in blob and "张二明".encode() not in blob


def test_report_text_dropped_unless_allow_listed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    path = make_cohort(tmp_path)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    del cfg["sources"]["pathology"][0]["options"]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = cu.curate("pathology", path)
    assert "report_text" not in r.data.tables["pathology"]
    assert pd.read_parquet(r.ctx.bundle.root / "data/pathology/pathology.parquet")["report_text"].isna().all()


def test_figures(run: cu.modalities.Curated) -> None:
    figs = run.figures()
    assert "PD-L1 TPS" in figs and "TTF1 by histology" in figs


def test_relative_dates_count_from_the_clinical_diagnosis(tmp_path: Path) -> None:
    """In dates.mode relative every modality counts days from the same day: the diagnosis."""

    cohort = make_cohort(tmp_path, mode="relative")
    c = cu.curate("clinical", cohort)
    p = cu.curate("pathology", cohort)
    cond = pd.read_parquet(c.ctx.bundle.root / "data/clinical/conditions.parquet")
    path = pd.read_parquet(p.ctx.bundle.root / "data/pathology/pathology.parquet")
    assert "specimen_date" not in path.columns and "specimen_date_days" in path.columns
    # the same offsets computed from the standardized (shifted) dates of both modalities
    std_c = c.data.tables["conditions"].groupby("patient")["diagnosis_date"].min()
    std_p = p.data.tables["pathology"].set_index("patient")["specimen_date"]
    expected = ((std_p - std_p.index.map(std_c)).dt.days).dropna().astype(int)
    got = path.set_index("patient")["specimen_date_days"].dropna().astype(int)
    assert len(expected) > 3
    assert got.loc[expected.index].tolist() == expected.tolist()
    assert (cond["diagnosis_date_days"].dropna() == 0).all()


def test_ihc_default_values_from_the_dictionary(tmp_path: Path) -> None:
    path = make_cohort(tmp_path)
    f = tmp_path / "raw" / "siteA" / "pathology.csv"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("(-),(+)", "阴性,阳性")  # 00104: no source map for these, the dictionary's
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cu.curate("pathology", path, write=False)
    p = r.data.tables["pathology"].set_index("patient")
    assert (p.loc[pseudonym("00104", "A"), "ttf1"], p.loc[pseudonym("00104", "A"), "p40"]) == ("negative", "positive")
