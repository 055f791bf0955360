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
