"""Cross-modality step: does every modality link to a clinical patient, and do the modalities agree?

It has the same surface as a modality but reads the other modalities' de-identified outputs from
the bundle instead of raw exports (``SPEC.stage == "cohort"``), so the runner plans it after them.
Which table of which modality carries what, and the parameters of every rule, are data
(``curation/dictionary/crossmodal.yaml``), not code; the rules are in :mod:`._rules`.

Checks (``crossmodal.<id>``): linkage and sex (EMR, DICOM, single-cell); one birth year per patient
and the DICOM age against the clinical one; tumour size (imaging) against the T category and M1
against imaging; EGFR / ALK / ROS1 drivers in a squamous tumour (for review); dates in order across
tables (crossmodal.yaml ``date_order``); records linked across modalities (``record_links``: a
screen-detected cancer in clinical and pathology, a participant without cancer not diagnosed with one,
a positive LDCT round in imaging, a screening biomarker in lab); smoking across sources; and every
clinical patient having each modality cohort.yaml declares in ``required_modalities``. With fewer
than two modalities in the bundle there is nothing to compare: every check is not applicable, never
pass.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...quality import WARN_ONLY, Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures, run
from ..base import Context, ModalityData, ModalitySpec, Source
from . import _records, _rules
from ._bundle import links, read, read_table, tables_needed

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ...deid.registry import IdentifierRegistry

__all__ = [
    "CHECKS",
    "LINKAGE",
    "SPEC",
    "check_linkage",
    "check_sex",
    "checks",
    "compared",
    "coverage",
    "figures",
    "identifiers",
    "links",
    "load",
    "normalize_sex",
    "standardize",
    "write",
]

SPEC = ModalitySpec(
    name="crossmodal",
    label="Cross-modality",
    formats=(),
    notebook="crossmodal.ipynb",
    order=90,
    stage="cohort",
    # every modality crossmodal.yaml reads (the reference first): their outputs are what it compares
    needs=tuple(tables_needed()),
    description="linkage and identity across modalities, tumour size and stage against imaging, histology "
    "against genomics, dates in order across tables, screening records in clinical, pathology, imaging and "
    "lab, smoking across sources, required modalities",
)

_SEX = {"m": "male", "male": "male", "男": "male", "f": "female", "female": "female", "女": "female"}
PATIENT = "patient"


def normalize_sex(s: pd.Series) -> pd.Series:
    """Sex values of any modality mapped to one vocabulary."""
    return s.astype("string").str.strip().str.lower().map(_SEX).astype("string")


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """None: this step reads the other modalities' de-identified outputs, never raw exports."""
    from ...deid.registry import IdentifierRegistry

    return IdentifierRegistry()


def _patients_of(root: Path, modality: str) -> set[str] | None:
    """Patient pseudonyms in a modality's tables (data/<modality>/); None when it wrote none."""
    import pyarrow.parquet as pq

    folder = root / "data" / modality
    if not folder.is_dir():
        return None
    seen: set[str] = set()
    for p in sorted(folder.rglob("*.parquet")):
        if PATIENT in pq.read_schema(p).names:
            seen.update(str(v) for v in pq.read_table(p, columns=[PATIENT]).column(PATIENT).to_pylist() if v)
    return seen


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the reference patients, every modality's linking table and the tables the rules compare."""
    spec = links()
    root = ctx.bundle.root
    data = ModalityData("crossmodal")
    ref = spec["reference"]
    patients = read(root, ref["table"], [ref["patient"], ref["sex"]])
    anchors = None
    if patients is not None:
        patients = patients.rename(columns={ref["patient"]: PATIENT, ref["sex"]: "sex"})
        diag = ref.get("diagnosis")
        dx = read(root, diag["table"], [PATIENT, diag["column"]]) if diag else None
        if dx is not None:
            dx = dx.groupby(PATIENT, as_index=False)[diag["column"]].min()
            anchors = pd.Series(pd.to_datetime(dx[diag["column"]]).to_numpy(), index=dx[PATIENT].astype(str))
            patients = patients.merge(dx.rename(columns={diag["column"]: "diagnosis_date"}), on=PATIENT, how="left")
        data.tables["reference"] = patients
    rows = []
    for link in spec["links"]:
        want = [link["patient"]] + [link[k] for k in ("sex",) if k in link]
        df = read(root, link["table"], want)
        if df is None:
            continue
        df = df.rename(columns={link["patient"]: PATIENT, link.get("sex", "sex"): "sex"})
        df["modality"] = link["modality"]
        rows.append(df)
    data.tables["links"] = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=[PATIENT, "modality"])
    for name in spec.get("tables", {}):
        df = read_table(root, name, anchors)
        if df is not None:
            data.tables[name] = df
    linked = {m: set(g[PATIENT].dropna().astype(str)) for m, g in data.tables["links"].groupby("modality")}
    data.objects["patients_of"] = {
        m: linked[m] if m in linked else _patients_of(root, m) for m in ctx.config.required_modalities
    }
    data.objects["patients_of"] = {m: v for m, v in data.objects["patients_of"].items() if v is not None}
    n = len(data.tables["links"])
    if len(compared(data)) >= 2:  # else nothing is compared: no bookkeeping check to pass the step on
        data.ledger.record("load", source="bundle", n_in=n, n_accepted=n)
    return data


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Inputs are already de-identified outputs; only normalize sex codes."""
    for name in ("reference", "links"):
        df = data.tables.get(name)
        if df is not None and "sex" in df:
            df["sex"] = normalize_sex(df["sex"])
    data.standardized = True
    return data


def compared(data: ModalityData) -> list[str]:
    """The modalities in the bundle with at least one record: what there is to compare."""
    out = [links()["reference"]["modality"]] if len(data.tables.get("reference", ())) else []
    lk = data.tables["links"]
    return out + sorted(set(lk.loc[lk[PATIENT].notna(), "modality"]))


def coverage(data: ModalityData) -> pd.DataFrame:
    """Patients per modality, and how many of them link to a clinical patient."""
    links_df = data.tables["links"]
    ref = set(data.tables.get("reference", pd.DataFrame(columns=[PATIENT]))[PATIENT])
    out = []
    for modality, grp in links_df.groupby("modality", sort=True):
        pts = set(grp[PATIENT].dropna())
        out.append(
            {
                "modality": modality,
                "patients": len(pts),
                "linked": len(pts & ref),
                "unlinked": len(pts - ref),
                "clinical_patients": len(ref),
            }
        )
    return pd.DataFrame(out, columns=["modality", "patients", "linked", "unlinked", "clinical_patients"])


def check_linkage(data: ModalityData, ctx: Context) -> Outcome:
    """Every patient of every modality is a patient of the clinical table."""
    if "reference" not in data.tables:
        return Outcome(0, message="no clinical patients table in the bundle: run clinical first")
    links_df = data.tables["links"].drop_duplicates(["modality", PATIENT])
    ref = set(data.tables["reference"][PATIENT])
    bad = links_df[~links_df[PATIENT].isin(ref)]
    return Outcome(
        len(links_df),
        failures=failures(
            bad, row=bad.index, field=bad["modality"].tolist(), rule="no clinical record for this patient"
        ),
        message=f"{len(bad)} of {len(links_df)} modality records do not link to a clinical patient",
    )


def check_sex(data: ModalityData, ctx: Context) -> Outcome:
    """The sex stated by other modalities agrees with the clinical sex."""
    links_df = data.tables["links"]
    if "sex" not in links_df:
        return Outcome(0, message="not applicable: no modality of this bundle states the sex (DICOM, single-cell)")
    ref = data.tables["reference"][[PATIENT, "sex"]].dropna().drop_duplicates(PATIENT)
    other = links_df.dropna(subset=["sex"])[[PATIENT, "modality", "sex"]].drop_duplicates()
    m = other.merge(ref, on=PATIENT, suffixes=("", "_clinical"))
    bad = m[m["sex"] != m["sex_clinical"]]
    return Outcome(
        len(m),
        failures=failures(
            bad,
            row=bad.index,
            field=(bad["modality"] + ".sex").tolist(),
            rule=("says " + bad["sex"] + ", clinical says " + bad["sex_clinical"]).tolist(),
        ),
        message=f"{len(bad)} of {len(m)} modality sex statements contradict the EMR",
    )


C = Dimension
LINKAGE = Check(
    "consistency.linkage",
    C.CONSISTENCY,
    check_linkage,
    description="every modality's patients link to a clinical patient",
)
_DATE_ORDER = tuple(
    Check(f"consistency.{key}", C.CONSISTENCY, _rules.date_order(key), description=rule.get("description", key))
    for key, rule in links().get("date_order", {}).items()
)
_RECORD_LINKS = tuple(
    Check(
        f"consistency.{key}",
        C.CONSISTENCY,
        _records.record_link(key),
        severity=Severity(rule["severity"]) if "severity" in rule else Severity.MAJOR,
        description=rule.get("description", key),
    )
    for key, rule in links().get("record_links", {}).items()
)
CHECKS = (
    LINKAGE,
    Check(
        "consistency.sex",
        C.CONSISTENCY,
        check_sex,
        severity=Severity.CRITICAL,
        description="sex stated by a modality (DICOM, single-cell XIST / chrY) agrees with the EMR",
    ),
    Check(
        "consistency.birth_year",
        C.CONSISTENCY,
        _rules.check_birth_year,
        severity=Severity.CRITICAL,
        description="one birth year per patient pseudonym across modalities (clinical, DICOM)",
    ),
    Check(
        "consistency.age_at_imaging",
        C.CONSISTENCY,
        _rules.check_age_at_imaging,
        description="DICOM patient age agrees with the clinical age at diagnosis and the study date",
    ),
    Check(
        "consistency.tumour_size",
        C.CONSISTENCY,
        _rules.check_tumour_size,
        threshold=Threshold(0.0, 0.05),
        description="largest nodule on imaging within the size range of the T category (crossmodal.yaml)",
    ),
    Check(
        "consistency.m1_imaging", C.CONSISTENCY, _rules.check_m1_imaging, description="a patient staged M1 has imaging"
    ),
    Check(
        "consistency.histology_driver",
        C.CONSISTENCY,
        _rules.check_histology_driver,
        severity=Severity.MINOR,
        threshold=WARN_ONLY,
        description="EGFR / ALK / ROS1 drivers in a squamous tumour, flagged for review",
    ),
    *_DATE_ORDER,
    *_RECORD_LINKS,
    Check(
        "consistency.smoking_sources",
        C.CONSISTENCY,
        _rules.check_smoking_sources,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="smoking status and pack-years agree across the questionnaire and the DICOM headers",
    ),
    Check(
        "completeness.required_modalities",
        C.COMPLETENESS,
        _rules.check_required_modalities,
        description="every clinical patient has each modality cohort.yaml declares in required_modalities",
    ),
)


def _nothing_to_compare(present: list[str]) -> Any:
    what = f"only {present[0]} is" if present else "no modality is"

    def check(data: ModalityData, ctx: Context) -> Outcome:
        return Outcome(0, message=f"not applicable: {what} in the bundle; cross-modality checks compare two or more")

    return check


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Run the cross-modality checks (none pass when fewer than two modalities are there to compare)."""
    present = compared(data)
    if len(present) < 2:  # a consistency check with nothing to compare says nothing: never pass
        return run(
            [replace(c, fn=_nothing_to_compare(present)) for c in CHECKS],
            data,
            ctx,
            modality=SPEC.name,
            thresholds=ctx.thresholds,
        )
    # without the clinical reference only the linkage check can say anything (that it is missing)
    todo = CHECKS if "reference" in data.tables else (LINKAGE,)
    return run(todo, data, ctx, modality=SPEC.name, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """The cross-modality figures (linkage coverage per modality), by title."""
    import plotly.graph_objects as go

    cov = coverage(data)
    fig = go.Figure(
        [
            go.Bar(name="linked to a clinical patient", x=cov["modality"], y=cov["linked"]),
            go.Bar(name="unlinked", x=cov["modality"], y=cov["unlinked"]),
        ]
    )
    fig.update_layout(
        barmode="stack", title="Patients per modality", yaxis_title="patients", height=380, margin={"t": 50, "b": 40}
    )
    return {"Coverage": fig}


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """Write the linkage coverage per modality into the bundle."""
    return [ctx.bundle.write_parquet("data/crossmodal/coverage.parquet", coverage(data))]
