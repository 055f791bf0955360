"""The decisions file: what a curator decided, by whom, when, why, and on which input.

``decisions.yaml`` lives beside cohort.yaml and is versioned with it (never inside the output
bundle: a bundle is rebuilt, a decision is not). One list of decisions; a decision is never
deleted, a revoked one keeps who revoked it and why::

    version: 1
    decisions:
    - kind: threshold                 # threshold | setting | map | release | exclude | label
      key: lab.accuracy.reference_range
      value: {warn: 0.0, fail: 0.2}
      author: Dr. Wang
      time: '2026-12-01T03:40:00+00:00'
      reason: site B's analyser reports a narrower range
      input_sha256: 5f0c...           # the modality's source files when the decision was made

The key names what the decision is about and starts with the modality (``<modality>.``):

======== ================================================= ==============================
kind     key                                               value
======== ================================================= ==============================
threshold a check id (``lab.accuracy.reference_range``)    ``{warn: 0.0, fail: 0.2}``
setting  a dotted setting the modality reads               a number or a word
         (``immune.qc.tissue.tumor.min_counts``,
         ``genomics.accuracy.sequencing_depth.min_depth``)
map      ``<modality>.<field>:<raw value>``                a dictionary code
release  ``<modality>.<record pseudonym or line N>``       ``release`` or ``confirm``
exclude  ``<modality>.<record pseudonym or token>``        ``exclude`` or ``accept``
         (imaging: a series UID; genomics, immune: a
         sample token; any: a patient pseudonym)
label    ``immune.<cluster>``                              a cell-type label
         ``genomics.driver.<sample>.<chrom>-<pos>-<ref>-<alt>``
                                                           ``confirm`` or ``reject``
         ``imaging.nodule.<patient>.<series UID>.<location>``
                                                           a Lung-RADS category
======== ================================================= ==============================

A run applies every kind (:mod:`.replay`): thresholds, settings (among them per-sample genomics QC limits,
``genomics.accuracy.<check>.sample.<token>.<limit>``, and lab plausible ranges,
``lab.plausibility.range.<analyte>.low|high``), value maps (lab units: ``lab.unit:<raw>``), releases (a
record quarantined for an unreadable date re-enters), exclusions (tabular records; imaging series,
genomics and immune samples through the modality's ``exclude`` hook) and labels (the modality's
``relabel`` hook). One it cannot apply is flagged for review, never silently ignored.

The old form written by the immune notebook's widget (a nested mapping such as
``immune: {qc: {tissue: {tumor: {min_counts: 300}}}}``, or flat dotted keys, without author or
reason, in the bundle) is still read: each leaf becomes a ``setting`` decision by ``(unknown)``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

__all__ = [
    "FILE",
    "KINDS",
    "LEGACY_AUTHOR",
    "Decision",
    "DecisionsFile",
    "Revocation",
    "decisions_path",
    "input_checksum",
    "legacy_decisions",
    "read_decisions",
    "revoke_decision",
    "set_decision",
    "write_decisions",
]

FILE = "decisions.yaml"
KINDS = ("threshold", "setting", "map", "release", "exclude", "label")
Kind = Literal["threshold", "setting", "map", "release", "exclude", "label"]
LEGACY_AUTHOR = "(unknown)"


class Revocation(BaseModel):
    """Who revoked a decision, when and why."""

    model_config = ConfigDict(extra="forbid")

    author: str = Field(min_length=1)
    time: str
    reason: str = Field(min_length=1)


class Decision(BaseModel):
    """One curator's decision (see the module docstring for the keys and values of each kind)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    key: str = Field(min_length=3, description="what it is about; starts with the modality: '<modality>.'")
    value: Any
    author: str = Field(min_length=1)
    time: str = Field(description="ISO 8601, when it was decided")
    reason: str = Field(min_length=1)
    input_sha256: str = Field("", description="the modality's input when decided; '' for the old form (not known)")
    revoked: Revocation | None = None

    @field_validator("key")
    @classmethod
    def _has_modality(cls, v: str) -> str:
        if "." not in v:
            msg = f"decision key {v!r}: expected '<modality>.<what>' such as 'lab.accuracy.reference_range'"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Decision:
        v = self.value
        if self.kind == "threshold":
            pair = v if isinstance(v, Mapping) else {"warn": 0.0, "fail": v}
            try:
                warn, fail = float(pair.get("warn", 0.0)), float(pair.get("fail", 0.0))
            except (TypeError, ValueError):
                warn = fail = -1.0
            if set(pair) - {"warn", "fail"} or not 0 <= warn <= fail <= 1:
                msg = f"threshold {self.key}: value {v!r}: expected {{warn: W, fail: F}} with 0 <= W <= F <= 1"
                raise ValueError(msg)
        elif self.kind == "map" and ":" not in self.key.partition(".")[2]:
            msg = f"map {self.key!r}: expected '<modality>.<field>:<raw value>' such as 'lab.unit:ug/l'"
            raise ValueError(msg)
        elif self.kind == "release" and v not in ("release", "confirm"):
            msg = f"release {self.key}: value {v!r}: expected 'release' or 'confirm'"
            raise ValueError(msg)
        return self

    @property
    def modality(self) -> str:
        """The modality the key starts with."""
        return self.key.split(".", 1)[0]

    @property
    def in_force(self) -> bool:
        """Not revoked."""
        return self.revoked is None

    @property
    def legacy(self) -> bool:
        """Read from the old form (no author, reason or input checksum)."""
        return self.author == LEGACY_AUTHOR

    def describe(self) -> str:
        """``kind key = value``, the way lists and reports name a decision."""
        return f"{self.kind} {self.key} = {_short(self.value)}"


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


class DecisionsFile(BaseModel):
    """The content of decisions.yaml."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    decisions: list[Decision] = Field(default_factory=list)

    def in_force(self) -> list[Decision]:
        """The decisions not revoked, the latest per (kind, key)."""
        latest: dict[tuple[str, str], Decision] = {}
        for d in self.decisions:
            if d.in_force:
                latest[(d.kind, d.key)] = d
        return list(latest.values())

    def find(self, key: str, *, kind: str | None = None) -> Decision | None:
        """The decision in force on ``key`` (of ``kind``), None without one."""
        hits = [d for d in self.in_force() if d.key == key and (kind is None or d.kind == kind)]
        return hits[-1] if hits else None


def decisions_path(cohort: Any) -> Path:
    """decisions.yaml beside cohort.yaml (``cohort``: its path or a loaded config)."""
    path = Path(getattr(cohort, "path", cohort))
    return path.parent / FILE if path.suffix in (".yaml", ".yml") else path / FILE


def legacy_decisions(doc: Mapping[str, Any], *, source: str = FILE) -> list[Decision]:
    """The old form (nested or flat dotted settings, no author) as ``setting`` decisions."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = node

    walk("", doc)
    return [
        Decision(kind="setting", key=k, value=v, author=LEGACY_AUTHOR, time="", reason=f"old form of {source}")
        for k, v in flat.items()
        if "." in k
    ]


def read_decisions(path: str | Path) -> DecisionsFile:
    """Read decisions.yaml (the new form or the old one); an absent file is empty.

    Raises
    ------
    ConfigError
        The file is not YAML, or a decision lacks its author, reason or a valid kind (named by index).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        return DecisionsFile()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        msg = f"{path.name}: not valid YAML ({exc.__class__.__name__}); fix it or revoke through `curation decide`"
        raise ConfigError(msg) from None
    if not isinstance(doc, Mapping):
        msg = f"{path.name}: expected a mapping with 'decisions:', got {type(doc).__name__}"
        raise ConfigError(msg)
    if "decisions" not in doc:
        return DecisionsFile(decisions=legacy_decisions(doc, source=path.name))
    try:
        return DecisionsFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{path.name}: {where}: {first['msg']}; every decision needs kind, key, value, author, time and reason"
        raise ConfigError(msg) from None


def write_decisions(path: str | Path, doc: DecisionsFile) -> Path:
    """Write decisions.yaml atomically (a temporary file beside it, then renamed)."""
    import yaml

    path = Path(path)
    text = yaml.safe_dump(doc.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def set_decision(
    path: str | Path,
    decision: Mapping[str, Any],
    *,
    author: str,
    reason: str,
    input_sha256: str = "",
) -> Decision:
    """Record one decision (``{"kind", "key", "value"}``) in the file, superseding the one in force.

    The decision it supersedes is kept, revoked with ``superseded`` as its reason.

    Raises
    ------
    ConfigError
        No author or reason, an unknown kind, or a key without its modality.
    """
    if not author.strip() or not reason.strip():
        msg = "a decision needs an author and a reason (--author NAME --reason TEXT)"
        raise ConfigError(msg)
    doc = read_decisions(path)
    try:
        new = Decision(
            kind=decision["kind"],
            key=decision["key"],
            value=decision["value"],
            author=author.strip(),
            time=_now(),
            reason=reason.strip(),
            input_sha256=input_sha256,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"decision {dict(decision)}: {where}: {first['msg']} (kinds: {', '.join(KINDS)})"
        raise ConfigError(msg) from None
    old = doc.find(new.key, kind=new.kind)
    if old is not None:
        old.revoked = Revocation(author=new.author, time=new.time, reason=f"superseded: {new.reason}")
    doc.decisions.append(new)
    write_decisions(path, doc)
    return new


def revoke_decision(path: str | Path, key: str, *, author: str, reason: str, kind: str | None = None) -> Decision:
    """Revoke the decision in force on ``key``; it stays in the file with who, when and why.

    Raises
    ------
    ConfigError
        No author or reason, or no decision in force on ``key``.
    """
    if not author.strip() or not reason.strip():
        msg = "revoking needs an author and a reason (--author NAME --reason TEXT)"
        raise ConfigError(msg)
    doc = read_decisions(path)
    old = doc.find(key, kind=kind)
    if old is None:
        keys = ", ".join(sorted({d.key for d in doc.in_force()})) or "none"
        msg = f"no decision in force on {key!r} in {Path(path).name}; in force: {keys}"
        raise ConfigError(msg)
    if old.legacy:  # the old form has no list to keep a revocation in: the file is rewritten in the new form
        doc.decisions = [d for d in doc.decisions if d is not old] + [old]
    old.revoked = Revocation(author=author.strip(), time=_now(), reason=reason.strip())
    write_decisions(path, doc)
    return old


def input_checksum(files: Iterable[Path], *, base: Path) -> str:
    """SHA-256 over the input files (relative path, size and content), in path order.

    Written by hand over hashlib: the decision must name the bytes it was made on, and the run's
    incremental keys (curation.run) sit above the modalities this module serves.
    """
    h = hashlib.sha256()
    for f in sorted(set(files)):
        rel = os.path.relpath(f, base)
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open(f, "rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        except OSError as exc:
            h.update(type(exc).__name__.encode())
    return h.hexdigest()
