from __future__ import annotations

from curation.quality import CheckResult, run
from curation.quality import checks as qc


class _Data:
    def __init__(self, records: dict, notes: dict | None = None) -> None:
        self.objects = {"source_records": records, "source_notes": notes or {}}


def _check(records: dict, notes: dict | None = None, modality: str = "clinical") -> CheckResult:
    return run([qc.SOURCE_EMPTY], _Data(records, notes), None, modality=modality)[0]


def test_source_empty_names_the_source_and_file_token_with_the_fix() -> None:
    records = {("clinical[0]", "F1"): 12, ("clinical[1]", "F2"): 0, ("clinical[2]", "F3"): 0, ("imaging[0]", ""): 0}
    notes = {
        ("clinical[2]", "F3"): "unreadable, encrypted_workbook: a password-protected workbook; export it "
        "without a password"
    }
    r = _check(records, notes)
    assert (r.check_id, r.dimension, r.verdict, r.n_checked, r.n_failed) == (
        "clinical.completeness.source_empty",
        "completeness",
        "fail",
        4,
        3,
    )
    rules = dict(zip(r.failures["field"], r.failures["rule"], strict=True))
    assert rules["clinical[1]"] == "file F2: no record; re-export it with its records, or remove it from the source"
    assert rules["clinical[2]"].startswith("file F3: unreadable, encrypted_workbook") and rules["clinical[2]"].endswith(
        "export it without a password"
    )
    assert rules["imaging[0]"].startswith("no file: no record")
    assert (r.failures["row"] == -1).all() and (r.failures["pseudonym"] == "").all()


def test_source_empty_passes_and_is_not_applicable_without_sources() -> None:
    assert _check({("lab[0]", "F1"): 3}, modality="lab").verdict == "pass"
    assert _check({}, modality="lab").verdict == "not_applicable"
