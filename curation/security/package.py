"""Encrypted transfer packages: a bundle as one age-encrypted tar stream (``curation package`` /
``curation unpack``).

The bundle's files (those its manifest lists, the manifest and the audit trail) are written as a tar
stream straight into age encryption (pyrage, the Python binding of rage): no plain copy of the
bundle is written on the way. Recipients are age X25519 public keys (``age1...``; ``age-keygen``
makes a pair) or SSH public keys; partners without keys get passphrase mode (age's scrypt), which
pyrage offers for data in memory only, so that mode holds the package in memory.

Unpacking decrypts and untars into a private folder beside the target, verifies the bundle there
(``curation verify``) and only then moves it to the target: a wrong identity, a truncated or tampered
package, or a bundle that does not verify leaves nothing in the target folder.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import CurationError
from ..io.bundle import AUDIT, MANIFEST, atomic_path, sha256_file
from . import audit
from .access import secure_tree
from .verify import RUN_JSON, verify_bundle

__all__ = [
    "PackageError",
    "Packed",
    "bundle_members",
    "package_bundle",
    "parse_recipients",
    "read_identities",
    "unpack_package",
]

AGE_MAGIC = b"age-encryption.org/v1\n"
SCRYPT_STANZA = b"-> scrypt "


class PackageError(CurationError):
    """A package cannot be made or opened; the message names the file and the problem (exit 2)."""


@dataclass
class Packed:
    """What :func:`package_bundle` wrote."""

    path: Path
    files: int
    sha256: str
    recipients: list[str]


def parse_recipients(keys: list[str]) -> list[Any]:
    """age X25519 (``age1...``) or SSH public keys; a key that does not parse is a :class:`PackageError`."""
    from pyrage import RecipientError, ssh, x25519

    out = []
    for i, key in enumerate(keys, start=1):
        key = key.strip()
        try:
            out.append(ssh.Recipient.from_str(key) if key.startswith("ssh-") else x25519.Recipient.from_str(key))
        except RecipientError as exc:
            msg = (
                f"--recipient #{i} ({key[:12]}...) is not an age public key ({exc}); give the 'age1...' line "
                "that `age-keygen -y KEYFILE` prints, or an ssh-ed25519 / ssh-rsa public key"
            )
            raise PackageError(msg) from None
    return out


def read_identities(path: Path) -> list[Any]:
    """The age identities (``AGE-SECRET-KEY-1...`` lines) of a key file readable by its owner only."""
    from pyrage import IdentityError, x25519

    if not path.is_file():
        msg = f"--identity {path}: no such file; give the key file made by `age-keygen -o KEYFILE`"
        raise PackageError(msg)
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        msg = (
            f"--identity {path}: mode {stat.S_IMODE(mode):04o} lets group or others read the private key; "
            f"restrict it to its owner: `chmod 600 {path}`"
        )
        raise PackageError(msg)
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    try:
        identities = [x25519.Identity.from_str(k) for k in keys]
    except IdentityError:
        identities = []
    if not identities:
        msg = f"--identity {path}: holds no age identity (an 'AGE-SECRET-KEY-1...' line, as `age-keygen` writes)"
        raise PackageError(msg)
    return identities


def bundle_members(root: Path) -> list[str]:
    """What a package holds: the files of the manifest, the manifest and the audit trail."""
    listed = [ln.partition("  ")[2] for ln in (root / MANIFEST).read_text(encoding="utf-8").splitlines() if ln]
    return [*listed, MANIFEST, *([AUDIT] if (root / AUDIT).is_file() else [])]


def package_bundle(
    root: Path,
    to: Path,
    *,
    recipients: list[str] | None = None,
    passphrase: str | None = None,
    allow_unreleasable: str | None = None,
    operator: str | None = None,
) -> Packed:
    """Encrypt a verified bundle into one age file.

    Parameters
    ----------
    root
        The bundle.
    to
        The ``.age`` file to write (atomically, owner-only).
    recipients
        age or SSH public keys; or
    passphrase
        a passphrase (age scrypt), for a partner without keys.
    allow_unreleasable
        The reason to package a bundle whose leak scan failed (``releasable: false``); recorded in the
        audit trail. Without it such a bundle is refused.
    operator
        Who, for the audit trail.

    Raises
    ------
    PackageError
        The bundle does not verify, is not releasable, a recipient does not parse, or no recipient
        nor passphrase is given.
    """
    root = Path(root)
    if bool(recipients) == bool(passphrase):
        raise PackageError("give --recipient (one or more age public keys) or --passphrase, not both nor neither")
    parsed = parse_recipients(recipients or [])
    result = verify_bundle(root)
    if not result.ok:
        msg = (
            f"{root}: does not verify ({len(result.problems)} problem(s), the first: {result.problems[0]}); "
            "run `curation verify` and re-run the cohort before packaging"
        )
        raise PackageError(msg)
    import json

    record = json.loads((root / RUN_JSON).read_text(encoding="utf-8"))
    if record.get("releasable") is False and not allow_unreleasable:
        msg = (
            f"{root}: not releasable (the leak scan found or could not rule out identifiers: see "
            "privacy.leak_scan in reports/index.html); fix and re-run, or pass --allow-unreleasable REASON, "
            "which the audit trail records"
        )
        raise PackageError(msg)
    members = bundle_members(root)
    to = Path(to)
    with atomic_path(to) as tmp:
        if passphrase:
            from pyrage import passphrase as scrypt

            buffer = io.BytesIO()
            _write_tar(root, members, buffer)
            tmp.write_bytes(scrypt.encrypt(buffer.getvalue(), passphrase))
        else:
            _encrypt_stream(root, members, tmp, parsed)
        os.chmod(tmp, 0o600)
    digest = sha256_file(to)
    shown = [str(k).strip()[:80] for k in recipients or []] or ["passphrase (scrypt)"]
    audit.append(
        root,
        "package",
        operator=operator,
        run_id=record.get("run_id"),
        file=to.name,
        sha256=digest,
        files=len(members),
        recipients=shown,
        releasable=record.get("releasable"),
        allow_unreleasable=allow_unreleasable or None,
    )
    return Packed(to, len(members), digest, shown)


def _write_tar(root: Path, members: list[str], fh: IO[bytes]) -> None:
    with tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in members:
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            if not info.isfile():
                continue
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            with open(root / rel, "rb") as src:
                tar.addfile(info, src)


def _encrypt_stream(root: Path, members: list[str], target: Path, recipients: list[Any]) -> None:
    """tar in a thread -> pipe -> age: the bundle is never written in plain on the way."""
    import pyrage

    with _piped(lambda w: _write_tar(root, members, w), producer_wins=False) as reader, open(target, "wb") as out:
        pyrage.encrypt_io(reader, out, recipients)


@contextmanager
def _piped(produce: Callable[[IO[bytes]], None], *, producer_wins: bool) -> Iterator[IO[bytes]]:
    """A reader of what ``produce`` writes in a thread. When both sides fail, the producer's error is
    raised if ``producer_wins`` (decryption: its error explains the reader's), else the reader's."""
    rfd, wfd = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(wfd, "wb") as w:
                produce(w)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="curation-package-stream", daemon=True)
    thread.start()
    reader = os.fdopen(rfd, "rb")
    failed: BaseException | None = None
    try:
        yield reader
    except BaseException as exc:  # noqa: BLE001 - re-raised below, after the thread has ended
        failed = exc
    finally:
        reader.close()  # unblocks the writer if the reader stopped early
        thread.join()
    if errors and (producer_wins or failed is None):
        raise errors[0]
    if failed is not None:
        raise failed


def unpack_package(
    package: Path, to: Path, *, identity: Path | None = None, passphrase: str | None = None, operator: str | None = None
) -> Path:
    """Decrypt, untar and verify a package into ``to`` (a folder that does not exist or is empty).

    Raises
    ------
    PackageError
        One message naming the problem: not an age file, a wrong identity or passphrase, a truncated or
        tampered package, not a bundle, a bundle that does not verify, or a target folder in use.
        Nothing is then written to ``to``.
    """
    package, to = Path(package), Path(to)
    if bool(identity) == bool(passphrase):
        raise PackageError("give --identity KEYFILE or --passphrase, not both nor neither")
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise PackageError(f"--to {to}: exists and is not an empty folder; unpack into a new folder")
    if not package.is_file():
        raise PackageError(f"{package}: no such file")
    with open(package, "rb") as fh:
        header = fh.read(4096)
    if not header.startswith(AGE_MAGIC):
        raise PackageError(
            f"{package}: not an age-encrypted file (no age header); give the .age file `curation package` wrote"
        )
    scrypt = SCRYPT_STANZA in header.split(b"\n---", 1)[0]
    if scrypt and not passphrase:
        raise PackageError(f"{package}: encrypted with a passphrase; unpack it with --passphrase")
    if not scrypt and passphrase:
        raise PackageError(f"{package}: encrypted to age keys, not a passphrase; unpack it with --identity KEYFILE")
    identities = read_identities(identity) if identity else []
    to.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{to.name}.unpacking-", dir=to.parent))
    try:
        if passphrase:
            _untar(_decrypt_passphrase(package, passphrase), staging, package)
        else:
            _decrypt_stream(package, staging, identities)
        result = verify_bundle(staging)
        if not result.ok:
            msg = (
                f"{package}: the bundle inside does not verify ({len(result.problems)} problem(s), the first: "
                f"{result.problems[0].replace(str(staging), '<bundle>')}); ask the sender to package it again"
            )
            raise PackageError(msg)
        secure_tree(staging)
        if to.exists():
            to.rmdir()
        os.replace(staging, to)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    record = _read_json(to / RUN_JSON)
    audit.append(
        to, "unpack", operator=operator, run_id=record.get("run_id"), file=package.name, sha256=sha256_file(package)
    )
    return to


def _decrypt_passphrase(package: Path, passphrase: str) -> IO[bytes]:
    import pyrage
    from pyrage import passphrase as scrypt

    try:
        return io.BytesIO(scrypt.decrypt(package.read_bytes(), passphrase))
    except pyrage.DecryptError as exc:
        raise PackageError(f"{package}: cannot be decrypted with this passphrase, or it is damaged ({exc})") from None


def _decrypt_stream(package: Path, staging: Path, identities: list[Any]) -> None:
    """age -> pipe -> untar into ``staging``. The stream is read to its end, so that age checks the last
    chunk too (a truncated package fails); a decryption error explains the tar error it causes."""
    import pyrage

    def produce(w: IO[bytes]) -> None:
        with open(package, "rb") as src:
            try:
                pyrage.decrypt_io(src, w, identities)
            except (pyrage.DecryptError, BrokenPipeError):
                raise
            except OSError as exc:  # pyrage's stream reader: a chunk that fails its authentication
                raise pyrage.DecryptError(str(exc)) from None

    try:
        with _piped(produce, producer_wins=True) as reader:
            try:
                _untar(reader, staging, package)
            finally:
                while reader.read(1 << 20):
                    pass
    except pyrage.DecryptError as exc:
        why = (
            "none of the identities in the key file can open it (it was encrypted to other recipients)"
            if "no matching keys" in str(exc).lower()
            else f"damaged, truncated or tampered ({exc})"
        )
        raise PackageError(f"{package}: {why}") from None


def _untar(fh: IO[bytes], staging: Path, package: Path) -> None:
    try:
        with tarfile.open(fileobj=fh, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    raise PackageError(f"{package}: holds {member.name!r}, which is not a regular file")
                # the 'data' filter refuses absolute paths, '..', links and device files
                tar.extract(member, staging, filter="data")
    except tarfile.TarError as exc:
        raise PackageError(f"{package}: not a complete bundle package ({exc})") from None


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
