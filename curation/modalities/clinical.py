"""Clinical modality: EMR exports -> patients, conditions, staging, treatments, outcomes.

Sources are CSV / TSV / Excel / Parquet exports mapped to the dictionary (clinical.yaml) by
cohort.yaml. A source with ``table:`` feeds that standard table; a source without it is a wide
export and feeds every table it has fields for (one row per treatment repeats the rest, which is
recognised and excluded with rule ``repeated_row``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import dictionary
from ..deid.dates import generalize_birth
from ..deid.kanon import check_k_anonymity, quasi_identifiers
from ..quality import CheckResult, Dimension, Threshold, make_result, run_checks
from ..quality import checks as qc
from . import _tabular as tab
from .base import ModalityData, ModalitySpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from .base import Context, Source

SPEC = ModalitySpec(name="clinical", label="Clinical", formats=("csv", "tsv", "excel", "parquet"),
                    notebook="clinical.ipynb", dictionary="clinical", order=20,
                    description="EMR exports: patients, primary cancer condition, staging, treatments, outcomes")

NAME = "clinical"
PATIENT = tab.PATIENT
ENTRY_DELAY_DAYS = 365  # guideline timeliness: a record entered over a year after diagnosis


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    return tab.load(NAME, sources, ctx=ctx)


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """Raw identifiers of the sources, for the cohort registry (memory only)."""
    return tab.identifiers(NAME, sources, ctx=ctx)


def _derive(tables: dict[str, pd.DataFrame], data: ModalityData, ctx: Context) -> None:
    """Birth date -> birth year and age at diagnosis (90+ top-coded), on unshifted dates."""
    p, c = tables["patients"], tables["conditions"]
    if "birth_date" not in p.columns:
        return
    diag = (c.groupby(PATIENT)["diagnosis_date"].min() if "diagnosis_date" in c.columns and len(c)
            else pd.Series(dtype="datetime64[ns]"))
    ref = pd.to_datetime(p[PATIENT].map(diag))
    birth = p["birth_date"]
    years = ref.dt.year - birth.dt.year
    before = (ref.dt.month < birth.dt.month) | ((ref.dt.month == birth.dt.month) & (ref.dt.day < birth.dt.day))
    exact = (years - before.astype("Int64")).astype("Int64")
    res = generalize_birth(p.assign(_ref=ref), birth_col="birth_date", ref_col="_ref")
    res.attrs.pop("deid", None)
    res["_age_exact"] = exact
    res["_has_birth_date"] = birth.notna().to_numpy()
    tables["patients"] = res.drop(columns=["_ref"])


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    return tab.standardize(data, ctx=ctx, derive=_derive)


# ------------------------------------------------------------------------------------ checks
def _diagnosis(data: ModalityData) -> pd.Series:
    c = data.tables["conditions"]
    if "diagnosis_date" not in c.columns or not len(c):
        return pd.Series(dtype="datetime64[ns]")
    return c.groupby(PATIENT)["diagnosis_date"].min()


def _with_diagnosis(df: pd.DataFrame, diag: pd.Series) -> pd.DataFrame:
    # a view for the checks; these tables have no diagnosis_date field of their own
    return df.assign(diagnosis_date=pd.to_datetime(df[PATIENT].map(diag)))


def _age_check(data: ModalityData) -> CheckResult:
    p = data.tables["patients"]
    field = next(f for f in dictionary.fields(NAME, "patients") if f.name == "age_at_diagnosis")
    if "_age_exact" not in p.columns:
        return make_result(f"{NAME}.plausibility.age_at_diagnosis", NAME, Dimension.ACCURACY, n_checked=0,
                           message="no birth date in the data")
    return qc.check_range(p, {"_age_exact": (field.min, field.max)},
                          check_id=f"{NAME}.plausibility.age_at_diagnosis", modality=NAME,
                          labels={"_age_exact": "birth_date"})


def _stage_check(data: ModalityData) -> CheckResult:
    check_id = f"{NAME}.consistency.tnm_stage"
    s = data.tables["staging"]
    if not len(s) or "stage_group" not in s.columns:
        return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=0)

    def col(name: str) -> pd.Series:
        return s[name].astype("string") if name in s.columns else pd.Series(pd.NA, index=s.index, dtype="string")

    # the pathological stage when the tumour was resected (pT and pN known), else the clinical one
    use_p = col("pt").notna() & col("pn").notna()
    t = col("pt").where(use_p, col("ct"))
    n = col("pn").where(use_p, col("cn"))
    m = col("pm").where(use_p & col("pm").notna(), col("cm"))
    expected = dictionary.stage_group(t, n, m)
    # only 8th-edition staging is checked against the 8th-edition table: earlier editions group
    # differently, and a record without an edition cannot be judged
    edition = col("ajcc_edition")
    applies = (edition == "8").fillna(False) & expected.notna() & col("stage_group").notna()
    given = col("stage_group")
    ok = pd.Series([g in str(e).split("|") if a else True for g, e, a in zip(given, expected, applies, strict=True)],
                   index=s.index)
    bad = (applies & ~ok).astype(bool)
    rules = [f"stage {g} but {tt} {nn} {mm} gives {e} (AJCC 8th lung)"
             for g, tt, nn, mm, e in zip(given[bad], t[bad], n[bad], m[bad], expected[bad], strict=True)]
    failures = qc._fail(check_id, NAME, s, bad, "stage_group", rules)
    other = int((edition != "8").fillna(True).sum())
    return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=int(applies.sum()), failures=failures,
                       message=f"{len(failures)} of {int(applies.sum())} AJCC 8th-edition stage groups contradict "
                               f"their TNM; {other} record(s) of another or no edition not checked")


def _histology_morphology_check(data: ModalityData) -> CheckResult:
    check_id = f"{NAME}.consistency.histology_morphology"
    c = data.tables["conditions"]
    if not {"histology", "icdo3_morphology"} <= set(c.columns):
        return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=0)
    group = dictionary.codes("icdo3_morphology").group_of(c["icdo3_morphology"])
    both = group.notna() & c["histology"].notna()
    bad = (both & (group != c["histology"].astype("string"))).fillna(False).astype(bool)
    failures = qc._fail(check_id, NAME, c, bad, "histology", "histology disagrees with the ICD-O-3 morphology code")
    return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=int(both.sum()), failures=failures)


def _vital_status_check(data: ModalityData) -> CheckResult:
    check_id = f"{NAME}.consistency.vital_status"
    o = data.tables["outcomes"]
    if "vital_status" not in o.columns or "death_date" not in o.columns:
        return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=0)
    alive_dead = (o["vital_status"] == "alive") & o["death_date"].notna()
    checked = o["vital_status"].notna()
    failures = qc._fail(check_id, NAME, o, alive_dead.fillna(False).astype(bool), "vital_status",
                        "alive with a date of death")
    return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=int(checked.sum()), failures=failures)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    t = data.tables
    diag = _diagnosis(data)
    outcomes = _with_diagnosis(t["outcomes"], diag)
    treatments = _with_diagnosis(t["treatments"], diag)
    patients = _with_diagnosis(t["patients"], diag)
    conditions = t["conditions"]
    delay = float(ctx.decisions.get(f"{NAME}.timeliness.entry_delay_days", ENTRY_DELAY_DAYS))
    codes = {f.name: f.codes for f in dictionary.fields(NAME, "conditions") if f.codes}
    specs = [
        *tab.generic_checks(data, NAME),
        *[(f"{NAME}.conformance.{field}", Dimension.CONFORMANCE,
           (lambda field=field, cl=cl: qc.check_codes(conditions, field, dictionary.codes(cl),
                                                       check_id=f"{NAME}.conformance.{field}", modality=NAME)))
          for field, cl in codes.items()],
        (f"{NAME}.plausibility.age_at_diagnosis", Dimension.ACCURACY, lambda: _age_check(data)),
        (f"{NAME}.consistency.tnm_stage", Dimension.CONSISTENCY, lambda: _stage_check(data)),
        (f"{NAME}.consistency.histology_morphology", Dimension.CONSISTENCY,
         lambda: _histology_morphology_check(data)),
        (f"{NAME}.consistency.death_after_diagnosis", Dimension.CONSISTENCY,
         lambda: qc.check_date_order(outcomes, [("diagnosis_date", "death_date", "death_date")],
                                     check_id=f"{NAME}.consistency.death_after_diagnosis", modality=NAME)),
        (f"{NAME}.consistency.treatment_after_diagnosis", Dimension.CONSISTENCY,
         lambda: qc.check_date_order(treatments, [("diagnosis_date", "treatment_start", "treatment_start")],
                                     check_id=f"{NAME}.consistency.treatment_after_diagnosis", modality=NAME)),
        (f"{NAME}.consistency.dates_in_order", Dimension.CONSISTENCY, lambda: _dates_in_order(data, outcomes,
                                                                                               treatments)),
        (f"{NAME}.consistency.vital_status", Dimension.CONSISTENCY, lambda: _vital_status_check(data)),
        (f"{NAME}.uniqueness.patient", Dimension.UNIQUENESS, lambda: _uniqueness(data)),
        (f"{NAME}.timeliness.entry_delay", Dimension.TIMELINESS,
         lambda: qc.check_timeliness(patients, "record_entry_date", "diagnosis_date", max_days=delay,
                                     check_id=f"{NAME}.timeliness.entry_delay", modality=NAME,
                                     threshold=Threshold(0.0, 0.05))),
        (f"{NAME}.uniqueness.k_anonymity", Dimension.UNIQUENESS, lambda: _k_anonymity(patients, ctx)),
    ]
    return run_checks(specs, NAME, thresholds=ctx.thresholds)


def _k_anonymity(patients: pd.DataFrame, ctx: Context) -> CheckResult:
    """Re-identification risk of the released patients table: age band, sex, region, diagnosis year
    (a warning for the data steward, not a failure)."""
    regions = {s.id: s.region or s.id for s in ctx.config.sites}
    df = patients.assign(region=patients["site"].map(regions)) if "site" in patients.columns else patients
    return check_k_anonymity(quasi_identifiers(df, region_col="region"), modality=NAME)


def _dates_in_order(data: ModalityData, outcomes: pd.DataFrame, treatments: pd.DataFrame) -> CheckResult:
    check_id = f"{NAME}.consistency.dates_in_order"
    parts = [
        qc.check_date_order(data.tables["conditions"], [("symptom_date", "diagnosis_date", "symptom_date")],
                            check_id=check_id, modality=NAME),
        qc.check_date_order(treatments, [("treatment_start", "treatment_end", "treatment_end")],
                            check_id=check_id, modality=NAME),
        qc.check_date_order(outcomes, [("diagnosis_date", "last_followup_date", "last_followup_date"),
                                       ("diagnosis_date", "progression_date", "progression_date"),
                                       ("last_followup_date", "death_date", "last_followup_date")],
                            check_id=check_id, modality=NAME),
    ]
    frames = [p.failures for p in parts if len(p.failures)]
    return make_result(check_id, NAME, Dimension.CONSISTENCY, n_checked=sum(p.n_checked for p in parts),
                       failures=pd.concat(frames, ignore_index=True) if frames else None)


def _uniqueness(data: ModalityData) -> CheckResult:
    check_id = f"{NAME}.uniqueness.patient"
    p = data.tables["patients"]
    dup = qc.check_unique(p, [PATIENT], check_id=check_id, modality=NAME, field="admission_number")
    same = qc.check_same_person(p, "_rid_token", check_id=check_id, modality=NAME, field="resident_id")
    frames = [r.failures for r in (dup, same) if len(r.failures)]
    return make_result(check_id, NAME, Dimension.UNIQUENESS, n_checked=len(p),
                       failures=pd.concat(frames, ignore_index=True) if frames else None,
                       message=f"{dup.n_failed} record(s) repeat a patient; {same.message}")


# ----------------------------------------------------------------------------------- figures
def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    from ..report import figures as fig

    t = data.tables
    out = {"Completeness by field and site": fig.completeness_heatmap(tab.completeness(data, NAME))}
    if "_age_exact" in t["patients"].columns:
        field = next(f for f in dictionary.fields(NAME, "patients") if f.name == "age_at_diagnosis")
        ages = t["patients"]["_age_exact"].clip(upper=90)  # the figure must not show exact ages over 90
        out["Age at diagnosis"] = fig.distribution(ages, title="Age at diagnosis (years, 90 = 90+)",
                                                   plausible=(field.min, field.max))
    out["Stage group"] = fig.category_bars(t["staging"].get("stage_group", pd.Series(dtype="string")),
                                           title="Stage group (AJCC)", order=list(
                                               next(f for f in dictionary.fields(NAME, "staging")
                                                    if f.name == "stage_group").allowed))
    out["Histology"] = fig.category_bars(t["conditions"].get("histology", pd.Series(dtype="string")),
                                         title="Histologic type")
    out["Treatment timelines"] = fig.treatment_timelines(t["treatments"], _diagnosis(data))
    out["Overall survival by stage"] = fig.km_by_stage(survival_frame(data))
    return out


def survival_frame(data: ModalityData) -> pd.DataFrame:
    """One row per patient: days from diagnosis to death or last follow-up, event, and stage (I–IV)."""
    o = data.tables["outcomes"]
    if not len(o):
        return pd.DataFrame(columns=[PATIENT, "days", "event", "stage"])
    diag = _diagnosis(data)
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
    stage = (s.drop_duplicates(PATIENT, keep="last").set_index(PATIENT)["stage_group"]
             if "stage_group" in s.columns and len(s) else pd.Series(dtype="string"))
    roman = stage.astype("string").str.extract(r"^(IV|III|II|I|0|OC)", expand=False)
    return pd.DataFrame({PATIENT: o.index, "days": days.to_numpy(), "event": event.fillna(False).to_numpy(bool),
                         "stage": o.index.to_series().map(roman).fillna("unknown").to_numpy()})


# ------------------------------------------------------------------------------------- write
def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    return tab.write(data, ctx=ctx, anchor=("conditions", "diagnosis_date"))
