from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.deid.keys import Keyring
from curation.deid.tabular import drop_identifiers, known_identifiers, pseudonymize
from curation.errors import DeidError

K = Keyring(b"s" * 32)


def test_pseudonymize_adds_patient_drops_id() -> None:
    df = pd.DataFrame({"admission_number": ["A001", "A002", "A001", None, " "], "x": range(5)})
    out = pseudonymize(df, id_col="admission_number", keyring=K, site="siteA")
    assert list(out.columns) == ["patient", "x"]
    assert out.patient[0] == out.patient[2] == K.patient("A001", site="siteA")
    assert out.patient[0] != out.patient[1]
    assert out.patient.isna().tolist() == [False, False, False, True, True]
    assert "admission_number" in df.columns  # input untouched


def test_pseudonymize_site_column() -> None:
    df = pd.DataFrame({"mrn": ["1", "1"], "site": ["A", "B"]})
    out = pseudonymize(df, id_col="mrn", keyring=K, site_col="site")
    assert out.patient[0] == K.patient("1", site="A") != out.patient[1]


def test_pseudonymize_missing_column() -> None:
    with pytest.raises(DeidError, match="column 'mrn' is not in the frame"):
        pseudonymize(pd.DataFrame({"a": [1]}), id_col="mrn", keyring=K)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789ABZ", min_size=1, max_size=10), min_size=1, max_size=30))
def test_pseudonymize_injective(ids: list[str]) -> None:
    out = pseudonymize(pd.DataFrame({"mrn": ids}), id_col="mrn", keyring=K, site="A")
    mapping = dict(zip(ids, out.patient, strict=True))
    assert len(set(mapping.values())) == len(set(ids))
    again = pseudonymize(pd.DataFrame({"mrn": ids}), id_col="mrn", keyring=K, site="A")
    assert out.patient.tolist() == again.patient.tolist()


def test_drop_identifiers_by_class() -> None:
    df = pd.DataFrame(
        {
            "patient": ["P1"],
            "name": ["张三"],
            "phone": ["13812345678"],
            "sex": ["male"],
            "note": ["secret"],
            "report_text": ["患者张三，电话13812345678，住院号：ZY123456"],
        }
    )
    phi = {"name": "direct", "phone": "direct", "sex": "quasi", "note": "free_text", "report_text": "free_text"}
    known = known_identifiers(df, ["name", "phone"])
    out = drop_identifiers(df, phi, keep_text=("report_text",), known_by_row=known)
    assert list(out.columns) == ["patient", "sex", "report_text"]
    text = out.report_text[0]
    assert "张三" not in text and "13812345678" not in text and "ZY123456" not in text
    assert drop_identifiers(df, phi, unknown="drop").columns.tolist() == ["sex"]
    with pytest.raises(DeidError, match="column 'patient' has no PHI class"):
        drop_identifiers(df, phi, unknown="error")


def test_drop_identifiers_rejects_bad_class_and_non_text_allow() -> None:
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(DeidError, match="unknown PHI class"):
        drop_identifiers(df, {"a": "secret"})
    with pytest.raises(DeidError, match="not free_text"):
        drop_identifiers(df, {"a": "direct"}, keep_text=("a",))


def test_pseudonymize_float_ids_match_text_ids() -> None:
    as_float = pseudonymize(pd.DataFrame({"mrn": [12345.0, None]}), id_col="mrn", keyring=K, site="B")
    as_text = pseudonymize(pd.DataFrame({"mrn": ["12345"]}), id_col="mrn", keyring=K, site="B")
    assert as_float.patient[0] == as_text.patient[0] and pd.isna(as_float.patient[1])
