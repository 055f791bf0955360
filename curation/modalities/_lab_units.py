"""Lab: the analyte / unit table (``dictionary/lab_units.yaml``) and unit conversion with pint.

Private to :mod:`curation.modalities.lab`, which re-exports :class:`Analyte`, :class:`UnitTable`,
:func:`units` and :func:`unit_factor`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from .. import dictionary


@dataclass(frozen=True)
class Analyte:
    """One marker of lab_units.yaml; every number in its canonical ``unit``."""

    name: str
    unit: str
    synonyms: tuple[str, ...]
    reference: tuple[float | None, float | None]
    detection_limit: float | None
    plausible: tuple[float | None, float | None]
    loinc: str | None = None  # LOINC code of the test (lab_units.yaml `loinc`), for exports and lab outputs


@dataclass(frozen=True)
class UnitTable:
    analytes: dict[str, Analyte]
    aliases: dict[str, str]
    magnitude_factor: float

    def synonym_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for a in self.analytes.values():
            for s in (a.name, *a.synonyms):
                out[_key(s)] = a.name
        return out


def _key(text: str) -> str:
    """Matching key of an analyte name: NFKC (full-width brackets), case and spaces folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).casefold()


@cache
def units() -> UnitTable:
    """The shipped analyte / unit table (``dictionary/lab_units.yaml``)."""
    text = resources.files(dictionary.__name__).joinpath("lab_units.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)

    def pair(v: Any) -> tuple[float | None, float | None]:
        lo, hi = v or [None, None]
        return (None if lo is None else float(lo), None if hi is None else float(hi))

    analytes = {
        name: Analyte(
            name=name,
            unit=str(a["unit"]),
            synonyms=tuple(str(s) for s in a.get("synonyms", ())),
            reference=pair(a.get("reference")),
            detection_limit=None if a.get("detection_limit") is None else float(a["detection_limit"]),
            plausible=pair(a.get("plausible")),
            loinc=None if a.get("loinc") is None else str(a["loinc"]),
        )
        for name, a in doc["analytes"].items()
    }
    return UnitTable(
        analytes,
        {str(k): str(v) for k, v in (doc.get("aliases") or {}).items()},
        float(doc.get("magnitude_factor", 1000)),
    )


@cache
def _registry() -> Any:
    """pint's registry, its parsed definitions kept in pint's own disk cache (the user's cache folder):
    parsing its ~1,000 unit definitions costs 0.3-0.5 s on every start, a fifth of standardizing 1M
    lab results, and 0.02 s from the cache. The cache holds pint's definitions only, never a unit of
    ours. One that cannot be written or read (a read-only home, two first runs writing at once)
    falls back to parsing."""
    import pint

    try:
        return pint.UnitRegistry(cache_folder=":auto:")
    except Exception:  # noqa: BLE001 - any cache trouble: the definitions parsed as without a cache
        return pint.UnitRegistry()


@cache
def unit_factor(unit: str, canonical: str) -> float | None:
    """Factor that converts a value in ``unit`` to ``canonical``; None when pint cannot parse the
    unit or it measures something else (mmol/L is not a mass concentration)."""
    import pint

    text = unicodedata.normalize("NFKC", unit).strip()
    text = units().aliases.get(text, units().aliases.get(unit.strip(), text))
    if not text:
        return None
    try:
        q = _registry().Quantity(1.0, text).to(canonical)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, AssertionError):
        return None
    factor = float(q.magnitude)
    return float(f"{factor:.12g}")  # 0.9999999999999999 -> 1.0
