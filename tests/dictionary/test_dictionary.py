from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from curation import dictionary
from curation.dictionary.cli import dictionary as dictionary_cmd
from curation.errors import ConfigError


def test_every_field_has_the_checklist_attributes() -> None:
    df = dictionary.load()
    assert {"clinical", "pathology", "exposure"} <= set(df["modality"])
    assert df["required"].isin(dictionary.REQUIRED_LEVELS).all()
    assert df["phi"].isin(dictionary.PHI_CLASSES).all()
    mine = df[df["modality"].isin(["clinical", "pathology", "exposure"])]
    assert (mine["label_zh"] != "").all() and (mine["label_en"] != "").all() and (mine["mcode"] != "").all()
    assert set(dictionary.tables("clinical")) == {"patients", "conditions", "staging", "treatments", "outcomes"}


def test_contract_field_names_exist() -> None:
    names = set(dictionary.load()["name"])
    for f in [
        "admission_number",
        "resident_id",
        "sex",
        "birth_date",
        "record_entry_date",
        "diagnosis_date",
        "icd10",
        "icdo3_morphology",
        "ecog",
        "ct",
        "stage_group",
        "treatment_start",
        "death_date",
        "specimen_id",
        "pdl1_tps",
        "ttf1",
        "p40",
        "report_text",
        "smoking_status",
        "pack_years",
        "residence_pm25",
    ]:
        assert f in names, f


def test_identifiers_are_direct() -> None:
    df = dictionary.load()
    direct = set(df.loc[df["phi"] == "direct", "name"])
    assert {"admission_number", "name", "resident_id", "phone", "address", "specimen_id"} <= direct
    assert df.loc[df["name"] == "report_text", "phi"].eq("free_text").all()


def test_unknown_modality_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"no data dictionary for modality 'nosuch'.*clinical"):
        dictionary.fields("nosuch")


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("C34.1", True),
        ("C34.10", True),
        ("C34.101", True),
        ("c34.9", True),
        ("C33", True),
        ("D02.2", True),
        ("C34.7", False),
        ("C34", False),
        ("C35.1", False),
        ("C34.1x", False),
        ("", True),
    ],
)
def test_icd10_validity(code: str, ok: bool) -> None:
    assert bool(dictionary.codes("icd10").valid(pd.Series([code])).iloc[0]) == ok


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("8140/3", True),
        ("8070/3", True),
        ("8041/3", True),
        ("8046/3", True),
        ("8140/5", False),
        ("81403", False),
        ("9999/3", False),
    ],
)
def test_icdo3_morphology_validity(code: str, ok: bool) -> None:
    assert bool(dictionary.codes("icdo3_morphology").valid(pd.Series([code])).iloc[0]) == ok


def test_morphology_groups_match_histology_values() -> None:
    allowed = set(next(f for f in dictionary.fields("clinical", "conditions") if f.name == "histology").allowed)
    groups = {g for _, g in dictionary.codes("icdo3_morphology").codes.values()}
    assert groups <= allowed


@pytest.mark.parametrize(
    ("t", "n", "m", "stage"),
    [
        ("T1a", "N0", "M0", "IA1"),
        ("T1mi", "N0", "M0", "IA1"),
        ("T1b", "N0", "M0", "IA2"),
        ("T1c", "N0", "M0", "IA3"),
        ("T2a", "N0", "M0", "IB"),
        ("T2b", "N0", "M0", "IIA"),
        ("T1a", "N1", "M0", "IIB"),
        ("T3", "N0", "M0", "IIB"),
        ("T4", "N1", "M0", "IIIA"),
        ("T2a", "N2", "M0", "IIIA"),
        ("T3", "N2", "M0", "IIIB"),
        ("T1c", "N3", "M0", "IIIB"),
        ("T4", "N3", "M0", "IIIC"),
        ("T2b", "N2", "M1a", "IVA"),
        ("T1a", "N0", "M1b", "IVA"),
        ("T4", "N3", "M1c", "IVB"),
        ("Tis", "N0", "M0", "0"),
        ("TX", "N0", "M0", "OC"),
    ],
)
def test_ajcc8_table(t: str, n: str, m: str, stage: str) -> None:
    got = dictionary.stage_group(pd.Series([t]), pd.Series([n]), pd.Series([m])).iloc[0]
    assert got == stage


def test_stage_undefined_is_missing_and_ambiguous_lists_options() -> None:
    got = dictionary.stage_group(
        pd.Series(["TX", "T2", "T1a"]), pd.Series(["N1", "N0", "N0"]), pd.Series(["M0", "M0", "MX"])
    )
    assert pd.isna(got[0]) and got[1] == "IB|IIA" and pd.isna(got[2])
    assert len(dictionary.stage_table()) > 40


def test_normalize_tnm_and_stage() -> None:
    assert dictionary.normalize_tnm(pd.Series(["cT1a", "pt2b", "T1MI", "Tis", "ypT3", "x"]), "t").tolist()[:5] == [
        "T1a",
        "T2b",
        "T1mi",
        "Tis",
        "T3",
    ]
    assert dictionary.normalize_tnm(pd.Series(["cM1c", "pN2"]), "m").tolist()[0] == "M1c"
    assert dictionary.normalize_stage(pd.Series(["Stage IIIA", "ib", "IA3", "odd"])).tolist() == [
        "IIIA",
        "IB",
        "IA3",
        "odd",
    ]


@pytest.mark.parametrize("fmt", ["md", "html", "csv"])
def test_cli_prints_the_dictionary(fmt: str) -> None:
    res = CliRunner().invoke(dictionary_cmd, ["--modality", "clinical", "--format", fmt])
    assert res.exit_code == 0, res.output
    assert "diagnosis_date" in res.output and "诊断日期" in res.output
    if fmt == "csv":
        assert res.output.splitlines()[0].startswith("modality,table,name")
    assert "pack_years" not in res.output


def test_cli_rejects_unknown_modality() -> None:
    res = CliRunner().invoke(dictionary_cmd, ["--modality", "nosuch"])
    assert res.exit_code != 0 and "nosuch" in res.output


def test_describe_for_datapackage() -> None:
    assert dictionary.describe("pack_years") == "Pack-years (吸烟包年) [{pack-years}]"
    assert dictionary.describe("diagnosis_date_days").endswith("[d since diagnosis]")
    assert dictionary.describe("patient").startswith("Patient pseudonym")
    assert dictionary.describe("admission_number") == "" and dictionary.describe("nosuch") == ""
