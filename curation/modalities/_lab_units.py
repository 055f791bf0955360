"""Lab: the analyte / unit table (``dictionary/lab_units.yaml``) and unit conversion with pint.

Private to :mod:`curation.modalities.lab`, which re-exports :class:`Analyte`, :class:`UnitTable`,
:func:`units` and :func:`unit_factor`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
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
    unit or it measures something else (mmol/L is not a mass concentration).

    A pair pint has answered before is read from the factor memo (:func:`_memo`) without importing
    pint: its import alone is 0.4-0.7 s of every lab step, a tenth of standardizing 1M results."""
    memo = _memo()
    key = f"{unit}\x1f{canonical}"
    if key not in memo.factors:
        memo.record(key, _pint_factor(unit, canonical))
    return memo.factors[key]


def _pint_factor(unit: str, canonical: str) -> float | None:
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


@dataclass
class _FactorMemo:
    """pint's answers kept on disk: a JSON object of "unit<US>canonical" -> factor (null: no factor).

    The file's name holds pint's version and a digest of lab_units.yaml's aliases, the two things a
    factor depends on besides its pair, so a new pint or a new alias starts a new memo. A damaged or
    unreadable file reads as empty and one that cannot be written is left as it was: pint answers
    then, as without a memo. Writes are atomic (a whole file or none), so two runs at once at worst
    both ask pint."""

    path: Path | None
    factors: dict[str, float | None]

    def record(self, key: str, factor: float | None) -> None:
        self.factors[key] = factor
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.factors, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache folder: the factors stay in memory for this run


@cache
def _memo() -> _FactorMemo:
    """The factor memo of this pint and these aliases, in the user's cache folder
    (``$XDG_CACHE_HOME/curation`` or ``~/.cache/curation``, beside pint's own definitions cache)."""
    try:
        version = metadata.version("pint")
    except metadata.PackageNotFoundError:
        return _FactorMemo(None, {})
    digest = hashlib.sha256(json.dumps(units().aliases, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "curation" / f"unit-factors-pint{version}-{digest}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = {}
    ok = isinstance(raw, dict) and all(v is None or isinstance(v, float) for v in raw.values())
    return _FactorMemo(path, dict(raw) if ok else {})
