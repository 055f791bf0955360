"""FHIR R4 resources of the curated tables, following the mCODE STU3 profiles, one JSON line per row.

Each builder takes a curated table (or a chunk of it) and returns ``(resource type, lines)``, the
lines being complete JSON resources (see :mod:`._jsonl`). Ids are deterministic and built from
pseudonyms (``Patient/<patient>``, ``Condition/cond-<patient>-<n>``), so a re-export PUTs the same
resources and references resolve inside one transaction or across NDJSON files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import _jsonl as j
from ._common import PATIENT, Coverage

__all__ = [
    "Build",
    "conditions",
    "exposure",
    "imaging",
    "labs",
    "patients",
    "specimens",
    "staging",
    "treatments",
    "variants",
]

Lines = tuple[str, pd.Series, pd.Series]  # resource type, ids, JSON lines


@dataclass
class Build:
    """What every builder needs: the code table, the diagnosis anchors and the coverage being counted."""

    codes: dict[str, Any]
    anchors: pd.Series
    coverage: Coverage

    def system(self, name: str) -> str:
        return str(self.codes["systems"][name])

    def profile(self, name: str) -> str:
        return str(self.codes["profiles"][name])


def _q(text: str) -> str:
    return json.dumps(text)


def _ids(prefix: str, df: pd.DataFrame, key: str = PATIENT) -> pd.Series:
    """``<prefix>-<key>-<n>``: n counts rows of the same key (stable for a stable table order)."""
    n = df["_n"] if "_n" in df else df.groupby(key, sort=False).cumcount() + 1  # _n: numbered before chunking
    return prefix + "-" + df[key].astype(str) + "-" + n.astype(str)


def _safe(s: pd.Series) -> pd.Series:
    """A FHIR id from any token: only ``[A-Za-z0-9-.]``, at most 64 characters."""
    return s.astype(str).str.replace(r"[^A-Za-z0-9\-.]", "-", regex=True).str.slice(0, 64)


def _head(rtype: str, ids: pd.Series, profile: str) -> list[pd.Series]:
    idx = ids.index
    return [
        j.field("resourceType", j.raw(_q(rtype), idx)),
        j.field("id", j.text(ids)),
        j.field("meta", j.raw('{"profile":[' + _q(profile) + "]}", idx)),
    ]


def _ref(rtype: str, ids: pd.Series) -> pd.Series:
    return "{" + j.field("reference", j.text(rtype + "/" + ids.astype("string"))) + "}"


def _coding(system: str, codes: pd.Series, display: pd.Series | None = None) -> pd.Series:
    parts = [j.field("system", j.raw(_q(system), codes.index)), j.field("code", j.text(codes))]
    if display is not None:
        parts.append(j.field("display", j.text(display)))
    return j.maybe(j.obj(parts, codes.index), codes.notna() & (codes.astype("string") != ""))


def _concept(codings: list[pd.Series], text: pd.Series | None, index: pd.Index) -> pd.Series:
    parts = [j.field("coding", j.array(codings, index))]
    if text is not None:
        parts.append(j.field("text", j.text(text)))
    return j.obj(parts, index)


def _fixed_concept(system: str, code: str, display: str, index: pd.Index) -> pd.Series:
    return j.raw(
        '{"coding":[{"system":' + _q(system) + ',"code":' + _q(code) + ',"display":' + _q(display) + "}]}", index
    )


def _category(b: Build, code: str, index: pd.Index) -> pd.Series:
    return j.raw(
        '[{"coding":[{"system":' + _q(b.system("observation-category")) + ',"code":' + _q(code) + "}]}]", index
    )


def _date(b: Build, df: pd.DataFrame, column: str) -> pd.Series:
    from ._common import dates

    return dates(df, column, b.anchors)


def _lines(rtype: str, ids: pd.Series, fragments: list[pd.Series]) -> Lines:
    return rtype, ids, j.obj(fragments, ids.index)


# --------------------------------------------------------------------------- clinical


def patients(df: pd.DataFrame, outcomes: pd.DataFrame, b: Build) -> Lines:
    """CancerPatient: the pseudonym as id and identifier, gender, birth year, deceased."""
    idx = df.index
    ids = df[PATIENT].astype(str)
    gender = df["sex"].astype("string").where(df["sex"].isin(["male", "female", "unknown"]))
    b.coverage.add("Patient.gender", "FHIR administrative-gender", gender.notna())
    out = outcomes.drop_duplicates(PATIENT, keep="last").set_index(PATIENT) if len(outcomes) else None
    death = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
    dead = pd.Series(False, index=idx)
    if out is not None:
        vs = df[PATIENT].map(out["vital_status"]) if "vital_status" in out else None
        dead = (vs == "dead").fillna(False) if vs is not None else dead
        dd = _date(b, out.reset_index(), "death_date")
        death = pd.to_datetime(df[PATIENT].map(pd.Series(dd.to_numpy(), index=out.index)), errors="coerce")
    deceased_dt = j.maybe(j.date(death), death.notna())
    deceased_b = j.maybe(j.raw("true", idx), dead & death.isna())
    alive = j.maybe(j.raw("false", idx), ~dead & df[PATIENT].isin(out.index if out is not None else []))
    birth = pd.to_numeric(df.get("birth_year"), errors="coerce") if "birth_year" in df else None
    frags = [
        *_head("Patient", ids, b.profile("patient")),
        j.field(
            "identifier",
            j.raw("[", idx)
            + "{"
            + j.field("system", j.raw(_q("urn:curation:pseudonym"), idx))
            + ","
            + j.field("value", j.text(ids))
            + "}]",
        ),
        j.field("gender", j.text(gender)),
        j.field(
            "birthDate",
            j.text(birth.astype("Int64").astype("string")) if birth is not None else pd.Series(pd.NA, index=idx),
        ),
        j.field("deceasedDateTime", deceased_dt),
        j.field("deceasedBoolean", deceased_b.fillna(alive)),
    ]
    return _lines("Patient", ids, frags)


def condition_ids(df: pd.DataFrame) -> pd.Series:
    """Condition ids of the conditions table (``cond-<patient>-<n>``)."""
    return _ids("cond", df)


def conditions(df: pd.DataFrame, b: Build, *, primary: bool = True) -> Lines:
    """PrimaryCancerCondition: ICD-10 code, ICD-O-3 topography (bodySite) with laterality, morphology.

    ``primary=False``: a plain Condition (no mCODE profile, no histology or body site), for what is not a
    malignant neoplasm (a screening participant's Z12.2, Z80.1 or R91.x; see ``fhir.primary_cancer``).
    """
    idx = df.index
    ids = df["_id"] if "_id" in df else condition_ids(df)
    from ..dictionary import codes as code_list

    icd = df["icd10"].astype("string")
    b.coverage.add("Condition.code (ICD-10)", "ICD-10", icd.notna() & code_list("icd10").valid(icd))
    morph = df.get("icdo3_morphology", pd.Series(pd.NA, index=idx)).astype("string")
    topo = df.get("icdo3_topography", pd.Series(pd.NA, index=idx)).astype("string")
    lat_codes = b.codes["snomed"]["laterality"]
    lat = df.get("laterality", pd.Series(pd.NA, index=idx)).astype("string")
    lat_code = lat.map(lat_codes).astype("string")
    if primary:  # a plain Condition carries neither
        valid = morph.notna() & code_list("icdo3_morphology").valid(morph)
        b.coverage.add("Condition.histologyMorphologyBehavior", "ICD-O-3", valid)
        b.coverage.add("Condition.bodySite.laterality", "SNOMED CT", lat_code.notna()[lat.notna() & (lat != "unknown")])
    laterality = j.maybe(
        "[{"
        + j.field("url", j.raw(_q(b.profile("laterality_extension")), idx))
        + ","
        + j.field("valueCodeableConcept", _concept([_coding(b.system("SNOMED"), lat_code)], lat, idx))
        + "}]",
        lat_code.notna(),
    )
    body = j.maybe(
        "["
        + j.obj(
            [j.field("extension", laterality), j.field("coding", j.array([_coding(b.system("ICD-O-3"), topo)], idx))],
            idx,
        )
        + "]",
        topo.notna() | lat_code.notna(),
    )
    histo = j.maybe(
        "{"
        + j.field("url", j.raw(_q(b.profile("histology_extension")), idx))
        + ","
        + j.field("valueCodeableConcept", _concept([_coding(b.system("ICD-O-3"), morph)], df.get("histology"), idx))
        + "}",
        morph.notna(),
    )
    dx = _date(b, df, "diagnosis_date")
    asserted = j.maybe(
        "{"
        + j.field("url", j.raw(_q(b.profile("asserted_date_extension")), idx))
        + ","
        + j.field("valueDateTime", j.date(dx))
        + "}",
        dx.notna(),
    )
    clinical = _fixed_concept(b.system("condition-clinical"), "active", "Active", idx)
    category = j.raw(
        '[{"coding":[{"system":' + _q(b.system("condition-category")) + ',"code":"problem-list-item"}]}]', idx
    )
    head = _head("Condition", ids, b.profile("condition"))
    frags = [
        *(head if primary else head[:2]),
        j.field("extension", j.array([histo, asserted] if primary else [asserted], idx)),
        j.field("clinicalStatus", clinical),
        j.field("category", category),
        j.field("code", _concept([_coding(b.system("ICD-10"), icd)], icd, idx)),
        j.field("bodySite", body if primary else pd.Series(pd.NA, index=idx, dtype="string")),
        j.field("subject", _ref("Patient", df[PATIENT])),
        j.field("onsetDateTime", j.date(_date(b, df, "symptom_date"))),
    ]
    return _lines("Condition", ids, frags)


def staging(df: pd.DataFrame, first_condition: pd.Series, b: Build) -> list[Lines]:
    """TNMStageGroup (clinical) with its T, N, M category Observations (clinical c*, pathological p*)."""
    idx = df.index
    sn = b.codes["snomed"]
    edition = df.get("ajcc_edition", pd.Series(pd.NA, index=idx)).astype("string")
    method_code = edition.map(sn["ajcc_edition"]).astype("string")
    b.coverage.add("Observation.method (AJCC edition)", "SNOMED CT", method_code.notna()[edition.notna()])
    method = _concept([_coding(b.system("SNOMED"), method_code)], "AJCC " + edition.fillna("?") + "th edition", idx)
    focus = df[PATIENT].map(first_condition)
    effective = j.date(df[PATIENT].map(b.anchors))
    out: list[Lines] = []
    members: list[pd.Series] = []
    for cat in ("ct", "cn", "cm", "pt", "pn", "pm"):
        if cat not in df:
            continue
        raw_v = df[cat].astype("string")
        have = raw_v.notna() & (raw_v != "")
        if not have.any():
            continue
        sub = df[have]
        value = (cat[0] + raw_v[have]).astype("string")  # cT3, pN0
        code = value.map(sn["ajcc_value"]).astype("string")
        b.coverage.add(f"TNM {cat} value", "SNOMED CT", code.notna())
        ids = "tnm-" + cat + "-" + _ids("x", sub).str.slice(2)
        sidx = sub.index
        kind = {"t": "t", "n": "n", "m": "m"}[cat[1]]
        frags = [
            *_head("Observation", ids, b.profile(kind)),
            j.field("status", j.raw('"final"', sidx)),
            j.field("code", _fixed_concept(b.system("SNOMED"), sn["staging_type"][cat], f"{cat} category", sidx)),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field("focus", j.maybe("[" + _ref("Condition", focus[have].astype("string")) + "]", focus[have].notna())),
            j.field("effectiveDateTime", effective[have]),
            j.field("valueCodeableConcept", _concept([_coding(b.system("SNOMED"), code)], value, sidx)),
            j.field("method", method[have]),
        ]
        out.append(_lines("Observation", ids, frags))
        members.append(pd.Series(pd.NA, index=idx, dtype=object).where(~have, _ref("Observation", ids)))
    stage = df.get("stage_group", pd.Series(pd.NA, index=idx)).astype("string")
    have = stage.notna() & (stage != "")
    if have.any():
        sub = df[have]
        sidx = sub.index
        ids = "stage-" + _ids("x", sub).str.slice(2)
        code = stage[have].map(sn["ajcc_value"]).astype("string")
        b.coverage.add("TNM stage group value", "SNOMED CT", code.notna())
        frags = [
            *_head("Observation", ids, b.profile("stage_group")),
            j.field("status", j.raw('"final"', sidx)),
            j.field(
                "code",
                _fixed_concept(
                    b.system("SNOMED"), sn["staging_type"]["clinical_stage_group"], "Clinical TNM stage grouping", sidx
                ),
            ),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field("focus", j.maybe("[" + _ref("Condition", focus[have].astype("string")) + "]", focus[have].notna())),
            j.field("effectiveDateTime", effective[have]),
            j.field("valueCodeableConcept", _concept([_coding(b.system("SNOMED"), code)], stage[have], sidx)),
            j.field("method", method[have]),
            j.field("hasMember", j.array([m[have] for m in members], sidx)),
        ]
        out.insert(0, _lines("Observation", ids, frags))
    return out


def treatments(df: pd.DataFrame, b: Build) -> list[Lines]:
    """CancerRelatedMedicationAdministration, CancerRelatedSurgicalProcedure, RadiotherapyCourseSummary."""
    out: list[Lines] = []
    start, end = _date(b, df, "treatment_start"), _date(b, df, "treatment_end")
    kind = df["treatment_type"].astype("string")
    drug = kind.isin(["chemotherapy", "targeted", "immunotherapy"]).fillna(False)
    if drug.any():
        sub = df[drug]
        idx = sub.index
        ids = _ids("med", sub)
        regimen = sub.get("regimen", pd.Series(pd.NA, index=idx)).astype("string")
        b.coverage.add("MedicationAdministration.medication", "RxNorm", pd.Series(False, index=idx))
        period = j.obj([j.field("start", j.date(start[drug])), j.field("end", j.date(end[drug]))], idx)
        frags = [
            *_head("MedicationAdministration", ids, b.profile("medication")),
            j.field("status", j.raw('"completed"', idx)),
            j.field("category", _concept([], kind[drug], idx)),
            j.field("medicationCodeableConcept", _concept([], regimen.fillna(kind[drug]), idx)),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field("effectivePeriod", period),
        ]
        out.append(_lines("MedicationAdministration", ids, frags))
    sn = b.codes["snomed"]
    for name, profile, prefix in (("surgery", "surgery", "sur"), ("radiotherapy", "radiotherapy", "rt")):
        sel = (kind == name).fillna(False)
        if not sel.any():
            continue
        sub = df[sel]
        idx = sub.index
        ids = _ids(prefix, sub)
        b.coverage.add(f"Procedure.code ({name})", "SNOMED CT", pd.Series(True, index=idx))
        period = j.obj([j.field("start", j.date(start[sel])), j.field("end", j.date(end[sel]))], idx)
        text = sub.get("regimen", pd.Series(pd.NA, index=idx)).astype("string").fillna(name)
        frags = [
            *_head("Procedure", ids, b.profile(profile)),
            j.field("status", j.raw('"completed"', idx)),
            j.field("code", _concept([_coding(b.system("SNOMED"), pd.Series(sn[name], index=idx))], text, idx)),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field("performedPeriod", period),
        ]
        out.append(_lines("Procedure", ids, frags))
    return out


# --------------------------------------------------------------------------- other modalities


def labs(df: pd.DataFrame, loinc: dict[str, str], b: Build) -> Lines:
    """TumorMarkerTest: LOINC code, UCUM quantity (comparator for censored values), reference range."""
    idx = df.index
    ids = _ids("tm", df)
    analyte = df["analyte"].astype("string")
    code = analyte.map(loinc).astype("string")
    b.coverage.add("TumorMarkerTest.code", "LOINC", code.notna())
    unit = df.get("unit_std", pd.Series(pd.NA, index=idx)).astype("string")
    value = j.number(df.get("value_num", pd.Series(pd.NA, index=idx)))
    b.coverage.add("TumorMarkerTest.valueQuantity.code", "UCUM", unit.notna()[value.notna()])
    cens = df.get("censored", pd.Series(pd.NA, index=idx)).astype("string")
    comparator = cens.map({"below_limit": "<", "above_limit": ">"}).astype("string")
    ucum = j.raw(_q(b.system("UCUM")), idx)
    qty = j.maybe(
        j.obj(
            [
                j.field("value", value),
                j.field("comparator", j.text(comparator)),
                j.field("unit", j.text(unit)),
                j.field("system", j.maybe(ucum, unit.notna())),
                j.field("code", j.text(unit)),
            ],
            idx,
        ),
        value.notna(),
    )

    def bound(col: str) -> pd.Series:
        v = j.number(df.get(col, pd.Series(pd.NA, index=idx)))
        return j.maybe(
            j.obj(
                [
                    j.field("value", v),
                    j.field("unit", j.text(unit)),
                    j.field("system", j.maybe(ucum, unit.notna())),
                    j.field("code", j.text(unit)),
                ],
                idx,
            ),
            v.notna(),
        )

    rr = j.array(
        [
            j.maybe(
                j.obj([j.field("low", bound("ref_low")), j.field("high", bound("ref_high"))], idx),
                df.get("ref_low", pd.Series(pd.NA, index=idx)).notna()
                | df.get("ref_high", pd.Series(pd.NA, index=idx)).notna(),
            )
        ],
        idx,
    )
    flag = (
        df.get("abnormal", pd.Series(pd.NA, index=idx))
        .astype("string")
        .map({"low": "L", "normal": "N", "high": "H"})
        .astype("string")
    )
    interp = j.array([j.maybe(_concept([_coding(b.system("interpretation"), flag)], None, idx), flag.notna())], idx)
    frags = [
        *_head("Observation", ids, b.profile("tumor_marker")),
        j.field("status", j.raw('"final"', idx)),
        j.field("category", _category(b, "laboratory", idx)),
        j.field("code", _concept([_coding(b.system("LOINC"), code)], analyte, idx)),
        j.field("subject", _ref("Patient", df[PATIENT])),
        j.field("effectiveDateTime", j.date(_date(b, df, "collected_date"))),
        j.field("valueQuantity", qty),
        j.field("interpretation", interp),
        j.field("referenceRange", rr),
    ]
    return _lines("Observation", ids, frags)


def _component(loinc: str, display: str, value_key: str, values: pd.Series, b: Build) -> pd.Series:
    idx = values.index
    code = _fixed_concept(b.system("LOINC"), loinc, display, idx)
    return j.maybe("{" + j.field("code", code) + "," + j.field(value_key, values) + "}", values.notna())


def variants(df: pd.DataFrame, b: Build) -> Lines:
    """GenomicVariant (Genomics Reporting variant components): gene, protein HGVS, alleles, position, VAF."""
    idx = df.index
    ids = _safe(_ids("gv", df, key="sample"))
    lc = b.codes["loinc"]
    gene = df.get("gene", pd.Series(pd.NA, index=idx)).astype("string")
    prot = df.get("protein_change", pd.Series(pd.NA, index=idx)).astype("string")
    b.coverage.add("GenomicVariant.gene-studied", "HGNC (symbol as text)", pd.Series(False, index=idx)[gene.notna()])
    hgvs = j.maybe(_concept([_coding(b.system("HGVS"), prot)], None, idx), prot.notna() & prot.str.startswith("p."))
    pos = j.number(df.get("pos", pd.Series(pd.NA, index=idx)))
    start_end = j.maybe("{" + j.field("low", "{" + j.field("value", pos) + "}") + "}", pos.notna())
    one_based = _fixed_concept(b.system("LOINC"), lc["one_based"], "1-based character counting", idx)
    comps = [
        _component(
            lc["gene_studied"],
            "Gene studied [ID]",
            "valueCodeableConcept",
            j.maybe(_concept([], gene, idx), gene.notna()),
            b,
        ),
        _component(lc["amino_acid_change"], "Amino acid change (pHGVS)", "valueCodeableConcept", hgvs, b),
        _component(lc["ref_allele"], "Genomic ref allele [ID]", "valueString", j.text(df.get("ref")), b),
        _component(lc["alt_allele"], "Genomic alt allele [ID]", "valueString", j.text(df.get("alt")), b),
        _component(lc["coordinate_system"], "Genomic coordinate system", "valueCodeableConcept", one_based, b),
        _component(lc["exact_start_end"], "Variant exact start-end", "valueRange", start_end, b),
        _component(
            lc["allelic_frequency"],
            "Sample variant allelic frequency [NFr]",
            "valueQuantity",
            j.maybe("{" + j.field("value", j.number(df.get("vaf"))) + "}", df.get("vaf").notna()),
            b,
        ),
        _component(
            lc["read_depth"],
            "Allelic read depth",
            "valueQuantity",
            j.maybe("{" + j.field("value", j.number(df.get("depth"))) + "}", df.get("depth").notna()),
            b,
        ),
    ]
    frags = [
        *_head("Observation", ids, b.profile("genomic_variant")),
        j.field("status", j.raw('"final"', idx)),
        j.field("category", _category(b, "laboratory", idx)),
        j.field("code", _fixed_concept(b.system("LOINC"), lc["variant_assessment"], "Genetic variant assessment", idx)),
        j.field("subject", _ref("Patient", df[PATIENT])),
        j.field("specimen", _ref("Specimen", _safe(df["sample"]))),
        j.field("valueCodeableConcept", _fixed_concept(b.system("LOINC"), lc["variant_present"], "Present", idx)),
        j.field("component", j.array(comps, idx)),
    ]
    return _lines("Observation", ids, frags)


def specimens(df: pd.DataFrame, *, id_column: str, type_column: str, date_column: str | None, b: Build) -> Lines:
    """HumanSpecimen of pathology specimens or sequenced samples (ids are the bundle's keyed tokens)."""
    idx = df.index
    ids = _safe(df[id_column])
    kind = df.get(type_column, pd.Series(pd.NA, index=idx)).astype("string")
    b.coverage.add(f"Specimen.type ({type_column})", "SNOMED CT", pd.Series(False, index=idx)[kind.notna()])
    collected = _date(b, df, date_column) if date_column else pd.Series(pd.NaT, index=idx)
    frags = [
        *_head("Specimen", ids, b.profile("specimen")),
        j.field("type", j.maybe(_concept([], kind, idx), kind.notna())),
        j.field("subject", _ref("Patient", df[PATIENT])),
        j.field("collection", j.maybe("{" + j.field("collectedDateTime", j.date(collected)) + "}", collected.notna())),
    ]
    return _lines("Specimen", ids, frags)


def exposure(df: pd.DataFrame, labels: dict[str, str], b: Build) -> list[Lines]:
    """TobaccoUse (US Core smoking status) and one social-history Observation per exposure field."""
    out: list[Lines] = []
    sn = b.codes["snomed"]["smoking_status"]
    status = df.get("smoking_status", pd.Series(pd.NA, index=df.index)).astype("string")
    have = status.notna()
    if have.any():
        sub = df[have]
        idx = sub.index
        ids = "tob-" + _ids("x", sub).str.slice(2)
        code = status[have].map(sn).astype("string")
        b.coverage.add("TobaccoUse.value", "SNOMED CT", code.notna())
        frags = [
            *_head("Observation", ids, b.profile("tobacco")),
            j.field("status", j.raw('"final"', idx)),
            j.field("category", _category(b, "social-history", idx)),
            j.field(
                "code",
                _fixed_concept(b.system("LOINC"), b.codes["loinc"]["tobacco_status"], "Tobacco smoking status", idx),
            ),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field("effectiveDateTime", j.date(sub[PATIENT].map(b.anchors))),
            j.field("valueCodeableConcept", _concept([_coding(b.system("SNOMED"), code)], status[have], idx)),
        ]
        out.append(_lines("Observation", ids, frags))
    for name, label in labels.items():
        if name not in df or name == "smoking_status":
            continue
        v = df[name]
        have = v.notna()
        if not have.any():
            continue
        sub = df[have]
        idx = sub.index
        ids = "exp-" + name.replace("_", "-") + "-" + _ids("x", sub).str.slice(2)
        b.coverage.add(f"Observation.code ({name})", "local", pd.Series(False, index=idx))
        numeric = pd.api.types.is_numeric_dtype(v)
        value = (
            ("valueQuantity", "{" + j.field("value", j.number(v[have])) + "}")
            if numeric
            else ("valueCodeableConcept", _concept([], v[have].astype("string"), idx))
        )
        frags = [
            *_head("Observation", ids, "http://hl7.org/fhir/StructureDefinition/Observation"),
            j.field("status", j.raw('"final"', idx)),
            j.field("category", _category(b, "social-history", idx)),
            j.field(
                "code",
                _concept([_coding(b.system("local"), pd.Series(name, index=idx))], pd.Series(label, index=idx), idx),
            ),
            j.field("subject", _ref("Patient", sub[PATIENT])),
            j.field(value[0], value[1]),
        ]
        out.append(_lines("Observation", ids, frags))
    return out


def imaging(df: pd.DataFrame, b: Build) -> Lines:
    """ImagingStudy per study, its series referenced by the de-identified UIDs."""
    series = df.dropna(subset=["study_uid"])
    first = series.drop_duplicates("study_uid").set_index("study_uid")
    dcm = _q(b.system("DCM"))
    one = (
        '{"uid":'
        + j.text(series["series_uid"])
        + ',"modality":{"system":'
        + dcm
        + ',"code":'
        + j.text(series["modality"].astype("string").fillna("OT"))
        + "}"
        + ',"numberOfInstances":'
        + j.number(series["n_instances"]).fillna("0")
        + "}"
    )
    per_study = one.groupby(series["study_uid"].to_numpy(), sort=False).agg(",".join)
    n_inst = pd.to_numeric(series["n_instances"], errors="coerce").groupby(series["study_uid"].to_numpy()).sum()
    n_series = series.groupby("study_uid").size()
    idx = first.index
    ids = pd.Series(idx.astype(str), index=idx)
    ids = ids.where(ids.str.fullmatch(r"[0-9.]{1,64}"), _safe("study-" + ids))
    b.coverage.add("ImagingStudy.series.modality", "DICOM DCM", series["modality"].notna())
    started = _date(b, first.reset_index(), "study_date")
    started.index = idx
    frags = [
        j.field("resourceType", j.raw('"ImagingStudy"', idx)),
        j.field("id", j.text(ids)),
        j.field(
            "identifier", '[{"system":"urn:dicom:uid","value":' + j.text("urn:oid:" + ids.index.to_series()) + "}]"
        ),
        j.field("status", j.raw('"available"', idx)),
        j.field("subject", _ref("Patient", first[PATIENT])),
        j.field("started", j.date(started)),
        j.field("numberOfSeries", j.number(n_series.reindex(idx))),
        j.field("numberOfInstances", j.number(n_inst.reindex(idx))),
        j.field("series", "[" + per_study.reindex(idx) + "]"),
    ]
    return _lines("ImagingStudy", ids, frags)
