from __future__ import annotations

import pandas as pd
import pytest

from curation.quality import (
    Check,
    Dimension,
    Ledger,
    Outcome,
    Severity,
    Threshold,
    Verdict,
    combine,
    failures,
    failures_frame,
    make_result,
    results_frame,
    run,
)

DF = pd.DataFrame({"patient": ["PT1", "PT2", "PT3"], "_line": [2, 3, 4], "age": [40, 130, 150]})


def _old(df: pd.DataFrame) -> Outcome:
    bad = df["age"] > 120
    return Outcome(len(df), failures=failures(df, bad, field="age", rule="over 120"))


AGE = Check("plausibility.age", Dimension.ACCURACY, _old, description="ages over 120")


def test_threshold_verdicts() -> None:
    t = Threshold(warn=0.0, fail=0.1)
    assert t.verdict(0, 0) is Verdict.NOT_APPLICABLE
    assert t.verdict(100, 0) is Verdict.PASS
    assert t.verdict(100, 5) is Verdict.WARN
    assert t.verdict(100, 11) is Verdict.FAIL


def test_declaration_gives_id_modality_and_dimension_to_results_and_failures() -> None:
    [res] = run([AGE], DF, modality="m")
    assert (res.check_id, res.modality, res.dimension, res.severity) == ("m.plausibility.age", "m", "accuracy", "major")
    assert (res.n_checked, res.n_failed, res.verdict) == (3, 2, Verdict.FAIL)
    assert res.failures["check_id"].eq("m.plausibility.age").all() and res.failures["modality"].eq("m").all()
    assert res.failures[["pseudonym", "row"]].to_numpy().tolist() == [["PT2", 3], ["PT3", 4]]


def test_crashing_check_is_error_never_pass() -> None:
    def boom(df: pd.DataFrame) -> Outcome:
        raise KeyError("张三")  # an identifier in an exception must not reach the message

    [res, after] = run([Check("accuracy.boom", Dimension.ACCURACY, boom), AGE], DF, modality="m")
    assert (res.check_id, res.verdict) == ("m.accuracy.boom", Verdict.ERROR)
    assert "张三" not in res.message and "KeyError" in res.message
    assert after.verdict is Verdict.FAIL  # the next check still runs


def test_thresholds_applied_once_from_cohort_over_declared() -> None:
    lenient = Check("plausibility.age", Dimension.ACCURACY, _old, threshold=Threshold(0.5, 0.9))
    assert run([lenient], DF, modality="m")[0].verdict is Verdict.WARN
    [res] = run([AGE], DF, modality="m", thresholds={"m.plausibility.age": Threshold(0.7, 0.9)})
    assert res.verdict is Verdict.PASS and res.threshold == Threshold(0.7, 0.9)
    assert run([AGE], DF, modality="other", thresholds={"m.plausibility.age": Threshold(0.7, 0.9)})[0].verdict == "fail"


def test_several_outcomes_are_site_breakdowns_of_one_check() -> None:
    site = Check(
        "completeness.x",
        Dimension.COMPLETENESS,
        lambda df: [Outcome(3, n_failed=1), Outcome(2, n_failed=1, site="A"), Outcome(1, site="B")],
        severity=Severity.MINOR,
    )
    (overall,) = run([site], DF, modality="m")  # one check, one result
    a, b = overall.by_site
    assert (overall.site, a.site, b.site) == ("", "A", "B")
    assert (a.n_failed, b.verdict, b.severity) == (1, Verdict.PASS, "minor")


def test_combine_and_failures_without_records() -> None:
    both = combine([_old(DF), Outcome(4, failures=failures(field=["f1", "f2"], rule="file-level")), Outcome(1)])
    assert (both.n_checked, both.count) == (8, 4)
    frame = both.frame
    assert frame is not None and frame["row"].tolist() == [3, 4, -1, -1]
    assert combine([]).frame is None and combine([]).count == 0


def test_ids_are_checked_at_declaration() -> None:
    with pytest.raises(ValueError, match="dotted lower-case"):
        Check("Clinical.Vital status", Dimension.CONSISTENCY, _old)


def test_results_frame_keeps_sample_without_values() -> None:
    fails = failures_frame("m.x", "m", pseudonym=["PT1", "PT2"], row=[3, 4], field="age", rule="out of range")
    df = results_frame([make_result("m.x", "m", Dimension.ACCURACY, n_checked=10, failures=fails)])
    assert df.loc[0, "n_failed"] == 2
    assert df.loc[0, "sample"][0] == {"pseudonym": "PT1", "row": 3, "field": "age", "rule": "out of range"}


def test_ledger_identity() -> None:
    led = Ledger("m")
    led.record("load", n_in=10, n_accepted=7, quarantined={"bad_date": 2}, excluded={"test_patient": 1})
    assert led.check().verdict is Verdict.PASS
    led.record("standardize", n_in=7, n_accepted=5, quarantined={"x": 1})
    res = led.check()
    assert (res.check_id, res.verdict, res.n_failed, res.severity) == ("m.ledger_balanced", "fail", 1, "critical")
    assert led.check(thresholds={"m.ledger_balanced": Threshold(0.5, 1.0)}).verdict is Verdict.PASS
