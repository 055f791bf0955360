"""Tabular identifiers: keyed pseudonyms for patient IDs, PHI-class-driven column removal.

Every function is pure: it returns a new frame and leaves its input alone. The PHI class of a
column comes from the data dictionary (``direct`` | ``quasi`` | ``none`` | ``free_text``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DeidError
from ..io.values import factorize_text, text_by_code

if TYPE_CHECKING:
    from .keys import Keyring
    from .text import Scrubber

__all__ = ["drop_identifiers", "known_identifiers", "pseudonym_codes", "pseudonymize"]

PHI_CLASSES = ("direct", "quasi", "none", "free_text")


def pseudonymize(
    df: pd.DataFrame,
    *,
    id_col: str,
    keyring: Keyring,
    site_col: str | None = None,
    site: str = "",
    out_col: str = "patient",
) -> pd.DataFrame:
    """Replace a patient identifier column by its keyed pseudonym.

    Parameters
    ----------
    df
        Frame holding the raw identifier (e.g. the admission number).
    id_col
        Column of the raw identifier; it is dropped from the result.
    keyring
        The run's keyring (:func:`curation.deid.keyring_for`).
    site_col
        Column naming each row's site; takes precedence over ``site``.
    site
        Site id used for every row when ``site_col`` is not given.
    out_col
        Name of the pseudonym column, placed first.

    Returns
    -------
    A new frame without ``id_col`` and with ``out_col``. Rows whose identifier is missing or
    blank get ``<NA>``: the caller quarantines them (nothing to link), never the raw value.
    """
    codes, names = pseudonym_codes(df, id_col=id_col, keyring=keyring, site_col=site_col, site=site)
    # Arrow-backed text taken by code: the joins, duplicate and group tests that follow hash its
    # buffers (a column of Python strings cost 0.3-0.4 s per 1M rows in each of them)
    pseudo = text_by_code(names, codes, df.index)
    out = df.drop(columns=[id_col])
    if out_col in out.columns:
        out = out.drop(columns=[out_col])
    out.insert(0, out_col, pseudo)
    return out


def pseudonym_codes(
    df: pd.DataFrame, *, id_col: str, keyring: Keyring, site_col: str | None = None, site: str = ""
) -> tuple[np.ndarray, pa.Array]:
    """Each row's code (int64; -1 where the identifier is missing or blank) into the distinct keyed
    pseudonyms, and those pseudonyms (an Arrow string array): :func:`pseudonymize`'s column as codes,
    for a caller that also keys something else per patient (standardize's date shifts).

    Parameters as :func:`pseudonymize`'s; raises :class:`DeidError` as it does.
    """
    if id_col not in df.columns:
        msg = (
            f"pseudonymize: column {id_col!r} is not in the frame (columns: {list(map(str, df.columns))}); "
            "map the source header to it first"
        )
        raise DeidError(msg)
    if site_col is not None and site_col not in df.columns:
        msg = f"pseudonymize: site column {site_col!r} is not in the frame"
        raise DeidError(msg)
    try:
        ids = df[id_col]
        if pd.api.types.is_float_dtype(ids):
            # Excel hands admission numbers over as floats (12345.0) when a cell is empty; the
            # same number must give the same pseudonym as the text "12345" from another source
            whole = ids.notna() & (ids % 1 == 0)
            ids = ids.astype(object).where(~whole, ids[whole].astype("int64").astype(str))
        # one HMAC per distinct (site, id) pair, joined back by code: patients repeat across rows, and
        # no Python loop or text operation runs per row (a 1M-row lab export holds ~50k patients)
        site_codes, site_values = _factorized(
            df[site_col] if site_col else pd.Series(pd.NA, index=df.index), blank=site, strip=False
        )
        id_codes, id_values = _factorized(ids, blank="", strip=True)
        missing = np.asarray([v == "" for v in id_values], dtype=bool)[id_codes]  # nothing to link
        pair_codes = site_codes.astype(np.int64) * max(len(id_values), 1) + id_codes
        codes, distinct = pd.factorize(pair_codes)  # hashed, not sorted
        pair_ids = np.asarray(id_values, dtype=object)[distinct % len(id_values)].tolist()
        pair_sites = np.asarray(site_values, dtype=object)[distinct // len(id_values)].tolist()
        names = pa.array(keyring.patients(pair_ids, site=pair_sites), type=pa.large_string())  # one batch of HMACs
        return np.where(missing, -1, codes).astype(np.int64), names
    except DeidError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure quarantines, never passes through
        msg = f"pseudonymize: could not pseudonymize column {id_col!r} ({type(exc).__name__}); the frame is quarantined"
        raise DeidError(msg) from None


def _factorized(s: pd.Series, *, blank: str, strip: bool) -> tuple[np.ndarray, list[str]]:
    """Row codes into the distinct texts of ``s`` (stripped if asked; a missing value reads as
    ``blank``), factorized in Arrow and cleaned once per distinct value, never per row."""
    codes, uniq = factorize_text(s)
    texts = [v.strip() for v in uniq] if strip else uniq
    # stripping can make two values one ("12 " and "12"): fold them, and the missing ones with them
    folded, values = pd.factorize(np.asarray([*texts, blank], dtype=object), sort=False)
    return folded[np.where(codes < 0, len(texts), codes)], [str(v) for v in values]


def drop_identifiers(
    df: pd.DataFrame,
    phi: Mapping[str, str],
    *,
    keep_text: Iterable[str] = (),
    known_by_row: pd.Series | None = None,
    unknown: Literal["keep", "drop", "error"] = "keep",
    scrubber: Scrubber | None = None,
) -> pd.DataFrame:
    """Drop identifying columns by their PHI class.

    Parameters
    ----------
    df
        A frame whose columns are dictionary fields.
    phi
        Column -> PHI class: ``direct`` columns are dropped, ``free_text`` columns are dropped
        unless allow-listed in ``keep_text``, ``quasi`` and ``none`` are kept (quasi-identifiers
        are generalized elsewhere: :mod:`curation.deid.dates`, :mod:`curation.deid.kanon`).
    keep_text
        Free-text columns to keep. They are scrubbed with :func:`curation.deid.text.scrub_series`
        (the detectors, ``known_by_row``, and the cohort registry when ``scrubber`` is given).
    known_by_row
        Per row, the names / addresses / IDs known for that patient, aligned with ``df``'s index;
        collect them before the direct columns are dropped.
    unknown
        What to do with columns absent from ``phi``: keep them (the default, for helper columns
        such as ``patient`` or ``row``), drop them, or raise :class:`DeidError`.
    scrubber
        The run's :class:`~curation.deid.text.Scrubber` (cohort registry, MRN shapes, name
        detector); default a registry-less one (the detectors and each row's own identifiers).

    Returns
    -------
    A new frame.
    """
    keep = set(keep_text)
    bad = {c: k for c, k in phi.items() if str(k).lower() not in PHI_CLASSES}
    if bad:
        msg = (
            f"drop_identifiers: unknown PHI class for {sorted(bad)}; "
            f"use one of {', '.join(PHI_CLASSES)} in the data dictionary"
        )
        raise DeidError(msg)
    not_text = sorted(c for c in keep if c in phi and phi[c].lower() != "free_text")
    if not_text:
        msg = (
            f"drop_identifiers: keep_text names {not_text}, which are not free_text fields; "
            "only free text can be allow-listed"
        )
        raise DeidError(msg)
    drop: list[str] = []
    scrub_cols: list[str] = []
    for col in df.columns:
        cls = phi.get(col)
        if cls is None:
            if unknown == "drop":
                drop.append(col)
            elif unknown == "error":
                msg = f"drop_identifiers: column {col!r} has no PHI class; add it to the data dictionary"
                raise DeidError(msg)
            continue
        cls = cls.lower()
        if cls == "direct":
            drop.append(col)
        elif cls == "free_text":
            (scrub_cols if col in keep else drop).append(col)
    out = df.drop(columns=drop)
    if scrub_cols:
        from .text import scrub_series

        for col in scrub_cols:
            out[col] = scrub_series(out[col], known_by_row, scrubber=scrubber)
    return out


def known_identifiers(df: pd.DataFrame, cols: Iterable[str]) -> pd.Series:
    """Per row, the non-empty values of identifying columns, for :func:`text.scrub_series`.

    Call it on the raw frame, before :func:`drop_identifiers` removes those columns.
    """
    cols = [c for c in cols if c in df.columns]
    if not cols:
        return pd.Series([()] * len(df), index=df.index, dtype=object)
    sub = df[cols].astype("string")
    return pd.Series(
        [tuple(v.strip() for v in row if isinstance(v, str) and v.strip()) for row in sub.itertuples(index=False)],
        index=df.index,
        dtype=object,
    )
