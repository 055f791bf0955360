"""Clinical modality: EMR exports -> patients, conditions, staging, treatments, outcomes.

Sources are CSV / TSV / Excel / Parquet exports mapped to the dictionary (clinical.yaml) by
cohort.yaml. A source with ``table:`` feeds that standard table; a source without it is a wide
export and feeds every table it has fields for (one row per treatment repeats the rest, which is
recognised and excluded with rule ``repeated_row``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import dictionary
from ..deid.dates import generalize_birth, patient_shifts
from ..deid.kanon import K_ANONYMITY, k_anonymity, quasi_identifiers
from ..io.dates import day_span
from ..quality import Check, CheckResult, Dimension, Outcome, Threshold, combine, failures, run
from ..quality import checks as qc
from . import _tabular as tab
from . import _timeliness as tl
from ._options import TabularOptions
from ._tabular._relative_days import DAYS, age_from_days, day_view, latest_contact, present
from ._tabular_checks import checks_for
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

__all__ = [
    "check_age",
    "check_dates_in_order",
    "check_entry_delay",
    "check_followup_currency",
    "check_histology_morphology",
    "check_patient_unique",
    "check_reidentification",
    "check_stage",
    "check_vital_status",
    "checks",
    "code_checks",
    "figures",
    "identifiers",
    "load",
    "standardize",
    "survival_frame",
    "write",
]

SPEC = ModalitySpec(
    name="clinical",
    label="Clinical",
    formats=("csv", "tsv", "excel", "parquet"),
    notebook="clinical.ipynb",
    dictionary="clinical",
    order=20,
    options=TabularOptions,
    description="EMR exports: patients, primary cancer condition, staging, treatments, outcomes",
)

NAME = "clinical"
PATIENT = tab.PATIENT
SHIFTS = "_date_shifts"  # patient pseudonym -> keyed date shift in days (memory only, never written)
ENTRY_DELAY_DAYS = 365  # guideline timeliness: a record entered over a year after diagnosis


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the clinical source tables."""
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def _derive(tables: dict[str, pd.DataFrame], data: ModalityData, ctx: Context) -> None:
    """Birth date -> birth year and age at diagnosis (90+ top-coded), on unshifted dates."""
    p, c = tables["patients"], tables["conditions"]
    by_days = age_from_days(p, c)  # a birth given as days from the index event (GDC days_to_birth)
    if by_days is not None and "birth_date" in p.columns:
        by_days = by_days.where(p["birth_date"].isna())  # a birth date derived from a full index date wins
    if by_days is not None and by_days.notna().any():
        given = p["age_at_diagnosis"].astype("string") if "age_at_diagnosis" in p.columns else None
        text = by_days.astype("Int64").astype("string")
        p = p.assign(age_at_diagnosis=text if given is None else given.where(given.fillna("") != "", text))
    forms = [f for f in ("birth_year", "age_at_diagnosis") if f in p.columns]
    if "birth_date" not in p.columns and not forms:
        return
    diag = (
        c.groupby(PATIENT, sort=False)["diagnosis_date"].min()
        if "diagnosis_date" in c.columns and len(c)
        else pd.Series(dtype="datetime64[ns]")
    )
    ref = pd.to_datetime(p[PATIENT].map(diag))
    birth = p["birth_date"] if "birth_date" in p.columns else pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
    years = ref.dt.year - birth.dt.year
    before = (ref.dt.month < birth.dt.month) | ((ref.dt.month == birth.dt.month) & (ref.dt.day < birth.dt.day))
    exact = (years - before.astype("Int64")).astype("Int64")
    res = generalize_birth(
        p.drop(columns=forms).assign(_ref=ref, birth_date=birth), birth_col="birth_date", ref_col="_ref"
    )
    res.attrs.pop("deid", None)
    res["_age_exact"] = exact
    res["_has_birth_date"] = birth.notna().to_numpy()
    if forms:
        _birth_forms(res, p, ref)
    tables["patients"] = res.drop(columns=["_ref"])


def _birth_forms(res: pd.DataFrame, p: pd.DataFrame, ref: pd.Series) -> None:
    """A source that gives a birth year or an age at diagnosis instead of a birth date (GDC's
    year_of_birth, age_at_index): both count as the birth field, and are top-coded like a date's."""
    from ..deid.dates import TOP_AGE

    missing = ~res["_has_birth_date"].astype(bool)
    year = pd.to_numeric(p["birth_year"], errors="coerce") if "birth_year" in p.columns else None
    age = (
        pd.to_numeric(p["age_at_diagnosis"].astype("string").str.rstrip("+"), errors="coerce")
        if "age_at_diagnosis" in p.columns
        else None
    )
    age_exact = age.round(0) if age is not None else pd.Series(float("nan"), index=p.index)
    if year is not None:  # the age from the year and the diagnosis year (within one year)
        age_exact = age_exact.fillna(ref.dt.year - year)
    given = missing & age_exact.notna() if year is None else missing & (age_exact.notna() | year.notna())
    old = given & (age_exact >= TOP_AGE).fillna(False)
    by_year = year if year is not None else (ref.dt.year - age_exact)
    res.loc[given, "_age_exact"] = age_exact[given].astype("Int64")
    res.loc[given, "birth_year"] = by_year[given].round(0).astype("Int64").mask(old[given])
    res.loc[given, "age_at_diagnosis"] = (
        age_exact[given].astype("Int64").astype("string").mask(old[given], f"{TOP_AGE}+")
    )
    res["_has_birth_date"] = res["_has_birth_date"].astype(bool) | given


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Standardize the clinical tables and derive birth year and age at diagnosis.

    The keyed date shift of each patient with a last follow-up date is kept in memory
    (``objects[SHIFTS]``, never written) for the follow-up currency check, which would otherwise
    compute every patient's shift a second time.
    """
    unshifted: list[pd.Series] = []

    def derive(tables: dict[str, pd.DataFrame], data: ModalityData, ctx: Context) -> None:
        _derive(tables, data, ctx)
        o = tables.get("outcomes")
        if o is not None and "last_followup_date" in o.columns:
            unshifted.append(o["last_followup_date"])  # local to this call: the real dates never leave it

    data = tab.standardize(data, ctx=ctx, derive=derive)
    o = data.tables.get("outcomes")
    if unshifted and o is not None and "last_followup_date" in o.columns:
        days = (o["last_followup_date"] - unshifted.pop().reindex(o.index)) / pd.Timedelta(days=1)
        both = pd.DataFrame({PATIENT: o[PATIENT], "days": days}).dropna()
        per = both.groupby(PATIENT, sort=False)["days"].agg(["min", "max"])
        # a patient's shift is one number; any disagreement (a date moved otherwise) leaves it to the keyring
        data.objects[SHIFTS] = per.loc[per["min"] == per["max"], "min"]
    return data


# ------------------------------------------------------------------------------------ checks
def _diagnosis(data: ModalityData, tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Each patient's first diagnosis date, computed once per conditions frame of a run (five checks
    ask for it: 0.3-1 s each on 200k patients) and kept with the data while that frame is the one."""
    c = tables["conditions"]
    if "diagnosis_date" not in c.columns or not len(c):
        return pd.Series(dtype="datetime64[ns]")
    memo: dict[int, tuple[pd.DataFrame, pd.Series]] = data.objects.setdefault("_first_diagnosis", {})
    frame, first = memo.get(id(c), (None, None))
    if frame is not c or first is None:
        # unsorted groups: the result is looked up by patient, and sorting 200k pseudonyms is most of the cost
        first = c.groupby(PATIENT, sort=False)["diagnosis_date"].min()
        memo[id(c)] = (c, first)
    return first


def _with_diagnosis(data: ModalityData, table: str, *, days: bool = False) -> pd.DataFrame:
    # a view for the checks; these tables have no diagnosis_date field of their own. ``days``: the
    # dates of a patient given as days from an index event are compared on that day axis
    tables = day_view(data) if days else data.tables
    df = tables[table]
    return df.assign(diagnosis_date=pd.to_datetime(df[PATIENT].map(_diagnosis(data, tables))))


def _codes(field: str, codelist: str) -> Callable[[ModalityData, Context], Outcome]:
    def check(data: ModalityData, ctx: Context) -> Outcome:
        return qc.check_codes(data.tables["conditions"], field, dictionary.codes(codelist))

    return check


def code_checks() -> list[Check]:
    """One code check per coded field of the conditions table (ICD-10, ICD-O-3 ...)."""
    return [
        Check(
            f"conformance.{f.name}",
            Dimension.CONFORMANCE,
            _codes(f.name, f.codes),
            description=f"{f.name}: malformed codes and codes not in the shipped list",
        )
        for f in dictionary.fields(NAME, "conditions")
        if f.codes
    ]


def check_age(data: ModalityData, ctx: Context) -> Outcome:
    """Exact age at diagnosis (kept in memory, never written) outside the dictionary's plausible range."""
    p = data.tables["patients"]
    field = next(f for f in dictionary.fields(NAME, "patients") if f.name == "age_at_diagnosis")
    if "_age_exact" not in p.columns:
        return Outcome(0, message="no birth date in the data")
    return qc.check_range(p, {"_age_exact": (field.min, field.max)}, labels={"_age_exact": "birth_date"})


def _fits(given: object, expected: object) -> bool:
    """A stage group is one of the groups its TNM gives (``IIIA|IIIB``); a missing one is not judged."""
    return isinstance(given, str) and given in str(expected).split("|")


def _per_distinct(fn: Callable[..., pd.Series], *columns: pd.Series) -> pd.Series:
    """``fn(*columns)`` computed once per distinct combination of the columns' values (a staging
    table repeats a few hundred TNM triples over its records) and spread back by code."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for c in columns:
        k, _ = pd.factorize(c, use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (int(k.max(initial=0)) + 1) + k)
    first = np.unique(codes, return_index=True)[1]  # the row where each combination first appears
    result = fn(*(c.iloc[first].reset_index(drop=True) for c in columns))
    return pd.Series(result.to_numpy(dtype=object)[codes], index=columns[0].index, dtype=result.dtype)


def check_stage(data: ModalityData, ctx: Context) -> Outcome:
    """AJCC 8th-edition stage groups that contradict their TNM."""
    s = data.tables["staging"]
    if not len(s) or "stage_group" not in s.columns:
        return Outcome(0)

    cols: dict[str, pd.Series] = {}

    def col(name: str) -> pd.Series:
        if name not in cols:
            cols[name] = (
                s[name].astype("string") if name in s.columns else pd.Series(pd.NA, index=s.index, dtype="string")
            )
        return cols[name]

    # the pathological stage when the tumour was resected (pT and pN known), else the clinical one
    use_p = col("pt").notna() & col("pn").notna()
    t = col("pt").where(use_p, col("ct"))
    n = col("pn").where(use_p, col("cn"))
    m = col("pm").where(use_p & col("pm").notna(), col("cm"))
    expected = _per_distinct(dictionary.stage_group, t, n, m)
    # only 8th-edition staging is checked against the 8th-edition table: earlier editions group
    # differently, and a record without an edition cannot be judged
    edition = col("ajcc_edition")
    applies = (edition == "8").fillna(False) & expected.notna() & col("stage_group").notna()
    given = col("stage_group")
    # judged once per distinct (given, expected) pair, spread back by code: no loop per record
    g_codes, g_uniq = pd.factorize(given.astype(object), use_na_sentinel=False)
    e_codes, e_uniq = pd.factorize(expected.astype(object), use_na_sentinel=False)
    pairs, at = np.unique(g_codes.astype(np.int64) * len(e_uniq) + e_codes, return_inverse=True)
    fits = np.array([_fits(g_uniq[k // len(e_uniq)], e_uniq[k % len(e_uniq)]) for k in pairs.tolist()], dtype=bool)
    ok = pd.Series(fits[at.ravel()] if len(fits) else np.ones(0, dtype=bool), index=s.index)
    bad = (applies & ~ok).astype(bool)
    rules = [
        f"stage {g} but {tt} {nn} {mm} gives {e} (AJCC 8th lung)"
        for g, tt, nn, mm, e in zip(given[bad], t[bad], n[bad], m[bad], expected[bad], strict=True)
    ]
    other = int((edition != "8").fillna(True).sum())
    return Outcome(
        int(applies.sum()),
        failures=failures(s, bad, field="stage_group", rule=rules),
        message=f"{int(bad.sum())} of {int(applies.sum())} AJCC 8th-edition stage groups contradict "
        f"their TNM; {other} record(s) of another or no edition not checked",
    )


def check_histology_morphology(data: ModalityData, ctx: Context) -> Outcome:
    """The histology agrees with the group of its ICD-O-3 morphology code."""
    c = data.tables["conditions"]
    if not {"histology", "icdo3_morphology"} <= set(c.columns):
        return Outcome(0)
    group = dictionary.codes("icdo3_morphology").group_of(c["icdo3_morphology"])
    both = group.notna() & c["histology"].notna()
    bad = (both & (group != c["histology"].astype("string"))).fillna(False).astype(bool)
    return Outcome(
        int(both.sum()),
        failures=failures(c, bad, field="histology", rule="histology disagrees with the ICD-O-3 morphology code"),
    )


def check_vital_status(data: ModalityData, ctx: Context) -> Outcome:
    """A patient recorded alive has no death date (nor a day of death)."""
    o = day_view(data)["outcomes"]
    if "vital_status" not in o.columns or "death_date" not in o.columns:
        return Outcome(0)
    alive_dead = ((o["vital_status"] == "alive") & o["death_date"].notna()).fillna(False).astype(bool)
    return Outcome(
        int(o["vital_status"].notna().sum()),
        failures=failures(o, alive_dead, field="vital_status", rule="alive with a date of death"),
    )


def check_dates_in_order(data: ModalityData, ctx: Context) -> Outcome:
    """Symptom before diagnosis, treatment start before end, follow-up and death after diagnosis."""
    t = day_view(data)  # dates given as days from an index event compare as days
    return combine(
        [
            qc.check_date_order(t["conditions"], [("symptom_date", "diagnosis_date", "symptom_date")]),
            qc.check_date_order(t["treatments"], [("treatment_start", "treatment_end", "treatment_end")]),
            qc.check_date_order(
                _with_diagnosis(data, "outcomes", days=True),
                [
                    ("diagnosis_date", "last_followup_date", "last_followup_date"),
                    ("diagnosis_date", "progression_date", "progression_date"),
                    ("last_followup_date", "death_date", "last_followup_date"),
                ],
            ),
        ]
    )


def check_patient_unique(data: ModalityData, ctx: Context) -> Outcome:
    """A patient recorded twice, and one person under several pseudonyms (same resident ID token)."""
    p = data.tables["patients"]
    dup = qc.check_unique(p, [PATIENT], field="admission_number")
    same = qc.check_same_person(p, "_rid_token", field="resident_id")
    return replace(
        combine([dup, same]), n_checked=len(p), message=f"{dup.count} record(s) repeat a patient; {same.message}"
    )


def check_entry_delay(data: ModalityData, ctx: Context) -> Outcome:
    """The record was entered within the target number of days of diagnosis."""
    delay = float(ctx.decisions.get(f"{NAME}.timeliness.entry_delay_days", tl.targets(ctx).entry_days))
    return qc.check_timeliness(
        _with_diagnosis(data, "patients", days=True), "record_entry_date", "diagnosis_date", max_days=delay
    )


def _shift_days(data: ModalityData, patients: pd.Series, ctx: Context) -> pd.Series:
    """Each row's keyed date shift in days (NaN without a pseudonym): the shifts kept by
    :func:`standardize` when a few of them match the keyring's, the keyring's for every other patient."""
    known = data.objects.get(SHIFTS)
    if known is not None and len(known):
        probe = known.iloc[:: max(1, len(known) // 16)]  # the same key made them (a shift is never 0)
        if any(ctx.keyring.date_shift(str(p)) != d for p, d in probe.items()):
            known = None
    if known is None or not len(known):
        return patient_shifts(patients, keyring=ctx.keyring).astype("float64")
    days = pd.Series(patients.map(known), index=patients.index, dtype="float64")
    gap = days.isna() & patients.notna()
    if gap.any():
        days[gap] = patient_shifts(patients[gap], keyring=ctx.keyring).astype("float64")
    return days


def check_followup_currency(data: ModalityData, ctx: Context) -> Outcome:
    """Living patients (and those of unknown status) whose last contact is older than the follow-up
    interval at the data cutoff: lost to follow-up.

    The cutoff is cohort.yaml ``timeliness.data_cutoff``, else the latest last contact of the cohort.
    Dates in memory are shifted per patient; each is shifted back (its keyed shift) to be compared with
    the one cutoff, and only the day counts are shown.
    """
    o = data.tables["outcomes"]
    if "last_followup_date" not in o.columns and "last_followup_date" + DAYS not in o.columns:
        return Outcome(
            0,
            message="not applicable: last_followup_date not in the data; map the follow-up table's "
            "last-contact column to it (cohort.yaml `columns:`)",
        )
    shift = day_span(_shift_days(data, o[PATIENT], ctx))
    real = pd.to_datetime(o.get("last_followup_date", pd.Series(pd.NaT, index=o.index))) - shift
    # a day count from an index known only by its year: the latest date it can be (the benefit of the doubt)
    bound = latest_contact(o, "last_followup_date").where(real.isna())
    real = real.fillna(bound)
    dead = present(o, "death_date")
    if "vital_status" in o.columns:
        dead |= (o["vital_status"] == "dead").fillna(False).astype(bool)
    # a patient's latest contact counts (one row per patient, the one that holds it)
    view = o.assign(_real=real).loc[real.notna()].sort_values("_real").drop_duplicates(PATIENT, keep="last")
    view = view.loc[~dead.reindex(view.index).astype(bool)]
    if not len(view):
        return Outcome(0, message="not applicable: no living patient with a last follow-up date")
    n_bound = int(bound.reindex(view.index).notna().sum())
    t = tl.targets(ctx)
    declared = t.data_cutoff is not None
    cutoff = pd.Timestamp(t.data_cutoff) if declared else real.max()
    since = (cutoff - view["_real"]) / pd.Timedelta(days=1)
    bad = (since > t.followup_interval_days).to_numpy(dtype=bool)
    # one sentence per distinct number of days, spread back (100k living patients can be late)
    days, at = np.unique(since[bad].to_numpy(dtype="float64"), return_inverse=True)
    said = [
        f"last contact {d:.0f} days before the data cutoff, interval {t.followup_interval_days} days: lost to follow-up"
        for d in days
    ]
    rules = np.asarray(said, dtype=object)[at.ravel()]
    where = "timeliness.data_cutoff" if declared else "the latest last contact of the cohort"
    if n_bound:
        where += (
            f"; {n_bound} last contact(s) given as days from an index known only by its year, "
            "counted from 31 December of that year"
        )
    return Outcome(
        len(view),
        failures=failures(view.loc[bad], field="last_followup_date", rule=rules),
        message=f"{int(bad.sum())} of {len(view)} living patients last seen more than "
        f"{t.followup_interval_days} days before the data cutoff ({where}; target "
        "timeliness.followup_interval_days)",
    )


def check_reidentification(data: ModalityData, ctx: Context) -> Outcome:
    """Re-identification risk of the released patients table: age band, sex, region, diagnosis year
    (a warning for the data steward, not a failure)."""
    patients = _with_diagnosis(data, "patients")
    regions = {s.id: s.region or s.id for s in ctx.config.sites}
    df = patients.assign(region=patients["site"].map(regions)) if "site" in patients.columns else patients
    return k_anonymity(quasi_identifiers(df, region_col="region"))


def _after_diagnosis(table: str, later: str) -> Callable[[ModalityData, Context], Outcome]:
    def check(data: ModalityData, ctx: Context) -> Outcome:
        return qc.check_date_order(_with_diagnosis(data, table, days=True), [("diagnosis_date", later, later)])

    return check


CHECKS = (
    Check(
        "plausibility.age_at_diagnosis",
        Dimension.ACCURACY,
        check_age,
        description="exact age at diagnosis within the plausible range",
    ),
    Check(
        "consistency.tnm_stage",
        Dimension.CONSISTENCY,
        check_stage,
        description="AJCC 8th-edition stage group agrees with its TNM",
    ),
    Check(
        "consistency.histology_morphology",
        Dimension.CONSISTENCY,
        check_histology_morphology,
        description="histologic type agrees with the ICD-O-3 morphology code",
    ),
    Check(
        "consistency.death_after_diagnosis",
        Dimension.CONSISTENCY,
        _after_diagnosis("outcomes", "death_date"),
        description="date of death not before diagnosis",
    ),
    Check(
        "consistency.treatment_after_diagnosis",
        Dimension.CONSISTENCY,
        _after_diagnosis("treatments", "treatment_start"),
        description="treatment start not before diagnosis",
    ),
    Check(
        "consistency.dates_in_order",
        Dimension.CONSISTENCY,
        check_dates_in_order,
        description="symptoms, diagnosis, treatment, follow-up, progression and death in order",
    ),
    Check(
        "consistency.vital_status",
        Dimension.CONSISTENCY,
        check_vital_status,
        description="no patient alive with a date of death",
    ),
    Check(
        "uniqueness.patient",
        Dimension.UNIQUENESS,
        check_patient_unique,
        description="one record per patient, one pseudonym per person",
    ),
    Check(
        "timeliness.entry_delay",
        Dimension.TIMELINESS,
        check_entry_delay,
        threshold=Threshold(0.0, 0.05),
        description=f"record entered within {ENTRY_DELAY_DAYS} days of diagnosis (decision "
        "clinical.timeliness.entry_delay_days)",
    ),
    Check(
        "timeliness.followup_currency",
        Dimension.TIMELINESS,
        check_followup_currency,
        threshold=Threshold(0.0, 0.05),
        description="living patients seen within timeliness.followup_interval_days "
        "of the data cutoff (else lost to follow-up)",
    ),
    replace(K_ANONYMITY, fn=check_reidentification),
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Run the clinical checks."""
    return run(checks_for(NAME, [*code_checks(), *CHECKS]), data, ctx, modality=NAME, thresholds=ctx.thresholds)


# ----------------------------------------------------------------------------------- figures
def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """The clinical figures, by title."""
    from ..report import figures as fig

    t = data.tables
    out = {"Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME))}
    if "_age_exact" in t["patients"].columns:
        field = next(f for f in dictionary.fields(NAME, "patients") if f.name == "age_at_diagnosis")
        ages = t["patients"]["_age_exact"].clip(upper=90)  # the figure must not show exact ages over 90
        out["Age at diagnosis"] = fig.distribution(
            ages,
            title="Age at diagnosis (years, 90 = 90+)",
            plausible=(field.min, field.max),
            xlabel="age at diagnosis (years)",
        )
    out["Stage group"] = fig.category_bars(
        t["staging"].get("stage_group", pd.Series(dtype="string")),
        title="Stage group (AJCC)",
        order=list(next(f for f in dictionary.fields(NAME, "staging") if f.name == "stage_group").allowed),
    )
    out["Histology"] = fig.category_bars(
        t["conditions"].get("histology", pd.Series(dtype="string")), title="Histologic type"
    )
    days = day_view(data)  # days from diagnosis, also where a source gives only day counts
    out["Treatment timelines"] = fig.treatment_timelines(days["treatments"], _diagnosis(data, days))
    out["Overall survival by stage"] = fig.km_by_stage(survival_frame(data))
    return out


def survival_frame(data: ModalityData) -> pd.DataFrame:
    """One row per patient: days from diagnosis to death or last follow-up, event, and stage (I–IV)."""
    t = day_view(data)  # a source's day counts from the index count as dates on one day axis
    o = t["outcomes"]
    if not len(o):
        return pd.DataFrame(columns=[PATIENT, "days", "event", "stage"])
    diag = _diagnosis(data, t)
    o = o.drop_duplicates(PATIENT, keep="last").set_index(PATIENT)
    d = pd.to_datetime(o.index.to_series().map(diag))
    days = pd.Series(float("nan"), index=o.index)
    if "death_date" in o.columns:
        days = ((o["death_date"] - d) / pd.Timedelta(days=1)).where(o["death_date"].notna(), days)
    if "last_followup_date" in o.columns:
        fu = (o["last_followup_date"] - d) / pd.Timedelta(days=1)
        days = days.where(days.notna(), fu)
    for col in ("days_to_death", "days_to_last_followup"):
        if col in o.columns:
            days = days.where(days.notna(), pd.to_numeric(o[col], errors="coerce"))
    event = (o["vital_status"] == "dead") if "vital_status" in o.columns else pd.Series(False, index=o.index)
    s = data.tables["staging"]
    stage = (
        s.drop_duplicates(PATIENT, keep="last").set_index(PATIENT)["stage_group"]
        if "stage_group" in s.columns and len(s)
        else pd.Series(dtype="string")
    )
    roman = stage.astype("string").str.extract(r"^(IV|III|II|I|0|OC)", expand=False)
    return pd.DataFrame(
        {
            PATIENT: o.index,
            "days": days.to_numpy(),
            "event": event.fillna(False).to_numpy(bool),
            "stage": o.index.to_series().map(roman).fillna("unknown").to_numpy(),
        }
    )


# ------------------------------------------------------------------------------------- write
def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """Write the standardized clinical tables into the bundle."""
    return tab.write(data, ctx=ctx, anchor=("conditions", "diagnosis_date"))
