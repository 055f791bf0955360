from __future__ import annotations

from pathlib import Path

import pytest

import curation as cu

from .tabular_fixture import make_cohort, pseudonym


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("exposure", make_cohort(tmp_path_factory.mktemp("exp")))


def _failed(run: cu.modalities.Curated, check_id: str) -> set[str]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "pseudonym"])


def test_planted_defects(run: cu.modalities.Curated) -> None:
    assert _failed(run, "exposure.consistency.smoking_pack_years") == {pseudonym("00100", "A")}
    assert _failed(run, "exposure.plausibility.range") == {pseudonym("00101", "A")}
    # B201's "Sometimes" is not a smoking status: named by allowed_values, and missing (with its reason)
    assert _failed(run, "exposure.completeness.smoking_status") == {pseudonym("00102", "A"), pseudonym("B201", "B")}
    assert _failed(run, "exposure.conformance.allowed_values") == {pseudonym("B201", "B")}


def test_not_collected_reason_kept(run: cu.modalities.Curated) -> None:
    f = run.failures
    rules = f.loc[f["check_id"] == "exposure.completeness.smoking_status"].set_index("pseudonym")["rule"]
    assert rules[pseudonym("00102", "A")] == "missing: not_collected"
    assert rules[pseudonym("B201", "B")] == "missing: unmapped_value"


def test_outputs_and_figures(run: cu.modalities.Curated) -> None:
    import pandas as pd

    df = pd.read_parquet(run.ctx.bundle.root / "data/exposure/exposure.parquet")
    assert len(df) == 6 and df["pack_years"].dtype == "float64"
    # an unmapped code is never written as is: null, with its reason in missing_reasons
    assert set(df["smoking_status"].dropna()) == {"never", "current", "former"}
    reasons = pd.read_parquet(run.ctx.bundle.root / "data/exposure/missing_reasons.parquet")
    hit = reasons[(reasons["field"] == "smoking_status") & (reasons["patient"] == pseudonym("B201", "B"))]
    assert hit["reason"].tolist() == ["unmapped_value"]
    assert "Exposures" in run.figures()


def test_full_width_digits_and_thousands_separators(tmp_path: Path) -> None:
    import pandas as pd

    path = make_cohort(tmp_path)
    q = tmp_path / "raw" / "siteA" / "questionnaire.csv"
    text = q.read_text(encoding="utf-8").splitlines()
    text[1] = "00100,从不吸烟,０,否,４５．５"  # full-width digits: 0 pack-years, PM2.5 45.5
    text[3] = "00102,已戒烟,1,2,是,1,234.5"  # not quoted: an extra field (malformed line), never 1 and 2
    text[4] = '00103,目前吸烟,"1,2",是,"1,234.5"'  # 1,2 is not a number here; 1,234.5 is, and implausible
    q.write_text("\n".join(text) + "\n", encoding="utf-8")
    r = cu.curate("exposure", path, write=False)
    e = r.data.tables["exposure"].set_index("patient")
    a, b = e.loc[pseudonym("00100", "A")], e.loc[pseudonym("00103", "A")]
    assert (a["pack_years"], a["residence_pm25"]) == (0.0, 45.5)
    assert pd.isna(b["pack_years"]) and pd.isna(b["residence_pm25"])
    assert b["pack_years__missing"] == "not_a_number"
    assert b["residence_pm25__missing"] == "out_of_range"  # read as 1234.5
    assert r.quarantine.loc[r.quarantine["reason"] == "malformed_line", "record"].tolist() == ["line 4"]
    f = r.failures
    assert ((f["check_id"] == "exposure.plausibility.range") & (f["field"] == "residence_pm25")).sum() == 1
    assert ((f["check_id"] == "exposure.conformance.types") & (f["field"] == "pack_years")).sum() == 1


def test_decimal_comma_locale_and_a_bad_decimal_option(tmp_path: Path) -> None:
    import yaml

    from curation.errors import ConfigError

    path = make_cohort(tmp_path)
    q = tmp_path / "raw" / "siteA" / "questionnaire.csv"
    lines = q.read_text(encoding="utf-8").splitlines()
    lines[4] = '00103,目前吸烟,"12,5",是,"1.045,5"'  # a European export: decimal comma, dot grouping
    q.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["sources"]["exposure"][0]["options"] = {"decimal": ","}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    e = cu.curate("exposure", path, write=False).data.tables["exposure"].set_index("patient")
    assert e.loc[pseudonym("00103", "A"), "pack_years"] == 12.5
    assert e.loc[pseudonym("00103", "A"), "residence_pm25__missing"] == "out_of_range"  # 1045.5
    cfg["sources"]["exposure"][0]["options"] = {"decimal": ";"}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.exposure\[0\].options.decimal: ';' is not a decimal mark"):
        cu.curate("exposure", path, write=False)


def test_an_unreadable_file_named_with_a_colon_leaks_no_part_of_its_name(tmp_path: Path) -> None:
    import yaml

    path = make_cohort(tmp_path)
    src = tmp_path / "raw" / "siteA" / "questionnaire.csv"
    bad = src.with_name("王五: 问卷.csv")
    bad.write_bytes(src.read_text(encoding="utf-8").encode("gb18030") * 3)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["sources"]["exposure"][0].update(path="raw/siteA/王五: 问卷.csv", encoding="utf-8")
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = cu.curate("exposure", path, write=False)
    q = r.quarantine[r.quarantine["reason"] == "unreadable_file"]
    assert len(q) == 1 and "王五" not in q["detail"].iloc[0] and "问卷" not in q["detail"].iloc[0]
    assert q["detail"].iloc[0].startswith("cannot decode as utf-8")
    rule = r.failures.loc[r.failures["check_id"] == "exposure.completeness.source_empty", "rule"].iloc[0]
    assert "王五" not in rule and "问卷" not in rule
