"""The record ledger: nothing is lost.

Every stage of every modality accounts for its records:
``n_in = n_accepted + sum(quarantined by reason) + sum(excluded by rule)``.
Quarantined records are kept (quality/quarantine/<modality>.parquet) with a reason code, one of
:class:`~curation.quality.reasons.Reason` (curation/dictionary/reasons.yaml).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .model import Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures, run
from .reasons import as_reason

__all__ = ["BALANCED", "QUARANTINE_COLUMNS", "Ledger", "LedgerEntry", "Quarantine", "check_balanced"]

QUARANTINE_COLUMNS = ["modality", "stage", "source", "record", "pseudonym", "field", "reason", "detail"]


@dataclass
class Quarantine:
    """Records set aside with a reason code (:class:`~curation.quality.reasons.Reason`). ``detail``
    must never quote an identifier."""

    modality: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        *,
        stage: str,
        source: str,
        record: str | int,
        reason: str,
        field: str = "",
        pseudonym: str = "",
        detail: str = "",
    ) -> None:
        """Set a record aside; ``reason`` must be a code of reasons.yaml (ValueError otherwise)."""
        self.rows.append(
            {
                "modality": self.modality,
                "stage": stage,
                "source": source,
                "record": str(record),
                "pseudonym": pseudonym,
                "field": field,
                "reason": str(as_reason(reason)),
                "detail": detail,
            }
        )

    def extend(self, other: Quarantine) -> None:
        """Add another quarantine's records (of the same modality)."""
        self.rows.extend(other.rows)

    def count(self, stage: str | None = None) -> Counter[str]:
        """Records set aside by reason, of one stage or all."""
        return Counter(r["reason"] for r in self.rows if stage is None or r["stage"] == stage)

    def frame(self) -> pd.DataFrame:
        """quality/quarantine/<modality>.parquet: one row per record set aside."""
        return pd.DataFrame(self.rows, columns=QUARANTINE_COLUMNS).astype("string")

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class LedgerEntry:
    """The record counts of one stage of one source: in, accepted, quarantined and excluded by reason."""

    modality: str
    stage: str
    source: str
    n_in: int
    n_accepted: int
    quarantined: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def n_quarantined(self) -> int:
        """Records set aside, all reasons."""
        return sum(self.quarantined.values())

    @property
    def n_excluded(self) -> int:
        """Records excluded from analysis by rule (kept, not lost)."""
        return sum(self.excluded.values())

    @property
    def balanced(self) -> bool:
        """``n_in == n_accepted + n_quarantined + n_excluded``."""
        return self.n_in == self.n_accepted + self.n_quarantined + self.n_excluded


@dataclass
class Ledger:
    """Per-stage record counts of one modality."""

    modality: str
    entries: list[LedgerEntry] = field(default_factory=list)

    def record(
        self,
        stage: str,
        *,
        source: str = "",
        n_in: int,
        n_accepted: int,
        quarantined: dict[str, int] | None = None,
        excluded: dict[str, int] | None = None,
    ) -> LedgerEntry:
        """Count one stage of one source (quarantined by reason code, excluded by rule)."""
        entry = LedgerEntry(
            self.modality, stage, source, int(n_in), int(n_accepted), dict(quarantined or {}), dict(excluded or {})
        )
        self.entries.append(entry)
        return entry

    def frame(self) -> pd.DataFrame:
        """quality/ledger/<modality>.parquet: one row per stage and source."""
        rows = [
            {
                "modality": e.modality,
                "stage": e.stage,
                "source": e.source,
                "n_in": e.n_in,
                "n_accepted": e.n_accepted,
                "n_quarantined": e.n_quarantined,
                "n_excluded": e.n_excluded,
                "balanced": e.balanced,
                "quarantined_by_reason": ", ".join(f"{k}={v}" for k, v in sorted(e.quarantined.items())),
                "excluded_by_rule": ", ".join(f"{k}={v}" for k, v in sorted(e.excluded.items())),
            }
            for e in self.entries
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "modality",
                "stage",
                "source",
                "n_in",
                "n_accepted",
                "n_quarantined",
                "n_excluded",
                "balanced",
                "quarantined_by_reason",
                "excluded_by_rule",
            ],
        )

    def check(self, *, thresholds: dict[str, Threshold] | None = None) -> CheckResult:
        """The identity ``in = accepted + quarantined + excluded`` for every stage (``<modality>.ledger_balanced``)."""
        return run([BALANCED], self, modality=self.modality, thresholds=thresholds)[0]


def check_balanced(ledger: Ledger) -> Outcome:
    """Stages that lose or invent records."""
    bad = [e for e in ledger.entries if not e.balanced]
    return Outcome(
        len(ledger.entries),
        failures=failures(
            row=range(len(bad)),
            field=[f"{e.stage}:{e.source}" for e in bad],
            rule=[
                f"in {e.n_in} != accepted {e.n_accepted} + quarantined {e.n_quarantined} + excluded {e.n_excluded}"
                for e in bad
            ],
        ),
        message=(
            "every stage reconciles: in = accepted + quarantined + excluded"
            if not bad
            else f"{len(bad)} stage(s) lose or invent records"
        ),
    )


BALANCED = Check(
    "ledger_balanced",
    Dimension.COMPLETENESS,
    check_balanced,
    severity=Severity.CRITICAL,
    description="every stage reconciles: records in = accepted + quarantined + excluded",
)
