"""No verdict of pass on nothing (issue 13): ``<m>.completeness.any_accepted``, declared once and run by
every source modality, fails when sources were given and nothing was accepted."""

from __future__ import annotations

from typing import ClassVar

import pytest

from curation.modalities import registry
from curation.quality import Ledger, run
from curation.quality.checks import ANY_ACCEPTED, check_any_accepted


def _ledger(*rows: tuple[str, str, int, int, dict]) -> Ledger:
    led = Ledger("m")
    for stage, source, n_in, n_ok, quarantined in rows:
        led.record(stage, source=source, n_in=n_in, n_accepted=n_ok, quarantined=quarantined)
    return led


def test_nothing_accepted_fails_with_what_each_source_gave() -> None:
    led = _ledger(("index", "m[0]", 5, 0, {"not_dicom": 5}), ("index", "m[1]", 2, 0, {"unreadable": 2}))
    out = check_any_accepted(led.entries, ["m[0]", "m[1]", "m[2]"])
    assert (out.n_checked, out.count) == (1, 1)
    assert out.frame["field"].tolist() == ["m[0]", "m[1]", "m[2]"]
    assert out.frame["rule"].tolist() == [
        "5 in at index, 0 accepted (not_dicom=5)",
        "2 in at index, 0 accepted (unreadable=2)",
        "no record read from it (see completeness.source_empty and the quarantine)",
    ]


def test_the_last_stage_group_decides() -> None:
    # read fine, but every record set aside later: nothing curated
    led = _ledger(
        ("load", "m[0]", 40, 40, {}), ("standardize:a", "", 40, 0, {"unlinked": 40}), ("standardize:b", "", 0, 0, {})
    )
    assert check_any_accepted(led.entries, ["m[0]"]).count == 1
    led.record("standardize:c", n_in=3, n_accepted=3)  # one table of the group has records
    assert check_any_accepted(led.entries, ["m[0]"]).count == 0
    # per-file entries of one source ("genomics[0] file F...") are that source's
    led = _ledger(("load", "m[0] file F1", 3, 0, {"bad": 3}), ("load", "m[0] file F2", 1, 0, {"bad": 1}))
    assert check_any_accepted(led.entries, ["m[0]"]).frame["rule"].tolist() == ["4 in at load, 0 accepted (bad=4)"]


def test_not_applicable_without_sources_and_critical() -> None:
    class _Cfg:
        sources: ClassVar[dict] = {}

    class _Ctx:
        config = _Cfg()

    class _Data:
        modality = "lab"
        ledger = Ledger("lab")

    [r] = run([ANY_ACCEPTED], _Data(), _Ctx(), modality="lab")
    assert (r.check_id, r.verdict, r.severity) == ("lab.completeness.any_accepted", "not_applicable", "critical")


@pytest.mark.parametrize("name", ["clinical", "pathology", "exposure", "lab", "genomics", "immune"])
def test_every_source_modality_runs_it(name: str) -> None:
    from curation.modalities import _tabular_checks as tc
    from curation.modalities.genomics import _qc
    from curation.modalities.immune import _checks

    lists = {"genomics": _qc.CHECKS, "immune": _checks.CHECKS}
    checks = lists.get(name) or tc.checks_for(name, registry.get(name).CHECKS)
    assert ANY_ACCEPTED in checks
