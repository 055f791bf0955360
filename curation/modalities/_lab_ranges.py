"""Lab: each analyte's plausible range in effect, lab_units.yaml's unless a curator decided otherwise.

A decision ``setting lab.plausibility.range.<analyte>.low`` (or ``.high``) replaces that bound of the
analyte's plausible range (canonical unit) for the batch run: :func:`curation.modalities.lab.null_implausible`
reads :func:`plausible_ranges`, so the results it nulls and ``lab.plausibility.range`` follow the decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lab_units import units

if TYPE_CHECKING:
    from .base import Context

__all__ = ["RANGE_CHECK", "RANGE_ID", "plausible_ranges", "range_key"]

RANGE_ID = "plausibility.range"  # the per-analyte range check's id, declared in lab.py with it
RANGE_CHECK = "lab." + RANGE_ID


def range_key(analyte: str, bound: str) -> str:
    """The decision key of one bound (``low`` or ``high``) of an analyte's plausible range."""
    return f"{RANGE_CHECK}.{analyte}.{bound}"


def plausible_ranges(ctx: Context | None = None) -> dict[str, tuple[float | None, float | None]]:
    """Each analyte's plausible range (canonical unit): lab_units.yaml's, each bound replaced by a decision."""
    decided: dict[str, Any] = dict(getattr(ctx, "decisions", None) or {})
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, a in units().analytes.items():
        lo, hi = (decided.get(range_key(name, b)) for b in ("low", "high"))
        out[name] = (
            a.plausible[0] if lo is None else float(lo),
            a.plausible[1] if hi is None else float(hi),
        )
    return out
