"""Consent withdrawal: cohort.yaml consent, the withdrawal table, and what a modality drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curation.config import load_cohort
from curation.deid.keys import keyring_for
from curation.errors import ConfigError
from curation.security.consent import RULE, consent_of

from .conftest import write_cohort

SITES = "sites: [{id: A}, {id: B}]\n"


def _consent(tmp_path: Path, extra: str):  # type: ignore[no-untyped-def]
    config = load_cohort(write_cohort(tmp_path / "c", extra=SITES + extra))
    keyring = keyring_for(config)
    return config, keyring, consent_of(config, keyring)


def test_withdrawals_inline_and_in_a_table_become_pseudonyms(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "withdrawn.csv").write_text(
        "site,id,modalities,date\nB,0045678,immune;imaging,2024-03-01\n", encoding="utf-8"
    )
    _, keyring, consent = _consent(
        tmp_path, 'consent:\n  withdrawn: [{site: A, id: "ZY001"}, {site: A, id: 12345}]\n  table: withdrawn.csv\n'
    )
    assert RULE == "consent_withdrawn"
    assert len(consent) == 3
    assert consent.withdrawn(keyring.patient("zy001", site="A"), "lab")  # normalized as every modality does
    assert not consent.withdrawn(keyring.patient("ZY001", site="B"), "lab")  # another site's patient
    assert consent.withdrawn(keyring.patient("12345", site="A"), "clinical")
    assert consent.withdrawn(keyring.patient("0045678", site="B"), "immune")
    assert not consent.withdrawn(keyring.patient("0045678", site="B"), "clinical")  # scope: immune, imaging
    assert consent.facts() == {"withdrawn_patients": 3, "withdrawn_from_every_modality": 2}
    assert "ZY001" not in repr(consent.withdrawals) and "0045678" not in repr(consent.withdrawals)

    df = pd.DataFrame({"admission_number": ["ZY001", "ZY002", None, " zy001 "], "v": [1, 2, 3, 4]})
    kept, n = consent.drop(df, modality="clinical", keyring=keyring, id_col="admission_number", site="A")
    assert n == 2 and kept["v"].tolist() == [2, 3]


def test_drop_keys_each_distinct_patient_once_and_matches_a_row_by_row_lookup(tmp_path: Path) -> None:
    _, keyring, consent = _consent(
        tmp_path, 'consent:\n  withdrawn: [{site: A, id: "ZY001"}, {site: B, id: "7", modalities: [imaging]}]\n'
    )
    rng = np.random.default_rng(0)
    ids = rng.choice(np.array(["ZY001", " zy001", "ZY002", "7", "", None], dtype=object), 3000)
    sites = pd.Series(rng.choice(["A", "B", None], 3000))
    df = pd.DataFrame({"admission_number": pd.array(ids, dtype="string[pyarrow]"), "v": range(3000)})
    kept, n = consent.drop(df, modality="clinical", keyring=keyring, id_col="admission_number", site=sites)
    expected = [
        isinstance(i, str) and bool(i.strip()) and consent.withdrawn(keyring.patient(i, site=s or ""), "clinical")
        for i, s in zip(ids, sites, strict=True)
    ]
    assert n == sum(expected) > 0
    assert kept["v"].tolist() == [v for v, gone in zip(range(3000), expected, strict=True) if not gone]
    # withdrawn from imaging only: the clinical rows of site B's patient 7 stay
    assert consent.drop(df, modality="imaging", keyring=keyring, id_col="admission_number", site=sites)[1] > n


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('consent: {withdrawn: [{site: C, id: "1"}]}\n', r"consent\.withdrawn\[0\]\.site: 'C' is not one of the sites"),
        ('consent: {withdrawn: [{site: A, id: ""}]}\n', r"consent\.withdrawn\[0\]: no id"),
        ('consent: {withdrawn: [{site: A, id: "1", modalities: [imagin]}]}\n', r"modalities: imagin not registered"),
        ("consent: {table: nope.csv}\n", r"consent\.table: .*nope\.csv does not exist"),
    ],
)
def test_a_wrong_withdrawal_is_a_config_error(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _consent(tmp_path, extra)


def test_a_table_without_site_and_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "w.csv").write_text("mrn\n1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs the columns site and id"):
        _consent(tmp_path, "consent: {table: w.csv}\n")


def test_a_run_records_the_consent_facts_and_stops_on_a_wrong_entry(tmp_path: Path) -> None:
    import json

    from .conftest import fake_run

    root = fake_run(write_cohort(tmp_path / "ok", extra=SITES + 'consent: {withdrawn: [{site: A, id: "9"}]}\n'))
    record = json.loads((root / "run.json").read_text(encoding="utf-8"))
    assert record["consent"] == {"withdrawn_patients": 1, "withdrawn_from_every_modality": 1, "excluded_records": {}}
    bad = write_cohort(tmp_path / "bad", extra=SITES + 'consent: {withdrawn: [{site: Z, id: "9"}]}\n')
    with pytest.raises(ConfigError, match="is not one of the sites"):
        fake_run(bad)
    assert not (tmp_path / "bad" / "out").exists()
