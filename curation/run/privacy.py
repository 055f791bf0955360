"""Fail closed: the end-of-run leak scan, withholding, and the ``privacy.leak_scan`` check.

The bundle is scanned for every identifier of the cohort; a file holding one leaves the bundle for
``<out>.withheld/``; the check ``privacy.leak_scan`` (critical) records what was withheld; the run's
own outputs are rewritten and scanned again. Everything here names files by their display path and
identifiers by number, never by value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..io.bundle import Bundle
from .quality import merge_quality
from .withhold import Withheld, withheld_dir, withhold

__all__ = [
    "Privacy",
    "add_privacy_check",
    "fail_closed",
    "leak_note",
    "missing_text",
    "privacy_check",
    "withheld_reasons",
]

MAX_LEAK_LINES = 20
MAX_IDS_IN_REASON = 10
LEAK_CHECK = "privacy.leak_scan"

Progress = Callable[[str], None]


@dataclass
class Privacy:
    """What the leak scan says about the bundle: run.json's ``releasable``, index.html's banner, exit 3.

    Everything here names files by their display path (identifier-bearing components shown as
    ``<redacted>``) and identifiers by number, never by value.
    """

    releasable: bool
    note: str  # one line: run.json leak_scan, index.html
    ran: bool = False
    findings: list[Any] = field(default_factory=list)  # LeakHit
    withheld: list[Withheld] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # modality -> why its identifiers are missing
    skipped: dict[str, int] = field(default_factory=dict)  # identifiers not searched, by reason
    n_files: int = 0
    n_identifiers: int = 0
    folder: str = ""  # "<out>.withheld/", by name

    def record(self) -> dict[str, Any]:
        """The ``leak_scan_detail`` of run.json."""
        return {
            "ran": self.ran,
            "files": self.n_files,
            "identifiers": self.n_identifiers,
            "identifiers_skipped": self.skipped,
            "findings": len(self.findings),
            "identifiers_missing": dict(self.missing),
            "withheld": [asdict(w) for w in self.withheld],
            "withheld_folder": self.folder,
        }

    def banner(self) -> dict[str, Any]:
        """What index.html shows first."""
        return {
            "releasable": self.releasable,
            "note": self.note,
            "folder": self.folder,
            "missing": dict(self.missing),
            "withheld": [str(w) for w in self.withheld],
        }


GENERATED = (
    "reports/index.html",
    "run.json",
    "datapackage.json",
    "quality/checks.parquet",
    "quality/failures.parquet",
    # rewritten after the scan with its result (curation.modalities.collection_report.finalize)
    "reports/collection_report.md",
    "reports/collection_report.pdf",
    "reports/collection_report.ipynb",
    "reports/collection_report.html",
)


def fail_closed(
    scan: Any,
    bundle: Bundle,
    identifiers: set[str],
    *,
    missing: dict[str, str],
    write_outputs: Callable[[Privacy, set[str]], None],
    started: datetime,
    say: Progress,
    timings: dict[str, Any],
) -> Privacy:
    """Scan the bundle, move leaking files to ``<out>.withheld/``, record ``privacy.leak_scan``,
    rewrite the run's own outputs and scan those again (anything leaking there is withheld too).

    The run's own outputs can only repeat what the bundle held (a check message, a column name)
    or redacted paths; the second scan makes sure of it instead of assuming it.
    """
    from ..report.html import PLOTLY_ASSET

    root = bundle.root
    run = started.isoformat(timespec="seconds")
    t1 = time.perf_counter()
    # numbered in sorted order: a finding's number is stable between runs with the same identifiers
    matcher = scan.Matcher(list(enumerate(sorted(identifiers), start=1)))
    result = scan.scan_bundle(root, matcher, exclude=[root / "reports" / PLOTLY_ASSET])  # third-party code
    withheld = withhold(root, result.paths, withheld_reasons(result), run=run)
    timings["leak_scan_s"] = round(time.perf_counter() - t1, 2)  # the whole bundle; the rescans are small
    privacy = Privacy(
        releasable=False,
        note="",
        ran=True,
        findings=list(result),
        withheld=withheld,
        missing=dict(missing),
        skipped=dict(result.skipped),
        n_files=result.n_files,
        n_identifiers=result.n_identifiers,
        folder=f"{withheld_dir(root).name}/",
    )
    skip: set[str] = set()
    remerge = any(p == "quality" or p.startswith("quality/") for p in result.paths)
    for _ in range(len(GENERATED)):  # each round withholds at least one generated file, or ends
        privacy.releasable = not (privacy.findings or privacy.missing)
        privacy.note = leak_note(privacy)
        if not skip & {"quality/checks.parquet", "quality/failures.parquet"}:
            if remerge:
                merge_quality(bundle)  # a withheld quality part must leave the merged tables too
            add_privacy_check(bundle, privacy)
            remerge = True  # the next round starts again from the parts
        write_outputs(privacy, skip)
        again = scan.scan_bundle(root, matcher, paths=[root / p for p in GENERATED if (root / p).exists()])
        if not again:
            break
        privacy.findings += list(again)
        for w in withhold(root, again.paths, withheld_reasons(again), run=run):
            # a rewritten output that leaks again: one entry per bundle path, its copies counted
            same = next((x for x in privacy.withheld if x.path == w.path and not x.error), None)
            if same is None or w.error:
                privacy.withheld.append(w)
            else:
                same.files += w.files
        skip |= set(again.paths)
    privacy.releasable = not (privacy.findings or privacy.missing)
    privacy.note = leak_note(privacy)

    say(f"  leak scan: {privacy.note} ({time.perf_counter() - t1:.1f} s)")
    for finding in privacy.findings[:MAX_LEAK_LINES]:
        say(f"  LEAK: {finding}")
    if len(privacy.findings) > MAX_LEAK_LINES:
        say(f"  LEAK: ... and {len(privacy.findings) - MAX_LEAK_LINES} more")
    for w in privacy.withheld:
        say(f"  WITHHELD: {w} -> {privacy.folder}")
    if not privacy.releasable:
        say(f"  NOT RELEASABLE: see {LEAK_CHECK} in reports/index.html")
    return privacy


def withheld_reasons(result: Any) -> dict[str, str]:
    """On-disk path -> why it is withheld, identifiers by number only."""
    out = {}
    for rel, numbers in result.found.items():
        ids = sorted(n for n in numbers if n)
        parts = ["not readable by the leak scan"] if 0 in numbers else []
        if ids:
            shown = ", ".join(f"#{n}" for n in ids[:MAX_IDS_IN_REASON])
            more = f" and {len(ids) - MAX_IDS_IN_REASON} more" if len(ids) > MAX_IDS_IN_REASON else ""
            parts.append(f"identifier{'s' if len(ids) > 1 else ''} {shown}{more}")
        out[rel] = "; ".join(parts)
    return out


def leak_note(privacy: Privacy) -> str:
    """One line for run.json, index.html and the console; never "clean" while anything is unknown."""
    from ..deid.scan import MIN_LEN

    parts = [missing_text(privacy.missing)] if privacy.missing else []
    if privacy.findings:
        moved = sum(1 for w in privacy.withheld if not w.error)
        parts.append(
            f"{len(privacy.findings)} finding(s) in {len(privacy.withheld)} path(s); {moved} withheld to "
            f"{privacy.folder}"
            + ("" if moved == len(privacy.withheld) else f", {len(privacy.withheld) - moved} could not be moved")
        )
    elif not privacy.missing:
        parts.append(f"clean ({privacy.n_identifiers} identifier values searched)")
    n_skipped = sum(privacy.skipped.values())
    if n_skipped:
        parts.append(
            f"{n_skipped} identifier value(s) not searched (fewer than {MIN_LEN} letters or digits, or only separators)"
        )
    return "; ".join(parts)


def missing_text(missing: dict[str, str]) -> str:
    """The leak-scan note for modalities whose identifiers could not be collected (and why)."""
    return (
        "not known to be clean: the identifiers of "
        + ", ".join(f"{m} ({why})" for m, why in sorted(missing.items()))
        + " could not be collected"
    )


def add_privacy_check(bundle: Bundle, privacy: Privacy) -> None:
    """``privacy.leak_scan`` into quality/checks.parquet (and its failing paths into failures.parquet)."""
    import pyarrow as pa

    from ..quality import failures_of, results_frame

    result = privacy_check(privacy)
    for kind, frame in (("checks", results_frame([result])), ("failures", failures_of([result]))):
        path = bundle.root / "quality" / f"{kind}.parquet"
        if kind == "failures" and not len(frame):
            continue
        tables = [pa.Table.from_pandas(frame, preserve_index=False)]
        if path.is_file():
            import pyarrow.parquet as pq

            tables.insert(0, pq.read_table(path))
        merged = pa.concat_tables(tables, promote_options="permissive")
        bundle.write_parquet(f"quality/{kind}.parquet", merged.to_pandas())


def privacy_check(privacy: Privacy) -> Any:
    """The ``privacy.leak_scan`` check: critical; fails with every withheld path (redacted) and the
    identifier numbers; errors when the scan could not run or a modality's identifiers are missing."""
    from ..quality import Dimension, Severity, Verdict, failures_frame, make_result

    rows = privacy.withheld
    failures = failures_frame(
        LEAK_CHECK,
        "privacy",
        row=[-1] * len(rows),
        field=[w.path for w in rows],
        rule=[w.reason + (f"; not moved: {w.error}" if w.error else "") for w in rows],
    )
    if rows:
        shown = "; ".join(str(w) for w in rows[:5]) + (f"; ... and {len(rows) - 5} more" if len(rows) > 5 else "")
        message = f"{len(rows)} path(s) held identifiers and left the bundle for {privacy.folder}: {shown}"
    else:
        message = privacy.note
    if privacy.missing and rows:
        message = f"{missing_text(privacy.missing)}; {message}"
    result = make_result(
        LEAK_CHECK,
        "privacy",
        Dimension.CONFORMANCE,
        n_checked=max(privacy.n_files, len(rows)),
        failures=failures,
        message=message,
        severity=Severity.CRITICAL,
    )
    if not privacy.ran or (privacy.missing and not rows):
        result.verdict = Verdict.ERROR  # the scan could not say: never a pass
    return result
