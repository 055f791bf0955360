from __future__ import annotations

from curation.quality import (
    Dimension,
    Ledger,
    Threshold,
    Verdict,
    failures_frame,
    make_result,
    results_frame,
    run_checks,
)


def test_threshold_verdicts() -> None:
    t = Threshold(warn=0.0, fail=0.1)
    assert t.verdict(0, 0) is Verdict.NOT_APPLICABLE
    assert t.verdict(100, 0) is Verdict.PASS
    assert t.verdict(100, 5) is Verdict.WARN
    assert t.verdict(100, 11) is Verdict.FAIL


def test_crashing_check_is_error_never_pass() -> None:
    def boom() -> None:
        raise KeyError("张三")  # an identifier in an exception must not reach the message

    [res] = run_checks([("m.boom", Dimension.ACCURACY, boom)], "m")
    assert res.verdict is Verdict.ERROR
    assert "张三" not in res.message and "KeyError" in res.message


def test_threshold_override_rederives_verdict() -> None:
    fails = failures_frame("m.x", "m", pseudonym=["PT1"], row=[3], field="age", rule="range")
    res = make_result("m.x", "m", Dimension.ACCURACY, n_checked=100, failures=fails)
    assert res.verdict is Verdict.FAIL
    [res2] = run_checks([("m.x", Dimension.ACCURACY, lambda: res)], "m", thresholds={"m.x": Threshold(0.05, 0.1)})
    assert res2.verdict is Verdict.PASS


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
    assert res.verdict is Verdict.FAIL and res.n_failed == 1
