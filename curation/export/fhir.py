"""FHIR R4 export of a curated bundle, following the mCODE STU3 profiles.

``curation export fhir BUNDLE`` writes, under ``exports/fhir/`` (or ``--to``):

- ``<ResourceType>.ndjson``: one resource per line, for bulk loading (``$import``, HAPI bulk);
- ``transaction-00001.json`` ...: FHIR transaction Bundles of PUT entries (Patients first, at most
  :data:`BUNDLE_ENTRIES` entries each), for servers that take transactions;
- ``coverage.csv``: per exported element, the codes mapped to a standard system and those left as text.

Resources: CancerPatient (the pseudonym only), PrimaryCancerCondition (ICD-10, ICD-O-3 morphology and
topography, laterality) for malignant neoplasms only (:func:`primary_cancer`; any other condition, such
as a screening participant's Z12.2, Z80.1 or R91.x, is a plain Condition, counted in ``coverage.csv``),
TNM stage group with its T, N and M categories, TumorMarkerTest (LOINC from ``lab_units.yaml``, UCUM),
GenomicVariant, CancerRelatedMedicationAdministration, CancerRelatedSurgicalProcedure and
RadiotherapyCourseSummary, TobaccoUse and exposure Observations, Specimen (pathology specimens and
sequenced samples), ImagingStudy (de-identified study and series UIDs).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from . import _fhir_build as fb
from ._common import COVERAGE_FILE, PATIENT, Coverage, ExportResult, anchors, codes, tables

__all__ = ["BUNDLE_ENTRIES", "CHUNK_ROWS", "export", "loinc_codes", "primary_cancer"]

BUNDLE_ENTRIES = 50_000  # entries per transaction Bundle file
CHUNK_ROWS = 200_000  # rows of a large table (lab results) turned into resources at once


def loinc_codes() -> dict[str, str]:
    """Analyte -> LOINC code from ``dictionary/lab_units.yaml`` (analytes without one are left out)."""
    from ..modalities.lab import units

    return {name: a.loinc for name, a in units().analytes.items() if a.loinc}


class _Writer:
    """NDJSON per resource type and transaction Bundles, written in a staging folder and moved in at the end."""

    def __init__(self, folder: Path, *, bundle_entries: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".fhir.", dir=folder))
        self.ndjson: dict[str, IO[str]] = {}
        self.bundle: IO[str] | None = None
        self.n_bundles = 0
        self.in_bundle = 0
        self.bundle_entries = bundle_entries

    def add(self, rtype: str, ids: pd.Series, lines: pd.Series) -> None:
        if not len(lines):
            return
        fh = self.ndjson.get(rtype)
        if fh is None:
            fh = self.ndjson[rtype] = open(self.stage / f"{rtype}.ndjson", "w", encoding="utf-8")
        fh.write("\n".join(lines.tolist()))
        fh.write("\n")
        entries = (
            '{"resource":' + lines + ',"request":{"method":"PUT","url":"' + rtype + "/" + ids.astype(str) + '"}}'
        ).tolist()
        pos = 0
        while pos < len(entries):
            if self.bundle is None or self.in_bundle >= self.bundle_entries:
                self._next_bundle()
            assert self.bundle is not None
            take = entries[pos : pos + self.bundle_entries - self.in_bundle]
            self.bundle.write((",\n" if self.in_bundle else "") + ",\n".join(take))
            self.in_bundle += len(take)
            pos += len(take)

    def _next_bundle(self) -> None:
        self._end_bundle()
        self.n_bundles += 1
        self.bundle = open(self.stage / f"transaction-{self.n_bundles:05d}.json", "w", encoding="utf-8")
        self.bundle.write('{"resourceType":"Bundle","type":"transaction","entry":[\n')
        self.in_bundle = 0

    def _end_bundle(self) -> None:
        if self.bundle is not None:
            self.bundle.write("\n]}\n")
            self.bundle.close()
            self.bundle = None

    def close(self, extra: dict[str, str]) -> list[str]:
        """Finish every file, write ``extra`` (name -> text), move all into the folder; their names."""
        self._end_bundle()
        for fh in self.ndjson.values():
            fh.close()
        for name, text in extra.items():
            (self.stage / name).write_text(text, encoding="utf-8")
        names = sorted(p.name for p in self.stage.iterdir())
        for old in self.folder.glob("*.ndjson"):
            old.unlink()
        for old in self.folder.glob("transaction-*.json"):
            old.unlink()
        for name in names:
            src = self.stage / name
            with open(src, "rb+") as staged:
                os.fsync(staged.fileno())
            os.replace(src, self.folder / name)
        shutil.rmtree(self.stage, ignore_errors=True)
        return names

    def abort(self) -> None:
        self._end_bundle()
        for fh in self.ndjson.values():
            fh.close()
        shutil.rmtree(self.stage, ignore_errors=True)


def _chunks(df: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(df), size):
        yield df.iloc[start : start + size]


def _numbered(df: pd.DataFrame, key: str = PATIENT) -> pd.DataFrame:
    """Row numbers per key (``_n``) computed on the whole table, so chunked ids stay unique."""
    out = df.copy()
    out["_n"] = out.groupby(key, sort=False).cumcount() + 1
    return out


# ICD-10 C00-C97 (malignant neoplasms) and D00-D09 (in situ): what mCODE's PrimaryCancerCondition may carry here,
# less C77-C79 (secondary malignant neoplasms: mCODE's SecondaryCancerCondition, exported as a plain Condition)
MALIGNANT = r"^(?:C[0-6][0-9]|C7[0-6]|C8[0-9]|C9[0-7]|D0[0-9])"


def primary_cancer(icd10: pd.Series) -> pd.Series:
    """Whether each ICD-10 code is a primary malignant neoplasm (C00-C97 less the secondary C77-C79, and D00-D09):
    exported as PrimaryCancerCondition."""
    return icd10.astype("string").str.strip().str.upper().str.contains(MALIGNANT, regex=True).fillna(False).astype(bool)


def export(root: Path, *, to: Path, chunk_rows: int = CHUNK_ROWS, bundle_entries: int = BUNDLE_ENTRIES) -> ExportResult:
    """Write the FHIR export of the bundle at ``root`` into ``to``.

    Parameters
    ----------
    root
        The curated bundle (``data/``, ``quality/anchors``).
    to
        The export folder (``<bundle>/exports/fhir`` when the run writes it).
    chunk_rows
        Rows of a large table turned into resources at once (memory bound).
    bundle_entries
        Entries per transaction Bundle file.
    """
    t = tables(root)
    b = fb.Build(codes(), anchors(root), Coverage("fhir"))
    counts: dict[str, int] = {}
    w = _Writer(to, bundle_entries=bundle_entries)

    def put(kind: str, lines: fb.Lines) -> None:
        rtype, ids, body = lines
        w.add(rtype, ids, body)
        counts[kind] = counts.get(kind, 0) + len(body)

    try:
        pts = t["clinical/patients"].dropna(subset=[PATIENT]) if len(t["clinical/patients"]) else None
        if pts is not None:
            put("Patient", fb.patients(pts.drop_duplicates(PATIENT), t["clinical/outcomes"], b))
        cond = t["clinical/conditions"]
        first = pd.Series(dtype="string")
        if len(cond):
            cond = cond.dropna(subset=[PATIENT])
            cond = cond.assign(_id=fb.condition_ids(cond))  # ids over the whole table: stable either way
            cancer = primary_cancer(cond["icd10"]) if "icd10" in cond else pd.Series(False, index=cond.index)
            # stage groups refer to the patient's first PrimaryCancerCondition, never to a screening encounter
            first = pd.Series(cond.loc[cancer, "_id"].to_numpy(), index=cond.loc[cancer, PATIENT].to_numpy())
            first = first[~first.index.duplicated()]
            b.coverage.add("Condition as mCODE PrimaryCancerCondition", "ICD-10 C00-C97, D00-D09", cancer)
            if cancer.any():
                put("Condition", fb.conditions(cond[cancer], b))
            if not cancer.all():
                put("NonCancerCondition", fb.conditions(cond[~cancer], b, primary=False))
        stg = t["clinical/staging"]
        if len(stg):
            for lines in fb.staging(stg.dropna(subset=[PATIENT]), first, b):
                put("TNMStageGroup" if lines[1].iloc[0].startswith("stage-") else "TNMCategory", lines)
        trt = t["clinical/treatments"]
        if len(trt):
            for lines in fb.treatments(trt.dropna(subset=[PATIENT]), b):
                put(lines[0], lines)
        exp = t["exposure/exposure"]
        if len(exp):
            from ..dictionary import fields

            labels = {f.name: f.label_en for f in fields("exposure")}
            for lines in fb.exposure(exp.dropna(subset=[PATIENT]), labels, b):
                put("TobaccoUse" if lines[1].iloc[0].startswith("tob-") else "ExposureObservation", lines)
        path = t["pathology/pathology"]
        if len(path) and "specimen" in path:
            spec = path.dropna(subset=[PATIENT, "specimen"]).drop_duplicates("specimen")
            put(
                "Specimen",
                fb.specimens(spec, id_column="specimen", type_column="specimen_type", date_column="specimen_date", b=b),
            )
        smp = t["genomics/samples"]
        if len(smp) and "sample" in smp:
            smp = smp.dropna(subset=[PATIENT, "sample"]).drop_duplicates("sample")
            put("Specimen", fb.specimens(smp, id_column="sample", type_column="tissue", date_column=None, b=b))
        var = t["genomics/variants"]
        if len(var):
            var = _numbered(var.dropna(subset=[PATIENT, "sample"]), key="sample")
            for chunk in _chunks(var, chunk_rows):
                put("GenomicVariant", fb.variants(chunk, b))
        img = t["imaging/series"]
        if len(img) and "study_uid" in img:
            put("ImagingStudy", fb.imaging(img.dropna(subset=[PATIENT]), b))
        lab = t["lab/results"]
        if len(lab):
            lab = _numbered(lab.dropna(subset=[PATIENT]))
            loinc = loinc_codes()
            for chunk in _chunks(lab, chunk_rows):
                put("TumorMarkerTest", fb.labs(chunk, loinc, b))
        coverage = b.coverage.frame()
        files = w.close({COVERAGE_FILE: b.coverage.csv()})
    except BaseException:
        w.abort()
        raise
    return ExportResult("fhir", to, files, coverage, counts)
