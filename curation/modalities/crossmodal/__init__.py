"""Cross-modality step: does every modality link to a clinical patient, and do they agree?

It has the same surface as a modality but reads the other modalities' de-identified outputs from
the bundle instead of raw exports (``SPEC.stage == "cohort"``), so the runner plans it after them.
Which table of which modality carries the patient and the sex is data
(``curation/dictionary/crossmodal.yaml``), not code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from ...quality import WARN_ONLY, Check, CheckResult, Dimension, Outcome, Severity, failures, run
from ..base import Context, ModalityData, ModalitySpec, Source

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ...deid.registry import IdentifierRegistry

@cache
def links() -> dict[str, Any]:
    """crossmodal.yaml: the reference table and, per modality, the table that links it."""
    text = resources.files("curation.dictionary").joinpath("crossmodal.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


SPEC = ModalitySpec(
    name="crossmodal", label="Cross-modality", formats=(), notebook="crossmodal.ipynb",
    order=90, stage="cohort",
    # every modality crossmodal.yaml links (the reference first): their outputs are what it reads
    needs=tuple(dict.fromkeys([links()["reference"]["modality"], *(lk["modality"] for lk in links()["links"])])),
    description="linkage of every modality to a clinical patient, sex agreement, imaging timeline",
)

_SEX = {"m": "male", "male": "male", "男": "male", "f": "female", "female": "female", "女": "female"}


def _read(bundle_root: Path, rel: str, columns: list[str]) -> pd.DataFrame | None:
    path = bundle_root / rel
    if not path.is_file():
        return None
    df = pd.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        return None
    return df[columns]


def normalize_sex(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.lower().map(_SEX).astype("string")


def identifiers(sources: list[Source], *, ctx: Context) -> IdentifierRegistry:
    """None: this step reads the other modalities' de-identified outputs, never raw exports."""
    from ...deid.registry import IdentifierRegistry

    return IdentifierRegistry()


def load(sources: list[Source], *, ctx: Context) -> ModalityData:
    """Read the patient (and sex, date) columns of every modality's output table."""
    spec = links()
    root = ctx.bundle.root
    data = ModalityData("crossmodal")
    ref = spec["reference"]
    cols = [ref["patient"], ref["sex"]]
    patients = _read(root, ref["table"], cols)
    if patients is not None:
        patients = patients.rename(columns={ref["patient"]: "patient", ref["sex"]: "sex"})
        diag = ref.get("diagnosis")
        dx = _read(root, diag["table"], ["patient", diag["column"]]) if diag else None
        if dx is not None:
            dx = dx.groupby("patient", as_index=False)[diag["column"]].min()
            patients = patients.merge(dx.rename(columns={diag["column"]: "diagnosis_date"}),
                                      on="patient", how="left")
        data.tables["reference"] = patients
    rows = []
    for link in spec["links"]:
        want = [link["patient"]] + [link[k] for k in ("sex", "date") if k in link]
        df = _read(root, link["table"], want)
        if df is None:
            continue
        df = df.rename(columns={link["patient"]: "patient", link.get("sex", "sex"): "sex",
                                link.get("date", "date"): "date"})
        df["modality"] = link["modality"]
        rows.append(df)
    data.tables["links"] = (pd.concat(rows, ignore_index=True) if rows
                            else pd.DataFrame(columns=["patient", "modality"]))
    n = len(data.tables["links"])
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


def coverage(data: ModalityData) -> pd.DataFrame:
    """Patients per modality, and how many of them link to a clinical patient."""
    links_df = data.tables["links"]
    ref = set(data.tables.get("reference", pd.DataFrame(columns=["patient"]))["patient"])
    out = []
    for modality, grp in links_df.groupby("modality", sort=True):
        pts = set(grp["patient"].dropna())
        out.append({"modality": modality, "patients": len(pts), "linked": len(pts & ref),
                    "unlinked": len(pts - ref), "clinical_patients": len(ref)})
    return pd.DataFrame(out, columns=["modality", "patients", "linked", "unlinked", "clinical_patients"])


def check_linkage(data: ModalityData, ctx: Context) -> Outcome:
    if "reference" not in data.tables:
        return Outcome(0, message="no clinical patients table in the bundle: run clinical first")
    links_df = data.tables["links"].drop_duplicates(["modality", "patient"])
    ref = set(data.tables["reference"]["patient"])
    bad = links_df[~links_df["patient"].isin(ref)]
    return Outcome(len(links_df), failures=failures(bad, row=bad.index, field=bad["modality"].tolist(),
                                                    rule="no clinical record for this patient"),
                   message=f"{len(bad)} of {len(links_df)} modality records do not link to a clinical patient")


def check_sex(data: ModalityData, ctx: Context) -> Outcome:
    links_df = data.tables["links"]
    if "sex" not in links_df:
        return Outcome(0)
    ref = data.tables["reference"][["patient", "sex"]].dropna().drop_duplicates("patient")
    other = links_df.dropna(subset=["sex"])[["patient", "modality", "sex"]].drop_duplicates()
    m = other.merge(ref, on="patient", suffixes=("", "_clinical"))
    bad = m[m["sex"] != m["sex_clinical"]]
    return Outcome(len(m), failures=failures(bad, row=bad.index, field=(bad["modality"] + ".sex").tolist(),
                                             rule=("says " + bad["sex"] + ", clinical says " + bad["sex_clinical"])
                                             .tolist()),
                   message=f"{len(bad)} of {len(m)} modality sex statements contradict the EMR")


def check_imaging_timeline(data: ModalityData, ctx: Context) -> Outcome:
    links_df, ref = data.tables["links"], data.tables["reference"]
    window = links()["imaging_window_days"]
    if "date" not in links_df or "diagnosis_date" not in ref:
        return Outcome(0)
    img = links_df[(links_df["modality"] == "imaging") & links_df["date"].notna()][["patient", "date"]]
    m = img.merge(ref[["patient", "diagnosis_date"]].dropna(), on="patient")
    days = (pd.to_datetime(m["date"]) - pd.to_datetime(m["diagnosis_date"])).dt.days
    bad = m[(days < -window["before"]) | (days > window["after"])]
    return Outcome(len(m), failures=failures(
        bad, row=bad.index, field="imaging.study_date",
        rule=f"study outside [-{window['before']}, +{window['after']}] days of diagnosis"))


LINKAGE = Check("consistency.linkage", Dimension.CONSISTENCY, check_linkage,
                description="every modality's patients link to a clinical patient")
CHECKS = (
    LINKAGE,
    Check("consistency.sex", Dimension.CONSISTENCY, check_sex, severity=Severity.CRITICAL,
          description="sex stated by a modality agrees with the EMR"),
    Check("timeliness.imaging_window", Dimension.TIMELINESS, check_imaging_timeline, severity=Severity.MINOR,
          threshold=WARN_ONLY, description="imaging studies within the window around diagnosis (crossmodal.yaml)"),
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    # without the clinical reference only the linkage check can say anything (that it is missing)
    todo = CHECKS if "reference" in data.tables else (LINKAGE,)
    return run(todo, data, ctx, modality=SPEC.name, thresholds=ctx.thresholds)


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    import plotly.graph_objects as go

    cov = coverage(data)
    fig = go.Figure([
        go.Bar(name="linked to a clinical patient", x=cov["modality"], y=cov["linked"]),
        go.Bar(name="unlinked", x=cov["modality"], y=cov["unlinked"]),
    ])
    fig.update_layout(barmode="stack", title="Patients per modality", yaxis_title="patients",
                      height=380, margin={"t": 50, "b": 40})
    return {"Coverage": fig}


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    return [ctx.bundle.write_parquet("data/crossmodal/coverage.parquet", coverage(data))]
