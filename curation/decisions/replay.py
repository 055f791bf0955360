"""Replay: a batch run applies the decisions in force exactly, and says what each one changed.

:func:`prepare` runs in :func:`curation.curate` before the modality loads: it reads the decisions
of that modality (decisions.yaml beside cohort.yaml, and the old form in the bundle), sets aside
those made on an input that has changed since (flagged, not applied) and applies the rest to the
run's context: thresholds by check id, settings the modality reads, value maps, releases (the modality
re-admits a released record while it standardizes). After standardize, :meth:`Replay.exclude` and
:meth:`Replay.relabel` apply exclusions and labels (through the modality's hooks where the outputs are
more than tables) and :meth:`Replay.release` says what each release did. :meth:`Replay.check`
is the ``<modality>.decisions.review`` check (a warning naming each decision set aside) and
:meth:`Replay.frame` the table of quality/decisions/<modality>.parquet: which check or records each
decision changed and how. The run's audit trail lists them (:func:`audit_record`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..quality import WARN_ONLY, Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures, run
from .model import FILE, Decision, decisions_path, input_checksum, read_decisions

if TYPE_CHECKING:
    from ..config import CohortConfig
    from ..modalities.base import Context

__all__ = [
    "COLUMNS",
    "REPLAYED",
    "Replay",
    "applied_in",
    "audit_record",
    "decisions_digest",
    "decisions_in_force",
    "exclude_rows",
    "modality_checksum",
    "prepare",
    "released_records",
]

REPLAYED = ("threshold", "setting", "map", "release", "exclude", "label")  # kinds a run applies
ID_COLUMNS = ("patient", "sample", "series_uid")  # what an exclusion's token may name
EXCLUDED = "curator_decision"  # the ledger's rule for records excluded by a decision
RELEASED = "released"  # data.objects[RELEASED]: {record key: {table: n}} re-admitted by the modality
RELEASE_KEY = "release"  # ctx.decisions["<modality>.release"]: {record key: "release" | "confirm"}
COLUMNS = ["kind", "key", "value", "author", "time", "reason", "status", "effect"]


def modality_checksum(config: CohortConfig, modality: str) -> str:
    """The checksum of one modality's input files today (what a decision is made on); "" without sources."""
    files: list[Path] = []
    for i, _ in enumerate(config.sources.get(modality) or []):
        for top in config.source_files(modality, i):
            files += sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
    return input_checksum(files, base=config.base_dir) if files else ""


def decisions_in_force(config: CohortConfig, *, bundle: Path | None = None) -> list[Decision]:
    """The decisions in force: decisions.yaml beside cohort.yaml, over the old form in the bundle."""
    new = read_decisions(decisions_path(config)).in_force()
    if bundle is None or not (bundle / FILE).is_file():
        return new
    old = [d for d in read_decisions(bundle / FILE).in_force() if d.legacy]
    taken = {(d.kind, d.key) for d in new}
    return [d for d in old if (d.kind, d.key) not in taken] + new


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"immune.qc.tissue.tumor.min_counts": 300}`` -> nested mappings, as the modalities read them."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        node[leaf] = value
    return out


def _declared_check(top: str, modality: str, check_id: str) -> Check | None:
    """The :class:`~curation.quality.Check` of ``check_id``, found in the loaded modules of the modality's module
    ``top`` (by name: this layer sits below the modalities)."""
    if not top:
        return None
    package = top.split(".", 1)[0]
    # the modality's own modules first, then shared ones (the tabular checks serve four modalities)
    names = sorted(
        (n for n in list(sys.modules) if n == package or n.startswith(f"{package}.")),
        key=lambda n: not (n == top or n.startswith(f"{top}.")),
    )
    for name in names:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        for value in list(vars(mod).values()):
            for c in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(c, Check) and c.check_id(modality) == check_id:
                    return c
    return None


def _declared_threshold(top: str, modality: str, check_id: str) -> Threshold | None:
    """The threshold a check declares (:func:`_declared_check`), None when it is not found."""
    c = _declared_check(top, modality, check_id)
    return c.threshold if c is not None else None


def _without(decisions: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``decisions`` without the setting ``key``, in its flat and its nested form."""
    out = {k: v for k, v in decisions.items() if k != key}
    *parents, leaf = key.split(".")
    node: dict[str, Any] = out
    for p in parents:
        nxt = node.get(p)
        if not isinstance(nxt, Mapping):
            return out
        node[p] = node = dict(nxt)
    node.pop(leaf, None)
    return out


@dataclass
class Replay:
    """The decisions of one step of one run: applied, set aside for review, listed only."""

    modality: str
    module: str = ""  # the modality's module: where its checks are found (settings compared without them)
    applied: list[Decision] = field(default_factory=list)
    stale: list[Decision] = field(default_factory=list)  # made on input that changed since: not applied
    listed: list[Decision] = field(default_factory=list)  # kinds this version does not replay
    before: dict[str, Threshold | None] = field(default_factory=dict)  # check id -> threshold without the decision
    excluded: dict[str, int] = field(default_factory=dict)  # exclusion key -> records excluded
    relabelled: dict[str, str] = field(default_factory=dict)  # label key -> what the modality did
    refused: list[tuple[Decision, str]] = field(default_factory=list)  # the modality could not apply it: why
    excluded_what: dict[str, str] = field(default_factory=dict)  # exclusion key -> what the modality's hook did
    released: dict[str, str] = field(default_factory=dict)  # release key -> records re-admitted
    changed: dict[str, str] = field(default_factory=dict)  # setting key -> its check's result without it

    def relabel(self, data: Any, hook: Any, *, ctx: Any) -> None:
        """Apply ``label`` decisions through the modality's ``relabel(data, {cluster: label}, ctx=)`` hook;
        a modality without one gets them listed and flagged instead."""
        wanted = {d.key.split(".", 1)[1]: d for d in self.applied if d.kind == "label"}
        if not wanted:
            return
        if hook is None:
            for d in wanted.values():
                self.applied.remove(d)
                self.listed.append(d)
            return
        done = hook(data, {c: str(d.value) for c, d in wanted.items()}, ctx=ctx)
        for cluster, what in done.items():
            self.relabelled[f"{self.modality}.{cluster}"] = what
            if what.startswith("not applied") and cluster in wanted:
                self.applied.remove(wanted[cluster])
                self.refused.append((wanted[cluster], what))

    def exclude(self, data: Any, hook: Any = None, *, ctx: Any = None) -> None:
        """Drop the records an ``exclude`` decision names (by pseudonym, sample token or series UID).

        The tabular modalities' standard tables, which the ledger counts per table (``standardize:<table>``),
        are filtered here: the excluded rows are counted as ``decisions:<table>``, rule curator_decision.
        Elsewhere (imaging series, genomics and immune samples, written from other objects too) the
        modality's ``exclude(data, {token: decision}, ctx=)`` hook drops the item from every table and
        object it writes and says what it did (:func:`exclude_rows` counts the tables); a modality
        without one gets the exclusion listed and flagged for review instead of half applied.
        """
        wanted = {d.key.split(".", 1)[1]: d for d in self.applied if d.kind == "exclude" and d.value != "accept"}
        if not wanted:
            return
        # the tabular pipeline (its in-memory "invalid" table marks it) writes its tables and nothing else;
        # genomics and immune also write per-sample files from other objects, which a filter here would miss
        tabular = "invalid" in data.objects
        counted = {e.stage.split(":", 1)[1] for e in data.ledger.entries if e.stage.startswith("standardize:")}
        counted = counted if tabular else set()
        tables = {t: df for t, df in data.tables.items() if t in counted and isinstance(df, pd.DataFrame)}
        if not tables and hook is not None:
            for token, what in hook(data, dict(wanted), ctx=ctx).items():
                self.excluded_what[f"{self.modality}.{token}"] = what
                if what.startswith("not applied") and token in wanted:
                    self.applied.remove(wanted[token])
                    self.refused.append((wanted[token], what))
            return
        if not tables:
            for d in wanted.values():
                self.applied.remove(d)
                self.listed.append(d)
            return
        for t in tables:
            for token, n in exclude_rows(data, t, columns=ID_COLUMNS, wanted=wanted).items():
                self.excluded[f"{self.modality}.{token}"] = self.excluded.get(f"{self.modality}.{token}", 0) + n

    def release(self, data: Any) -> None:
        """What each ``release`` decision did: the modality re-admits released records while it standardizes
        (:func:`released_records`) and counts them in ``data.objects["released"]``; a release it could not
        apply (a record quarantined for want of what the output needs: no patient key, a line that does
        not parse) is flagged as not applicable."""
        done: Mapping[str, Mapping[str, int]] = data.objects.get(RELEASED) or {}
        for d in [d for d in self.applied if d.kind == "release" and d.value == "release"]:
            token = d.key.split(".", 1)[1]
            if done.get(token):
                self.released[d.key] = ", ".join(f"{n} record(s) of {t}" for t, n in done[token].items())
                continue
            self.applied.remove(d)
            why = (
                "not applied: no record of this key was held for release in this run (only a record "
                "quarantined for an unparseable date re-enters; others lack the key or values an output needs)"
            )
            self.refused.append((d, why))

    def compare(self, data: Any, results: Sequence[CheckResult], *, ctx: Any) -> None:
        """Each setting named under a check (``<check id>.<...>``): that check run again without the setting;
        a different verdict or count is what the setting changed, said in its effect. A setting the modality
        applies before its checks run (while it standardizes) shows no difference here, and none is claimed."""
        import dataclasses

        by_id = {r.check_id: r for r in results}
        for d in (d for d in self.applied if d.kind == "setting"):
            r = next((r for cid, r in by_id.items() if d.key.startswith(f"{cid}.")), None)
            check = _declared_check(self.module, self.modality, r.check_id) if r is not None else None
            if r is None or check is None:
                continue
            bare = dataclasses.replace(ctx, decisions=_without(ctx.decisions, d.key))
            was = run([check], data, bare, modality=self.modality, thresholds=ctx.thresholds)[0]
            if (was.verdict, was.n_failed) != (r.verdict, r.n_failed):
                self.changed[d.key] = (
                    f"changed from {was.verdict} ({was.n_failed} of {was.n_checked} failing) without it"
                )

    def __bool__(self) -> bool:
        """Any decision on this step."""
        return bool(self.applied or self.stale or self.listed or self.refused)

    def check(self) -> list[CheckResult]:
        """``<modality>.decisions.review``: a warning naming each decision not applied (none without decisions)."""
        if not self:
            return []
        return run([REVIEW], self, modality=self.modality)

    def frame(self, results: Sequence[CheckResult] = ()) -> pd.DataFrame:
        """One row per decision: its status and what it changed (a check's verdict, a setting, a value map)."""
        by_id = {r.check_id: r for r in results}
        rows = []
        for status, group in (
            ("applied", self.applied),
            ("flagged: input changed", self.stale),
            ("listed: not replayed by this version", self.listed),
        ):
            for d in group:
                effect = self._effect(d, by_id) if status == "applied" else ""
                rows.append(
                    {
                        "kind": d.kind,
                        "key": d.key,
                        "value": _text(d.value),
                        "author": d.author,
                        "time": d.time,
                        "reason": d.reason,
                        "status": status,
                        "effect": effect,
                    }
                )
        rows += [
            {
                "kind": d.kind,
                "key": d.key,
                "value": _text(d.value),
                "author": d.author,
                "time": d.time,
                "reason": d.reason,
                "status": "flagged: not applicable",
                "effect": why,
            }
            for d, why in self.refused
        ]
        return pd.DataFrame(rows, columns=COLUMNS).astype("string")

    def _effect(self, d: Decision, by_id: Mapping[str, CheckResult]) -> str:
        if d.kind == "threshold":
            r = by_id.get(d.key)
            if r is None:
                return f"no check {d.key} ran in this step"
            now = f"verdict {r.verdict} under {r.threshold.describe()} ({r.n_failed} of {r.n_checked} failing)"
            old = self.before.get(d.key)
            if old is None:
                return f"{now}; without the decision: the declared default"
            was = old.verdict(r.n_checked, r.n_failed)
            change = "unchanged" if was == r.verdict else f"changed from {was}"
            return f"{now}; {change} under {old.describe()}"
        if d.kind == "map":
            field_, _, raw = d.key.partition(".")[2].partition(":")
            return f"{field_}: {raw!r} read as {d.value!r} (value map)"
        if d.kind == "label":
            return self.relabelled.get(d.key, "not applied")
        if d.kind == "release":
            if d.value == "confirm":
                return "confirmed: stays in quarantine"
            return f"released: {self.released.get(d.key, '')} re-entered the standard tables (ledger: release:<table>)"
        if d.kind == "exclude":
            if d.value == "accept":
                return "accepted: kept as it is"
            if d.key in self.excluded_what:
                return self.excluded_what[d.key]
            n = self.excluded.get(d.key, 0)
            return f"{n} record(s) excluded (ledger: {EXCLUDED})" if n else "matched no record of this run"
        said = f"setting {d.key} = {_text(d.value)}"
        # a setting named under a check (genomics.accuracy.q30.sample.<token>.min_q30): that check's verdict now
        r = next((r for cid, r in by_id.items() if d.key.startswith(f"{cid}.")), None)
        if r is None:
            return said
        change = f"; {self.changed[d.key]}" if d.key in self.changed else ""
        return f"{said}; {r.check_id}: verdict {r.verdict} ({r.n_failed} of {r.n_checked} failing){change}"


def exclude_rows(data: Any, table: str, *, columns: Sequence[str], wanted: Mapping[str, Any]) -> dict[str, int]:
    """Drop the rows of ``data.tables[table]`` whose ``columns`` hold a wanted token; the ledger counts them
    (``decisions:<table>``, excluded by rule curator_decision). Returns the rows dropped per token."""
    df = data.tables[table]
    mask = pd.Series(False, index=df.index)
    counts: dict[str, int] = {}
    for col in (c for c in columns if c in df.columns):
        values = df[col].astype("string")
        for token in wanted:
            hit = (values == token).fillna(False).astype(bool) & ~mask
            if hit.any():
                counts[token] = counts.get(token, 0) + int(hit.sum())
                mask |= hit
    data.ledger.record(
        f"decisions:{table}",
        n_in=len(mask),
        n_accepted=int((~mask).sum()),
        excluded={EXCLUDED: int(mask.sum())} if mask.any() else None,
    )
    data.tables[table] = df.loc[~mask]
    return counts


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _review(replay: Replay) -> Outcome:
    """Decisions set aside: made on input that changed since, or of a kind this version does not replay."""
    bad = [(d, "input changed since the decision: review it (curation decide show/set/revoke)") for d in replay.stale]
    bad += [(d, f"a {d.kind} decision is recorded but not replayed by this version") for d in replay.listed]
    bad += replay.refused
    n = len(replay.applied) + len(bad)
    msg = "; ".join(f"{d.key} ({why})" for d, why in bad[:5]) or f"{n} decision(s) applied"
    return Outcome(n, failures=failures(field=[d.key for d, _ in bad], rule=[why for _, why in bad]), message=msg)


REVIEW = Check(
    "decisions.review",
    Dimension.CONFORMANCE,
    _review,
    severity=Severity.MINOR,
    threshold=WARN_ONLY,
    description="curator decisions replayed; one made on changed input is flagged, not applied",
)


def prepare(config: CohortConfig, ctx: Context, *, modality: str, module: str = "") -> Replay:
    """Apply the decisions in force on ``modality`` to ``ctx`` (thresholds, settings, value maps).

    A decision with an input checksum that no longer matches the modality's input is not applied:
    it is flagged by the review check. The old form (no checksum) applies as it always did.
    ``module`` is the modality's module name (where its checks' declared thresholds are found).
    """
    replay = Replay(modality, module=module)
    mine = [d for d in decisions_in_force(config, bundle=ctx.bundle.root) if d.modality == modality]
    if not mine:
        return replay
    today = modality_checksum(config, modality) if any(d.input_sha256 for d in mine) else ""
    settings: dict[str, Any] = {}
    maps: dict[str, dict[str, str]] = {}
    releases: dict[str, str] = {}
    for d in mine:
        if d.input_sha256 and d.input_sha256 != today:
            replay.stale.append(d)
        elif d.kind not in REPLAYED:
            replay.listed.append(d)
        else:
            replay.applied.append(d)
            if d.kind == "threshold":
                replay.before[d.key] = ctx.thresholds.get(d.key) or _declared_threshold(module, modality, d.key)
                value = d.value if isinstance(d.value, Mapping) else {"warn": 0.0, "fail": float(d.value)}
                ctx.thresholds[d.key] = Threshold(float(value.get("warn", 0.0)), float(value.get("fail", 0.0)))
            elif d.kind == "release":
                releases[d.key.split(".", 1)[1]] = str(d.value)
            elif d.kind == "map":
                field_, _, raw = d.key.partition(".")[2].partition(":")
                maps.setdefault(f"{modality}.{field_}", {})[raw] = str(d.value)
            elif d.kind not in ("exclude", "label"):  # those two apply to the standardized data
                settings[d.key] = d.value
    if releases:
        ctx.decisions = {**ctx.decisions, f"{modality}.{RELEASE_KEY}": releases}
    if settings:
        # flat dotted keys and the nested form: modalities read either (genomics flat, immune nested)
        nested = _nest(settings)
        ctx.decisions = {**ctx.decisions, **settings, **_merge(dict(ctx.decisions), nested)}
    if maps:
        merged = {k: dict(v) for k, v in (config.value_maps or {}).items()}
        for k, v in maps.items():
            merged.setdefault(k, {}).update(v)
        ctx.config = config.model_copy(update={"value_maps": merged})
    return replay


def released_records(ctx: Any, modality: str) -> set[str]:
    """The record keys (pseudonym, sample token or ``line N``) a curator released from quarantine: the
    modality re-admits a held record of one while it standardizes and counts it in ``data.objects["released"]``."""
    chosen = (getattr(ctx, "decisions", None) or {}).get(f"{modality}.{RELEASE_KEY}") or {}
    return {k for k, v in chosen.items() if v == "release"}


def _merge(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in b.items():
        mergeable = isinstance(v, Mapping) and isinstance(a.get(k), (dict, type(None)))
        a[k] = _merge(dict(a.get(k) or {}), v) if mergeable else v
    return a


def audit_record(config: CohortConfig, root: Path | None = None) -> dict[str, Any]:
    """What the audit trail's ``run_start`` says of the decisions: the file's checksum and each decision in force."""
    import hashlib

    path = decisions_path(config)
    decisions: Iterable[Decision] = decisions_in_force(config, bundle=root)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    out: dict[str, Any] = {"file": FILE, "sha256": digest}
    out["decisions"] = [
        {
            "kind": d.kind,
            "key": d.key,
            "value": d.value,
            "author": d.author,
            "time": d.time,
            "reason": d.reason,
            "input_sha256": d.input_sha256,
        }
        for d in decisions
    ]
    return out


def applied_in(root: Path) -> list[dict[str, Any]]:
    """What the audit trail's ``run_end`` says of the decisions: each step's, with its status and effect
    (quality/decisions/<step>.parquet, written by :func:`curation.curate`)."""
    folder = Path(root) / "quality" / "decisions"
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        df = pd.read_parquet(path)
        out += [{"step": path.stem, **{k: str(v) for k, v in row.items()}} for row in df.to_dict("records")]
    return out


def decisions_digest(config: CohortConfig, *, bundle: Path | None = None) -> str:
    """SHA-256 over the decisions in force (kind, key, value, input checksum), "" without any.

    For keys that must change when a decision does (incremental runs): decisions.yaml lives beside
    cohort.yaml, not in the bundle.
    """
    import hashlib
    import json

    rows = sorted(
        (d.kind, d.key, json.dumps(d.value, sort_keys=True, default=str), d.input_sha256)
        for d in decisions_in_force(config, bundle=bundle)
    )
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest() if rows else ""
