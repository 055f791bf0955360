"""Curator decisions: recorded with author, time, reason and input checksum, replayed by batch runs.

decisions.yaml beside cohort.yaml (:mod:`.model`), applied by :func:`curation.curate`
(:mod:`.replay`), edited with ``curation decide`` (:mod:`.cli`) and the notebooks' widgets
(:mod:`.widgets`, which sit above the modalities and are not imported here).
"""

from .model import (
    FILE,
    KINDS,
    Decision,
    DecisionsFile,
    Revocation,
    decisions_path,
    input_checksum,
    read_decisions,
    revoke_decision,
    set_decision,
    write_decisions,
)
from .replay import (
    REPLAYED,
    Replay,
    applied_in,
    audit_record,
    decisions_digest,
    decisions_in_force,
    modality_checksum,
    prepare,
)

__all__ = [
    "FILE",
    "KINDS",
    "REPLAYED",
    "Decision",
    "DecisionsFile",
    "Replay",
    "Revocation",
    "applied_in",
    "audit_record",
    "decisions_digest",
    "decisions_in_force",
    "decisions_path",
    "input_checksum",
    "modality_checksum",
    "prepare",
    "read_decisions",
    "revoke_decision",
    "set_decision",
    "write_decisions",
]
