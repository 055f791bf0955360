"""Clinical standardize keeps each patient's keyed date shift in memory for the follow-up currency
check: the kept shifts are the keyring's, the check gives the same outcome without them, and a shift
kept under another key is not used."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

import curation as cu
from curation.deid.dates import patient_shifts
from curation.deid.keys import Keyring
from curation.modalities import clinical

from .tabular_fixture import make_cohort


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cu.modalities.Curated:
    return cu.curate("clinical", make_cohort(tmp_path_factory.mktemp("shifts")))


def _outcome(data: object, ctx: object) -> tuple[object, ...]:
    o = clinical.check_followup_currency(data, ctx)  # type: ignore[arg-type]
    return o.n_checked, o.message, None if o.failures is None else o.failures.reset_index(drop=True).to_dict()


def test_kept_shifts_are_the_keyrings(run: cu.modalities.Curated) -> None:
    kept = run.data.objects[clinical.SHIFTS]
    assert (
        len(kept)
        == run.data.tables["outcomes"]["last_followup_date"]
        .notna()
        .groupby(run.data.tables["outcomes"][clinical.PATIENT])
        .any()
        .sum()
    )
    assert {p: run.ctx.keyring.date_shift(p) for p in kept.index} == kept.astype(int).to_dict()


def test_currency_is_the_same_without_kept_shifts(run: cu.modalities.Curated) -> None:
    without = replace(run.data, objects={k: v for k, v in run.data.objects.items() if k != clinical.SHIFTS})
    assert _outcome(run.data, run.ctx) == _outcome(without, run.ctx)


def test_shifts_kept_under_another_key_are_not_used(run: cu.modalities.Curated) -> None:
    kept = run.data.objects[clinical.SHIFTS]
    other = Keyring(b"another secret of at least thirty-two bytes!!")
    wrong = pd.Series([other.date_shift(str(p)) for p in kept.index], index=kept.index, dtype="float64")
    forged = replace(run.data, objects={**run.data.objects, clinical.SHIFTS: wrong})
    patients = run.data.tables["outcomes"][clinical.PATIENT]
    truth = patient_shifts(patients, keyring=run.ctx.keyring).astype("float64")
    pd.testing.assert_series_equal(clinical._shift_days(forged, patients, run.ctx), truth, check_names=False)
    pd.testing.assert_series_equal(clinical._shift_days(run.data, patients, run.ctx), truth, check_names=False)
    assert _outcome(forged, run.ctx) == _outcome(run.data, run.ctx)
