"""OMOP CDM v5.4 export of a curated bundle (with the OHDSI oncology extension's episodes).

``curation export omop BUNDLE`` writes, under ``exports/omop/`` (or ``--to``), each table as Parquet
(``<table>.parquet``) and CSV (``<table>.csv``) with the CDM's column names and types
(:mod:`._omop_schema`): person, observation_period, condition_occurrence, measurement (tumour markers
and TNM categories), observation (exposures), drug_exposure, procedure_occurrence, specimen, episode
and episode_event (a Disease First Occurrence episode per primary cancer, linked to its condition),
cdm_source; and ``coverage.csv``.

Source codes are kept in ``*_source_value``; standard concept ids come from the bundled mapping
(``dictionary/export_codes.yaml`` ``omop:``) and are 0 where it has none, counted in coverage.
``person_id`` numbers the pseudonyms in sorted order (``person_source_value`` keeps the pseudonym);
a row whose required date cannot be given (no date, no diagnosis anchor) is left out and counted.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..io.bundle import write_parquet, write_text
from . import _omop_schema as schema
from ._common import COVERAGE_FILE, PATIENT, Coverage, ExportResult, anchors, codes, dates, tables

__all__ = ["as_table", "export"]


def _frame(table: str, data: dict[str, Any], n: int) -> pd.DataFrame:
    """A CDM table: every column in DDL order, the missing ones null."""
    out = {}
    for name, kind, _ in schema.columns(table):
        v = data.get(name)
        if v is None:
            v = pd.Series([None] * n, dtype=object)
        elif not isinstance(v, pd.Series):
            v = pd.Series([v] * n)
        v = v.reset_index(drop=True)
        if kind == "integer":
            v = pd.to_numeric(v, errors="coerce").astype("Int64")
        elif kind == "date":
            v = pd.to_datetime(v, errors="coerce").dt.date
        elif kind == "numeric":
            v = pd.to_numeric(v, errors="coerce").astype("float64")
        elif kind.startswith("varchar"):
            width = int(kind[8:-1])
            v = v.astype("string").str.slice(0, width)
        elif kind == "text":
            v = v.astype("string")
        out[name] = v
    return pd.DataFrame(out)


class _Omop:
    def __init__(self, root: Path) -> None:
        self.t = tables(root)
        self.anchor = anchors(root)
        self.map = codes()["omop"]
        self.cov = Coverage("omop")
        self.dropped: dict[str, int] = {}
        pts = self.t["clinical/patients"]
        every = pd.concat([df[PATIENT] for df in self.t.values() if PATIENT in df], ignore_index=True)
        self.person_of = {p: i + 1 for i, p in enumerate(sorted(set(every.dropna().astype(str))))}
        self.patients = pts

    def pid(self, df: pd.DataFrame) -> pd.Series:
        return df[PATIENT].astype("string").map(self.person_of)

    def concept(self, domain: str, source: pd.Series, element: str, system: str) -> pd.Series:
        table = {str(k): int(v) for k, v in (self.map.get(domain) or {}).items()}
        ids = source.astype("string").map(table)
        self.cov.add(element, system, ids.notna()[source.notna()])
        return ids.fillna(0).astype("int64")

    def keep(self, table: str, df: pd.DataFrame, when: pd.Series) -> pd.DataFrame:
        """Rows whose required date is known; the others counted as dropped."""
        when = pd.to_datetime(when, errors="coerce")
        ok = when.notna() & self.pid(df).notna()
        self.dropped[table] = self.dropped.get(table, 0) + int((~ok).sum())
        out = df[ok].copy()
        out["_when"] = when[ok]
        return out

    # ------------------------------------------------------------------ tables
    def person(self) -> pd.DataFrame:
        pts = self.patients.dropna(subset=[PATIENT]).drop_duplicates(PATIENT)
        known = pd.Series(list(self.person_of), dtype="string")
        pts = pd.DataFrame({PATIENT: known}).merge(pts, on=PATIENT, how="left")
        sex = pts.get("sex", pd.Series(pd.NA, index=pts.index)).astype("string")
        gender = sex.map({k: int(v) for k, v in self.map["gender"].items()})
        self.cov.add("person.gender_concept_id", "Gender", gender.notna()[sex.notna() & (sex != "unknown")])
        year = (
            pd.to_numeric(pts.get("birth_year"), errors="coerce")
            if "birth_year" in pts
            else pd.Series(np.nan, index=pts.index)
        )
        dx_year = pd.to_datetime(pts[PATIENT].map(self.anchor), errors="coerce").dt.year
        age = pts.get("age_at_diagnosis", pd.Series(pd.NA, index=pts.index)).astype("string")
        years = pd.to_numeric(age.str.rstrip("+"), errors="coerce")
        year = year.fillna(dx_year - years)  # 90+: the year of someone aged 90 at diagnosis (top-coded)
        keep = year.notna()
        self.dropped["person"] = int((~keep).sum())
        pts, year, gender, sex = pts[keep], year[keep], gender[keep], sex[keep]
        self.person_of = {p: self.person_of[p] for p in pts[PATIENT]}
        eth = pts.get("ethnicity", pd.Series(pd.NA, index=pts.index))
        return _frame(
            "person",
            {
                "person_id": pts[PATIENT].map(self.person_of),
                "gender_concept_id": gender.fillna(0),
                "year_of_birth": year,
                "race_concept_id": 0,
                "ethnicity_concept_id": 0,
                "person_source_value": pts[PATIENT],
                "gender_source_value": sex,
                "race_source_value": eth,
                "ethnicity_source_value": eth,
            },
            len(pts),
        )

    def condition(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        c = self.t["clinical/conditions"]
        if not len(c):
            return _frame("condition_occurrence", {}, 0), c
        c = self.keep("condition_occurrence", c, dates(c, "diagnosis_date", self.anchor))
        morph = c.get("icdo3_morphology", pd.Series(pd.NA, index=c.index)).astype("string")
        topo = c.get("icdo3_topography", pd.Series(pd.NA, index=c.index)).astype("string")
        # the oncology extension's ICDO3 source code is histology-topography ("8140/3-C34.1")
        source = (morph + "-" + topo).fillna(c["icd10"].astype("string"))
        c["_id"] = np.arange(1, len(c) + 1)
        out = _frame(
            "condition_occurrence",
            {
                "condition_occurrence_id": c["_id"],
                "person_id": self.pid(c),
                "condition_concept_id": self.concept(
                    "condition", source, "condition_occurrence.condition_concept_id", "ICD-O-3 / ICD-10"
                ),
                "condition_start_date": c["_when"],
                "condition_type_concept_id": self.map["ehr_type"],
                "condition_source_value": source,
                "condition_source_concept_id": 0,
            },
            len(c),
        )
        return out, c

    def measurement(self, loinc: dict[str, str]) -> pd.DataFrame:
        parts = []
        lab = self.t["lab/results"]
        if len(lab):
            lab = self.keep("measurement", lab, dates(lab, "collected_date", self.anchor))
            code = lab["analyte"].astype("string").map(loinc).astype("string")
            parts.append(
                pd.DataFrame(
                    {
                        "person_id": self.pid(lab).to_numpy(),
                        "_when": lab["_when"].to_numpy(),
                        "measurement_concept_id": self.concept(
                            "measurement", code, "measurement (tumour markers)", "LOINC"
                        ).to_numpy(),
                        "value_as_number": lab.get("value_num").to_numpy(),
                        "unit_concept_id": self.concept(
                            "unit", lab["unit_std"], "measurement.unit_concept_id", "UCUM"
                        ).to_numpy(),
                        "range_low": lab.get("ref_low").to_numpy(),
                        "range_high": lab.get("ref_high").to_numpy(),
                        "measurement_source_value": code.fillna(lab["analyte"].astype("string")).to_numpy(),
                        "unit_source_value": lab["unit_std"].to_numpy(),
                        "value_source_value": lab["value"].to_numpy(),
                    }
                )
            )
        stg = self.t["clinical/staging"]
        for cat in ("ct", "cn", "cm", "pt", "pn", "pm", "stage_group"):
            if cat not in stg:
                continue
            s = stg[stg[cat].notna()]
            if not len(s):
                continue
            s = self.keep("measurement", s, s[PATIENT].map(self.anchor))
            label = cat if cat == "stage_group" else cat[0]
            value = (
                "AJCC"
                + s.get("ajcc_edition", pd.Series("", index=s.index)).astype("string").fillna("")
                + " "
                + (label if cat != "stage_group" else "stage ")
                + s[cat].astype("string")
            )
            parts.append(
                pd.DataFrame(
                    {
                        "person_id": self.pid(s).to_numpy(),
                        "_when": s["_when"].to_numpy(),
                        "measurement_concept_id": self.concept(
                            "measurement", value, f"measurement (TNM {cat})", "Cancer Modifier"
                        ).to_numpy(),
                        "measurement_source_value": value.to_numpy(),
                        "value_source_value": s[cat].to_numpy(),
                    }
                )
            )
        m = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if not len(m):
            return _frame("measurement", {}, 0)
        data = {c: m[c] for c in m.columns if c != "_when"}
        data.update(
            measurement_id=pd.Series(np.arange(1, len(m) + 1)),
            measurement_date=m["_when"],
            measurement_type_concept_id=self.map["ehr_type"],
        )
        return _frame("measurement", data, len(m))

    def observation(self, labels: dict[str, str]) -> pd.DataFrame:
        exp = self.t["exposure/exposure"]
        parts = []
        for name in labels:
            if name not in exp or not exp[name].notna().any():
                continue
            e = exp[exp[name].notna()]
            e = self.keep("observation", e, e[PATIENT].map(self.anchor))
            num = pd.api.types.is_numeric_dtype(e[name])
            text = e[name].astype("string")
            parts.append(
                pd.DataFrame(
                    {
                        "person_id": self.pid(e).to_numpy(),
                        "_when": e["_when"].to_numpy(),
                        "observation_concept_id": self.concept(
                            "observation", pd.Series(name, index=e.index), f"observation ({name})", "local"
                        ).to_numpy(),
                        "value_as_number": pd.to_numeric(e[name], errors="coerce").astype("float64").to_numpy()
                        if num
                        else np.full(len(e), np.nan),
                        "value_as_string": np.full(len(e), None, dtype=object)
                        if num
                        else text.astype(object).to_numpy(),
                        "observation_source_value": name,
                        "value_source_value": text.astype(object).to_numpy(),
                    }
                )
            )
        o = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if not len(o):
            return _frame("observation", {}, 0)
        data = {c: o[c] for c in o.columns if c != "_when"}
        data.update(
            observation_id=pd.Series(np.arange(1, len(o) + 1)),
            observation_date=o["_when"],
            observation_type_concept_id=self.map["ehr_type"],
        )
        return _frame("observation", data, len(o))

    def treatments(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        trt = self.t["clinical/treatments"]
        if not len(trt):
            return _frame("drug_exposure", {}, 0), _frame("procedure_occurrence", {}, 0)
        kind = trt["treatment_type"].astype("string")
        drug = trt[kind.isin(["chemotherapy", "targeted", "immunotherapy"]).fillna(False)]
        drug = self.keep("drug_exposure", drug, dates(drug, "treatment_start", self.anchor))
        end = dates(drug, "treatment_end", self.anchor).fillna(drug["_when"])
        src = drug.get("regimen", pd.Series(pd.NA, index=drug.index)).astype("string").fillna(drug["treatment_type"])
        d = _frame(
            "drug_exposure",
            {
                "drug_exposure_id": pd.Series(np.arange(1, len(drug) + 1)),
                "person_id": self.pid(drug),
                "drug_concept_id": self.concept("drug", src, "drug_exposure.drug_concept_id", "RxNorm"),
                "drug_exposure_start_date": drug["_when"],
                "drug_exposure_end_date": end,
                "drug_type_concept_id": self.map["ehr_type"],
                "drug_source_value": src,
            },
            len(drug),
        )
        proc = trt[kind.isin(["surgery", "radiotherapy"]).fillna(False)]
        proc = self.keep("procedure_occurrence", proc, dates(proc, "treatment_start", self.anchor))
        src = proc["treatment_type"].astype("string")
        p = _frame(
            "procedure_occurrence",
            {
                "procedure_occurrence_id": pd.Series(np.arange(1, len(proc) + 1)),
                "person_id": self.pid(proc),
                "procedure_concept_id": self.concept(
                    "procedure", src, "procedure_occurrence.procedure_concept_id", "SNOMED CT"
                ),
                "procedure_date": proc["_when"],
                "procedure_end_date": dates(proc, "treatment_end", self.anchor),
                "procedure_type_concept_id": self.map["ehr_type"],
                "procedure_source_value": src,
            },
            len(proc),
        )
        return d, p

    def specimen(self) -> pd.DataFrame:
        parts = []
        path = self.t["pathology/pathology"]
        if len(path) and "specimen" in path:
            s = path.dropna(subset=["specimen"]).drop_duplicates("specimen")
            s = self.keep("specimen", s, dates(s, "specimen_date", self.anchor))
            parts.append(
                pd.DataFrame(
                    {
                        "person_id": self.pid(s).to_numpy(),
                        "_when": s["_when"].to_numpy(),
                        "specimen_source_id": s["specimen"].to_numpy(),
                        "specimen_source_value": s.get("specimen_type").to_numpy(),
                    }
                )
            )
        smp = self.t["genomics/samples"]
        if len(smp) and "sample" in smp:
            s = smp.dropna(subset=["sample"]).drop_duplicates("sample")
            s = self.keep("specimen", s, s[PATIENT].map(self.anchor))  # no collection date: the diagnosis date
            parts.append(
                pd.DataFrame(
                    {
                        "person_id": self.pid(s).to_numpy(),
                        "_when": s["_when"].to_numpy(),
                        "specimen_source_id": s["sample"].to_numpy(),
                        "specimen_source_value": s.get("tissue").to_numpy(),
                    }
                )
            )
        sp = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if not len(sp):
            return _frame("specimen", {}, 0)
        self.cov.add("specimen.specimen_concept_id", "SNOMED CT", pd.Series(False, index=sp.index))
        data = {c: sp[c] for c in sp.columns if c != "_when"}
        data.update(
            specimen_id=pd.Series(np.arange(1, len(sp) + 1)),
            specimen_concept_id=0,
            specimen_date=sp["_when"],
            specimen_type_concept_id=self.map["ehr_type"],
        )
        return _frame("specimen", data, len(sp))

    def episodes(self, cond: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        if not len(cond):
            return _frame("episode", {}, 0), _frame("episode_event", {}, 0)
        n = len(cond)
        ep = _frame(
            "episode",
            {
                "episode_id": pd.Series(np.arange(1, n + 1)),
                "person_id": cond["person_id"],
                "episode_concept_id": self.map["disease_first_occurrence"],
                "episode_start_date": cond["condition_start_date"],
                "episode_object_concept_id": cond["condition_concept_id"],
                "episode_type_concept_id": self.map["ehr_type"],
                "episode_source_value": cond["condition_source_value"],
                "episode_source_concept_id": 0,
            },
            n,
        )
        ev = _frame(
            "episode_event",
            {
                "episode_id": ep["episode_id"],
                "event_id": cond["condition_occurrence_id"],
                "episode_event_field_concept_id": self.map["condition_occurrence_field"],
            },
            n,
        )
        return ep, ev

    def observation_period(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        cols = {
            "condition_occurrence": "condition_start_date",
            "measurement": "measurement_date",
            "observation": "observation_date",
            "drug_exposure": "drug_exposure_end_date",
            "procedure_occurrence": "procedure_date",
            "specimen": "specimen_date",
        }
        ev = [
            frames[t][["person_id", c]].set_axis(["person_id", "d"], axis=1) for t, c in cols.items() if len(frames[t])
        ]
        out = self.t["clinical/outcomes"]
        if len(out):
            fu = pd.DataFrame({"person_id": self.pid(out), "d": dates(out, "last_followup_date", self.anchor).dt.date})
            ev.append(fu.dropna())
        every = pd.concat(ev, ignore_index=True) if ev else pd.DataFrame(columns=["person_id", "d"])
        every["d"] = pd.to_datetime(every["d"], errors="coerce")
        every = every.dropna()
        span = every.groupby("person_id")["d"].agg(["min", "max"]).reset_index()
        span = span[span["person_id"].isin(set(frames["person"]["person_id"]))]
        return _frame(
            "observation_period",
            {
                "observation_period_id": pd.Series(np.arange(1, len(span) + 1)),
                "person_id": span["person_id"],
                "observation_period_start_date": span["min"],
                "observation_period_end_date": span["max"],
                "period_type_concept_id": self.map["ehr_type"],
            },
            len(span),
        )


def _csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", date_format="%Y-%m-%d")
    return buf.getvalue()


def export(root: Path, *, to: Path, name: str = "curation", release: date | None = None) -> ExportResult:
    """Write the OMOP CDM v5.4 tables of the bundle at ``root`` into ``to`` (Parquet and CSV).

    Parameters
    ----------
    root
        The curated bundle.
    to
        The export folder.
    name
        ``cdm_source_name`` (the cohort's name when a run writes it).
    release
        ``source_release_date`` and ``cdm_release_date``; default today.
    """
    from ..dictionary import fields
    from .fhir import loinc_codes

    o = _Omop(root)
    frames: dict[str, pd.DataFrame] = {"person": o.person()}
    keep = set(frames["person"]["person_id"].dropna().astype(int))
    frames["condition_occurrence"], _ = o.condition()
    frames["measurement"] = o.measurement(loinc_codes())
    labels = {
        f.name: f.label_en for f in fields("exposure") if f.phi != "direct" and f.name not in ("admission_number",)
    }
    frames["observation"] = o.observation(labels)
    frames["drug_exposure"], frames["procedure_occurrence"] = o.treatments()
    frames["specimen"] = o.specimen()
    for t in (
        "condition_occurrence",
        "measurement",
        "observation",
        "drug_exposure",
        "procedure_occurrence",
        "specimen",
    ):
        df = frames[t]
        ok = df["person_id"].isin(keep)  # rows of a person left out (no year of birth) go with them
        o.dropped[t] = o.dropped.get(t, 0) + int((~ok).sum())
        frames[t] = df[ok].reset_index(drop=True)
    frames["episode"], frames["episode_event"] = o.episodes(frames["condition_occurrence"], pd.DataFrame())
    frames["observation_period"] = o.observation_period(frames)
    today = release or date.today()
    frames["cdm_source"] = _frame(
        "cdm_source",
        {
            "cdm_source_name": name,
            "cdm_source_abbreviation": name[:25],
            "cdm_holder": name,
            "source_description": "curated, de-identified cohort exported by curation (pseudonyms; shifted dates)",
            "source_release_date": pd.Series([today]),
            "cdm_release_date": pd.Series([today]),
            "cdm_version": "v5.4",
            "cdm_version_concept_id": o.map["cdm_version"],
            "vocabulary_version": "none (bundled mapping)",
        },
        1,
    )
    files = []
    for table in schema.TABLES:
        df = frames[table]
        write_parquet(to / f"{table}.parquet", df, schema=schema.arrow_schema(table))
        write_text(to / f"{table}.csv", _csv(df))
        files += [f"{table}.parquet", f"{table}.csv"]
    for table, n in o.dropped.items():
        if n:
            o.cov.add(f"{table}: rows left out (no required date or person)", "-", 0, total=n)
    write_text(to / COVERAGE_FILE, o.cov.csv())
    files.append(COVERAGE_FILE)
    counts = {t: len(frames[t]) for t in schema.TABLES}
    return ExportResult("omop", to, files, o.cov.frame(), counts)


def as_table(df: pd.DataFrame, table: str) -> pa.Table:
    """``df`` as an Arrow table of the CDM schema of ``table`` (what the Parquet files hold)."""
    return pa.Table.from_pandas(df, schema=schema.arrow_schema(table), preserve_index=False)
