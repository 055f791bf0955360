from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.deid.keys import Keyring, load_secret
from curation.errors import ConfigError

K1 = Keyring(b"k" * 32)
K2 = Keyring(b"j" * 32)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_pseudonyms_deterministic_and_injective(a: str, b: str) -> None:
    assert K1.patient(a) == K1.patient(a)
    if a.strip().upper() != b.strip().upper():
        assert K1.patient(a) != K1.patient(b)


def test_other_key_unlinkable() -> None:
    assert K1.patient("0012345") != K2.patient("0012345")
    assert K1.patient("0012345", site="A") != K1.patient("0012345", site="B")


@given(st.text(min_size=1, max_size=20))
def test_date_shift_never_zero_and_bounded(p: str) -> None:
    d = K1.date_shift(p)
    assert d != 0 and abs(d) <= 365


def test_uid_form() -> None:
    u = K1.uid("1.2.840.113619.2.55.3.604688119")
    assert u.startswith("2.25.") and len(u) <= 64 and u == K1.uid("1.2.840.113619.2.55.3.604688119")


def test_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"secret\.env: environment variable NOPE_SECRET is not set"):
        load_secret(env="NOPE_SECRET")
    with pytest.raises(ConfigError, match="at least 16"):
        Keyring(b"short")
