from __future__ import annotations

import pandas as pd

from curation.deid.kanon import check_k_anonymity, suppress_small_counts
from curation.quality import Verdict


def test_k_anonymity_warns_on_small_classes() -> None:
    df = pd.DataFrame({
        "patient": [f"P{i}" for i in range(7)],
        "age_band": ["60-69"] * 6 + ["90+"],
        "sex": ["male"] * 7,
        "diagnosis_year": [2020] * 7,
    })
    res = check_k_anonymity(df, k=5)
    assert res.check_id == "clinical.uniqueness.k_anonymity"
    assert res.verdict is Verdict.WARN and res.n_failed == 1
    assert res.failures.pseudonym.tolist() == ["P6"]
    assert "90+" not in res.failures.to_string()
    assert "region" in res.message
    assert check_k_anonymity(df.iloc[:6], k=5).verdict is Verdict.PASS


def test_suppress_small_counts() -> None:
    t = pd.DataFrame({"stage": ["I", "II", "III"], "n": [12, 3, 0]})
    out = suppress_small_counts(t, ["n"])
    assert out.n.tolist() == ["12", "<5", "0"]
    assert t.n.tolist() == [12, 3, 0]
