"""Lab modality: LIS long-format tumor markers, typed, converted, checked; a tiny hand-made cohort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import curation as cu
from curation.deid.keys import Keyring
from curation.modalities import lab

KEY = "cd" * 32
KEYRING = Keyring(KEY.encode())

A_HEAD = "住院号,检验项目,结果,单位,参考范围,采集时间,报告时间"
A_ROWS = [
    "00100,癌胚抗原(CEA),3.95,ng/mL,0-5,2023-05-14 10:18,2023-05-15 04:18",
    "00100,癌胚抗原(CEA),12.4,ng/mL,0-5,2023-08-24 09:56,2023-08-25 14:56",
    "00100,CYFRA 21-1,<0.1,ng/mL,0-3.3,2023-05-14 10:18,2023-05-14 18:00",
    "00101,癌胚抗原(CEA),4.2,mmol/L,0-5,2023-06-01 08:00,2023-06-01 12:00",  # unit_error
    "00102,癌胚抗原(CEA),2.1,ng/mL,0-5,2023-06-02 08:00,2023-06-02 12:00",  # duplicate_result
    "00102,癌胚抗原(CEA),2.1,ng/mL,0-5,2023-06-02 08:00,2023-06-02 12:00",
    "00103,ProGRP,0.04,pg/mL,<65,2023-06-03 08:00,2023-06-03 12:00",  # magnitude: ng/mL in pg/mL
    "00104,癌胚抗原(CEA),1.0,ng/mL,0-5,2023-06-10 08:00,2023-06-01 12:00",  # report before collection
    "00105,癌胚抗原(CEA),1.0,ng/mL,0-5,2023-06-01 08:00,2023-07-15 12:00",  # late report
    "00106,AFP,3.0,ng/mL,0-7,2023-06-01 08:00,2023-06-01 12:00",  # not a lung marker
    "00107,癌胚抗原(CEA),溶血,ng/mL,0-5,2023-06-01 08:00,2023-06-01 12:00",  # not a number
    "00108,癌胚抗原(CEA),250000,ng/mL,0-5,2023-06-01 08:00,2023-06-01 12:00",  # implausible (pg/mL?)
    "00109,癌胚抗原(CEA),1.0,ng/mL,0-5,05/06/2023,2023-06-01 12:00",  # unparseable date
    "00110,癌胚抗原(CEA),1.0,ng/mL,0-5,2023-06-01,2023-06-01,extra",  # malformed line
]
C_HEAD = "住院号码,项目名称,检测结果,结果单位,参考值,采样时间,审核时间"
C_ROWS = [
    "ZY300,癌胚抗原,0.7,μg/L,0～5.0,2018/12/20 7:01,2018/12/20 11:01",
    "ZY300,癌胚抗原,<0.5,μg/L,0～5.0,2019/3/15 9:19,2019/3/16 9:19",
    "ZY300,CA125,>1000,U/mL,0～35.0,2019/3/15 9:19,2019/3/16 9:19",
    "ZY300,ProGRP,0.07,ng/mL,0～65,2019/3/15 9:19,2019/3/16 9:19",
]
DEFECTS = {  # (mrn, site) -> expected check id
    ("00101", "A"): "lab.conformance.unit",
    ("00102", "A"): "lab.uniqueness.result",
    ("00103", "A"): "lab.conformance.unit",
    ("00104", "A"): "lab.consistency.report_after_collection",
    ("00105", "A"): "lab.timeliness.report_delay",
    ("00106", "A"): "lab.conformance.allowed_values",
    ("00107", "A"): "lab.conformance.value",
    ("00108", "A"): "lab.plausibility.range",
}


def make_cohort(root: Path) -> Path:
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "lis_a.csv").write_text("\n".join([A_HEAD, *A_ROWS]) + "\n", encoding="utf-8")
    (root / "raw" / "lis_c.csv").write_bytes(("\n".join([C_HEAD, *C_ROWS]) + "\n").encode("gb18030"))
    (root / "key").write_text(KEY, encoding="ascii")
    (root / "key").chmod(0o600)  # the run refuses a key file others can read
    cols_a = dict(
        zip(
            A_HEAD.split(","),
            ["admission_number", "analyte", "value", "unit", "reference_range", "collected_date", "report_date"],
            strict=True,
        )
    )
    cols_c = dict(zip(C_HEAD.split(","), cols_a.values(), strict=True))
    doc = {
        "cohort": {"name": "tiny-lab"},
        "sites": [{"id": "A"}, {"id": "C"}],
        "sources": {
            "lab": [
                {"site": "A", "path": "raw/lis_a.csv", "format": "csv", "columns": cols_a},
                {"site": "C", "path": "raw/lis_c.csv", "format": "csv", "encoding": "gb18030", "columns": cols_c},
            ]
        },
        "secret": {"file": "key"},
        "output": "out",
    }
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("lab", make_cohort(tmp_path_factory.mktemp("lab")))


# ------------------------------------------------------------------------------ pure parts
def test_values_split_into_number_and_censoring() -> None:
    v = lab.parse_value(pd.Series(["3.95", "<0.5", ">1000", "＜0.1", "≤2", "1,200", "溶血", ""]))
    assert v["number"].tolist()[:6] == [3.95, 0.5, 1000.0, 0.1, 2.0, 1200.0]
    assert v["censored"].tolist()[:6] == ["none", "below_limit", "above_limit", "below_limit", "below_limit", "none"]
    assert v["bad"].tolist() == [False] * 6 + [True, False]


def test_reference_ranges_parse_every_house_style() -> None:
    r = lab.parse_reference(pd.Series(["0-5", "<3.3", "0～5.0", "0.0-16.3 ng/mL", "≤35", ">2", "5以下", "阴性", ""]))
    assert r["high"].tolist()[:5] == [5.0, 3.3, 5.0, 16.3, 35.0]
    assert r["low"].tolist()[0] == 0.0 and r["low"].tolist()[5] == 2.0 and r["high"].tolist()[6] == 5.0
    assert r.iloc[7:].isna().all().all()


def test_units_convert_with_pint_and_other_dimensions_do_not() -> None:
    assert lab.unit_factor("μg/L", "ng/mL") == 1.0
    assert lab.unit_factor("ng/ml", "pg/mL") == 1000.0
    assert lab.unit_factor("kU/L", "U/mL") == 1.0
    assert lab.unit_factor("IU/mL", "U/mL") == 1.0  # alias from lab_units.yaml
    assert lab.unit_factor("mmol/L", "ng/mL") is None
    assert lab.unit_factor("banana", "ng/mL") is None


def test_pint_definitions_from_a_damaged_cache_are_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.modalities import _lab_units

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_lab_units, "_memo", lambda: _lab_units._FactorMemo(None, {}))  # pint answers every pair
    _lab_units._registry.cache_clear()
    _lab_units.unit_factor.cache_clear()
    try:
        assert lab.unit_factor("μg/L", "ng/mL") == 1.0  # the first run writes pint's cache
        written = list(tmp_path.rglob("*.pickle"))
        assert written, "pint's parsed definitions were not cached"
        for p in written:  # a first run cut short, or two writing at once
            p.write_bytes(p.read_bytes()[:100])
        _lab_units._registry.cache_clear()
        _lab_units.unit_factor.cache_clear()
        assert lab.unit_factor("ng/ml", "pg/mL") == 1000.0
        assert lab.unit_factor("mmol/L", "ng/mL") is None
    finally:
        _lab_units._registry.cache_clear()
        _lab_units.unit_factor.cache_clear()


def _fresh_units() -> None:
    """As in a new process: no registry, factor or memo held in memory."""
    from curation.modalities import _lab_units

    _lab_units._registry.cache_clear()
    _lab_units.unit_factor.cache_clear()
    _lab_units._memo.cache_clear()


def test_unit_factors_pint_gave_are_read_from_the_memo_without_pint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.modalities import _lab_units

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _fresh_units()
    try:
        assert lab.unit_factor("ng/ml", "pg/mL") == 1000.0
        assert lab.unit_factor("mmol/L", "ng/mL") is None
        (memo,) = tmp_path.glob("curation/unit-factors-pint*.json")
        _fresh_units()

        def no_pint(unit: str, canonical: str) -> float | None:
            raise AssertionError(f"pint asked for {unit} -> {canonical}")

        monkeypatch.setattr(_lab_units, "_pint_factor", no_pint)
        assert lab.unit_factor("ng/ml", "pg/mL") == 1000.0
        assert lab.unit_factor("mmol/L", "ng/mL") is None  # no factor is remembered too
        with pytest.raises(AssertionError, match="pint asked"):
            lab.unit_factor("kU/L", "U/mL")
        monkeypatch.undo()
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        for damaged in ("{not json", '{"ng/ml\\u001fpg/mL": "1000"}', "[]"):  # cut short; a factor as text
            memo.write_text(damaged, encoding="utf-8")
            _fresh_units()
            assert lab.unit_factor("ng/ml", "pg/mL") == 1000.0  # pint answers, as without a memo
    finally:
        _fresh_units()


def test_typing_results_leaves_the_given_frame_as_it_was() -> None:
    df = pd.DataFrame(
        {"analyte": ["CEA", "NSE"], "value": ["3.2", "900"], "unit": ["μg/L", "ng/mL"], "reference_range": ["0-5", ""]}
    ).astype(lab.STR)
    before = df.copy()
    out = lab.null_implausible(lab.type_results(df))
    pd.testing.assert_frame_equal(df, before)
    assert out["value_num"].tolist()[0] == 3.2 and "value_num" not in df.columns


def test_analyte_synonyms_map_to_standard_names() -> None:
    s = lab.normalize_analyte(pd.Series(["癌胚抗原", "癌胚抗原（CEA）", "cyfra 21-1", "SCC-Ag", "CA-125", "AFP"]))
    assert s.tolist() == ["CEA", "CEA", "CYFRA21-1", "SCC", "CA125", "AFP"]


# ------------------------------------------------------------------------------ end to end
@pytest.mark.parametrize(("mrn", "site"), sorted(DEFECTS))
def test_each_planted_defect_is_caught_by_name(run: cu.modalities.Curated, mrn: str, site: str) -> None:
    f = run.failures
    hit = f[(f["check_id"] == DEFECTS[(mrn, site)]) & (f["pseudonym"] == KEYRING.patient(mrn, site=site))]
    assert len(hit), f"{mrn} not caught by {DEFECTS[(mrn, site)]}"


def test_clean_patients_pass(run: cu.modalities.Curated) -> None:
    clean = {KEYRING.patient("00100", site="A"), KEYRING.patient("ZY300", site="C")}
    assert not set(run.failures["pseudonym"]) & clean


def test_unit_error_names_the_unit_and_the_fix(run: cu.modalities.Curated) -> None:
    f = run.failures[run.failures["check_id"] == "lab.conformance.unit"]
    rules = dict(zip(f["pseudonym"], f["rule"], strict=True))
    assert "mmol/L is not a unit of CEA" in rules[KEYRING.patient("00101", site="A")]
    assert "probably wrong (expected pg/mL)" in rules[KEYRING.patient("00103", site="A")]


def test_bad_lines_and_dates_are_quarantined_not_dropped(run: cu.modalities.Curated) -> None:
    q = run.quarantine
    assert q.loc[q["reason"] == "unparseable_date", "pseudonym"].tolist() == [KEYRING.patient("00109", site="A")]
    assert q.loc[q["reason"] == "malformed_line", "record"].tolist() == ["line 15"]
    assert run.ledger["balanced"].all()
    assert len(run.data.tables["results"]) == len(A_ROWS) - 2 + len(C_ROWS)


def test_results_are_typed_in_canonical_units(run: cu.modalities.Curated) -> None:
    df = run.data.tables["results"]
    c = df[df["patient"] == KEYRING.patient("ZY300", site="C")].set_index("value")
    assert set(c["analyte"]) == {"CEA", "CA125", "ProGRP"}
    assert c.loc["0.7", "value_num"] == 0.7 and c.loc["0.7", "unit_std"] == "ng/mL"
    assert (c.loc["<0.5", "censored"], c.loc["<0.5", "value_num"], c.loc["<0.5", "abnormal"]) == (
        "below_limit",
        0.5,
        "normal",
    )
    assert (c.loc[">1000", "censored"], c.loc[">1000", "abnormal"]) == ("above_limit", "high")
    # ProGRP reported in ng/mL: converted to pg/mL with its reference range
    assert c.loc["0.07", "value_num"] == pytest.approx(70.0) and c.loc["0.07", "ref_high"] == pytest.approx(65000.0)
    a = df[df["patient"] == KEYRING.patient("00100", site="A")]
    assert a["abnormal"].tolist() == ["normal", "high", "normal"]


def test_dates_are_shifted_per_patient(run: cu.modalities.Curated) -> None:
    df = run.data.tables["results"]
    p = KEYRING.patient("00100", site="A")
    got = df.loc[df["patient"] == p, "collected_date"].min()
    assert got == pd.Timestamp("2023-05-14") + pd.Timedelta(days=KEYRING.date_shift(p))


def test_output_has_patient_and_no_identifier(run: cu.modalities.Curated) -> None:
    out = run.ctx.bundle.root / "data" / "lab" / "results.parquet"
    df = pd.read_parquet(out)
    assert df.columns[0] == "patient" and "admission_number" not in df.columns
    assert {"value_num", "censored", "unit_std", "ref_low", "ref_high", "abnormal"} <= set(df.columns)
    assert not [c for c in df.columns if c.startswith("_")]
    blob = b"".join(p.read_bytes() for p in run.ctx.bundle.root.rglob("*") if p.is_file())
    for mrn in ("00100", "00101", "ZY300"):
        assert mrn.encode() not in blob


def test_figures_are_built_from_pseudonyms(run: cu.modalities.Curated) -> None:
    figs = run.figures()
    assert {"Marker trajectories", "Result distributions"} <= set(figs)
    traj = figs["Marker trajectories"]
    names = {t.name for t in traj.data}
    assert KEYRING.patient("00100", site="A") in names
    assert traj.layout.yaxis.type == "log"


def test_report_delay_threshold_is_a_decision(tmp_path: Path) -> None:
    cohort = make_cohort(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "decisions.yaml").write_text("lab.timeliness.report_delay_days: 60\n", encoding="utf-8")
    run = cu.curate("lab", cohort, write=False)
    r = run.checks.set_index("check_id").loc["lab.timeliness.report_delay"]
    assert r["n_failed"] == 0


def test_excel_export_with_date_cells_and_serial_days(tmp_path: Path) -> None:
    import datetime as dt

    df = pd.DataFrame(
        {
            "MRN": ["B100", "B100", "B101"],
            "Test": ["CEA", "SCC-Ag", "CA-125"],
            "Result": ["6.10", "<0.1", "12.0"],
            "Units": ["ng/ml", "ng/ml", "U/mL"],
            "Reference Range": ["<5", "<1.5", "<35"],
            "Collected": [dt.datetime(2022, 3, 1, 8, 30), 44621, dt.datetime(2022, 4, 2, 9, 0)],
            "Reported": [dt.datetime(2022, 3, 1, 15, 0), 44622, dt.datetime(2022, 4, 2, 12, 0)],
        }
    )
    df.to_excel(tmp_path / "lis.xlsx", sheet_name="Results", index=False)
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key").chmod(0o600)  # the run refuses a key file others can read
    cols = dict(
        zip(
            df.columns,
            ["admission_number", "analyte", "value", "unit", "reference_range", "collected_date", "report_date"],
            strict=True,
        )
    )
    doc = {
        "cohort": {"name": "xlsx"},
        "sites": [{"id": "B"}],
        "secret": {"file": "key"},
        "output": "out",
        "sources": {"lab": [{"site": "B", "path": "lis.xlsx", "format": "excel", "sheet": "Results", "columns": cols}]},
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cu.curate("lab", tmp_path / "cohort.yaml", write=False)
    r = run.data.tables["results"].set_index("analyte")
    assert r.loc["CEA", "abnormal"] == "high" and r.loc["SCC", "censored"] == "below_limit"
    assert r.loc["CA125", "ref_high"] == 35.0 and r.loc["CEA", "unit_std"] == "ng/mL"
    p = KEYRING.patient("B100", site="B")
    shift = pd.Timedelta(days=KEYRING.date_shift(p))
    assert r.loc["SCC", "collected_date"] == pd.Timestamp("2022-03-01") + shift  # serial 44621 = 2022-03-01
    assert r.loc["CEA", "collected_date"] == pd.Timestamp("2022-03-01") + shift
    assert run.checks.set_index("check_id").loc["lab.uniqueness.result", "n_failed"] == 0


def test_trajectory_summary(run: cu.modalities.Curated) -> None:
    t = lab.trajectory_summary(run.data.tables["results"])
    cea = t[(t["patient"] == KEYRING.patient("00100", site="A")) & (t["analyte"] == "CEA")].iloc[0]
    assert (cea["n_results"], cea["baseline"], cea["nadir"], cea["last"]) == (2, 3.95, 3.95, 12.4)
    assert cea["days_followed"] == 102 and bool(cea["rising"])
    written = pd.read_parquet(run.ctx.bundle.root / "data" / "lab" / "trajectories.parquet")
    assert len(written) == len(t) and "collected_date" not in written.columns


def test_unknown_analyte_is_not_written_and_still_named(run: cu.modalities.Curated) -> None:
    r = run.data.tables["results"]
    afp = r[r["patient"] == KEYRING.patient("00106", site="A")]
    assert afp["analyte"].isna().all()  # AFP is not a lung tumor marker of the dictionary
    reasons = pd.read_parquet(run.ctx.bundle.root / "data/lab/missing_reasons.parquet")
    hit = reasons[(reasons["patient"] == KEYRING.patient("00106", site="A")) & (reasons["field"] == "analyte")]
    assert hit["reason"].tolist() == ["unmapped_value"]
    assert set(r["analyte"].dropna()) <= set(lab.units().analytes)


def test_lab_names_empty_sources_and_counts_records_independently(tmp_path: Path) -> None:
    path = make_cohort(tmp_path)
    (tmp_path / "raw" / "lis_c.csv").write_bytes((C_HEAD + "\n").encode("gb18030"))  # header only
    rows = list(A_ROWS)
    rows[2] = '00100,CYFRA 21-1,"<0.1,ng/mL,0-3.3,2023-05-14 10:18,2023-05-14 18:00'  # a quote that never closes
    (tmp_path / "raw" / "lis_a.csv").write_text("\n".join([A_HEAD, *rows]) + "\n", encoding="utf-8")
    r = cu.curate("lab", path, write=False)
    f = r.failures
    empty = f[f["check_id"] == "lab.completeness.source_empty"]
    assert empty["field"].tolist() == ["lab[1]"] and "header only" in empty["rule"].iloc[0]
    load = r.ledger[(r.ledger["stage"] == "load") & (r.ledger["source"] == "lab[0]")].iloc[0]
    assert (load["n_in"], load["n_accepted"], load["n_quarantined"]) == (len(A_ROWS), len(A_ROWS) - 2, 2)
    q = r.quarantine
    assert q.loc[q["reason"] == "unclosed_quote", "record"].tolist() == ["line 4"]
    assert r.data.ledger.check().verdict == "pass"


def test_a_comma_is_only_a_thousands_separator() -> None:
    v = lab.parse_value(pd.Series(["1,234.5", "12,345,678", "1,23", ">1,000"]))
    assert v["number"].tolist()[:2] == [1234.5, 12345678.0] and v["number"].tolist()[3] == 1000.0
    assert v["bad"].tolist() == [False, False, True, False]  # "1,23" is named, never read as 123


def test_implausible_results_are_nulled_with_a_reason_and_still_named(run: cu.modalities.Curated) -> None:
    out = pd.read_parquet(run.ctx.bundle.root / "data" / "lab" / "results.parquet")
    pseudo = KEYRING.patient("00108", site="A")
    cea = out[(out["patient"] == pseudo) & (out["analyte"] == "CEA")]
    assert cea["value_num"].isna().all()  # 250000 ng/mL is not written as a number
    reasons = pd.read_parquet(run.ctx.bundle.root / "data" / "lab" / "missing_reasons.parquet")
    assert (
        (reasons["patient"] == pseudo) & (reasons["field"] == "value_num") & (reasons["reason"] == "out_of_range")
    ).any()
    f = run.failures
    hit = f[(f["check_id"] == "lab.plausibility.range") & (f["pseudonym"] == pseudo)]
    assert hit["rule"].str.contains("CEA outside its plausible range").all() and len(hit) == 1
