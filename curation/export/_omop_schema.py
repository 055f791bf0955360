"""The OMOP CDM v5.4 tables the export writes: column names, types and NOT NULL, in DDL order.

Transcribed from the CDM's DDL (OHDSI/CommonDataModel, inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql);
a trailing ``!`` marks a NOT NULL column. :func:`arrow_schema` gives the Parquet schema and :func:`ddl`
the CREATE TABLE statements (tests load the export into DuckDB with them).
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa

__all__ = ["TABLES", "arrow_schema", "columns", "ddl", "required"]

_SPEC = {
    "person": """person_id integer! gender_concept_id integer! year_of_birth integer! month_of_birth integer
        day_of_birth integer birth_datetime timestamp race_concept_id integer! ethnicity_concept_id integer!
        location_id integer provider_id integer care_site_id integer person_source_value varchar(50)
        gender_source_value varchar(50) gender_source_concept_id integer race_source_value varchar(50)
        race_source_concept_id integer ethnicity_source_value varchar(50) ethnicity_source_concept_id integer""",
    "observation_period": """observation_period_id integer! person_id integer! observation_period_start_date date!
        observation_period_end_date date! period_type_concept_id integer!""",
    "condition_occurrence": """condition_occurrence_id integer! person_id integer! condition_concept_id integer!
        condition_start_date date! condition_start_datetime timestamp condition_end_date date
        condition_end_datetime timestamp condition_type_concept_id integer! condition_status_concept_id integer
        stop_reason varchar(20) provider_id integer visit_occurrence_id integer visit_detail_id integer
        condition_source_value varchar(50) condition_source_concept_id integer
        condition_status_source_value varchar(50)""",
    "drug_exposure": """drug_exposure_id integer! person_id integer! drug_concept_id integer!
        drug_exposure_start_date date! drug_exposure_start_datetime timestamp drug_exposure_end_date date!
        drug_exposure_end_datetime timestamp verbatim_end_date date drug_type_concept_id integer!
        stop_reason varchar(20) refills integer quantity numeric days_supply integer sig text
        route_concept_id integer lot_number varchar(50) provider_id integer visit_occurrence_id integer
        visit_detail_id integer drug_source_value varchar(50) drug_source_concept_id integer
        route_source_value varchar(50) dose_unit_source_value varchar(50)""",
    "procedure_occurrence": """procedure_occurrence_id integer! person_id integer! procedure_concept_id integer!
        procedure_date date! procedure_datetime timestamp procedure_end_date date procedure_end_datetime timestamp
        procedure_type_concept_id integer! modifier_concept_id integer quantity integer provider_id integer
        visit_occurrence_id integer visit_detail_id integer procedure_source_value varchar(50)
        procedure_source_concept_id integer modifier_source_value varchar(50)""",
    "measurement": """measurement_id integer! person_id integer! measurement_concept_id integer!
        measurement_date date! measurement_datetime timestamp measurement_time varchar(10)
        measurement_type_concept_id integer! operator_concept_id integer value_as_number numeric
        value_as_concept_id integer unit_concept_id integer range_low numeric range_high numeric
        provider_id integer visit_occurrence_id integer visit_detail_id integer measurement_source_value varchar(50)
        measurement_source_concept_id integer unit_source_value varchar(50) unit_source_concept_id integer
        value_source_value varchar(50) measurement_event_id integer meas_event_field_concept_id integer""",
    "observation": """observation_id integer! person_id integer! observation_concept_id integer!
        observation_date date! observation_datetime timestamp observation_type_concept_id integer!
        value_as_number numeric value_as_string varchar(60) value_as_concept_id integer qualifier_concept_id integer
        unit_concept_id integer provider_id integer visit_occurrence_id integer visit_detail_id integer
        observation_source_value varchar(50) observation_source_concept_id integer unit_source_value varchar(50)
        qualifier_source_value varchar(50) value_source_value varchar(50) observation_event_id integer
        obs_event_field_concept_id integer""",
    "specimen": """specimen_id integer! person_id integer! specimen_concept_id integer!
        specimen_type_concept_id integer! specimen_date date! specimen_datetime timestamp quantity numeric
        unit_concept_id integer
        anatomic_site_concept_id integer disease_status_concept_id integer specimen_source_id varchar(50)
        specimen_source_value varchar(50) unit_source_value varchar(50) anatomic_site_source_value varchar(50)
        disease_status_source_value varchar(50)""",
    "episode": """episode_id integer! person_id integer! episode_concept_id integer! episode_start_date date!
        episode_start_datetime timestamp episode_end_date date episode_end_datetime timestamp
        episode_parent_id integer episode_number integer episode_object_concept_id integer!
        episode_type_concept_id integer! episode_source_value varchar(50) episode_source_concept_id integer""",
    "episode_event": """episode_id integer! event_id integer! episode_event_field_concept_id integer!""",
    "cdm_source": """cdm_source_name varchar(255)! cdm_source_abbreviation varchar(25)! cdm_holder varchar(255)!
        source_description text source_documentation_reference varchar(255) cdm_etl_reference varchar(255)
        source_release_date date! cdm_release_date date! cdm_version varchar(10)
        cdm_version_concept_id integer! vocabulary_version varchar(20)!""",
}
TABLES = tuple(_SPEC)


@cache
def columns(table: str) -> list[tuple[str, str, bool]]:
    """``(name, type, not_null)`` of every column of ``table``, in DDL order."""
    words = _SPEC[table].split()
    out = []
    for name, kind in zip(words[::2], words[1::2], strict=True):
        out.append((name, kind.rstrip("!"), kind.endswith("!")))
    return out


def required(table: str) -> list[str]:
    """The NOT NULL columns of ``table``."""
    return [n for n, _, nn in columns(table) if nn]


def _arrow(kind: str) -> pa.DataType:
    if kind == "integer":
        return pa.int64()
    if kind == "date":
        return pa.date32()
    if kind == "timestamp":
        return pa.timestamp("us")
    if kind == "numeric":
        return pa.float64()
    return pa.string()  # varchar(n), text


def arrow_schema(table: str) -> pa.Schema:
    """The Parquet schema of ``table`` (integer as int64, dates as date32, numeric as float64)."""
    return pa.schema([pa.field(n, _arrow(k), nullable=not nn) for n, k, nn in columns(table)])


def ddl(table: str) -> str:
    """``CREATE TABLE`` of ``table`` as in the CDM DDL (DuckDB / PostgreSQL types)."""
    cols = ",\n  ".join(f"{n} {k.upper()}{' NOT NULL' if nn else ' NULL'}" for n, k, nn in columns(table))
    return f"CREATE TABLE {table} (\n  {cols}\n);"
