"""Incremental re-runs: a step whose inputs have not changed is reused from the bundle, not run again.

Each step of a run gets a key, the SHA-256 of everything its outputs are a function of:

* the step's source files (every file a source path names, folders walked) and the files its options
  name (with the folder around each: a sample sheet's matrices sit beside it);
* its section of cohort.yaml (the whole file but ``sources`` and ``executor`` for a source step, its
  own sources and ``options`` entry; everything but ``executor`` for a cohort step);
* the code: every file of the installed ``curation`` package (dictionary, vocabularies, templates),
  the notebook, and the versions of the libraries of ``run.json``'s ``versions``;
* the key's fingerprint (pseudonyms and date shifts depend on it) and the curators' files beside
  cohort.yaml (decisions.yaml, corrective_actions.yaml: every YAML file there) and in the bundle;
* the keys of the steps it needs (``SPEC.needs``): a step's outputs are a function of its key, so a
  needed step's key stands for its outputs (the data files of the demo are byte-identical run to run).

On top of the keys, reuse needs what the previous run saw of the identifiers to be the same: every
modality scrubs free text with the whole cohort's identifier registry, so a new name in one site's
export must re-run every step. The runner compares the registry's keyed fingerprint (collected for
the leak scan anyway) before it reuses anything, and reuses nothing if an identifier source could
not be read.

A step is reused only from a previous run that finished, withheld nothing and still verifies
(``curation verify``: no file changed since), when that run ended the step ``ok`` and its executed
notebook and quality files are there. ``curation run --force`` re-runs every step. Reused steps are
named in run.json (``steps``, and ``reused`` in each notebook row) and in the run's summary line;
the leak scan still reads every file of the bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..io.bundle import sha256_file

if TYPE_CHECKING:
    from ..config import CohortConfig
    from .executors import NotebookJob

__all__ = [
    "STEPS",
    "VERSIONED",
    "Previous",
    "code_digest",
    "decisions_digest",
    "input_checksums",
    "read_previous",
    "reusable",
    "step_keys",
    "versions",
]

STEPS = "steps"  # run.json: step -> {"key": ..., "reused": bool, "run_id": the run that ran it}
KEY_VERSION = "1"  # bump when the composition of a key changes


@dataclass(frozen=True)
class Previous:
    """What the bundle's previous run left that reuse depends on (read before it is archived)."""

    run_id: str = ""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # run.json `steps`
    ok: frozenset[str] = frozenset()  # steps whose notebook ended ok
    identifier_fingerprint: str = ""
    usable: bool = False
    why: str = "no previous run"  # why nothing can be reused, when not usable


def read_previous(root: Path) -> Previous:
    """The previous run of ``root``, usable for reuse only if it finished, withheld nothing and verifies."""
    from ..security.verify import FINISHED, RUN_JSON, verify_bundle

    path = root / RUN_JSON
    if not path.is_file():
        return Previous()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return Previous(why="run.json does not read")
    if not isinstance(record, dict):
        return Previous(why="run.json does not read")
    got = record.get(STEPS)
    steps: dict[str, dict[str, Any]] = got if isinstance(got, dict) else {}
    prev = Previous(
        run_id=str(record.get("run_id") or ""),
        steps=steps,
        ok=frozenset(n.get("name", "") for n in record.get("notebooks") or [] if n.get("status") == "ok"),
        identifier_fingerprint=str((record.get("leak_scan_detail") or {}).get("identifier_fingerprint") or ""),
    )
    if record.get("status") != FINISHED:
        return _unusable(prev, "the previous run did not finish")
    if record.get("withheld"):
        return _unusable(prev, "the previous run withheld files")
    if not steps:
        return _unusable(prev, "the previous run recorded no step keys")
    verified = verify_bundle(root)
    if not verified.ok:
        return _unusable(prev, f"the bundle does not verify ({len(verified.problems)} problem(s))")
    return Previous(prev.run_id, prev.steps, prev.ok, prev.identifier_fingerprint, usable=True, why="")


def _unusable(prev: Previous, why: str) -> Previous:
    return Previous(prev.run_id, prev.steps, prev.ok, prev.identifier_fingerprint, usable=False, why=why)


def reusable(job: NotebookJob, key: str, previous: Previous, *, identifier_fingerprint: str) -> bool:
    """Whether ``job`` can be taken from the bundle as the previous run left it."""
    if not previous.usable or not identifier_fingerprint:
        return False
    if identifier_fingerprint != previous.identifier_fingerprint:
        return False
    entry = previous.steps.get(job.name) or {}
    if entry.get("key") != key or job.name not in previous.ok:
        return False
    checks = job.output.parent.parent / "quality" / "checks" / f"{job.name}.parquet"
    return job.output.is_file() and job.html.is_file() and (checks.is_file() or not _is_modality(job.name))


def _is_modality(name: str) -> bool:
    from ..modalities import registry

    return name in registry.names() and registry.spec(name).stage == "source"


# --------------------------------------------------------------------------- keys


def step_keys(
    config: CohortConfig,
    jobs: Iterable[NotebookJob],
    *,
    members: list[str],
    extra: dict[str, Any],
    previous: Previous | None = None,
) -> dict[str, str]:
    """The key of every step of the cohort (``members``); a member not planned now keeps the key the
    previous run recorded (its outputs are the previous run's), or none.

    ``extra`` is hashed into every key: the key's fingerprint, library versions, the decisions file.
    """
    from ..modalities import registry

    by_name = {j.name: j for j in jobs}
    raw = _raw_config(config)
    base = _digest({"v": KEY_VERSION, "code": code_digest(), **extra})
    keys: dict[str, str] = {}

    def key(name: str) -> str:
        if name in keys:
            return keys[name]
        job = by_name.get(name)
        if job is None:
            got = str(((previous.steps if previous else {}).get(name) or {}).get("key") or "absent")
            keys[name] = got
            return got
        parts: dict[str, Any] = {
            "base": base,
            "step": name,
            "notebook": _file_digest(job.notebook) if job.notebook.is_file() else "missing",
            "config": _section(raw, name, source=bool(config.sources.get(name))),
            "inputs": _inputs_digest(config, name),
            "needs": {m: key(m) for m in registry.needs(name) if m in members},
        }
        keys[name] = _digest(parts)
        return keys[name]

    for name in members:
        key(name)
    return keys


def decisions_digest(config: CohortConfig, root: Path) -> str:
    """Digest of the curators' files a run reads beside cohort.yaml (decisions.yaml, corrective_actions.yaml:
    every other YAML file of that folder) and of the bundle's older decisions.yaml; "" without any."""
    files = [p for p in sorted(config.base_dir.glob("*.y*ml")) if p.is_file() and p.resolve() != config.path.resolve()]
    files += [p for p in (root / "decisions.yaml",) if p.is_file()]
    return _digest([f"{p.name}\0{_file_digest(p)}" for p in files]) if files else ""


@cache
def code_digest() -> str:
    """One digest of every file of the installed package (code, dictionary, templates, notebooks data).

    Computed once per process (~0.1 s): a curator editing a vocabulary re-runs what depends on it.
    """
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*")):
        if "__pycache__" in p.parts or not p.is_file() or p.suffix in (".pyc", ".pyo"):
            continue
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0")
        h.update(_file_digest(p).encode() + b"\n")
    return h.hexdigest()


def _raw_config(config: CohortConfig) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(config.path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    return doc if isinstance(doc, dict) else {}


def _section(raw: dict[str, Any], name: str, *, source: bool) -> str:
    """The part of cohort.yaml a step reads: the executor never changes an output."""
    doc = {k: v for k, v in raw.items() if k != "executor"}
    if source:
        doc["sources"] = (raw.get("sources") or {}).get(name)
        opts = raw.get("options")
        if isinstance(opts, dict):
            doc["options"] = opts.get(name)
    return _digest(doc)


def _inputs_digest(config: CohortConfig, name: str) -> str:
    """Digest of the step's input files: its source paths, and the files its options name with their folder."""
    files: set[Path] = set()
    for i, src in enumerate(config.sources.get(name) or []):
        for top in config.source_files(name, i):
            files |= _walk(top)
        options = getattr(src, "options", None) or {}
        for value in options.values() if isinstance(options, dict) else ():
            if not isinstance(value, str) or not value or len(value) > 4096:
                continue
            p = config.resolve(value)
            try:
                if p.is_file():
                    files |= _walk(p.parent)
                elif p.is_dir():
                    files |= _walk(p)
            except OSError:
                continue
    rows = []
    for f in sorted(files):
        rel = Path(os.path.relpath(f, config.base_dir)).as_posix()
        try:
            rows.append(f"{rel}\0{_file_digest(f)}")
        except OSError as exc:  # the step will quarantine it; its key says it could not be read
            rows.append(f"{rel}\0{type(exc).__name__}")
    return _digest(rows)


def _walk(top: Path) -> set[Path]:
    if top.is_dir():
        return {p for p in top.rglob("*") if p.is_file()}
    return {top} if top.exists() else set()


# (path, size, mtime_ns, inode) -> sha256: a file read for several keys (a shared sample sheet) is hashed once
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def _file_digest(path: Path) -> str:
    st = path.stat()
    ident = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    got = _DIGESTS.get(ident)
    if got is None:
        got = _DIGESTS[ident] = sha256_file(path)
    return got


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


# --------------------------------------------------------------------------- run.json's inputs and versions

VERSIONED = ("curation", "pandas", "pyarrow", "pydicom", "scanpy", "anndata", "papermill", "nbconvert", "plotly")


def input_checksums(config: CohortConfig, keyring: Any) -> list[dict[str, Any]]:
    """sha256 of every input file, named by a keyed token of its path (raw names can hold identifiers).

    The step keys hashed these files first: each is read once per run.
    """
    rows = []
    seen: set[Path] = set()
    for modality, sources in config.sources.items():
        for i in range(len(sources)):
            for top in config.source_files(modality, i):
                files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
                for f in files:
                    if f in seen:
                        continue
                    seen.add(f)
                    rel = Path(os.path.relpath(f, config.base_dir)).as_posix()
                    row: dict[str, Any] = {
                        "modality": modality,
                        "source": f"{modality}[{i}]",
                        "file": keyring.token("file", rel),
                    }
                    try:
                        row.update(bytes=f.stat().st_size, sha256=_file_digest(f))
                    except OSError as exc:  # recorded, not fatal: the modality quarantines it too
                        row.update(bytes=None, sha256=None, error=type(exc).__name__)
                    rows.append(row)
    return rows


def versions() -> dict[str, str]:
    """Python's version and those of the libraries an output depends on."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
