"""Free text in the tabular modalities is scrubbed with the whole cohort's identifiers.

A small two-modality cohort (clinical + pathology) with names that cross files: a doctor named
only in an unmapped 主治医生 column of the clinical export, and another patient's name, both
written into a treatment regimen (a field the dictionary marks ``phi: none``) and into an
allow-listed pathology report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu
from curation import dictionary
from curation.deid.collect import kind_of_header
from curation.deid.registry import Kind
from curation.errors import ConfigError

KEY = "cd" * 32
DOCTOR = "欧阳明华"
OTHER_PATIENT = "司马晓燕"
PATIENT = "诸葛建国"
PHONE = "139-8765-4321"


def _csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")


def _cohort(root: Path, *, plant: bool = True) -> Path:
    regimen = f"培美曲塞+顺铂，按{DOCTOR}主任意见；家属{OTHER_PATIENT}电话{PHONE}" if plant else "培美曲塞+顺铂"
    report = (
        f"（右肺上叶）浸润性腺癌。{PATIENT}之女{OTHER_PATIENT}代签。报告医师：{DOCTOR}"
        if plant
        else "（右肺上叶）浸润性腺癌。"
    )
    _csv(
        root / "raw" / "patients.csv",
        [
            ["住院号", "姓名", "性别", "出生日期", "联系电话", "主治医生"],
            ["ZY0001", PATIENT, "男", "1958-04-02", "13812345678", DOCTOR],
            ["ZY0002", OTHER_PATIENT, "女", "1962-11-20", "13987654321", "王"],
        ],
    )
    _csv(
        root / "raw" / "treatments.csv",
        [
            ["住院号", "治疗类型", "方案", "开始日期"],
            ["ZY0001", "化疗", regimen, "2023-02-01"],
            ["ZY0002", "化疗", "吉非替尼", "2023-03-01"],
        ],
    )
    _csv(
        root / "raw" / "pathology.csv",
        [
            ["住院号", "病理号", "组织学类型", "标本日期", "病理报告"],
            ["ZY0001", "P23-0001", "腺癌", "2023-01-20", report],
            ["ZY0002", "P23-0002", "腺癌", "2023-02-20", "（左肺下叶）腺癌。"],
        ],
    )
    (root / "key.hex").write_text(KEY)
    (root / "key.hex").chmod(0o600)
    common = {"site": "A", "format": "csv", "encoding": "utf-8"}
    cfg = {
        "cohort": {"name": "privacy-tabular"},
        "sites": [{"id": "A", "id_patterns": [r"ZY\d{4}"]}],
        "secret": {"file": "key.hex"},
        "output": "out",
        "sources": {
            "clinical": [
                {
                    **common,
                    "path": "raw/patients.csv",
                    "table": "patients",
                    "columns": {
                        "住院号": "admission_number",
                        "姓名": "name",
                        "性别": "sex",
                        "出生日期": "birth_date",
                        "联系电话": "phone",
                    },
                    "values": {"sex": {"男": "male", "女": "female"}},
                },
                {
                    **common,
                    "path": "raw/treatments.csv",
                    "table": "treatments",
                    "columns": {
                        "住院号": "admission_number",
                        "治疗类型": "treatment_type",
                        "方案": "regimen",
                        "开始日期": "treatment_start",
                    },
                    "values": {"treatment_type": {"化疗": "chemotherapy"}},
                },
            ],
            "pathology": [
                {
                    **common,
                    "path": "raw/pathology.csv",
                    "columns": {
                        "住院号": "admission_number",
                        "病理号": "specimen_id",
                        "组织学类型": "histology",
                        "标本日期": "specimen_date",
                        "病理报告": "report_text",
                    },
                    "values": {"histology": {"腺癌": "adenocarcinoma"}},
                    "options": {"keep_free_text": ["report_text"]},
                },
            ],
        },
    }
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cohort(tmp_path_factory.mktemp("privacy-tabular"))


@pytest.fixture(scope="module")
def clinical(cohort: Path) -> cu.modalities.Curated:
    return cu.curate("clinical", cohort)


@pytest.fixture(scope="module")
def pathology(cohort: Path) -> cu.modalities.Curated:
    return cu.curate("pathology", cohort)


def _all_text(folder: Path) -> str:
    return "\n".join(pd.read_parquet(p).astype(str).to_csv() for p in sorted(folder.rglob("*.parquet")))


def test_registry_holds_unmapped_staff_and_other_modalities(clinical: cu.modalities.Curated) -> None:
    reg = clinical.ctx.identifiers
    assert reg is not None
    assert DOCTOR in reg.values(Kind.staff_name)  # only in an unmapped 主治医生 column
    assert OTHER_PATIENT in reg.values(Kind.name)
    assert "P23-0001" in reg.values(Kind.specimen_id)  # from the pathology sources, not clinical's
    assert "1958-04-02" in reg.values(Kind.birth_date)


def test_regimen_free_text_is_scrubbed_and_reported(clinical: cu.modalities.Curated) -> None:
    tx = clinical.data.tables["treatments"]
    text = " ".join(tx["regimen"].dropna())
    for secret in (DOCTOR, OTHER_PATIENT, PHONE):
        assert secret not in text
    assert "培美曲塞+顺铂" in text and "吉非替尼" in text  # the clinical content stays
    check = clinical.checks.set_index("check_id").loc["clinical.conformance.unannotated_free_text"]
    assert check["verdict"] == "warn"
    failing = clinical.failures[clinical.failures["check_id"] == "clinical.conformance.unannotated_free_text"]
    assert failing["field"].tolist() == ["treatments.regimen"]


def test_report_text_loses_names_known_only_to_other_sources(pathology: cu.modalities.Curated) -> None:
    report = " ".join(pathology.data.tables["pathology"]["report_text"].dropna())
    assert "浸润性腺癌" in report
    for secret in (DOCTOR, OTHER_PATIENT, PATIENT):
        assert secret not in report


def test_no_planted_identifier_in_written_tables(
    clinical: cu.modalities.Curated, pathology: cu.modalities.Curated
) -> None:
    text = _all_text(clinical.ctx.bundle.root / "data")
    for secret in (DOCTOR, OTHER_PATIENT, PATIENT, PHONE, "ZY0001", "P23-0001", "13812345678"):
        assert secret not in text


def test_plain_regimen_is_not_reported(tmp_path: Path) -> None:
    run = cu.curate("clinical", _cohort(tmp_path, plant=False), write=False)
    check = run.checks.set_index("check_id").loc["clinical.conformance.unannotated_free_text"]
    assert check["verdict"] == "pass"


def test_bad_id_pattern_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = _cohort(tmp_path)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["sites"][0]["id_patterns"] = [r"ZY(\d{4}"]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\[0\]\.id_patterns\[0\]: .* is not a valid regular expression"):
        cu.config.load_cohort(path)
    cfg["sites"][0]["id_patterns"] = [r"\d*"]
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"matches empty text"):
        cu.config.load_cohort(path)


def test_dictionary_identifier_kinds_are_the_registry_kinds() -> None:
    # every kind a dictionary field can declare is one the registry knows (it also has "date", a
    # detector finding that no field declares)
    assert set(dictionary.IDENTIFIER_KINDS) == {k.value for k in Kind} - {"date"}
    direct = dictionary.load().query("phi == 'direct'")
    assert (direct["identifier"] != "").all()


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("主治医生", "staff_name"),
        ("报告医师", "staff_name"),
        ("联系人电话", "phone"),
        ("家属姓名", "name"),
        ("身份证", "id_card"),
        ("Referring physician", "staff_name"),
        ("家庭住址", "address"),
        ("门诊号", "admission_number"),
        ("备注", None),
        ("方案", None),
    ],
)
def test_unmapped_header_hints(header: str, kind: str | None) -> None:
    assert kind_of_header(header) == kind
