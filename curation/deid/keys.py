"""Keyed pseudonyms, UID remapping and per-patient date shifts, all derived from one secret.

HMAC-SHA256 with the cohort's secret: the same identifier gives the same pseudonym in every
modality and run, a different secret gives unlinkable pseudonyms, and nobody holding an MRN can
recompute its pseudonym without the key (unlike the unkeyed hashes many public tools use).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from _hashlib import HASH as Hash
    from collections.abc import Iterable, Sequence

    from ..config import CohortConfig

__all__ = ["Keyring", "keyring_for", "load_secret"]

MIN_SECRET_BYTES = 16


def _normalized(values: Iterable[object]) -> list[str]:
    """The text each identifier is keyed on: NFKC (fullwidth digits become ASCII), stripped, upper case."""
    texts = [str(v) for v in values]
    # NFKC leaves ASCII as it is, so one check of the whole batch spares the common all-ASCII case
    # a normalize call per value; with any non-ASCII value, NFKC of all gives the same texts
    if not "".join(texts).isascii():
        texts = [unicodedata.normalize("NFKC", t) for t in texts]
    return [t.strip().upper() for t in texts]


@functools.cache
def _prefix(kind: str) -> str:
    return "".join(ch for ch in kind.upper() if ch.isalnum())[:2] or "ID"


# RFC 4648 base32 of the first 60 bits of each digest, i.e. base64.b32encode(digest[:10])[:12],
# done on all digests at once with numpy: b32encode is a Python loop over 5-byte groups and cost
# more than the HMACs themselves (0.44 s per 200k values)
_B32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
_B32_SHIFTS = np.arange(59, 3, -5, dtype=np.uint64)  # the 12 five-bit groups of bits 63..4
_WORDS = hashlib.sha256().digest_size // 8  # 64-bit words per digest
_BLOCK = hashlib.sha256().block_size


def _first_u64(digests: bytes) -> np.ndarray:
    """The first 8 bytes of each concatenated digest, as big-endian unsigned integers."""
    return np.frombuffer(digests, dtype=">u8")[::_WORDS]


def _b32_names(prefix: str, digests: bytes) -> list[str]:
    """``prefix`` + the first 12 base32 characters of each concatenated digest."""
    chars = _B32[(_first_u64(digests)[:, None] >> _B32_SHIFTS) & np.uint64(31)]
    text = chars.tobytes().decode("ascii")
    return [prefix + text[i : i + 12] for i in range(0, len(text), 12)]


@dataclass(frozen=True)
class Keyring:
    """All keyed transforms of a run. Never log, print or serialize ``secret``.

    Every transform has a batch form (:meth:`patients`, :meth:`tokens`, :meth:`date_shifts`) for
    the distinct values of a column; the scalar form is the batch form of one value.
    """

    secret: bytes = field(repr=False)
    max_shift_days: int = 365

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            msg = (
                f"the pseudonymization secret is {len(self.secret)} bytes; use at least {MIN_SECRET_BYTES} random bytes"
            )
            raise ConfigError(msg)
        if self.max_shift_days < 1:
            msg = f"max_shift_days is {self.max_shift_days}; use 1..3650 days (dates.max_shift_days in cohort.yaml)"
            raise ConfigError(msg)

    def __getstate__(self) -> dict[str, object]:
        # the fields only: the cached pad states are derived (and hashlib objects do not pickle)
        return {"secret": self.secret, "max_shift_days": self.max_shift_days}

    @functools.cached_property
    def _pads(self) -> tuple[Hash, Hash]:
        """SHA-256 states after the HMAC inner and outer key pads (RFC 2104), computed once.

        Written out because ``hmac.digest`` derives both pads from the key on every call (~4 us,
        most of its cost); copying these states per message gives the same digests 4x faster.
        Cached on the instance, outside the fields: never compared, repr'd or pickled.
        """
        key = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        key = key.ljust(_BLOCK, b"\0")
        return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def _macs(self, domain: str, values: Iterable[str]) -> bytes:
        """HMAC-SHA256 of ``domain``, a unit separator (0x1f) and ``value`` for each value, concatenated."""
        pad_in, pad_out = self._pads
        start = pad_in.copy()
        start.update(f"{domain}\x1f".encode())  # the domain prefix is hashed once per batch
        inner, outer = start.copy, pad_out.copy
        out = []
        # one SHA-256 per message each way: hashlib has no batch API, so this loop runs once per
        # distinct value (callers pass distinct values, never rows)
        for value in values:
            h = inner()
            h.update(value.encode())
            o = outer()
            o.update(h.digest())
            out.append(o.digest())
        return b"".join(out)

    def _mac(self, domain: str, value: str) -> bytes:
        return self._macs(domain, [value])

    @property
    def fingerprint(self) -> str:
        """Identifies the key in run.json without revealing it."""
        return "hmac-sha256:" + self._mac("fingerprint", "curation").hex()[:16]

    def patient(self, identifier: object, *, site: str = "") -> str:
        """Pseudonym of a patient identifier (MRN / admission number), qualified by site."""
        return self.patients([identifier], site=site)[0]

    def patients(self, identifiers: Sequence[object], *, site: str | Sequence[str] = "") -> list[str]:
        """:meth:`patient` of each identifier, with one ``site`` for all or one per identifier.

        Pass distinct values (e.g. the distinct (site, id) pairs of a column), not rows.
        """
        ids = _normalized(identifiers)
        if isinstance(site, str):
            sites = _normalized([site]) * len(ids)
        else:
            sites = _normalized(site)
            if len(sites) != len(ids):
                msg = f"Keyring.patients: {len(sites)} sites for {len(ids)} identifiers; give one per identifier"
                raise ValueError(msg)
        return _b32_names("PT", self._macs("patient", [f"{s}\x1f{i}" for s, i in zip(sites, ids, strict=True)]))

    def token(self, kind: str, identifier: object) -> str:
        """Pseudonym of any other identifier (sample, specimen, accession, resident ID for dedup)."""
        return self.tokens(kind, [identifier])[0]

    def tokens(self, kind: str, identifiers: Sequence[object]) -> list[str]:
        """:meth:`token` of each identifier (pass distinct values, not rows)."""
        return _b32_names(_prefix(kind), self._macs(kind, _normalized(identifiers)))

    def uid(self, uid: str) -> str:
        """A DICOM UID remapped under the 2.25 (UUID-derived) root; deterministic per key."""
        digest = self._mac("uid", uid.strip().rstrip("\x00"))
        return "2.25." + str(int.from_bytes(digest[:16], "big"))

    def date_shift(self, pseudonym: str) -> int:
        """Days to add to every date of this patient: in [-max, -1] U [1, max], never 0."""
        return int(self.date_shifts([pseudonym])[0])

    def date_shifts(self, pseudonyms: Sequence[str]) -> np.ndarray:
        """:meth:`date_shift` of each pseudonym, as an int64 array (pass distinct pseudonyms)."""
        n = _first_u64(self._macs("date-shift", [str(p) for p in pseudonyms]))
        days = (n % np.uint64(self.max_shift_days)).astype(np.int64) + 1
        return np.where(n & np.uint64(1 << 40), days, -days)  # bit 40 gives the direction


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
