"""Consent and its withdrawal: patients whose consent is withdrawn are excluded from every modality at load.

cohort.yaml ``consent:`` names them by raw identifier (the MRN or admission number the site's exports
carry, with the site), inline under ``withdrawn:`` and/or in a ``table:`` (CSV: site, id, and optional
modalities, date)::

    consent:
      withdrawn:
        - {site: A, id: "ZY00012345"}                       # every modality
        - {site: B, id: "0045678", modalities: [immune], date: 2024-03-01}
      table: consent/withdrawn.csv

Each is turned into the patient pseudonym every modality gives it (``keyring.patient(id, site=site)``),
so a modality drops a record, a file or a sample when its pseudonym is withdrawn, counts it in its
ledger under the rule ``consent_withdrawn`` (records in = accepted + quarantined + excluded still
holds), and writes nothing of it: no data, no quarantine row, no check failure. The identifiers
themselves stay in memory (and in the leak scan's list), never in an output.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..quality.reasons import as_reason

if TYPE_CHECKING:
    from ..config import CohortConfig
    from ..deid.keys import Keyring
    from ..modalities.base import Context, ModalityData

__all__ = [
    "Consent",
    "Withdrawal",
    "consent_counts",
    "consent_of",
    "exclude_withdrawn",
    "exclude_withdrawn_samples",
    "without_withdrawn",
]

RULE = str(as_reason("consent_withdrawn"))  # the ledger's exclusion rule, a code of reasons.yaml
_SPLIT = re.compile(r"[;,|\s]+")


@dataclass(frozen=True)
class Withdrawal:
    """One withdrawn patient, by pseudonym: which modalities (empty: all) and since when."""

    pseudonym: str
    site: str
    modalities: frozenset[str] = frozenset()
    date: str = ""

    def covers(self, modality: str) -> bool:
        """Whether the withdrawal applies to ``modality`` (no modalities listed: every one)."""
        return not self.modalities or modality in self.modalities


class Consent:
    """The withdrawn patients of a cohort, as pseudonyms (never the raw identifiers)."""

    def __init__(self, withdrawals: Iterable[Withdrawal] = ()) -> None:
        self.withdrawals = list(withdrawals)
        self._by: dict[str, list[Withdrawal]] = {}
        for w in self.withdrawals:
            self._by.setdefault(w.pseudonym, []).append(w)

    def __len__(self) -> int:
        return len(self._by)

    def withdrawn(self, pseudonym: object, modality: str) -> bool:
        """Is this patient's consent withdrawn for ``modality``?"""
        return any(w.covers(modality) for w in self._by.get(str(pseudonym), ()))

    def mask(self, pseudonyms: Iterable[object], modality: str) -> np.ndarray:
        """True where the patient is withdrawn for ``modality``."""
        return np.array([self.withdrawn(p, modality) for p in pseudonyms], dtype=bool)

    def drop(
        self, df: pd.DataFrame, *, modality: str, keyring: Keyring, id_col: str, site: str | pd.Series
    ) -> tuple[pd.DataFrame, int]:
        """``df`` without the rows of withdrawn patients (raw identifiers in ``id_col``), and how many."""
        if not self._by or id_col not in df.columns or df.empty:
            return df, 0
        gone = {p for p, ws in self._by.items() if any(w.covers(modality) for w in ws)}
        if not gone:
            return df, 0
        # keyed once per distinct (site, id) pair, in one batch, and spread back by code: a 1M-row
        # LIS export holds ~50k patients, and a loop per row cost 3 s
        if isinstance(site, pd.Series):
            s_codes, s_values = pd.factorize(site.fillna("").astype(str))
        else:
            s_codes, s_values = np.zeros(len(df), dtype=np.int64), np.array([site or ""], dtype=object)
        i_codes, i_values = pd.factorize(df[id_col])  # a missing id: -1
        width = len(i_values) + 1
        distinct, at = np.unique(s_codes.astype(np.int64) * width + i_codes + 1, return_inverse=True)
        pairs = [(str(s_values[d // width]), i_values[d % width - 1] if d % width else None) for d in distinct.tolist()]
        linked = [k for k, (_, raw) in enumerate(pairs) if isinstance(raw, str) and raw.strip()]
        names = keyring.patients([pairs[k][1] for k in linked], site=[pairs[k][0] for k in linked])
        hit = np.zeros(len(pairs), dtype=bool)
        hit[linked] = [name in gone for name in names]
        out = hit[at.ravel()]
        n = int(out.sum())
        return (df.loc[~out], n) if n else (df, 0)

    def facts(self) -> dict[str, Any]:
        """run.json's ``consent`` (configured): patients withdrawn, by scope."""
        everywhere = sum(1 for ws in self._by.values() if any(not w.modalities for w in ws))
        return {"withdrawn_patients": len(self._by), "withdrawn_from_every_modality": everywhere}


_CACHE: dict[tuple[str, str, str], Consent] = {}


def consent_of(config: CohortConfig, keyring: Keyring) -> Consent:
    """The cohort's :class:`Consent` (read once per cohort file, key and consent table).

    Raises
    ------
    ConfigError
        A withdrawal names a site the cohort does not have, a modality that is not registered, or the
        consent table is missing or lacks the site and id columns.
    """
    cfg = config.consent
    table = config.resolve(cfg.table) if cfg.table else None
    stamp = f"{table.stat().st_mtime_ns}" if table is not None and table.is_file() else ""
    key = (str(config.path), config.checksum() + stamp, keyring.fingerprint)
    if key not in _CACHE:
        _CACHE[key] = Consent(_withdrawals(config, keyring, table))
    return _CACHE[key]


def _withdrawals(config: CohortConfig, keyring: Keyring, table: Path | None) -> list[Withdrawal]:
    from ..modalities import registry

    name = config.path.name
    rows: list[tuple[str, dict[str, Any]]] = [
        (f"consent.withdrawn[{i}]", w.model_dump()) for i, w in enumerate(config.consent.withdrawn)
    ]
    if table is not None:
        rows += _table_rows(table, name)
    sites = {s.id for s in config.sites}
    known = set(registry.names())
    out = []
    for where, row in rows:
        site, raw_id = str(row.get("site") or "").strip(), str(row.get("id") or "").strip()
        if not raw_id:
            raise ConfigError(f"{name}: {where}: no id; give the MRN or admission number as the site exports it")
        if sites and site not in sites:
            msg = f"{name}: {where}.site: {site!r} is not one of the sites ({', '.join(sorted(sites))})"
            raise ConfigError(msg)
        mods = row.get("modalities") or []
        mods = [m for m in _SPLIT.split(mods) if m] if isinstance(mods, str) else [str(m) for m in mods]
        unknown = [m for m in mods if m not in known]
        if unknown:
            msg = f"{name}: {where}.modalities: {', '.join(unknown)} not registered ({', '.join(sorted(known))})"
            raise ConfigError(msg)
        out.append(Withdrawal(keyring.patient(raw_id, site=site), site, frozenset(mods), str(row.get("date") or "")))
    return out


def _table_rows(path: Path, name: str) -> list[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        raise ConfigError(f"{name}: consent.table: {path} does not exist; fix the path (relative to {name})")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower() for c in reader.fieldnames or []}
        if not {"site", "id"} <= cols:
            msg = (
                f"{name}: consent.table: {path.name} needs the columns site and id (optional: modalities, date); "
                f"it has {', '.join(sorted(cols)) or 'none'}"
            )
            raise ConfigError(msg)
        return [
            (f"consent.table line {i}", {k.strip().lower(): v for k, v in r.items() if k})
            for i, r in enumerate(reader, start=2)
        ]


def consent_counts(root: Path) -> dict[str, int]:
    """Records excluded under ``consent_withdrawn`` per modality, from the bundle's ledger parts."""
    out: dict[str, int] = {}
    for p in sorted((Path(root) / "quality" / "ledger").glob("*.parquet")):
        df = pd.read_parquet(p, columns=["modality", "excluded_by_rule"])
        for modality, rules in zip(df["modality"], df["excluded_by_rule"].fillna(""), strict=True):
            for part in str(rules).split(", "):
                rule, _, n = part.partition("=")
                if rule == RULE and n.isdigit():
                    out[str(modality)] = out.get(str(modality), 0) + int(n)
    return out


def exclude_withdrawn(
    df: pd.DataFrame, *, data: ModalityData, ctx: Context, id_col: str, site_col: str, source_col: str | None
) -> pd.DataFrame:
    """Rows of ``df`` (raw identifiers in ``id_col``) without the withdrawn patients', each source's
    exclusions in the ledger (stage ``consent``; no ledger rows without ``source_col``: rows that are not
    records of the modality, such as a sample sheet's)."""
    consent = consent_of(ctx.config, ctx.keyring)
    if not len(consent) or df.empty or id_col not in df.columns:
        return df
    site = df[site_col] if site_col in df.columns else ""
    kept, n = consent.drop(df, modality=data.modality, keyring=ctx.keyring, id_col=id_col, site=site)
    if n and source_col is not None:
        gone = df.index.difference(kept.index)
        for source, g in df.groupby(source_col, sort=True):
            k = int(g.index.isin(gone).sum())
            if k:
                data.ledger.record(
                    "consent", source=str(source), n_in=len(g), n_accepted=len(g) - k, excluded={RULE: k}
                )
    return kept.reset_index(drop=True)


def without_withdrawn(df: pd.DataFrame, *, ctx: Context, modality: str, col: str = "patient") -> pd.DataFrame:
    """Rows of ``df`` whose patient pseudonym (``col``) is not withdrawn from ``modality``."""
    consent = consent_of(ctx.config, ctx.keyring)
    if not len(consent) or df.empty or col not in df.columns:
        return df
    return df.loc[~consent.mask(df[col], modality)].reset_index(drop=True)


def exclude_withdrawn_samples(samples: list[Any], *, data: ModalityData, ctx: Context) -> list[Any]:
    """Samples (with ``sample_id``, ``admission_number``, ``site`` and an ``adata``) of patients whose
    consent stands; a withdrawn patient's samples are counted by cells in the ledger (stage ``consent``)."""
    consent = consent_of(ctx.config, ctx.keyring)
    if not len(consent):
        return samples
    kept = []
    for s in samples:
        pseudonym = ctx.keyring.patient(s.admission_number, site=s.site) if s.admission_number else ""
        if not consent.withdrawn(pseudonym, data.modality):
            kept.append(s)
            continue
        n = int(s.adata.n_obs)
        data.ledger.record(
            "consent", source=ctx.keyring.token("sample", s.sample_id), n_in=n, n_accepted=0, excluded={RULE: n}
        )
    return kept
