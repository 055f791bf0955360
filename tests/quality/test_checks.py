from __future__ import annotations

import pandas as pd

from curation import dictionary
from curation.quality import Check, Dimension, Outcome, results_frame, run, sites_frame
from curation.quality import checks as qc


def _df(**cols: list) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"patient": [f"PT{i}" for i in range(n)], "_line": list(range(2, n + 2)), "site": ["A"] * n}
    return pd.DataFrame({**base, **cols})


def test_completeness_not_applicable_is_not_missing_and_per_site() -> None:
    df = _df(death_date=[None, None, "x", None], death_date__missing=[None, "not_applicable", None, "unknown"])
    df["site"] = ["A", "A", "B", "B"]
    done = Check("completeness.death_date", Dimension.COMPLETENESS, lambda df: qc.check_completeness(df, "death_date"))
    (overall,) = run([done], df, modality="m")  # one result per check: its sites are a breakdown
    a, b = overall.by_site
    assert (overall.n_checked, overall.n_failed, overall.verdict) == (3, 2, "fail")
    assert overall.failures["pseudonym"].tolist() == ["PT0", "PT3"]
    assert overall.failures["rule"].tolist() == ["missing: no value", "missing: unknown"]
    assert (a.site, a.n_checked, a.n_failed, len(a.failures)) == ("A", 1, 1, 0)
    assert (b.site, b.n_failed) == ("B", 1)
    assert len(results_frame([overall])) == 1 and "site" not in results_frame([overall])
    sites = sites_frame([overall])
    assert sites[["check_id", "site", "n_checked", "n_failed"]].values.tolist() == [
        ["m.completeness.death_date", "A", 1, 1],
        ["m.completeness.death_date", "B", 2, 1],
    ]


def test_site_outcomes_without_their_check_are_an_error() -> None:
    odd = Check("completeness.x", Dimension.COMPLETENESS, lambda df: [Outcome(1, site="A")])
    (r,) = run([odd], _df(x=["a"]), modality="m")
    assert r.verdict == "error" and not r.by_site


def test_recommended_fields_warn_before_failing() -> None:
    df = _df(x=["a"] * 19 + [None])
    severity, threshold = qc.REQUIRED_LEVELS["recommended"]
    done = Check(
        "completeness.x",
        Dimension.COMPLETENESS,
        lambda df: qc.check_completeness(df, "x", per_site=False),
        severity=severity,
        threshold=threshold,
    )
    (r,) = run([done], df, modality="m")
    assert r.verdict == "pass"  # 5 % is within the recommended-field tolerance


def test_allowed_values_and_extra_failures() -> None:
    df = _df(sex=["male", "female", "M", None])
    extra = qc.failures(pseudonym=["PT9"], row=[9], field=["ecog"], rule=["not one of 0-5"])
    allowed = Check(
        "conformance.allowed_values",
        Dimension.CONFORMANCE,
        lambda df: qc.check_allowed(df, {"sex": ["male", "female", "unknown"]}, extra=extra),
    )
    [r] = run([allowed], df, modality="m")
    assert r.n_checked == 4 and r.failures["pseudonym"].tolist() == ["PT2", "PT9"]
    assert set(r.failures["check_id"]) == {"m.conformance.allowed_values"}


def test_codes_rule_tells_malformed_from_unlisted() -> None:
    df = _df(icd10=["C34.1", "C34.7", "lung", None])
    r = qc.check_codes(df, "icd10", dictionary.codes("icd10"))
    assert r.n_checked == 3 and r.frame is not None
    assert r.frame["rule"].tolist() == ["not in the list of valid lung codes", "malformed code"]


def test_range_date_order_uniqueness_timeliness() -> None:
    d = pd.to_datetime
    df = _df(
        pack_years=[10, 200, None, -1],
        a=d(["2023-01-01", "2023-01-05", None, "2023-01-01"]),
        b=d(["2023-01-02", "2023-01-01", "2023-01-01", "2025-01-01"]),
        tok=["x", "x", "y", None],
    )
    assert _who(qc.check_range(df, {"pack_years": (0, 150)})) == ["PT1", "PT3"]
    order = qc.check_date_order(df, [("a", "b", "b")])
    assert (order.n_checked, _who(order)) == (3, ["PT1"])
    assert _who(qc.check_timeliness(df, "b", "a", max_days=365)) == ["PT3"]
    same = qc.check_same_person(df, "tok", field="resident_id")
    assert _who(same) == ["PT0", "PT1"] and same.frame is not None and same.frame["field"].iloc[0] == "resident_id"
    assert qc.check_unique(df.assign(patient=["P", "P", "Q", "R"]), ["patient"]).count == 2


def _who(outcome: Outcome) -> list[str]:
    frame = outcome.frame
    return [] if frame is None else frame["pseudonym"].tolist()


def test_completeness_table() -> None:
    df = _df(x=["a", None, "b"])
    t = qc.completeness_table(df, ["x", "absent"], table="t")
    row = t[(t["field"] == "x") & (t["site"] == "all")].iloc[0]
    assert row["n"] == 3 and row["n_present"] == 2
    assert t.loc[t["field"] == "absent", "completeness"].eq(0).all()
