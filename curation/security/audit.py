"""The audit trail: ``audit.jsonl`` in the bundle, append-only, one event a line, hash-chained.

Each line is a JSON object whose ``prev`` is the SHA-256 of the previous line's bytes (the first
line of a bundle's first run: 64 zeros; the first line after a re-run: the last line of the trail
archived in ``history/<run-id>/audit.jsonl``) and whose last key, ``hash``, is the SHA-256 of the line
before that key (the object without it), so that the last line is covered too. Editing, inserting or
deleting a line breaks the chain, and :func:`check_chain` (run by ``curation verify``) names the first
line that no longer follows. The trail is not listed in manifest-sha256.txt: it grows after the manifest is written
(a package or unpack event); its ``run_end`` event carries the manifest's SHA-256 instead, so the
chain vouches for the manifest and the manifest for every other file.

Events carry who (the OS user, or ``--operator``), where (a fingerprint of the host, never its
name), which key (the keyring's fingerprint, never the secret) and what; never an identifier.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from ..io.bundle import AUDIT

__all__ = ["append", "check_chain", "host_fingerprint", "last_hash", "line_hash", "operator_name", "read_events"]

GENESIS = "0" * 64
FILE_MODE = 0o600
_TAIL = 1 << 16  # bytes read from the end to find the last line (events are short)


def line_hash(line: bytes) -> str:
    """SHA-256 of one line of the trail, without its newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def last_hash(path: Path) -> str | None:
    """The hash of the last line of a trail, None when it does not exist or is empty."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL))
            tail = fh.read()
    except FileNotFoundError:
        return None
    lines = [ln for ln in tail.rstrip(b"\n").split(b"\n") if ln]
    if not lines:
        return None
    if size > _TAIL and len(lines) == 1:  # one line longer than the tail: read it whole
        lines = [ln for ln in path.read_bytes().rstrip(b"\n").split(b"\n") if ln]
    return line_hash(lines[-1])


def operator_name(operator: str | None = None) -> str:
    """``operator`` when given (``--operator``), else the OS user running curation."""
    if operator:
        return operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): the numeric user
        return f"uid:{os.getuid()}"


def host_fingerprint() -> str:
    """Tells hosts apart without naming them: SHA-256 of the host name and machine id, shortened."""
    machine = ""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine = Path(p).read_text(encoding="ascii").strip()
            break
        except (OSError, UnicodeDecodeError):
            continue
    digest = hashlib.sha256(f"{socket.gethostname()}\x1f{machine}".encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def append(
    root: Path, event: str, *, operator: str | None = None, after: Path | None = None, **fields: Any
) -> dict[str, Any]:
    """Append one event to ``root/audit.jsonl`` (created owner-only) and return it.

    Parameters
    ----------
    root
        The bundle.
    event
        ``run_start``, ``run_end``, ``package``, ``unpack`` ...
    operator
        Who; default the OS user.
    after
        A trail this one continues when it does not exist yet (the trail of the previous run, moved
        to ``history/``): its last line's hash becomes the first ``prev``.
    fields
        What else the event says (JSON-serializable; never an identifier or the secret).
    """
    path = Path(root) / AUDIT
    prev = last_hash(path)
    if prev is None:
        prev = (last_hash(after) if after is not None else None) or GENESIS
    record = {
        "time": datetime.now().astimezone().isoformat(timespec="seconds"),
        "event": event,
        "operator": operator_name(operator),
        "host": host_fingerprint(),
        **fields,
        "prev": prev,
    }
    body = json.dumps(record, ensure_ascii=False, default=str)
    line = f'{body[:-1]}, "hash": "{hashlib.sha256(body.encode("utf-8")).hexdigest()}"}}\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a trail (lines that are not JSON objects are skipped: :func:`check_chain` names them)."""
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    for raw in path.read_bytes().splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def check_chain(path: Path, *, first_prev: str | None = None) -> list[str]:
    """What breaks the chain of a trail, one line per problem (empty: intact).

    Parameters
    ----------
    path
        The trail.
    first_prev
        What the first line's ``prev`` must be (the last hash of the archived trail it continues,
        or :data:`GENESIS`); None accepts any first line.
    """
    name = path.name
    problems: list[str] = []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        problems.append(f"{name}: the last line is cut short (no newline): the trail was truncated or edited")
    expected = first_prev
    for i, raw in enumerate(data.splitlines(), start=1):
        try:
            rec = json.loads(raw)
        except ValueError:
            problems.append(f"{name} line {i}: not a JSON object: the line was edited")
            expected = line_hash(raw)
            continue
        prev = rec.get("prev") if isinstance(rec, dict) else None
        if not _self_hash_ok(raw):
            problems.append(f"{name} line {i}: its 'hash' does not match the line: the line was edited")
        if expected is not None and prev != expected:
            what = (
                "does not continue the trail archived in history/"
                if i == 1 and expected != GENESIS
                else "is not the first event of a new trail"
                if i == 1
                else f"does not match line {i - 1}"
            )
            problems.append(f"{name} line {i}: its 'prev' {what}: a line was edited, inserted or removed")
        expected = line_hash(raw)
    if not data:
        problems.append(f"{name}: empty")
    return problems


_HASH_TAIL = re.compile(rb', "hash": "([0-9a-f]{64})"\}$')


def _self_hash_ok(raw: bytes) -> bool:
    """The line ends with ``"hash"``, the SHA-256 of the object written without it."""
    m = _HASH_TAIL.search(raw)
    return m is not None and hashlib.sha256(raw[: m.start()] + b"}").hexdigest() == m.group(1).decode()
