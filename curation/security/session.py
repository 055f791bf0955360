"""What a run does for security, around everything else it does.

Before anything is written: the bundle folder is made owner-only (or group-readable), the previous
run's record moves to ``history/<run-id>/``, run.json says ``status: running`` and the audit trail
gets a ``run_start`` event. After the manifest: every folder and file gets the bundle's modes, the
trail gets ``run_end`` (with the manifest's checksum) and the bundle is verified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.bundle import AUDIT, MANIFEST, write_json
from . import audit
from .access import group_id, modes, secure_dir, secure_tree
from .consent import consent_counts, consent_of
from .history import archive_previous, new_run_id
from .verify import FINISHED, RUN_JSON, RUNNING, Verification, verify_bundle

if TYPE_CHECKING:
    from ..config import CohortConfig
    from ..deid.keys import Keyring

__all__ = ["RunSecurity"]

DECISIONS = "decisions.yaml"


@dataclass
class RunSecurity:
    """The security side of one run: its id, who ran it, where, and what it archived."""

    root: Path
    run_id: str
    operator: str
    host: str
    group: str | None = None
    previous: str | None = None  # the run archived in history/, by id
    consent: dict[str, Any] = field(default_factory=dict)  # withdrawals configured (counts, no identifier)

    @classmethod
    def begin(
        cls,
        config: CohortConfig,
        keyring: Keyring,
        root: Path,
        *,
        started: datetime,
        operator: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> RunSecurity:
        """Secure the folder, archive the previous run, write run.json ``running`` and ``run_start``.

        Raises
        ------
        ConfigError
            ``security.group`` names no group of this machine (before anything is written).
        """
        group = config.security.group
        group_id(group)
        consent = consent_of(config, keyring).facts()  # a wrong consent entry stops the run here too
        secure_dir(root, top=root, group=group)
        archived = archive_previous(root, group=group)
        sec = cls(
            root,
            new_run_id(started),
            audit.operator_name(operator),
            audit.host_fingerprint(),
            group,
            previous=archived.name if archived is not None else None,
            consent=consent,
        )
        cohort = {"name": config.cohort.name, "file": config.path.name, "sha256": config.checksum()}
        write_json(
            root / RUN_JSON,
            {
                "run_id": sec.run_id,
                "status": RUNNING,
                "started": started.isoformat(timespec="seconds"),
                "cohort": cohort,
                "consent": consent,
            },
        )
        audit.append(
            root,
            "run_start",
            operator=sec.operator,
            after=archived / AUDIT if archived else None,
            run_id=sec.run_id,
            previous_run=sec.previous,
            cohort=cohort,
            key_fingerprint=keyring.fingerprint,
            parameters=parameters or {},
            thresholds=_overrides(config),
            decisions=_decisions(config, root),
            consent=consent,
        )
        return sec

    def record(self, *, finished: bool) -> dict[str, Any]:
        """run.json's ``run_id``, ``status`` and ``security`` keys."""
        dir_mode, file_mode = modes(self.group)
        return {
            "run_id": self.run_id,
            "status": FINISHED if finished else RUNNING,
            "security": {
                "operator": self.operator,
                "host": self.host,
                "group": self.group,
                "modes": f"folders {dir_mode:04o}, files {file_mode:04o}",
                "audit_trail": AUDIT,
                "previous_run": self.previous,
                "runs_in_history": _n_history(self.root),
            },
            # records each modality excluded under consent_withdrawn (its ledger), beside what was configured
            "consent": {**self.consent, "excluded_records": consent_counts(self.root)},
        }

    def end(self, *, exit_code: int, releasable: bool, withheld: list[str]) -> Verification:
        """After the manifest: modes, ``run_end``, and the verification of the whole bundle."""
        secure_tree(self.root, group=self.group)
        manifest = self.root / MANIFEST
        audit.append(
            self.root,
            "run_end",
            operator=self.operator,
            run_id=self.run_id,
            exit_code=exit_code,
            releasable=releasable,
            withheld=withheld,
            manifest_sha256=hashlib.sha256(manifest.read_bytes()).hexdigest(),
            decisions_applied=_applied(self.root),
        )
        return verify_bundle(self.root)


def _overrides(config: CohortConfig) -> list[dict[str, Any]]:
    """cohort.yaml threshold overrides, each with its author and reason."""
    return [
        {
            "check": check,
            "warn": t.warn,
            "fail": t.fail,
            "author": t.author,
            "reason": t.reason,
            "source": config.path.name,
        }
        for check, t in sorted(config.thresholds.items())
    ]


def _decisions(config: CohortConfig, root: Path) -> dict[str, Any]:
    """The decisions the run applies (decisions.yaml beside cohort.yaml, and the old form in the bundle):
    the file's checksum and each decision in force with its author, time, reason and input checksum."""
    from ..decisions import audit_record

    return audit_record(config, root)


def _applied(root: Path) -> list[dict[str, Any]]:
    """Each step's decisions as the run applied (or flagged) them, with what each changed."""
    from ..decisions import applied_in

    return applied_in(root)


def _n_history(root: Path) -> int:
    from .verify import HISTORY

    folder = root / HISTORY
    return sum(1 for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else 0
