"""Curator decisions the genomics step replays on its standardized data (hooks of :func:`curation.curate`).

- ``exclude genomics.<sample token or patient pseudonym>``: the sample (or every sample of the patient)
  leaves the samples and variants tables and the de-identified VCF copies, counted in the ledger as
  excluded (``decisions:<table>``, rule curator_decision);
- ``label genomics.driver.<sample token>.<chrom>-<pos>-<ref>-<alt>`` = ``confirm`` | ``reject``: the driver
  call of that variant is confirmed, or rejected (the variant stays, without a driver call; the sample's
  count of drivers is recounted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...decisions.replay import EXCLUDED, exclude_rows

if TYPE_CHECKING:
    from ..base import Context, ModalityData

__all__ = ["DRIVER", "exclude", "relabel", "variant_keys"]

DRIVER = "driver."  # label keys of driver reviews: driver.<sample token>.<chrom>-<pos>-<ref>-<alt>


def variant_keys(variants: pd.DataFrame) -> pd.Series:
    """Each variant's review key, ``<sample token>.<chrom>-<pos>-<ref>-<alt>`` (no identifier: a token)."""
    parts = [variants[c].astype("string").fillna("") for c in ("chrom", "pos", "ref", "alt")]
    return variants["sample"].astype("string") + "." + parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3]


def exclude(data: ModalityData, wanted: Mapping[str, Any], *, ctx: Context) -> dict[str, str]:
    """Drop excluded samples (by sample token or patient pseudonym) from every table and VCF copy."""
    s = data.tables["samples"]
    gone: dict[str, set[str]] = {
        t: set(s.loc[(s["sample"] == t) | (s["patient"] == t), "sample"].astype(str)) for t in wanted
    }
    n_samples = exclude_rows(data, "samples", columns=["sample", "patient"], wanted=wanted)
    n_variants = exclude_rows(data, "variants", columns=["sample", "patient"], wanted=wanted)
    copies: dict[str, Any] = data.objects.get("vcf_copies") or {}
    out: dict[str, str] = {}
    for token in wanted:
        files = [n for n in list(copies) if n.split(".", 1)[0] in gone[token]]
        for name in files:
            del copies[name]
        if not n_samples.get(token):
            out[token] = f"not applied: no sample or patient {token} in this run"
            continue
        out[token] = (
            f"{n_samples[token]} sample(s), {n_variants.get(token, 0)} variant(s) and {len(files)} VCF "
            f"copy(ies) excluded (ledger: {EXCLUDED})"
        )
    return out


def relabel(data: ModalityData, labels: Mapping[str, str], *, ctx: Context) -> dict[str, str]:
    """Driver-call reviews: ``confirm`` keeps a variant's driver call, ``reject`` removes it (recounted per sample)."""
    v = data.tables["variants"]
    keys = variant_keys(v) if len(v) else pd.Series(dtype="string")
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not key.startswith(DRIVER):
            out[key] = (
                f"not applied: a genomics label reviews a driver call ({DRIVER}<sample>.<chrom>-<pos>-<ref>-<alt>)"
            )
            continue
        hit = (keys == key.removeprefix(DRIVER)).fillna(False).astype(bool)
        calls = sorted(set(v.loc[hit, "driver"].astype(str)) - {""})
        if not hit.any():
            out[key] = "not applied: no such variant in this run"
        elif not calls:
            out[key] = "not applied: this variant has no driver call to review"
        elif value == "confirm":
            out[key] = f"driver call {', '.join(calls)} confirmed"
        elif value == "reject":
            v.loc[hit, "driver"] = ""
            out[key] = f"driver call {', '.join(calls)} rejected: the variant stays without a driver call"
        else:
            out[key] = f"not applied: {value!r}: expected confirm or reject"
    s = data.tables["samples"]
    if len(s) and "n_drivers" in s.columns:
        per = v.loc[v["driver"] != ""].groupby("sample").size()
        s["n_drivers"] = s["sample"].map(per).fillna(0).astype("Int64")
    return out
