"""Re-identification risk of the released tables: k-anonymity over quasi-identifiers, and small
counts suppressed in aggregate report tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..quality import Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures

__all__ = ["check_k_anonymity", "k_anonymity", "quasi_identifiers", "suppress_small_counts"]

QUASI = ("age_band", "sex", "region", "diagnosis_year")
K_THRESHOLD = Threshold(warn=0.0, fail=1.0)


def k_anonymity(
    df: pd.DataFrame,
    quasi: Sequence[str] = QUASI,
    *,
    k: int = 5,
    patient_col: str = "patient",
) -> Outcome:
    """Records in quasi-identifier classes of fewer than ``k`` patients (the function of :data:`K_ANONYMITY`).

    Parameters
    ----------
    df
        One row per patient (or per record; classes count distinct patients when
        ``patient_col`` is present).
    quasi
        Quasi-identifier columns; those absent from ``df`` are skipped (named in the message).
    k
        Minimum class size.
    patient_col
        Pseudonym column used to name failing records.

    Returns
    -------
    An outcome whose failures are the records in small classes (pseudonym, row, the
    quasi-identifier names, the rule), never their values.
    """
    cols = [c for c in quasi if c in df.columns]
    missing = [c for c in quasi if c not in df.columns]
    if not cols or df.empty:
        return Outcome(0, message=f"no quasi-identifier columns among {list(quasi)}")
    keys = df[cols].astype("string").fillna("<missing>")
    if patient_col in df.columns:
        ids = df[patient_col].astype("string").fillna("").reset_index(drop=True)
        frame = keys.reset_index(drop=True).assign(_p=ids)
        size = frame.groupby(cols, dropna=False, sort=False)["_p"].transform("nunique")
    else:
        ids = pd.Series([""] * len(df))
        size = keys.reset_index(drop=True).groupby(cols, dropna=False, sort=False)[cols[0]].transform("size")
    small = (size < k).to_numpy()
    field = ",".join(cols)
    n_classes = int(keys.drop_duplicates().shape[0])
    n_small = int(small.sum())
    msg = (
        f"{n_small} of {len(df)} records are in quasi-identifier classes of fewer than {k} patients "
        f"({n_classes} classes over {field})"
    )
    if missing:
        msg += f"; not in the table: {', '.join(missing)}"
    return Outcome(
        len(df),
        failures=failures(
            pseudonym=ids[small],
            row=np.flatnonzero(small),
            field=field,
            rule=f"quasi-identifier class smaller than k={k}",
        ),
        message=msg,
    )


# a warning, never a failure: small cohorts are legitimately small; the steward decides
K_ANONYMITY = Check(
    "uniqueness.k_anonymity",
    Dimension.UNIQUENESS,
    k_anonymity,
    severity=Severity.MINOR,
    threshold=K_THRESHOLD,
    description="records in quasi-identifier classes of fewer than k patients",
)


def check_k_anonymity(
    df: pd.DataFrame,
    quasi: Sequence[str] = QUASI,
    *,
    k: int = 5,
    modality: str = "clinical",
    patient_col: str = "patient",
) -> CheckResult:
    """Warn when records fall in quasi-identifier classes of fewer than ``k`` patients.

    :func:`k_anonymity` as the result of :data:`K_ANONYMITY` (``<modality>.uniqueness.k_anonymity``);
    the parameters are those of :func:`k_anonymity`.
    """
    return K_ANONYMITY.result(k_anonymity(df, quasi, k=k, patient_col=patient_col), modality=modality)


def quasi_identifiers(
    df: pd.DataFrame,
    *,
    patient_col: str = "patient",
    age_col: str = "age_at_diagnosis",
    sex_col: str = "sex",
    date_col: str = "diagnosis_date",
    region_col: str | None = None,
    band_width: int = 10,
) -> pd.DataFrame:
    """One row per patient with the quasi-identifiers :func:`check_k_anonymity` expects.

    Parameters
    ----------
    df
        Standard clinical rows (patients joined to conditions), after de-identification: ages
        as numbers or "90+", dates already shifted (their year is what a recipient sees).
    patient_col, age_col, sex_col, date_col, region_col
        Source columns; absent ones are left out of the result.
    band_width
        Width of the age bands.

    Returns
    -------
    Columns ``patient``, ``age_band``, ``sex``, ``region``, ``diagnosis_year`` (those available),
    first row per patient.
    """
    from .dates import age_band

    out = pd.DataFrame(index=df.index)
    if patient_col in df.columns:
        out["patient"] = df[patient_col]
    if age_col in df.columns:
        # banded once per distinct age (a cohort has ~100 of them) and spread back by code
        codes, ages = pd.factorize(df[age_col].astype("string"), use_na_sentinel=False)
        bands = age_band(pd.Series(ages, dtype="string"), width=band_width)
        out["age_band"] = pd.Series(bands.to_numpy(dtype=object)[codes], index=df.index, dtype="string")
    if sex_col in df.columns:
        out["sex"] = df[sex_col]
    if region_col and region_col in df.columns:
        out["region"] = df[region_col]
    if date_col in df.columns and pd.api.types.is_datetime64_any_dtype(df[date_col]):
        out["diagnosis_year"] = df[date_col].dt.year.astype("Int64")
    if "patient" in out.columns:
        out = out.drop_duplicates("patient")
    return out.reset_index(drop=True)


def suppress_small_counts(df: pd.DataFrame, count_cols: Iterable[str], *, k: int = 5) -> pd.DataFrame:
    """Render counts between 1 and ``k - 1`` as ``"<k"`` in an aggregate table for reports.

    Zero stays 0 (it reveals nobody). The count columns become strings; other columns are untouched.
    """
    out = df.copy()
    for col in count_cols:
        n = pd.to_numeric(df[col], errors="coerce")
        text = n.astype("Int64").astype("string")
        out[col] = text.mask((n > 0) & (n < k), f"<{k}").astype("string")
    return out
