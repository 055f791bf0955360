"""The cross-modality rules: identity, tumour size and stage against imaging, histology against
genomics, dates in order across tables, smoking across sources and coverage of the required
modalities. Each reads the tables :func:`~._bundle.read_table` gave (``data.tables``), its parameters
from crossmodal.yaml, and names failing records by pseudonym only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...quality import Outcome, failures
from ._bundle import drivers, links

if TYPE_CHECKING:
    from ..base import Context, ModalityData

PATIENT = "patient"
DAY = pd.Timedelta(days=1)


def need(data: ModalityData, name: str, columns: list[str]) -> tuple[pd.DataFrame | None, str]:
    """Table ``name`` with ``columns``, or None and why not (the step wrote no table, or not the column)."""
    t = links()["tables"][name]
    df = data.tables.get(name)
    if df is None:
        return None, f"{t['modality']} wrote no {Path(t['table']).name} into this bundle"
    missing = [c for c in columns if c not in df.columns]
    if missing:
        return None, f"{Path(t['table']).name} of {t['modality']} has no {', '.join(missing)}"
    return df, ""


def not_applicable(*why: str) -> Outcome:
    return Outcome(0, message="not applicable: " + "; ".join(w for w in why if w))


# ------------------------------------------------------------------------------------ identity
def check_birth_year(data: ModalityData, ctx: Context) -> Outcome:
    """One patient pseudonym, one birth year: the clinical record(s) and the DICOM headers agree."""
    parts = []
    for name, source in (("patients", "clinical"), ("series", "imaging")):
        df, _ = need(data, name, [PATIENT, "birth_year"])
        if df is not None:
            year = pd.to_numeric(df["birth_year"], errors="coerce")
            parts.append(
                pd.DataFrame(
                    {PATIENT: df[PATIENT].astype("string"), "year": year, "source": source, "_line": df["_line"]}
                ).dropna(subset=["year", PATIENT])
            )
    if not parts:
        return not_applicable("no table with a birth year in this bundle")
    years = pd.concat(parts, ignore_index=True)
    counted = years.groupby(PATIENT).size()
    years = years[years[PATIENT].map(counted) > 1]
    if not len(years):
        return not_applicable("no patient has a birth year in more than one record")
    distinct = years.groupby(PATIENT)["year"].nunique()
    bad_patients = distinct.index[distinct > 1]
    first = years.drop_duplicates(PATIENT).set_index(PATIENT)
    # one failure per patient: the first record that contradicts the patient's first birth year
    rows = years[years[PATIENT].isin(bad_patients)]
    rows = rows[rows["year"] != rows[PATIENT].map(first["year"])].drop_duplicates(PATIENT)
    rules = [
        f"born {int(y)} ({s}) but {int(first.at[p, 'year'])} ({first.at[p, 'source']})"
        for p, y, s in zip(rows[PATIENT], rows["year"], rows["source"], strict=True)
    ]
    n = int(years[PATIENT].nunique())
    return Outcome(
        n,
        failures=failures(rows, field=[f"{s}.birth_year" for s in rows["source"]], rule=rules),
        message=f"{len(rows)} of {n} patients with a birth year in several records have two birth years",
    )


def check_age_at_imaging(data: ModalityData, ctx: Context) -> Outcome:
    """DICOM PatientAge against the clinical age at diagnosis plus the time from diagnosis to the study."""
    series, why_s = need(data, "series", [PATIENT, "age_years", "study_date"])
    patients, why_p = need(data, "patients", [PATIENT, "age_at_diagnosis"])
    ref = data.tables.get("reference")
    if series is None or patients is None or ref is None or "diagnosis_date" not in ref:
        return not_applicable(
            why_s, why_p, "" if ref is not None and "diagnosis_date" in ref else "no diagnosis dates in this bundle"
        )
    age_dx = pd.to_numeric(
        patients.drop_duplicates(PATIENT).set_index(PATIENT)["age_at_diagnosis"], errors="coerce"
    )  # "90+" is no exact age: not compared
    dx = ref.dropna(subset=["diagnosis_date"]).drop_duplicates(PATIENT).set_index(PATIENT)["diagnosis_date"]
    s = series.assign(_dx=pd.to_datetime(series[PATIENT].map(dx)), _age_dx=series[PATIENT].map(age_dx))
    expected = s["_age_dx"] + (pd.to_datetime(s["study_date"]) - s["_dx"]) / DAY / 365.25
    dicom = pd.to_numeric(s["age_years"], errors="coerce")
    tol = float(links().get("age_tolerance_years", 1.5))
    both = expected.notna() & dicom.notna() & (dicom < 90) & (s["_age_dx"] < 90)
    bad = (both & ((dicom - expected).abs() > tol)).to_numpy(dtype=bool)
    rules = [
        f"DICOM age {a:g} at the study; the clinical age at diagnosis gives {e:.1f} (tolerance {tol:g} years)"
        for a, e in zip(dicom[bad], expected[bad], strict=True)
    ]
    n = int(both.sum())
    return Outcome(
        n,
        failures=failures(s, bad, field="imaging.PatientAge", rule=rules),
        message=f"{int(bad.sum())} of {n} imaging series give an age that contradicts the clinical record",
    )


# ------------------------------------------------------------------------------ tumour and stage
def _category(s: pd.Series) -> pd.Series:
    """T / M categories without the c / p / y prefix (pT1b -> T1b)."""
    return s.astype("string").str.strip().str.replace(r"^[cpy]+(?=[TM])", "", regex=True)


def check_tumour_size(data: ModalityData, ctx: Context) -> Outcome:
    """The largest nodule measured on imaging against the size range of the T category (pT, else cT)."""
    staging, why_t = need(data, "staging", [PATIENT])
    nodules, why_n = need(data, "nodules", [PATIENT, "diameter_mm"])
    if staging is None or nodules is None:
        return not_applicable(why_t, why_n)
    cfg = links()["tumour_size"]
    sizes: dict[str, list[float | None]] = cfg["t_size_mm"]
    tol = float(cfg.get("tolerance_mm", 0))
    keys = [c for c in (PATIENT, "series_uid", "location") if c in nodules.columns]
    diam = pd.to_numeric(nodules["diameter_mm"], errors="coerce")
    per_nodule = nodules.assign(_mm=diam).groupby(keys, dropna=False)["_mm"].mean()  # readers averaged
    largest = per_nodule.groupby(level=PATIENT).max()
    pt = _category(staging["pt"]) if "pt" in staging else pd.Series(pd.NA, index=staging.index, dtype="string")
    ct = _category(staging["ct"]) if "ct" in staging else pd.Series(pd.NA, index=staging.index, dtype="string")
    use_p = pt.isin(list(sizes)).fillna(False).astype(bool)
    t = pt.where(use_p, ct)
    field = np.where(use_p, "pt", "ct")
    mm = staging[PATIENT].astype("string").map(largest)
    sel = t.isin(list(sizes)).fillna(False).astype(bool) & mm.notna()
    lo = t.map(lambda c: sizes.get(c, [None, None])[0] if isinstance(c, str) else None)
    hi = t.map(lambda c: sizes.get(c, [None, None])[1] if isinstance(c, str) else None)
    lo_n, hi_n = pd.to_numeric(lo, errors="coerce"), pd.to_numeric(hi, errors="coerce")
    bad = (sel & (((mm > hi_n + tol) & hi_n.notna()) | ((mm < lo_n - tol) & lo_n.notna()))).to_numpy(dtype=bool)

    def rng(a: Any, b: Any) -> str:
        return f"{'' if pd.isna(a) else f'over {a:g} '}{'' if pd.isna(b) else f'up to {b:g} '}mm".strip()

    rules = [
        f"{'p' if f == 'pt' else 'c'}{c} means {rng(a, b)}; the largest nodule on imaging measures {m:.0f} mm "
        f"(tolerance {tol:g} mm)"
        for f, c, a, b, m in zip(field[bad], t[bad], lo_n[bad], hi_n[bad], mm[bad], strict=True)
    ]
    n = int(sel.sum())
    return Outcome(
        n,
        failures=failures(staging, bad, field=field[bad].tolist(), rule=rules),
        message=f"{int(bad.sum())} of {n} patients with a T category and a measured nodule: the size "
        "contradicts the category",
    )


def check_m1_imaging(data: ModalityData, ctx: Context) -> Outcome:
    """A distant-metastasis category (M1, clinical or pathological) with no imaging series of the patient."""
    staging, why_t = need(data, "staging", [PATIENT, "cm"])
    series, why_s = need(data, "series", [PATIENT])
    if staging is None or series is None:
        return not_applicable(why_t, why_s)
    cats = set(links().get("m1_categories", []))
    cm = _category(staging["cm"]).isin(cats).fillna(False).astype(bool)
    pm = (
        _category(staging["pm"]).isin(cats).fillna(False).astype(bool)
        if "pm" in staging
        else pd.Series(False, index=staging.index)
    )
    m1 = staging[(cm | pm).to_numpy()].drop_duplicates(PATIENT)
    imaged = set(series[PATIENT].dropna().astype(str))
    bad = ~m1[PATIENT].astype(str).isin(imaged)
    which = np.where(cm.loc[m1.index], "cm", "pm")
    return Outcome(
        len(m1),
        failures=failures(
            m1, bad, field=which[bad.to_numpy()].tolist(), rule="staged M1 without any imaging series of the patient"
        ),
        message=f"{int(bad.sum())} of {len(m1)} patients staged M1 have no imaging in the bundle",
    )


# ------------------------------------------------------------------------------ histology, genomics
def check_histology_driver(data: ModalityData, ctx: Context) -> Outcome:
    """Drivers rare in squamous cell carcinoma (EGFR, ALK, ROS1) called in a squamous tumour: by the
    histology (pathology, else clinical) or a squamous immunoprofile (p40 positive, TTF-1 negative)."""
    variants, why_v = need(data, "variants", [PATIENT, "driver"])
    if variants is None:
        return not_applicable(why_v)
    cfg = links()["histology_driver"]
    genes = set(cfg.get("genes", []))
    gene_of = drivers()
    v = variants[
        variants["driver"].astype("string").map(lambda d: gene_of.get(str(d), "") in genes).fillna(False).astype(bool)
    ].drop_duplicates([PATIENT, "driver"])
    path, _ = need(data, "pathology", [PATIENT, "histology"])
    cond, _ = need(data, "conditions", [PATIENT, "histology"])
    if path is None and cond is None:
        return not_applicable("no histology in this bundle (pathology or clinical conditions)")
    told: dict[str, str] = {}
    for df, source in ((cond, "clinical"), (path, "pathology")):  # pathology's wins
        if df is not None:
            h = df.dropna(subset=["histology"]).drop_duplicates(PATIENT)
            told.update({str(k): f"{v} ({source})" for k, v in zip(h[PATIENT], h["histology"], strict=True)})
    histology = pd.Series(told, dtype="string")
    squamous_ihc = pd.Series(dtype=bool)
    ihc = cfg.get("squamous_ihc") or {}
    if path is not None and set(ihc) <= set(path.columns):
        hit = pd.Series(True, index=path.index)
        for marker, value in ihc.items():
            hit &= (path[marker] == value).fillna(False).astype(bool)
        squamous_ihc = hit.groupby(path[PATIENT]).any()
    pts = v[PATIENT].astype(str)
    hist = pts.map(histology)
    by_hist = hist.astype("string").str.split(" ").str[0].isin(cfg.get("squamous", [])).fillna(False).astype(bool)
    by_ihc = pts.map(squamous_ihc).fillna(False).astype(bool) if len(squamous_ihc) else pd.Series(False, index=v.index)
    judged = hist.notna() | pts.isin(squamous_ihc.index)
    bad = (judged & (by_hist | by_ihc)).to_numpy(dtype=bool)
    marker_text = ", ".join(f"{k} {val}" for k, val in ihc.items())
    rules = [
        f"{d} (genomics) in {h if s else f'a squamous immunoprofile ({marker_text})'}: review the histology or the call"
        for d, h, s in zip(v["driver"][bad], hist[bad], by_hist[bad], strict=True)
    ]
    n = int(judged.sum())
    return Outcome(
        n,
        failures=failures(v, bad, field="driver", rule=rules),
        message=f"{int(bad.sum())} of {n} {', '.join(sorted(genes))} driver calls are in a squamous tumour "
        "(flagged for review)",
    )


# ------------------------------------------------------------------------------------- dates
def date_order(key: str) -> Callable[[ModalityData, Context], Outcome]:
    """The check of one ``date_order`` rule of crossmodal.yaml."""

    def check(data: ModalityData, ctx: Context) -> Outcome:
        rule = links()["date_order"][key]
        e, late = rule["earlier"], rule["later"]
        by = rule.get("by", "patient")
        where = late.get("where") or {}
        ldf, why_l = need(data, late["table"], [PATIENT, late["date"], *where])
        edf, why_e = need(data, e["table"], [PATIENT, e["date"]])
        if ldf is None or edf is None:
            return not_applicable(why_l, why_e)
        for col, values in where.items():
            ldf = ldf[ldf[col].isin(values).fillna(False).astype(bool)]
        if by == "row":
            earlier = ldf[e["date"]]
            how = ""
        else:
            first = edf.dropna(subset=[e["date"]]).groupby(PATIENT)[e["date"]].min()
            earlier = ldf[PATIENT].astype(str).map(first)
            how = " (the patient's first)"
            if by != PATIENT and by in ldf.columns and by in edf.columns:
                keyed = edf.dropna(subset=[by, e["date"]]).groupby(by)[e["date"]].min()
                earlier = ldf[by].map(keyed).fillna(earlier)  # a record without its key: by patient
                how = f" (its {by}, else the patient's first)"
        later = pd.to_datetime(ldf[late["date"]])
        days = (later - pd.to_datetime(earlier)) / DAY
        both = days.notna()
        bad = (both & (days < -float(rule.get("tolerance_days", 0)))).to_numpy(dtype=bool)
        name_l, name_e = (f"{links()['tables'][x['table']]['modality']}.{x['date']}" for x in (late, e))
        rules = [f"{name_l} {-d:.0f} days before {name_e}{how}" for d in days[bad]]
        n = int(both.sum())
        return Outcome(
            n,
            failures=failures(ldf, bad, field=name_l, rule=rules),
            message=f"{int(bad.sum())} of {n} records out of order: {rule.get('description', key)}",
        )

    return check


# ------------------------------------------------------------------------------------ smoking
def check_smoking_sources(data: ModalityData, ctx: Context) -> Outcome:
    """The DICOM smoking status of a patient's series against the exposure questionnaire, and a
    never-smoker record against another record of the patient with many pack-years."""
    exposure, why_e = need(data, "exposure", [PATIENT, "smoking_status"])
    if exposure is None:
        return not_applicable(why_e)
    cfg = links()["smoking"]
    agree: dict[str, list[str]] = cfg.get("dicom", {})
    high = float(cfg.get("high_pack_years", 10))
    ex = exposure.dropna(subset=["smoking_status", PATIENT])
    frames, n = [], 0
    series, _ = need(data, "series", [PATIENT, "smoking_status"])
    if series is not None:
        dicom = series.assign(_dicom=series["smoking_status"].astype("string").str.strip().str.upper())
        dicom = dicom[dicom["_dicom"].isin(list(agree))]
        pairs = dicom.merge(ex[[PATIENT, "smoking_status"]].rename(columns={"smoking_status": "_ex"}), on=PATIENT)
        n += len(pairs)
        bad = ~np.array([x in agree.get(d, []) for d, x in zip(pairs["_dicom"], pairs["_ex"], strict=True)], dtype=bool)
        frames.append(
            failures(
                pairs,
                bad,
                field="imaging.SmokingStatus",
                rule=[
                    f"DICOM says {d}, the questionnaire says {x}"
                    for d, x in zip(pairs["_dicom"][bad], pairs["_ex"][bad], strict=True)
                ],
            )
        )
    if "pack_years" in ex.columns:
        pack = pd.to_numeric(ex["pack_years"], errors="coerce")
        heavy = ex.assign(_pack=pack)[pack >= high][[PATIENT, "_line", "_pack"]]
        never = ex[ex["smoking_status"] == "never"][[PATIENT, "_line"]]
        pairs = never.merge(heavy, on=PATIENT, suffixes=("", "_other"))
        pairs = pairs[pairs["_line"] != pairs["_line_other"]]  # one record's own pack-years: exposure's check
        n += int(ex[PATIENT].duplicated(keep=False).sum())
        frames.append(
            failures(
                pairs,
                field="exposure.smoking_status",
                rule=[f"never smoker here, {p:g} pack-years in another record of the patient" for p in pairs["_pack"]],
            )
        )
    if not n:
        return not_applicable("no patient has smoking data from two sources or records")
    out = Outcome(n, failures=frames)
    return Outcome(
        n, failures=frames, message=f"{out.count} of {n} comparisons of smoking data across sources disagree"
    )


# ------------------------------------------------------------------------------------ coverage
def check_required_modalities(data: ModalityData, ctx: Context) -> Outcome:
    """Every clinical patient has a record of each modality cohort.yaml declares required."""
    reference = links()["reference"]["modality"]
    required = [m for m in ctx.config.required_modalities if m != reference]
    if not required:
        return not_applicable("cohort.yaml declares no required_modalities")
    ref = data.tables["reference"].dropna(subset=[PATIENT]).drop_duplicates(PATIENT)
    have: dict[str, set[str]] = data.objects.get("patients_of", {})
    rows = []
    for m in required:
        seen = have.get(m, set())
        why = "" if m in have else f" ({m} wrote no table into this bundle)"
        missing = ref[~ref[PATIENT].astype(str).isin(seen)]
        rows += [(p, m, f"no {m} record (cohort.yaml required_modalities){why}") for p in missing[PATIENT]]
    n = len(ref) * len(required)
    return Outcome(
        n,
        failures=failures(pseudonym=[r[0] for r in rows], field=[r[1] for r in rows], rule=[r[2] for r in rows]),
        message=f"{len(rows)} of {n} required patient-modality pairs missing "
        f"({len({r[0] for r in rows})} patients; required: {', '.join(required)})",
    )
