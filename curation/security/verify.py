"""`curation verify BUNDLE`: is this bundle exactly what its run wrote, and did that run finish?

A bundle verifies when

* run.json says ``status: finished`` (a run writes ``running`` before anything else, so a run killed
  half-way leaves a bundle that does not verify, instead of one a reader cannot tell from a finished one);
* every file listed in manifest-sha256.txt is there with its checksum, and no file is there that the
  manifest does not list (withheld files are outside the bundle, in ``<out>.withheld/``);
* datapackage.json lists only files of the manifest, and every Parquet table of the run;
* run.json's notebooks and reports are files of the manifest, and nothing it says was withheld is
  still in the bundle;
* audit.jsonl's hash chain is intact, continues the trail archived in ``history/``, and its last
  ``run_end`` event names this run and this manifest.

Problems name the file and what differs, never a value read from a data file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.bundle import AUDIT, DATAPACKAGE, MANIFEST, Bundle, sha256_file
from .audit import GENESIS, check_chain, last_hash, read_events

__all__ = ["Verification", "verify_bundle"]

RUN_JSON = "run.json"
HISTORY = "history"
FINISHED = "finished"
RUNNING = "running"
MAX_LISTED = 50  # problems of one kind listed by name; the rest counted


@dataclass
class Verification:
    """What :func:`verify_bundle` found; ``ok`` when nothing."""

    root: Path
    problems: list[str] = field(default_factory=list)
    n_files: int = 0

    @property
    def ok(self) -> bool:
        """True when the bundle matched its manifest and the audit trail is intact."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"{self.root}: verified ({self.n_files} files match manifest-sha256.txt; audit trail intact)"
        return f"{self.root}: {len(self.problems)} problem(s)\n" + "\n".join(f"  {p}" for p in self.problems)


def verify_bundle(root: str | Path) -> Verification:
    """Check a bundle against its manifest, datapackage.json, run.json and audit trail."""
    root = Path(root)
    out = Verification(root)
    if not root.is_dir():
        out.problems.append(f"{root}: not a folder")
        return out
    record = _run_record(root, out.problems)
    listed = _manifest(root, out)
    if listed is not None:
        _datapackage(root, listed, out.problems)
        if record is not None:
            _run_json(root, record, listed, out.problems)
    _audit(root, record, out.problems)
    return out


def _run_record(root: Path, problems: list[str]) -> dict[str, Any] | None:
    path = root / RUN_JSON
    if not path.is_file():
        problems.append(f"{RUN_JSON}: missing: no run finished into this folder")
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        problems.append(f"{RUN_JSON}: not valid JSON")
        return None
    if not isinstance(record, dict):
        problems.append(f"{RUN_JSON}: not a JSON object")
        return None
    status = record.get("status")
    if status == RUNNING:
        problems.append(f"{RUN_JSON}: status 'running': the run did not finish (killed, or still running); re-run it")
    elif status != FINISHED:
        problems.append(
            f"{RUN_JSON}: status {status!r}, not 'finished': it cannot be told from an unfinished run; re-run it"
        )
    return record


def _manifest(root: Path, out: Verification) -> dict[str, str] | None:
    """rel -> digest of the manifest; records missing, changed and unlisted files."""
    problems = out.problems
    path = root / MANIFEST
    if not path.is_file():
        problems.append(f"{MANIFEST}: missing: the run did not finish, or the file was removed")
        return None
    listed: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(f"{MANIFEST} line {i}: not '<sha256>  <path>'")
            continue
        listed[rel] = digest
    missing, changed = [], []
    for rel, digest in listed.items():
        p = root / rel
        if not p.is_file():
            missing.append(rel)
        elif sha256_file(p) != digest:
            changed.append(rel)
    present = {p.relative_to(root).as_posix() for p in Bundle(root).files()}
    temporary = {p.relative_to(root).as_posix() for p in root.rglob("*.tmp") if p.is_file()}
    unlisted = sorted((present | temporary) - set(listed))
    out.n_files = len(listed)
    _list(problems, changed, "changed since the manifest was written")
    _list(problems, missing, "listed in the manifest but missing")
    _list(problems, unlisted, "not in the manifest")
    return listed


def _list(problems: list[str], paths: list[str], what: str) -> None:
    for rel in paths[:MAX_LISTED]:
        problems.append(f"{rel}: {what}")
    if len(paths) > MAX_LISTED:
        problems.append(f"... and {len(paths) - MAX_LISTED} more file(s) {what}")


def _datapackage(root: Path, listed: dict[str, str], problems: list[str]) -> None:
    path = root / DATAPACKAGE
    if not path.is_file():
        problems.append(f"{DATAPACKAGE}: missing")
        return
    try:
        pkg = json.loads(path.read_text(encoding="utf-8"))
        paths = [r["path"] for r in pkg.get("resources", [])]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        problems.append(f"{DATAPACKAGE}: not a data package (JSON with resources that have a path)")
        return
    _list(problems, sorted(p for p in paths if p not in listed), f"a resource of {DATAPACKAGE} not in the manifest")
    tables = sorted(rel for rel in listed if rel.endswith(".parquet") and not rel.startswith(f"{HISTORY}/"))
    _list(problems, [t for t in tables if t not in set(paths)], f"a Parquet table {DATAPACKAGE} does not describe")


def _run_json(root: Path, record: dict[str, Any], listed: dict[str, str], problems: list[str]) -> None:
    named: list[str] = []
    for nb in record.get("notebooks") or []:
        named += [str(nb[k]) for k in ("ipynb", "html") if isinstance(nb, dict) and nb.get(k)]
    _list(problems, sorted(p for p in named if p not in listed), f"named in {RUN_JSON} but not in the manifest")
    if "releasable" not in record:
        problems.append(f"{RUN_JSON}: no 'releasable': the leak scan's verdict is not recorded")
    # withheld paths are shown with <redacted> components where a name leaked: only plain ones can be looked up
    still = [w for w in record.get("withheld") or [] if "<redacted>" not in w and (root / w).exists()]
    _list(problems, sorted(still), f"withheld according to {RUN_JSON} but still in the bundle")


def _audit(root: Path, record: dict[str, Any] | None, problems: list[str]) -> None:
    path = root / AUDIT
    if not path.is_file():
        problems.append(f"{AUDIT}: missing: the run left no audit trail")
        return
    archived = _newest_archived_trail(root)
    first = (last_hash(archived) if archived is not None else None) or GENESIS
    problems += check_chain(path, first_prev=first)
    ends = [e for e in read_events(path) if e.get("event") == "run_end"]
    if not ends:
        problems.append(f"{AUDIT}: no run_end event: the run did not finish")
        return
    end = ends[-1]
    manifest = root / MANIFEST
    if manifest.is_file() and end.get("manifest_sha256") != hashlib.sha256(manifest.read_bytes()).hexdigest():
        problems.append(f"{AUDIT}: the last run_end names another {MANIFEST} than the one in the bundle")
    if record is not None and end.get("run_id") != record.get("run_id"):
        problems.append(
            f"{AUDIT}: the last run_end is of run {end.get('run_id')!r}, {RUN_JSON} of {record.get('run_id')!r}"
        )


def _newest_archived_trail(root: Path) -> Path | None:
    """The trail of the last run archived in history/ (run ids sort by their start time)."""
    trails = sorted((root / HISTORY).glob(f"*/{AUDIT}"))
    return trails[-1] if trails else None
