"""OMOP CDM v5.4 export: the CDM's columns in DDL order with their types, NOT NULL columns filled,
referential integrity (every person_id exists), counts that agree with the curated tables, and the
tables load into DuckDB under the CDM DDL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.export import _omop_schema as schema
from curation.export import export

PERSON_TABLES = (
    "observation_period",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
    "observation",
    "specimen",
    "episode",
)


@pytest.fixture(scope="module")
def omop(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    to = tmp_path_factory.mktemp("omop")
    return to, export("omop", bundle, to=to, name="test cohort")


def _table(to: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(to / f"{name}.parquet")


@pytest.mark.parametrize("table", schema.TABLES)
def test_columns_types_and_required_values(omop: tuple[Path, object], table: str) -> None:
    to, _ = omop
    pq_schema = pq.read_schema(to / f"{table}.parquet")
    assert pq_schema.names == [c for c, _, _ in schema.columns(table)]  # the CDM's names, in DDL order
    assert [f.type for f in pq_schema] == [f.type for f in schema.arrow_schema(table)]
    df = _table(to, table)
    for col in schema.required(table):
        assert df[col].notna().all(), f"{table}.{col} is NOT NULL in the CDM"
    for col, kind, _ in schema.columns(table):
        if kind.startswith("varchar("):
            width = int(kind[8:-1])
            assert df[col].dropna().astype(str).str.len().max() <= width if df[col].notna().any() else True
    csv = pd.read_csv(to / f"{table}.csv", dtype=str, keep_default_na=False)
    assert list(csv.columns) == pq_schema.names and len(csv) == len(df)


def test_every_person_id_exists(omop: tuple[Path, object]) -> None:
    to, _ = omop
    persons = set(_table(to, "person")["person_id"])
    assert persons
    for table in PERSON_TABLES:
        assert set(_table(to, table)["person_id"]) <= persons, table
    ids = _table(to, "person")["person_id"]
    assert ids.is_unique
    assert set(_table(to, "observation_period")["person_id"]) == persons
    cond = set(_table(to, "condition_occurrence")["condition_occurrence_id"])
    events = _table(to, "episode_event")
    assert set(events["event_id"]) <= cond and set(events["episode_id"]) <= set(_table(to, "episode")["episode_id"])


def test_counts_agree_with_the_curated_tables(bundle: Path, omop: tuple[Path, object]) -> None:
    to, result = omop
    data = bundle / "data"
    pts = pd.read_parquet(data / "clinical/patients.parquet")
    lab = pd.read_parquet(data / "lab/results.parquet")
    staging = pd.read_parquet(data / "clinical/staging.parquet")
    cond = pd.read_parquet(data / "clinical/conditions.parquet")
    person = _table(to, "person")
    assert len(person) == pts["patient"].nunique()  # the 90+ patient gets the year of a 90-year-old
    assert set(person["person_source_value"]) == set(pts["patient"])
    assert len(_table(to, "condition_occurrence")) == len(cond) == len(_table(to, "episode"))
    tnm = int(staging[["ct", "cn", "cm", "pt", "pn", "pm", "stage_group"]].notna().sum().sum())
    assert len(_table(to, "measurement")) == len(lab) + tnm
    assert result.counts == {t: len(_table(to, t)) for t in schema.TABLES}
    gender = person.set_index("person_source_value")["gender_concept_id"]
    sex = pts.set_index("patient")["sex"]
    assert (gender[sex[sex == "male"].index] == 8507).all() and (gender[sex[sex == "female"].index] == 8532).all()
    assert (gender[sex[sex == "unknown"].index] == 0).all()
    src = _table(to, "measurement")["measurement_source_value"]
    assert "83085-1" in set(src) and "ProGRP" in set(src)  # LOINC where the dictionary has one, else the analyte
    cov = result.coverage.set_index("element")
    assert cov.loc["condition_occurrence.condition_concept_id", "n_values"] == len(cond)
    assert (to / "coverage.csv").is_file()
    cdm = _table(to, "cdm_source").iloc[0]
    assert cdm["cdm_version"] == "v5.4" and cdm["cdm_version_concept_id"] == 756265


def test_loads_into_duckdb_with_the_cdm_ddl(omop: tuple[Path, object]) -> None:
    duckdb = pytest.importorskip("duckdb", reason="pip install 'curation[export]'")
    to, _ = omop
    con = duckdb.connect()
    for table in schema.TABLES:
        con.execute(schema.ddl(table))
        con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet('{to / (table + '.parquet')}')")
    orphans = con.execute(
        "SELECT count(*) FROM measurement m LEFT JOIN person p USING (person_id) WHERE p.person_id IS NULL"
    ).fetchone()
    assert orphans == (0,)
    n = con.execute("SELECT count(*) FROM person").fetchone()
    assert n is not None and n[0] > 0


def test_relative_dates_give_calendar_dates(relative_bundle: Path, tmp_path: Path) -> None:
    export("omop", relative_bundle, to=tmp_path)
    cond = pd.read_parquet(tmp_path / "condition_occurrence.parquet")
    person = pd.read_parquet(tmp_path / "person.parquet").set_index("person_id")["person_source_value"]
    anchors = pd.read_parquet(relative_bundle / "quality/anchors/clinical.parquet").set_index("patient")
    want = cond["person_id"].map(person).map(anchors["diagnosis_date"])
    assert (pd.to_datetime(cond["condition_start_date"]) == pd.to_datetime(want)).all()
    assert pd.read_parquet(tmp_path / "drug_exposure.parquet")["drug_exposure_end_date"].notna().all()
