"""Every damaged variant of a demo source (mutations.CASES) satisfies the one assertion set."""

from __future__ import annotations

from pathlib import Path

import pytest

import curation as cu

from .conftest import source_key, trimmed_cohort
from .invariants import Expect, check
from .mutations import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_damaged_source(case: Case, demo: Path, tmp_path: Path) -> None:
    cohort = trimmed_cohort(demo, tmp_path, case.modality, case.site)
    target = tmp_path / "raw" / case.file
    case.mutate(target)
    expect = Expect(source_key(cohort, case.modality, case.file, case.sheet), case.count(target), case.empty)
    check(lambda: cu.curate(case.modality, cohort, write=False), cohort, case.modality, expect)


def test_the_undamaged_demo_satisfies_the_invariants(demo: Path, tmp_path: Path) -> None:
    from .mutations import count_csv, count_lines

    for modality, site, file, count in [
        ("pathology", "A", "siteA/pathology.csv", count_csv),
        ("lab", "A", "siteA/lis_tumor_markers.csv", count_lines),
    ]:
        out = tmp_path / modality
        cohort = trimmed_cohort(demo, out, modality, site)
        expect = Expect(source_key(cohort, modality, file), count(out / "raw" / file))
        check(lambda m=modality, c=cohort: cu.curate(m, c, write=False), cohort, modality, expect)
