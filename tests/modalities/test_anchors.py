"""Diagnosis anchors: clinical writes them once into the bundle; pathology, exposure and lab read them there
(``SPEC.needs``) and never re-run clinical; before clinical has run, they say so."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

import curation as cu
from curation.errors import MissingInput
from curation.modalities import registry
from curation.modalities._tabular import ANCHORS

from .tabular_fixture import make_cohort


@pytest.mark.parametrize("mode", ["shift", "relative"])
def test_clinical_writes_the_anchors_once_in_every_mode(tmp_path: Path, mode: str) -> None:
    c = cu.curate("clinical", make_cohort(tmp_path, mode=mode))
    path = c.ctx.bundle.path(ANCHORS)
    assert path in c.written  # listed and checksummed like every output
    schema = pq.read_schema(path)
    assert schema.names == ["patient", "diagnosis_date"] and str(schema.field("diagnosis_date").type) == "date32[day]"
    got = pd.read_parquet(path).set_index("patient")["diagnosis_date"]
    # the shifted diagnosis date: the earliest of the patient's standardized (shifted) conditions
    want = c.data.tables["conditions"].groupby("patient")["diagnosis_date"].min().dropna()
    assert len(want) > 10
    assert pd.to_datetime(got).sort_index().tolist() == want.sort_index().tolist()


def test_pathology_reads_the_anchors_and_never_runs_clinical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cohort = make_cohort(tmp_path, mode="relative")
    cu.curate("clinical", cohort)
    clinical = registry.get("clinical")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("clinical must not be re-run by another modality")

    monkeypatch.setattr(clinical, "load", never)
    monkeypatch.setattr(clinical, "standardize", never)
    for name in ("pathology", "exposure"):
        run = cu.curate(name, cohort)
        assert any(p.name.endswith(".parquet") and p.parent.name == name for p in run.written)
    table = pd.read_parquet(tmp_path / "out" / "data" / "pathology" / "pathology.parquet")
    assert "specimen_date_days" in table.columns and table["specimen_date_days"].notna().any()


def test_before_clinical_has_run_the_message_names_it(tmp_path: Path) -> None:
    cohort = make_cohort(tmp_path, mode="relative")
    with pytest.raises(
        MissingInput,
        match=r"pathology: dates.mode is relative, .* Run clinical first, into the same "
        r"bundle",
    ):
        cu.curate("pathology", cohort)
    cu.curate("pathology", cohort, write=False)  # nothing written: no anchor needed
    cu.curate("pathology", make_cohort(tmp_path / "shift"))  # shifted dates need no anchor


def test_without_clinical_sources_dates_count_from_the_earliest_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cohort = make_cohort(tmp_path, mode="relative")
    cfg = yaml.safe_load(cohort.read_text(encoding="utf-8"))
    del cfg["sources"]["clinical"]
    cohort.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="curation.modalities._tabular"):
        cu.curate("pathology", cohort)
    assert "no clinical sources" in caplog.text and "not from a diagnosis" in caplog.text
    table = pd.read_parquet(tmp_path / "out" / "data" / "pathology" / "pathology.parquet")
    assert (table["specimen_date_days"].dropna() == 0).all()  # one specimen date per patient: its own zero
