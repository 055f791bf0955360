"""The batch forms of the keyring (patients, tokens, date_shifts) against the scalar forms and
against plain ``hmac.digest``: the hand-written HMAC pads, the batch normalisation and the numpy
base32 must give the pseudonyms every earlier run gave."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import pickle
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.deid.keys import Keyring
from curation.errors import ConfigError

# a short key and one longer than SHA-256's 64-byte block (HMAC hashes such a key first)
KEYS = [Keyring(b"k" * 32), Keyring(bytes(range(1, 101)), max_shift_days=30)]

FULLWIDTH = "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff21\uff22"  # "０１…９ＡＢ"
SPACES = " \t\n\r\x0b\x0c\x1c\x1f\u00a0\u2003\u3000"
identifier = st.one_of(
    st.text(max_size=12),  # any unicode, empty included
    st.text(alphabet="0123456789aZ-" + FULLWIDTH + SPACES, max_size=12),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["", " ", "\u3000", "0012345", " 0012345 ", "\uff10\uff10\uff11\uff12", "mrn-7", "ß", "ﬁ"]),
)
idents = st.lists(identifier, max_size=25)


def _norm(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip().upper()


def _ref_digest(key: Keyring, domain: str, value: str) -> bytes:
    return hmac.digest(key.secret, f"{domain}\x1f{value}".encode(), hashlib.sha256)


def _ref_name(prefix: str, digest: bytes) -> str:
    return prefix + base64.b32encode(digest[:10]).decode().rstrip("=")[:12]


def _ref_patient(key: Keyring, value: object, site: str) -> str:
    return _ref_name("PT", _ref_digest(key, "patient", f"{_norm(site)}\x1f{_norm(value)}"))


def _ref_shift(key: Keyring, pseudonym: str) -> int:
    n = int.from_bytes(_ref_digest(key, "date-shift", pseudonym)[:8], "big")
    days = n % key.max_shift_days + 1
    return days if (n >> 40) & 1 else -days


@pytest.mark.parametrize("key", KEYS, ids=["short-key", "long-key"])
@settings(max_examples=150, deadline=None)
@given(values=idents, site=st.text(alphabet="abAB \u3000\uff21", max_size=3))
def test_patients_equal_scalar_and_hmac_reference(key: Keyring, values: list[object], site: str) -> None:
    batch = key.patients(values, site=site)
    assert batch == [key.patient(v, site=site) for v in values]
    assert batch == [_ref_patient(key, v, site) for v in values]


@pytest.mark.parametrize("key", KEYS, ids=["short-key", "long-key"])
@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(identifier, st.text(max_size=4)), max_size=25))
def test_patients_with_a_site_per_identifier(key: Keyring, pairs: list[tuple[object, str]]) -> None:
    values, sites = [v for v, _ in pairs], [s for _, s in pairs]
    assert key.patients(values, site=sites) == [_ref_patient(key, v, s) for v, s in pairs]


@pytest.mark.parametrize("key", KEYS, ids=["short-key", "long-key"])
@settings(max_examples=100, deadline=None)
@given(values=idents, kind=st.sampled_from(["rid", "specimen", "file", "x", "", "échantillon", "7"]))
def test_tokens_equal_scalar_and_hmac_reference(key: Keyring, values: list[object], kind: str) -> None:
    prefix = "".join(ch for ch in kind.upper() if ch.isalnum())[:2] or "ID"
    batch = key.tokens(kind, values)
    assert batch == [key.token(kind, v) for v in values]
    assert batch == [_ref_name(prefix, _ref_digest(key, kind, _norm(v))) for v in values]


@pytest.mark.parametrize("key", KEYS, ids=["short-key", "long-key"])
@settings(max_examples=100, deadline=None)
@given(pseudonyms=st.lists(st.text(max_size=16), max_size=25))
def test_date_shifts_equal_scalar_and_hmac_reference(key: Keyring, pseudonyms: list[str]) -> None:
    batch = key.date_shifts(pseudonyms)
    assert batch.dtype == np.int64 and batch.shape == (len(pseudonyms),)
    assert batch.tolist() == [key.date_shift(p) for p in pseudonyms]
    assert batch.tolist() == [_ref_shift(key, p) for p in pseudonyms]
    assert all(d != 0 and abs(d) <= key.max_shift_days for d in batch.tolist())


@pytest.mark.parametrize("key", KEYS, ids=["short-key", "long-key"])
def test_many_values_and_the_other_methods_match_the_reference(key: Keyring) -> None:
    values = [f"{i:07d}" for i in range(3000)] + [f"\uff10{i:06d}" for i in range(50)] + [" a ", "", 12.0]
    names = key.patients(values, site="B")
    assert names == [_ref_patient(key, v, "B") for v in values]
    assert key.date_shifts(names).tolist() == [_ref_shift(key, p) for p in names]
    assert len(set(names)) == len(values) - 50  # a fullwidth "０" + "000012" is "0000012"
    assert key.uid(" 1.2.3\x00") == "2.25." + str(int.from_bytes(_ref_digest(key, "uid", "1.2.3")[:16], "big"))
    assert key.fingerprint == "hmac-sha256:" + _ref_digest(key, "fingerprint", "curation").hex()[:16]


def test_empty_batches() -> None:
    key = KEYS[0]
    assert key.patients([]) == [] and key.patients([], site=[]) == [] and key.tokens("rid", []) == []
    assert key.date_shifts([]).tolist() == []


def test_a_site_per_identifier_must_match_in_length() -> None:
    with pytest.raises(ValueError, match="2 sites for 3 identifiers"):
        KEYS[0].patients(["1", "2", "3"], site=["A", "B"])


def test_cached_pads_stay_out_of_repr_equality_and_pickles() -> None:
    key = Keyring(b"k" * 32)
    before = key.patient("0012345")  # fills the cache
    assert "secret" not in repr(key) and "pad" not in repr(key)
    assert key == Keyring(b"k" * 32) and hash(key) == hash(Keyring(b"k" * 32))
    for clone in (pickle.loads(pickle.dumps(key)), copy.deepcopy(key), copy.copy(key)):
        assert clone == key and clone.patient("0012345") == before
    assert "_pads" not in pickle.loads(pickle.dumps(key)).__dict__


def test_shift_range_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_shift_days is 0"):
        Keyring(b"k" * 32, max_shift_days=0)
