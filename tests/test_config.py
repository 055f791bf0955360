from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from curation import load_cohort
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
    with pytest.raises(
        ConfigError,
        match=r"cohort.yaml: sources.clinical\[0\] and sources.clinical\[2\]: the same "
        r"file is configured as two sources \(1 path\(s\) in common\); each file "
        r"\(each sheet of a workbook\) feeds one source",
    ) as exc:
        load_cohort(write(tmp_path, text))
    assert "a.csv" not in str(exc.value)  # a file name can hold an identifier: only the keys are named


def test_a_folder_source_holding_another_sources_file_across_modalities(tmp_path: Path) -> None:
    text = GOOD + "  genomics:\n    - {site: A, path: raw, format: maf}\n"
    with pytest.raises(ConfigError, match=r"sources.clinical\[0\] and sources.genomics\[0\]: the same file"):
        load_cohort(write(tmp_path, text))


def test_duplicate_source_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
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
    two = (
        "    - {site: A, path: raw/emr.xlsx, format: excel, table: patients, sheet: Patients}\n"
        "    - {site: A, path: raw/emr.xlsx, format: excel, table: conditions, sheet: Diagnosis}\n"
    )
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


IMAGING = (
    GOOD
    + """  imaging:
    - {site: A, path: raw, format: dicom, options: OPTIONS}
"""
)


def _imaging(tmp_path: Path, options: str) -> Path:
    text = IMAGING.replace("raw/a.csv", "raw/a/a.csv").replace("OPTIONS", options)
    (tmp_path / "raw" / "a").mkdir(parents=True, exist_ok=True)
    (tmp_path / "raw" / "a" / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "dicom").mkdir(exist_ok=True)
    return write(tmp_path, text.replace("path: raw, format: dicom", "path: dicom, format: dicom"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{chunk_size: x}", r"cohort.yaml: sources.imaging\[0\].options.chunk_size: 'x' is not a valid integer$"),
        ("{chunk_size: 0}", r"sources.imaging\[0\].options.chunk_size: 0 must be >= 1$"),
        ("{expor: true}", r"sources.imaging\[0\].options.expor: unknown key; did you mean 'export'\?$"),
        ("{export: maybe}", r"sources.imaging\[0\].options.export: 'maybe' is not true or false$"),
        ("{zzz: 1}", r"options.zzz: unknown key; expected one of chunk_size, export, image_qc, jobs, nodules$"),
    ],
)
def test_source_options_are_validated_when_the_cohort_loads(tmp_path: Path, options: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_cohort(_imaging(tmp_path, options))


def test_source_options_are_typed_on_the_sources(tmp_path: Path) -> None:
    from curation.modalities import sources_of
    from curation.modalities.imaging._options import ImagingOptions

    cfg = load_cohort(_imaging(tmp_path, "{export: true, chunk_size: '50'}"))
    (src,) = sources_of(cfg, "imaging")
    assert isinstance(src.options, ImagingOptions)
    assert (src.options.export, src.options.chunk_size, src.options.image_qc, src.options.nodules) == (
        True,
        50,
        True,
        None,
    )
    assert cfg.sources["imaging"][0].options == {"export": True, "chunk_size": "50"}  # the mapping as written


def test_nested_options_and_aliases(tmp_path: Path) -> None:
    text = GOOD + "  immune:\n    - {path: raw/s, format: 10x, options: {qc: {tissue: {tumor: {max_pct_m: 15}}}}}\n"
    (tmp_path / "raw" / "s").mkdir(parents=True)
    with pytest.raises(
        ConfigError,
        match=r"sources.immune\[0\].options.qc.tissue.tumor.max_pct_m: unknown key; "
        r"did you mean 'max_pct_mt'\?",
    ):
        load_cohort(write(tmp_path, text))
    text = GOOD + "  genomics:\n    - {path: raw/g.vcf, format: vcf, options: {samples: s.csv, reference: hg19}}\n"
    (tmp_path / "raw" / "g.vcf").write_text("", encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"sources.genomics\[0\].options.reference: 'hg19' is not one of "
        r"'GRCh38' or 'GRCh37'$",
    ):
        load_cohort(write(tmp_path, text))


def test_every_problem_of_a_cohort_is_listed_at_once(tmp_path: Path) -> None:
    bad = GOOD.replace("format: csv", "format: cvs, options: {header_row: first, sepp: ';'}")
    with pytest.raises(ConfigError) as exc:
        load_cohort(write(tmp_path, bad))
    lines = str(exc.value).splitlines()
    assert lines == [
        "cohort.yaml: sources.clinical[0].format: 'cvs' is not one of csv, tsv, excel, parquet",
        "cohort.yaml: sources.clinical[0].options.header_row: 'first' is not a valid integer",
        "cohort.yaml: sources.clinical[0].options.sepp: unknown key; did you mean 'sep'?",
    ]


def test_a_cohort_step_takes_no_sources(tmp_path: Path) -> None:
    text = GOOD + "  crossmodal:\n    - {path: raw/a.csv, format: csv}\n"
    with pytest.raises(
        ConfigError,
        match=r"sources.crossmodal: this step reads the other modalities' outputs and "
        r"takes no sources; remove the key",
    ):
        load_cohort(write(tmp_path, text))


def test_config_knows_no_modality(tmp_path: Path) -> None:
    """curation.config checks what needs no modality; the registry's load_cohort adds formats and options."""
    from curation import config

    cohort = write(tmp_path, GOOD.replace("format: csv", "format: cvs"))
    assert config.load_cohort(cohort).sources["clinical"][0].format == "cvs"
    with pytest.raises(ConfigError, match="is not one of"):
        load_cohort(cohort)
