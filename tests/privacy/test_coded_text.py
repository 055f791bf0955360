"""A coded field that holds a sentence instead of a code ("有，父亲欧阳建华肺癌") must not carry identifiers out.

Exports put remarks into coded columns (family history, smoking status) as often as into free-text
ones. The value maps to no code, so the allowed-values check flags it; whatever is written for it
must still be free of identifiers, like any other text (DESIGN: "Text of any kind ... is scrubbed").
Found written verbatim to data/exposure/exposure.parquet (and the notebook) at first; values outside
the allowed list are now set to null.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from . import bytescan
from .conftest import check, explain
from .corpus import CODED, SEED, TABULAR, build

CONTROL = build(SEED, planted=False)
SLOT = CONTROL.slots(kinds=[CODED], modalities=["exposure"])[0]
PATIENT = CONTROL.patients[SLOT.row if CONTROL.tables[SLOT.table].site == "ZJ" else SLOT.row + 6]
CASES = {
    "patient name": PATIENT.person.name,
    "patient pinyin": PATIENT.person.pinyin_forms()[0],
    "contact name": PATIENT.contact.name,
    "phone with separators": PATIENT.phone_forms()[0],
    "resident ID": PATIENT.resident_id,
    "MRN": PATIENT.mrn,
}


@pytest.mark.parametrize("label", list(CASES))
def test_identifier_in_a_coded_field_never_survives(label: str) -> None:
    from curation.deid.scan import scan_bundle
    from curation.modalities import curate

    variant = CONTROL.plant([(SLOT, 1.0)], [CASES[label]])
    with tempfile.TemporaryDirectory(prefix="privacy-coded-") as tmp:
        cohort = variant.write(Path(tmp), modalities=TABULAR)
        out = Path(tmp) / "out"
        curate("exposure", cohort, out=out)
        hits = list(scan_bundle(out, variant.truth.values))
        findings = bytescan.scan(out, variant.truth.values)
    check(not hits, f"{label} in a coded field: the leak scan finds it:\n{explain(variant, hits, one_based=True)}")
    check(not findings, f"{label} in a coded field: the byte search finds it:\n{explain(variant, findings)}")
