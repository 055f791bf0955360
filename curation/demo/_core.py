"""Shared pieces of the demo generator: the defects manifest and the identifiers list.

Every per-modality generator has the same signature::

    generate(roster, out, *, rng, log, keyring) -> dict[str, list[dict]]

``roster`` is one row per patient (see ROSTER_COLUMNS), ``out`` the demo root folder, ``rng`` a
seeded ``numpy.random.Generator``, ``log`` the :class:`DemoLog` to record planted defects and every
identifier written, and the return value the cohort.yaml ``sources`` entries it produced
(modality -> list of source dicts, paths relative to ``out``). A generator whose records link to the
cohort's patients (screening) also takes ``plan=``, the :class:`~curation.demo.generate.Plan` (the
planned standard tables and the patients carrying planted defects), when its signature names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Columns every generator may rely on (one row per patient; planted duplicates are extra rows).
ROSTER_COLUMNS = {
    "pid": "int, internal patient number 0..N-1 (never written to any raw file)",
    "site": "A | B | C",
    "mrn": "hospital admission number (住院号) as written by the site, a string, may have leading zeros",
    "name": "Chinese name (姓名)",
    "name_pinyin": "pinyin name as DICOM PN, e.g. ZHANG^SAN",
    "resident_id": "18-character resident ID number with a valid check digit",
    "phone": "mobile phone number",
    "address": "home address",
    "sex": "M | F (the truth; planted mismatches change what one modality says)",
    "birth_date": "datetime64, date of birth",
    "symptom_date": "datetime64, first symptom",
    "diagnosis_date": "datetime64",
    "pseudonym": "keyring.patient(mrn, site=site): what every output must carry",
    "smoking_status": "never | former | current",
    "pack_years": "float, 0 for never smokers",
    "histology": "adenocarcinoma | squamous | small_cell | large_cell",
    "tumor_sample_id": "hospital sample ID of the tumor specimen (genomics, single-cell)",
    "has_imaging": "bool: gets a CT study",
    "has_single_cell": "bool: gets 10x samples",
    "has_genomics": "bool: gets a tumor VCF",
    "dicom_sex": "M | F: what the DICOM header must say (= sex, except the planted sex_mismatch_dicom patient)",
    "sc_sex": "M | F: what XIST / chrY expression must say (= sex, except the planted sex_mismatch_single_cell one)",
}
# curation/demo/roster.py documents the further columns it adds (ROSTER_EXTRA_COLUMNS).


@dataclass
class Defect:
    id: str
    modality: str
    site: str
    record: str  # human-readable location in the raw export (stays outside the output bundle)
    field: str
    kind: str
    dimension: str
    expect: str  # check_id that must fail on this record, or "quarantine:<reason>"
    pseudonym: str = ""  # patient pseudonym the failing record carries in outputs
    file_token: str = ""  # keyring.token("file", path relative to the source root) for file-level defects
    note: str = ""


@dataclass
class DemoLog:
    """Collects planted defects and every identifier value the generator wrote."""

    defects: list[Defect] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)

    def defect(self, **kw: Any) -> Defect:
        d = Defect(id=f"D{len(self.defects) + 1:03d}", **kw)
        self.defects.append(d)
        return d

    def identifier(self, *values: object) -> None:
        for v in values:
            s = str(v).strip()
            if s and s.lower() != "nan":
                self.identifiers.add(s)

    def write(self, out: Path) -> None:
        from ..io.bundle import write_json, write_text

        write_json(out / "defects.json", [d.__dict__ for d in self.defects])
        write_text(out / "identifiers.txt", "\n".join(sorted(self.identifiers)) + "\n")


def read_defects(path: Path) -> list[Defect]:
    return [Defect(**d) for d in json.loads(path.read_text(encoding="utf-8"))]
