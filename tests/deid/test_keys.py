from __future__ import annotations

import os
from pathlib import Path

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


def _key(path: Path, mode: int, text: str = "ab" * 32) -> Path:
    path.write_text(text, encoding="ascii")
    path.chmod(mode)
    return path


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o660, 0o640, 0o604, 0o602, 0o620, 0o666])
def test_key_file_open_to_group_or_others_is_refused_with_the_chmod_fix(tmp_path: Path, mode: int) -> None:
    key = _key(tmp_path / "demo.key", mode)
    with pytest.raises(
        ConfigError,
        match=rf"cohort.yaml: secret.file: key file .*demo.key' has mode {mode:04o}: "
        rf"readable or writable by group or others.*`chmod 600 \S*demo.key`",
    ):
        load_secret(file=key)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_mode_is_that_of_the_target_of_a_symlink(tmp_path: Path) -> None:
    target = _key(tmp_path / "real.key", 0o644)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="has mode 0644"):
        load_secret(file=link)
    target.chmod(0o600)
    assert load_secret(file=link) == b"ab" * 32


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_owner_only_key_file_is_read(tmp_path: Path, mode: int) -> None:
    assert load_secret(file=_key(tmp_path / "k.key", mode, "ab" * 32 + "\n")) == b"ab" * 32


def test_empty_key_file_names_secret_file(tmp_path: Path) -> None:
    for text in ("", "\n  \n"):
        key = _key(tmp_path / "empty.key", 0o600, text)
        with pytest.raises(
            ConfigError,
            match=r"cohort.yaml: secret.file: key file .*empty.key' is empty; "
            r"write a random key into it \(e.g. `umask 077; openssl rand",
        ):
            load_secret(file=key)


def test_short_secret_names_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"secret.file: key file .*short.key' holds a 5-byte secret; use at least 16"):
        load_secret(file=_key(tmp_path / "short.key", 0o600, "short"))
    monkeypatch.setenv("SHORT_SECRET", "abc")
    with pytest.raises(ConfigError, match=r"secret.env: environment variable SHORT_SECRET holds a 3-byte secret"):
        load_secret(env="SHORT_SECRET")
