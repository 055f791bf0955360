"""Property: a registry value planted anywhere in the text of a tabular source never reaches the bundle.

Hypothesis draws identifiers the sources list in their own fields (patients' and contacts' names in
Chinese and in every pinyin form, staff names, MRNs, outpatient numbers, ID-card numbers, phones with
and without separators or in full-width digits, addresses, birth dates in every site format, specimen
numbers), plants them at random positions of random free-text cells (a ``phi: none`` field, an
unmapped column, the allow-listed pathology report) of the control corpus, curates the tabular
modalities that received a plant with :func:`curation.modalities.curate`, and searches the written
bundle with the project's leak scan and the independent byte search. Derandomized: CI sees the same
examples every time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from . import bytescan
from .conftest import check, explain
from .corpus import ALLOW_LISTED, PHI_NONE, SEED, TABULAR, UNMAPPED, Corpus, Slot, build

CONTROL = build(SEED, planted=False)  # the strategies need it at import time; building takes ~0.1 s
TEXT_KINDS = (PHI_NONE, UNMAPPED, ALLOW_LISTED)  # a coded field holding a sentence: test_coded_text.py
SLOTS = CONTROL.slots(kinds=TEXT_KINDS)
REPORTS = CONTROL.slots(kinds=[ALLOW_LISTED])
VALUES = CONTROL.registry_forms

# A plant is drawn as numbers (slot, position, value index) so that a falsifying example printed by
# hypothesis names no identifier; they are resolved against the corpus inside the test.
Plant = tuple[Slot, float, int]
_VALUE = st.integers(0, len(VALUES) - 1)
_AT = st.floats(0, 1)


@st.composite
def plants(draw: st.DrawFn) -> list[Plant]:
    """One to four registry values in random text cells, and maybe one more in a pathology report."""
    out = [(draw(st.sampled_from(SLOTS)), draw(_AT), draw(_VALUE)) for _ in range(draw(st.integers(1, 4)))]
    if draw(st.booleans()):
        out.append((draw(st.sampled_from(REPORTS)), draw(_AT), draw(_VALUE)))
    return out


def curate_and_scan(corpus: Corpus, modalities: set[str]) -> tuple[list[Any], list[Any]]:
    """Curate ``modalities`` of ``corpus`` into a fresh bundle; (project scan hits, byte search findings)."""
    from curation.deid.scan import scan_bundle
    from curation.modalities import curate

    with tempfile.TemporaryDirectory(prefix="privacy-prop-") as tmp:
        cohort = corpus.write(Path(tmp), modalities=TABULAR)
        out = Path(tmp) / "out"
        for name in sorted(modalities):
            curate(name, cohort, out=out)
        return list(scan_bundle(out, corpus.truth.values)), bytescan.scan(out, corpus.truth.values)


# each example curates one to four modalities (~1-4 s): no shrinking or explaining, whose hundreds
# of re-runs would take minutes; the examples are small already (one to five plants)
@settings(
    max_examples=16,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(planted=plants())
def test_planted_registry_values_never_survive(planted: list[Plant]) -> None:
    values = [VALUES[i][0] for _, _, i in planted]
    variant = CONTROL.plant([(slot, at) for slot, at, _ in planted], values)
    modalities = {slot.modality for slot, _, _ in planted}
    hits, findings = curate_and_scan(variant, modalities)
    where = "; ".join(
        f"#{variant.truth.values.index(v)} {variant.truth.kind(v)} -> {s.modality} {s.kind} {s.column!r}"
        for (s, _, _), v in zip(planted, values, strict=True)
    )
    check(not hits, f"plants [{where}]: the project's leak scan finds them:\n{explain(variant, hits, one_based=True)}")
    check(not findings, f"plants [{where}]: the byte search finds them:\n{explain(variant, findings)}")


def test_plants_reach_the_curated_text() -> None:
    """The property is not vacuous: text planted in a phi: none field reaches its output (scrubbed)."""
    import pandas as pd

    from curation.modalities import curate

    slot = next(s for s in CONTROL.slots(kinds=[PHI_NONE], modalities=["clinical"]))
    marker = "培美曲塞双周方案复核"  # ordinary words, no identifier: must survive scrubbing
    variant = CONTROL.plant([(slot, 1.0)], [marker])
    with tempfile.TemporaryDirectory(prefix="privacy-prop-") as tmp:
        cohort = variant.write(Path(tmp), modalities=TABULAR)
        curate("clinical", cohort, out=Path(tmp) / "out")
        regimen = pd.read_parquet(Path(tmp) / "out" / "data" / "clinical" / "treatments.parquet")["regimen"]
    check(regimen.str.contains(marker, regex=False).any(), "ordinary words planted in the regimen are gone")


@pytest.mark.parametrize("kind", [PHI_NONE, UNMAPPED, ALLOW_LISTED])
def test_every_slot_kind_is_drawn(kind: str) -> None:
    check(any(s.kind == kind for s in SLOTS), f"no {kind} slot is drawn")
    check({s.modality for s in SLOTS} == set(TABULAR), "not every tabular modality has a drawn slot")
