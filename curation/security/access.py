"""Owner-only bundles: folders 0700 and files 0600, or 0750 / 0640 with one named group.

A run makes its bundle folder owner-only before anything is written into it (nobody else can even
list it while the run goes on), and sets every folder and file of the bundle at the end: notebooks
executed by papermill and files written by libraries come out with the umask's modes otherwise.
cohort.yaml ``security.group`` names the one group that may read the bundle.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["group_id", "modes", "readable_by_others", "secure_dir", "secure_tree"]

DIR_MODE, FILE_MODE = 0o700, 0o600
GROUP_DIR_MODE, GROUP_FILE_MODE = 0o750, 0o640


def group_id(group: str | None, *, where: str = "cohort.yaml") -> int | None:
    """The id of ``security.group``; None without one.

    Raises
    ------
    ConfigError
        The group does not exist on this machine.
    """
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        msg = (
            f"{where}: security.group: no group {group!r} on this machine; create it (`groupadd {group}`), "
            "name an existing one (`getent group`), or remove the key for owner-only bundles"
        )
        raise ConfigError(msg) from None


def modes(group: str | None) -> tuple[int, int]:
    """(folder mode, file mode)."""
    return (GROUP_DIR_MODE, GROUP_FILE_MODE) if group else (DIR_MODE, FILE_MODE)


def secure_dir(folder: Path, *, top: Path | None = None, group: str | None = None) -> None:
    """Create ``folder`` (and its parents below ``top``) with the bundle's folder mode."""
    folder = Path(folder)
    top = Path(top) if top is not None else folder
    gid = group_id(group)
    dir_mode, _ = modes(group)
    chain = [folder, *[p for p in folder.parents if p == top or top in p.parents]]
    for d in reversed(chain):
        d.mkdir(mode=dir_mode, exist_ok=True)
        _set(d, dir_mode, gid)


def secure_tree(root: Path, *, group: str | None = None) -> int:
    """Give every folder and file under ``root`` (and ``root``) the bundle's modes; returns how many
    paths were set. Symbolic links are left alone (their mode means nothing)."""
    gid = group_id(group)
    dir_mode, file_mode = modes(group)
    root = Path(root)
    _set(root, dir_mode, gid)
    n = 1
    for top, dirs, files in os.walk(root):
        for name in dirs:
            p = os.path.join(top, name)
            if not os.path.islink(p):
                _set(Path(p), dir_mode, gid)
                n += 1
        for name in files:
            p = os.path.join(top, name)
            if not os.path.islink(p):
                _set(Path(p), file_mode, gid)
                n += 1
    return n


def readable_by_others(root: Path) -> list[str]:
    """Paths under ``root`` (and ``root`` itself) that others may read, write or enter."""
    root = Path(root)
    out = [] if not root.stat().st_mode & 0o007 else ["."]
    for p in sorted(root.rglob("*")):
        if not p.is_symlink() and p.stat().st_mode & 0o007:
            out.append(p.relative_to(root).as_posix())
    return out


def _set(path: Path, mode: int, gid: int | None) -> None:
    st = path.stat()
    if gid is not None and st.st_gid != gid:
        os.chown(path, -1, gid)
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
