from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from curation.config import load_cohort
from curation.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "raw" / "a.csv").write_text("x\n1\n", encoding="utf-8")
    p = tmp_path / "cohort.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


GOOD = """
cohort: {name: t}
sites: [{id: A}]
secret: {env: CURATION_TEST_SECRET}
sources:
  clinical:
    - {site: A, path: raw/a.csv, format: csv, columns: {住院号: admission_number}}
"""


def test_good_config_resolves_paths(tmp_path: Path) -> None:
    cfg = load_cohort(write(tmp_path, GOOD))
    assert cfg.sources["clinical"][0].columns == {"住院号": "admission_number"}
    assert cfg.source_files("clinical", 0) == [tmp_path / "raw" / "a.csv"]


def test_misspelled_key_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cohort.yaml: sorces: unknown key; did you mean 'sources'\?"):
        load_cohort(write(tmp_path, GOOD.replace("sources:", "sorces:")))


def test_nested_misspelled_key(tmp_path: Path) -> None:
    bad = GOOD.replace("format: csv", "formt: csv")
    with pytest.raises(ConfigError, match=r"sources.clinical\[0\].formt: unknown key; did you mean 'format'\?"):
        load_cohort(write(tmp_path, bad))


def test_unknown_format_lists_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cohort.yaml: sources.clinical\[0\].format: 'xls2' is not one of "):
        load_cohort(write(tmp_path, GOOD.replace("format: csv", "format: xls2")))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources.clinical\[0\].path: 'raw/nope.csv' matches no file"):
        load_cohort(write(tmp_path, GOOD.replace("raw/a.csv", "raw/nope.csv")))


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cohort.yaml: line \d+, column \d+: YAML does not parse"):
        load_cohort(write(tmp_path, GOOD + "\n  bad: [unclosed\n"))


def test_secret_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"secret: .*give exactly one of secret.env"):
        load_cohort(write(tmp_path, GOOD.replace("{env: CURATION_TEST_SECRET}", "{}")))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cohort file not found"):
        load_cohort(tmp_path / "nope.yaml")


DUPLICATE = """
cohort: {name: t}
sites: [{id: A}]
secret: {env: CURATION_TEST_SECRET}
sources:
  clinical:
    - {site: A, path: raw/a.csv, format: csv, table: patients}
    - {site: A, path: raw/b.csv, format: csv, table: conditions}
    - {site: A, path: SECOND, format: csv, table: staging}
"""


@pytest.mark.parametrize("second", ["raw/a.csv", "raw/../raw/a.csv", "raw/a*.csv", "raw/link.csv"])
def test_one_file_as_two_sources_names_both_keys(tmp_path: Path, second: str) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "b.csv").write_text("y\n2\n", encoding="utf-8")
    (tmp_path / "raw" / "link.csv").symlink_to(tmp_path / "raw" / "a.csv")
    text = DUPLICATE.replace("SECOND", second)
    with pytest.raises(ConfigError, match=r"cohort.yaml: sources.clinical\[0\] and sources.clinical\[2\]: the same "
                                          r"file is configured as two sources \(1 path\(s\) in common\); each file "
                                          r"\(each sheet of a workbook\) feeds one source") as exc:
        load_cohort(write(tmp_path, text))
    assert "a.csv" not in str(exc.value)  # a file name can hold an identifier: only the keys are named


def test_a_folder_source_holding_another_sources_file_across_modalities(tmp_path: Path) -> None:
    text = GOOD + "  genomics:\n    - {site: A, path: raw, format: maf}\n"
    with pytest.raises(ConfigError, match=r"sources.clinical\[0\] and sources.genomics\[0\]: the same file"):
        load_cohort(write(tmp_path, text))


def test_duplicate_source_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from curation.cli import main

    monkeypatch.setenv("CURATION_TEST_SECRET", "0123456789abcdef0123456789abcdef")
    cohort = write(tmp_path, DUPLICATE.replace("SECOND", "raw/a.csv"))
    (tmp_path / "raw" / "b.csv").write_text("y\n2\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["curation", "run", str(cohort)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "sources.clinical[0] and sources.clinical[2]: the same file" in capsys.readouterr().err


def test_sheets_of_one_workbook_are_distinct_sources_but_one_sheet_twice_is_not(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "emr.xlsx").write_bytes(b"PK")  # the config names files; it does not open them
    two = ("    - {site: A, path: raw/emr.xlsx, format: excel, table: patients, sheet: Patients}\n"
           "    - {site: A, path: raw/emr.xlsx, format: excel, table: conditions, sheet: Diagnosis}\n")
    assert len(load_cohort(write(tmp_path, GOOD + two)).sources["clinical"]) == 3
    again = two + "    - {site: A, path: raw/emr.xlsx, format: excel, table: staging, sheet: Diagnosis}\n"
    with pytest.raises(ConfigError, match=r"sources.clinical\[2\] and sources.clinical\[3\]: the same file") as exc:
        load_cohort(write(tmp_path, GOOD + again))
    assert "clinical[1]" not in str(exc.value)


def test_distinct_files_in_one_folder_are_fine(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "b.csv").write_text("y\n2\n", encoding="utf-8")
    (tmp_path / "raw" / "c.csv").write_text("y\n2\n", encoding="utf-8")
    cfg = load_cohort(write(tmp_path, DUPLICATE.replace("SECOND", "raw/c.csv")))
    assert len(cfg.sources["clinical"]) == 3
