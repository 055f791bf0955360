from __future__ import annotations

import pandas as pd

from curation.deid.kanon import check_k_anonymity, quasi_identifiers, suppress_small_counts
from curation.quality import Verdict


def test_k_anonymity_warns_on_small_classes() -> None:
    df = pd.DataFrame(
        {
            "patient": [f"P{i}" for i in range(7)],
            "age_band": ["60-69"] * 6 + ["90+"],
            "sex": ["male"] * 7,
            "diagnosis_year": [2020] * 7,
        }
    )
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


def test_quasi_identifiers_from_standard_rows() -> None:
    rows = pd.DataFrame(
        {
            "patient": ["P1", "P1", "P2"],
            "age_at_diagnosis": ["67", "67", "90+"],
            "sex": ["male", "male", "female"],
            "diagnosis_date": pd.to_datetime(["2020-03-01", "2020-03-01", "2021-07-09"]),
        }
    )
    q = quasi_identifiers(rows)
    assert q.to_dict("list") == {
        "patient": ["P1", "P2"],
        "age_band": ["60-69", "90+"],
        "sex": ["male", "female"],
        "diagnosis_year": [2020, 2021],
    }
    assert check_k_anonymity(q, k=2).n_failed == 2
