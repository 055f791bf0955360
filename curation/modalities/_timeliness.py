"""Timeliness shared by the source modalities: targets from cohort.yaml ``timeliness:``, the diagnosis
dates clinical hands on, and one delay check (a turnaround or a currency against a target in days).

Each modality declares its own timeliness check (``<modality>.timeliness.*``) over :func:`check_delay`;
the target comes from :class:`~curation.config.TimelinessConfig` (defaults there). A check whose input
fields are absent is not applicable, with a message that names the missing field and how to supply it.
Dates are the in-memory ones, shifted per patient like the anchors, so every interval is the hospital's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..quality import Outcome, failures

if TYPE_CHECKING:
    from ..config import TimelinessConfig
    from .base import Context, ModalityData

__all__ = [
    "ANCHORS",
    "check_delay",
    "check_imaging_study_age",
    "check_processing_delay",
    "diagnosis_dates",
    "sheet_dates",
    "targets",
]

ANCHORS = "quality/anchors/clinical.parquet"
PATIENT = "patient"


def targets(ctx: Context) -> TimelinessConfig:
    """The cohort's timeliness targets (cohort.yaml ``timeliness:``, defaults in the config model)."""
    return ctx.config.timeliness


def diagnosis_dates(ctx: Context) -> pd.Series | None:
    """patient -> diagnosis date (shifted like every date of that patient), as clinical wrote it to the
    bundle; None when it is not there (no clinical sources, or clinical has not run into this bundle)."""
    path = ctx.bundle.path(ANCHORS)
    if not path.is_file():
        return None
    df = pd.read_parquet(path)
    return pd.Series(pd.to_datetime(df["diagnosis_date"]).to_numpy(), index=df[PATIENT].astype(str).to_numpy())


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)) / pd.Timedelta(days=1)


def check_delay(
    df: pd.DataFrame,
    start: str,
    end: str,
    *,
    max_days: float,
    target: str,
    what: str,
    absolute: bool = False,
    supply: str = "",
    field: str = "",
    pseudonym: Sequence[object] | pd.Series | None = None,
) -> Outcome:
    """Records whose ``end`` date is more than ``max_days`` after their ``start`` date.

    Parameters
    ----------
    df
        The records, with ``patient`` (pseudonym) and ``_line`` (source row) where known.
    start, end
        Date columns: the event and what should follow it in time (collection and report ...).
    max_days
        The target; a record over it fails. ``end`` before ``start`` is the business of a consistency
        check, not a delay: it is not counted late (unless ``absolute``).
    target
        The cohort.yaml key of the target (``timeliness.pathology_report_days``), named in the message.
    what
        What is counted, plural (``pathology reports``).
    absolute
        Judge the distance either way (a questionnaire within ``max_days`` of diagnosis, before or after).
    supply
        How to supply a missing date field (named in the not-applicable message).
    field
        The field to blame (default ``end``).
    pseudonym
        Who each record is (default the ``patient`` column).

    Returns
    -------
    One outcome; not applicable (nothing checked) with a message naming the absent field, or saying
    no record has both dates.
    """
    absent = [c for c in (start, end) if c not in df.columns]
    if absent:
        fix = f"; {supply}" if supply else ""
        return Outcome(
            0,
            message=f"not applicable: {' and '.join(absent)} not in the data, so the delay of "
            f"{what} cannot be measured{fix}",
        )
    days = _days(df[end], df[start])
    both = days.notna()
    if not both.any():
        return Outcome(0, message=f"not applicable: no record has both {start} and {end}")
    late = days.abs() if absolute else days
    bad = (both & (late > max_days)).to_numpy(dtype=bool)
    n = int(both.sum())
    sub = df.loc[bad]
    who = None if pseudonym is None else np.asarray(pseudonym, dtype=object)[bad]
    rules = [
        f"{end} {abs(d):.0f} days {'before' if d < 0 else 'after'} {start}, target {max_days:g} days" for d in days[bad]
    ]
    return Outcome(
        n,
        failures=failures(sub, field=field or end, rule=rules, pseudonym=who),
        message=f"{int(bad.sum())} of {n} {what} over the target of {max_days:g} days "
        f"({target}); median {float(late[both].median()):.0f} days",
    )


def sheet_dates(sheet: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The date columns of a sample sheet (text in any accepted form) parsed; absent columns stay absent,
    and a column with no value at all counts as absent."""
    from ..io.dates import parse_dates

    out = pd.DataFrame(index=sheet.index)
    for c in columns:
        if c in sheet.columns and (sheet[c].astype("string").str.strip().fillna("") != "").any():
            out[c] = parse_dates(sheet[c].astype("string")).values
    return out


def check_processing_delay(data: ModalityData, ctx: Context) -> Outcome:
    """Single-cell samples whose library was made more than the target after the sample was collected
    (sample-sheet columns ``collection_date`` and ``library_date``; raw dates, only their difference is used)."""
    sheet = data.objects.get("sheets")
    if sheet is None or not len(sheet):
        return Outcome(0, message="not applicable: no sample sheet given")
    dates = sheet_dates(sheet, ("collection_date", "library_date"))
    kr = ctx.keyring
    who = [kr.patient(a, site=s) if a else "" for a, s in zip(sheet["admission_number"], sheet["site"], strict=True)]
    view = dates.assign(_line=sheet["sheet_row"].to_numpy() if "sheet_row" in sheet else sheet.index)
    return check_delay(
        view,
        "collection_date",
        "library_date",
        max_days=targets(ctx).single_cell_processing_days,
        target="timeliness.single_cell_processing_days",
        what="single-cell samples",
        supply="add collection_date and library_date columns to the sample sheet (options.samples)",
        pseudonym=who,
    )


def check_imaging_study_age(data: ModalityData, ctx: Context) -> Outcome:
    """Imaging series older than the target at the patient's diagnosis (a study after it is follow-up,
    not late); shifted dates on both sides."""
    dx = diagnosis_dates(ctx)
    if dx is None:
        return Outcome(0, message="not applicable: no diagnosis dates in the bundle (run clinical into it first)")
    s = data.tables["series"]
    view = s.assign(diagnosis_date=pd.to_datetime(s["patient"].map(dx)), _line=s.index)
    return check_delay(
        view,
        "study_date",
        "diagnosis_date",
        max_days=targets(ctx).imaging_study_days,
        target="timeliness.imaging_study_days",
        what="imaging series",
        field="StudyDate",
    )
