"""Keyed pseudonyms, UID remapping and per-patient date shifts, all derived from one secret.

HMAC-SHA256 with the cohort's secret: the same identifier gives the same pseudonym in every
modality and run, a different secret gives unlinkable pseudonyms, and nobody holding an MRN can
recompute its pseudonym without the key (unlike the unkeyed hashes many public tools use).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import shlex
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import CohortConfig

__all__ = ["Keyring", "keyring_for", "load_secret"]

MIN_SECRET_BYTES = 16


def _normalize(value: object) -> str:
    text = str(value)
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text)
    return text.strip().upper()


@functools.cache
def _prefix(kind: str) -> str:
    return "".join(ch for ch in kind.upper() if ch.isalnum())[:2] or "ID"


@dataclass(frozen=True)
class Keyring:
    """All keyed transforms of a run. Never log, print or serialize ``secret``."""

    secret: bytes = field(repr=False)
    max_shift_days: int = 365

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            msg = (
                f"the pseudonymization secret is {len(self.secret)} bytes; use at least {MIN_SECRET_BYTES} random bytes"
            )
            raise ConfigError(msg)

    def _mac(self, domain: str, value: str) -> bytes:
        return hmac.digest(self.secret, f"{domain}\x1f{value}".encode(), hashlib.sha256)  # one C call

    @property
    def fingerprint(self) -> str:
        """Identifies the key in run.json without revealing it."""
        return "hmac-sha256:" + self._mac("fingerprint", "curation").hex()[:16]

    def patient(self, identifier: object, *, site: str = "") -> str:
        """Pseudonym of a patient identifier (MRN / admission number), qualified by site."""
        digest = self._mac("patient", f"{_normalize(site)}\x1f{_normalize(identifier)}")
        return "PT" + base64.b32encode(digest[:10]).decode().rstrip("=")[:12]

    def token(self, kind: str, identifier: object) -> str:
        """Pseudonym of any other identifier (sample, specimen, accession, resident ID for dedup)."""
        digest = self._mac(kind, _normalize(identifier))
        return _prefix(kind) + base64.b32encode(digest[:10]).decode().rstrip("=")[:12]

    def uid(self, uid: str) -> str:
        """A DICOM UID remapped under the 2.25 (UUID-derived) root; deterministic per key."""
        digest = self._mac("uid", uid.strip().rstrip("\x00"))
        return "2.25." + str(int.from_bytes(digest[:16], "big"))

    def date_shift(self, pseudonym: str) -> int:
        """Days to add to every date of this patient: in [-max, -1] U [1, max], never 0."""
        n = int.from_bytes(self._mac("date-shift", pseudonym)[:8], "big")
        days = n % self.max_shift_days + 1
        return days if (n >> 40) & 1 else -days


def load_secret(*, env: str | None = None, file: str | Path | None = None, where: str = "cohort.yaml") -> bytes:
    """Read the secret from an environment variable or a key file.

    A key file must be readable and writable by its owner only (as ssh requires of private keys):
    a key others can read lets them recompute every pseudonym, one they can write lets them swap it.

    Raises
    ------
    ConfigError
        The variable is unset, the file is missing, open to group or others, empty, or the secret is
        shorter than ``MIN_SECRET_BYTES``; the message names ``secret.env`` or ``secret.file`` and the fix.
    """
    if env:
        value = os.environ.get(env)
        if not value:
            msg = (
                f"{where}: secret.env: environment variable {env} is not set; export it "
                f"(e.g. `export {env}=$(openssl rand -hex 32)`) or point secret.file at a key file"
            )
            raise ConfigError(msg)
        return _long_enough(
            value.encode(),
            f"{where}: secret.env: environment variable {env}",
            f"`export {env}=$(openssl rand -hex 32)`",
        )
    if file:
        return _read_key_file(Path(file), where=where)
    raise ConfigError(f"{where}: secret: give secret.env or secret.file; the run refuses to start without a key")


def _read_key_file(path: Path, *, where: str) -> bytes:
    shown = shlex.quote(str(path))
    if not path.is_file():
        msg = (
            f"{where}: secret.file: key file {str(path)!r} does not exist; "
            f"create it (e.g. `umask 077; openssl rand -hex 32 > {shown}`)"
        )
        raise ConfigError(msg)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        msg = (
            f"{where}: secret.file: key file {str(path)!r} cannot be read ({type(exc).__name__}); "
            f"make it readable by the user running curation (`chmod 600 {shown}`)"
        )
        raise ConfigError(msg) from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if os.name == "posix" and mode & 0o077:  # the mode of what is read, not of a symlink to it
            perm = stat.S_IMODE(mode)
            msg = (
                f"{where}: secret.file: key file {str(path)!r} has mode {perm:04o}: readable or writable by "
                f"group or others, so anyone on this machine could recompute the pseudonyms; "
                f"restrict it to its owner: `chmod 600 {shown}`"
            )
            raise ConfigError(msg)
        secret = fh.read().strip()
    return _long_enough(
        secret, f"{where}: secret.file: key file {str(path)!r}", f"`umask 077; openssl rand -hex 32 > {shown}`"
    )


def _long_enough(secret: bytes, what: str, fix: str) -> bytes:
    if not secret:
        msg = f"{what} is empty; write a random key into it (e.g. {fix})"
        raise ConfigError(msg)
    if len(secret) < MIN_SECRET_BYTES:
        msg = f"{what} holds a {len(secret)}-byte secret; use at least {MIN_SECRET_BYTES} random bytes (e.g. {fix})"
        raise ConfigError(msg)
    return secret


def keyring_for(config: CohortConfig) -> Keyring:
    """The keyring of a loaded :class:`~curation.config.CohortConfig`."""
    sec = config.secret
    secret = load_secret(env=sec.env, file=config.resolve(sec.file) if sec.file else None, where=config.path.name)
    return Keyring(secret, max_shift_days=config.dates.max_shift_days)
