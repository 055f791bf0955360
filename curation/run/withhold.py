"""Fail closed: files in which the leak scan found an identifier leave the bundle.

They move to the sibling folder ``<out>.withheld/`` under the same relative path (folders 0700,
files 0600), so that nothing is silently deleted and nothing identifying stays in the bundle, its
manifest or its datapackage.json. A steward can inspect them there, fix the cause, and re-run.

Names already taken in ``<out>.withheld/`` (a file withheld by an earlier run): a file with the
same bytes replaces it (nothing is lost); different bytes are kept beside it as ``name (2).ext``,
``name (3).ext`` ... Each move is appended to ``<out>.withheld/withheld.jsonl`` (when, which run,
the path in the withheld folder, the reason): that log sits beside the withheld files, owner-only,
and is never part of the bundle.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from ..io.bundle import sha256_file

__all__ = ["Withheld", "withheld_dir", "withhold"]

SUFFIX = ".withheld"
LOG = "withheld.jsonl"
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass
class Withheld:
    """One path taken out of the bundle (a file, a link, or a folder whose name leaks).

    Attributes
    ----------
    path
        Bundle-relative path with every identifier-bearing component shown as ``<redacted>``.
    reason
        Why: ``identifiers #3, #7``, ``not readable by the leak scan`` ...; never a value.
    files
        Files moved (a folder moves all its files).
    error
        Set when the move failed (the path is then still in the bundle, which is not releasable).
    """

    path: str
    reason: str
    files: int = 0
    error: str = ""

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})" + (f": NOT MOVED ({self.error})" if self.error else "")


def withheld_dir(out: Path) -> Path:
    """``<out>.withheld``, the sibling folder of the bundle ``out``."""
    out = Path(out)
    return out.parent / f"{out.name}{SUFFIX}"


def withhold(root: Path, paths: Mapping[str, str], reasons: Mapping[str, str], *, run: str = "") -> list[Withheld]:
    """Move ``paths`` (bundle-relative, on disk) out of the bundle into :func:`withheld_dir`.

    Parameters
    ----------
    root
        The bundle.
    paths
        On-disk relative path -> display path (``<redacted>`` components), as the leak scan gives
        them. A path under another one in ``paths`` moves with it.
    reasons
        On-disk relative path -> reason shown beside the display path.
    run
        The run's start time, written to the log.

    Returns
    -------
    One :class:`Withheld` per top-level path, in path order.
    """
    root = Path(root)
    target = withheld_dir(root)
    tops = [p for p in sorted(paths) if not any(_under(p, q) for q in paths if q != p)]
    out: list[Withheld] = []
    if not tops:
        return out
    _mkdirs(target, target)
    for rel in tops:
        item = Withheld(paths[rel], reasons.get(rel, "identifier found"))
        src = root / rel
        try:
            if src.is_dir() and not src.is_symlink():
                for f in sorted(p for p in src.rglob("*") if p.is_file() or p.is_symlink()):
                    _move(f, target, f.relative_to(root).as_posix(), item, run)
                _mkdirs(target, target / rel)  # an empty folder is kept too: its name is the finding
                for d in sorted((p for p in src.rglob("*") if p.is_dir() and not p.is_symlink()), reverse=True):
                    d.rmdir()
                src.rmdir()
            elif src.is_file() or src.is_symlink():
                _move(src, target, rel, item, run)
        except OSError as exc:
            item.error = type(exc).__name__
        out.append(item)
    return out


def _under(path: str, folder: str) -> bool:
    return PurePosixPath(folder) in PurePosixPath(path).parents


def _mkdirs(top: Path, folder: Path) -> None:
    """Create ``folder`` and its parents up to ``top`` owner-only (also when they already exist)."""
    chain = [folder, *[p for p in folder.parents if p == top or top in p.parents]]
    for d in reversed(chain):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask


def _move(src: Path, target: Path, rel: str, item: Withheld, run: str) -> None:
    dest = target / rel
    _mkdirs(target, dest.parent)
    dest = _free_name(src, dest)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(src, dest, follow_symlinks=False)  # another file system: copy, then remove
        src.unlink()
    if not dest.is_symlink():
        os.chmod(dest, FILE_MODE)
    item.files += 1
    log = target / LOG
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {
                    "when": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "run": run,
                    "file": dest.relative_to(target).as_posix(),
                    "bundle_path": item.path,
                    "reason": item.reason,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    os.chmod(log, FILE_MODE)


def _free_name(src: Path, dest: Path) -> Path:
    """``dest`` if free or holding the same bytes as ``src``; else ``name (2).ext``, ``name (3).ext`` ..."""
    n = 1
    candidate = dest
    while candidate.exists() or candidate.is_symlink():
        if _same(src, candidate):
            return candidate
        n += 1
        suffix = "".join(dest.suffixes[-1:])
        candidate = dest.with_name(f"{dest.name[: len(dest.name) - len(suffix)]} ({n}){suffix}")
    return candidate


def _same(a: Path, b: Path) -> bool:
    try:
        if a.is_symlink() or b.is_symlink():
            return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
        return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)
    except OSError:
        return False
