"""Every planted defect of the demo cohort is caught by the check (or quarantine) named in the manifest.

The demo is generated once per session, every registered and implemented modality is curated into
one bundle (source modalities first, then the cohort-level steps such as crossmodal), and each
defect of defects.json becomes one test, matched by this rule (docs/adding-a-modality.md, planted defects):

* ``expect`` a check id: quality/failures/*.parquet has a row with that check_id and the defect's pseudonym;
* ``quarantine:<reason>`` with a file token: a quarantine row with that reason and record == file token;
* ``quarantine:malformed_line``: a quarantine row of that modality with that reason from the defect's site;
* other ``quarantine:<reason>``: a quarantine row with that reason and the defect's pseudonym;
* ``excluded:<rule>`` (the withdrawn patient, rule ``consent_withdrawn``): the modality's ledger excludes
  records under that rule, and the pseudonym is in no file of the bundle.

A defect whose modality is not registered or not implemented here is skipped with a reason naming it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from curation.demo._core import Defect, read_defects

pytestmark = pytest.mark.slow

PATIENTS = 36
SEED = 3


def _selected_slow(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return "not slow" not in expr


@cache
def _demo_dir() -> Path:
    """Generated at collection (the parameters are the manifest's defects); removed at exit."""
    from curation.demo import generate

    root = Path(tempfile.mkdtemp(prefix="curation-defects-"))
    atexit.register(shutil.rmtree, root, True)
    generate(root / "demo", patients=PATIENTS, seed=SEED)
    return root


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "defect" not in metafunc.fixturenames:
        return
    if not _selected_slow(metafunc.config):  # deselected anyway: do not pay for a generation
        metafunc.parametrize("defect", [pytest.param(None, id="not-generated")])
        return
    defects = read_defects(_demo_dir() / "demo" / "defects.json")
    metafunc.parametrize("defect", [pytest.param(d, id=f"{d.id}-{d.modality}-{d.kind}") for d in defects])


def _implemented() -> dict[str, object]:
    from curation.modalities import registry

    out = {}
    for name in registry.names():
        try:
            mod = registry.get(name)
        except ImportError:
            continue
        if hasattr(mod, "load"):
            out[name] = mod
    return out


@pytest.fixture(scope="session")
def curated() -> dict[str, object]:
    """Curate every implemented modality into one bundle; returns failures, quarantine and errors."""
    import curation
    from curation.modalities import registry
    from curation.run.plan import order as planned

    root = _demo_dir()
    cohort = root / "demo" / "cohort.yaml"
    out = root / "bundle"
    mods = _implemented()
    # as a run orders them: each step after the steps it needs (exposure reads clinical's diagnosis dates)
    order = [n for level in planned(sorted(mods, key=lambda n: (registry.spec(n).stage != "source", n))) for n in level]
    errors: dict[str, str] = {}
    for name in order:
        try:
            curation.curate(name, cohort, out=out)
        except Exception as exc:  # noqa: BLE001 - reported per defect, so one broken modality fails only its own
            errors[name] = f"{type(exc).__name__}: {exc}"

    def read_all(kind: str) -> pd.DataFrame:
        frames = [pd.read_parquet(p) for p in sorted((out / "quality" / kind).glob("*.parquet"))]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return {
        "failures": read_all("failures"),
        "quarantine": read_all("quarantine"),
        "ledger": read_all("ledger"),
        "errors": errors,
        "modalities": set(mods),
    }


def _owner(d: Defect) -> str:
    """The modality whose output must show the defect."""
    return d.modality if d.expect.startswith(("quarantine:", "excluded:")) else d.expect.split(".")[0]


def test_defect_is_caught(defect: Defect | None, curated: dict[str, object]) -> None:
    if defect is None:
        pytest.skip("slow tests deselected")
    d = defect
    have = curated["modalities"]
    assert isinstance(have, set)
    for needed in dict.fromkeys([d.modality, _owner(d)]):
        if needed not in have:
            pytest.skip(f"modality {needed!r} is not built (not registered or has no load); {d.kind} not checked")
    errors = curated["errors"]
    assert isinstance(errors, dict)
    for needed in dict.fromkeys([d.modality, _owner(d)]):
        assert needed not in errors, f"curating {needed} failed: {errors[needed]}"
    if d.expect.startswith("excluded:"):
        _assert_excluded(d, curated)
        return
    if d.expect.startswith("quarantine:"):
        reason = d.expect.split(":", 1)[1]
        q = curated["quarantine"]
        assert isinstance(q, pd.DataFrame)
        assert len(q), "no quarantine rows at all"
        of_modality = q[q["modality"] == d.modality]
        q = of_modality[of_modality["reason"] == reason]
        if d.file_token:
            hit = q["record"] == d.file_token
            rule = f"record == file token {d.file_token}"
        elif reason == "malformed_line":
            hit = q["source"].astype(str).str.len() > 0
            hit &= _site_of_sources(q["source"], d.modality) == d.site
            rule = f"a source of site {d.site}"
        else:
            hit = q["pseudonym"] == d.pseudonym
            rule = f"pseudonym {d.pseudonym}"
        assert hit.any(), (
            f"{d.id} {d.kind} ({d.record}): no {d.modality} quarantine row with reason "
            f"{reason!r} and {rule}; {d.modality} reasons seen: {sorted(set(of_modality['reason']))}"
        )
        return
    f = curated["failures"]
    assert isinstance(f, pd.DataFrame)
    assert len(f), "no failure rows at all"
    rows = f[f["check_id"] == d.expect]
    assert len(rows), f"{d.id} {d.kind}: check {d.expect} reported no failing record at all"
    assert (rows["pseudonym"] == d.pseudonym).any(), (
        f"{d.id} {d.kind} ({d.record}, field {d.field}): {d.expect} failed {len(rows)} records, "
        f"not the planted one {d.pseudonym}"
    )


def _assert_excluded(d: Defect, curated: dict[str, object]) -> None:
    """``excluded:<rule>`` (a withdrawn patient): the modality's ledger excludes records under the rule,
    and the patient's pseudonym is in no file of the bundle (read as the leak scan reads every format)."""
    rule = d.expect.split(":", 1)[1]
    ledger = curated["ledger"]
    assert isinstance(ledger, pd.DataFrame)
    mine = ledger[ledger["modality"] == d.modality]
    assert mine["excluded_by_rule"].fillna("").str.contains(f"{rule}=").any(), (
        f"{d.id} {d.kind}: the {d.modality} ledger excludes nothing under {rule!r}"
    )
    assert mine["balanced"].all(), f"{d.modality}: a ledger stage does not reconcile"
    hits = _pseudonym_hits(d.pseudonym)
    assert not hits, f"{d.id} {d.kind}: the withdrawn patient's pseudonym is in {hits}"


@cache
def _pseudonym_hits(pseudonym: str) -> list[str]:
    from curation.deid import scan

    return [str(h) for h in scan.scan_bundle(_demo_dir() / "bundle", [(1, pseudonym)])]


# the checks of issue 14 (cross-modality rules, timeliness in every source modality): each has its own
# planted defect in the demo, which test_defect_is_caught finds by this name
NEW_CHECKS = (
    "crossmodal.consistency.birth_year",
    "crossmodal.consistency.age_at_imaging",
    "crossmodal.consistency.tumour_size",
    "crossmodal.consistency.m1_imaging",
    "crossmodal.consistency.histology_driver",
    "crossmodal.consistency.specimen_before_report",
    "crossmodal.consistency.sample_after_specimen",
    "crossmodal.consistency.treatment_after_diagnosis",
    "crossmodal.consistency.imaging_before_surgery",
    "crossmodal.consistency.smoking_sources",
    "crossmodal.completeness.required_modalities",
    # issue 15: screening linked to clinical, pathology, imaging and lab (crossmodal.yaml record_links)
    "crossmodal.consistency.screen_cancer_in_clinical",
    "crossmodal.consistency.screen_cancer_in_pathology",
    "crossmodal.consistency.screen_no_cancer_not_in_clinical",
    "crossmodal.consistency.screen_ldct_in_imaging",
    "crossmodal.consistency.screen_marker_in_lab",
    "clinical.timeliness.followup_currency",
    "pathology.timeliness.report_delay",
    "exposure.timeliness.questionnaire_age",
    "genomics.timeliness.turnaround",
    "imaging.timeliness.study_age",
    "immune.timeliness.processing_delay",
)


@pytest.mark.parametrize("check_id", NEW_CHECKS)
def test_every_new_check_has_a_planted_defect(check_id: str, curated: dict[str, object]) -> None:
    """The manifest plants a defect for the check, and the curated demo's failures name its patient."""
    defects = [d for d in read_defects(_demo_dir() / "demo" / "defects.json") if d.expect == check_id]
    assert defects, f"no planted defect expects {check_id}"
    modality = check_id.split(".")[0]
    if modality not in curated["modalities"]:  # type: ignore[operator]
        pytest.skip(f"modality {modality!r} is not built here")
    f = curated["failures"]
    assert isinstance(f, pd.DataFrame)
    caught = set(f.loc[f["check_id"] == check_id, "pseudonym"])
    assert {d.pseudonym for d in defects} <= caught, f"{check_id}: planted {[d.id for d in defects]} not caught"


def _site_of_sources(sources: pd.Series, modality: str) -> pd.Series:
    """Source keys such as ``clinical[3]`` -> the site of that source in the demo's cohort.yaml."""
    from curation import load_cohort

    cfg = load_cohort(_demo_dir() / "demo" / "cohort.yaml")
    site = {f"{modality}[{i}]": s.site or "" for i, s in enumerate(cfg.sources.get(modality, []))}
    return sources.astype(str).map(lambda k: site.get(k, ""))


EXPECTED = Path(__file__).parent / "expected"
# quality/checks: one row per check; quality/checks_by_site: where its failures are (a breakdown)
EXPECTED_CHECKS = {
    "checks": (
        EXPECTED / f"demo_checks_{PATIENTS}_{SEED}.csv",
        ["modality", "check_id", "dimension", "verdict", "n_checked", "n_failed"],
    ),
    "checks_by_site": (
        EXPECTED / f"demo_checks_by_site_{PATIENTS}_{SEED}.csv",
        ["modality", "check_id", "site", "verdict", "n_checked", "n_failed"],
    ),
}


def _checks_of_bundle(kind: str, keys: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((_demo_dir() / "bundle" / "quality" / kind).glob("*.parquet"))]
    df = pd.concat([f for f in frames if len(f)], ignore_index=True)[keys]
    id_keys = [k for k in keys if k in ("modality", "check_id", "site")]
    return df.astype({"n_checked": "int64", "n_failed": "int64"}).sort_values(id_keys).reset_index(drop=True)


@pytest.mark.parametrize("kind", list(EXPECTED_CHECKS))
def test_demo_checks_are_unchanged(kind: str, curated: dict[str, object]) -> None:
    """Refactors keep behaviour: the demo's checks (ids, verdicts, counts) and their per-site breakdowns
    equal the stored expectation.

    A change in behaviour that is meant (a new check, a fixed count) updates the files on purpose:
    ``CURATION_UPDATE_EXPECTED=1 pytest tests/test_defects.py -k unchanged``, and the commit says why.
    """
    import os

    path, keys = EXPECTED_CHECKS[kind]
    id_keys = [k for k in keys if k in ("modality", "check_id", "site")]
    got = _checks_of_bundle(kind, keys)
    assert not got.duplicated(id_keys).any(), f"{kind}: {id_keys} repeated: one row per check (and site)"
    if os.environ.get("CURATION_UPDATE_EXPECTED") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        got.to_csv(path, index=False)
    want = pd.read_csv(path, dtype={"site": str}, keep_default_na=False)
    want = want.astype({"n_checked": "int64", "n_failed": "int64"})
    merged = got.merge(want, on=id_keys, how="outer", suffixes=("", "_expected"), indicator=True)
    new = merged.loc[merged["_merge"] == "left_only", id_keys].to_dict("records")
    gone = merged.loc[merged["_merge"] == "right_only", id_keys].to_dict("records")
    both = merged[merged["_merge"] == "both"]
    changed = both[
        (both["verdict"] != both["verdict_expected"])
        | (both["n_failed"] != both["n_failed_expected"])
        | (both["n_checked"] != both["n_checked_expected"])
    ]
    shown = changed[[*id_keys, "verdict", "verdict_expected", "n_failed", "n_failed_expected"]]
    assert not new and not gone and changed.empty, (
        f"{kind}: new {new}; gone {gone}; changed: {shown.to_dict('records')}"
    )


def test_collection_report_names_every_check_that_did_not_pass(curated: dict[str, object]) -> None:
    """The collection report is never cut: every failing, warning or erroring check of the run is in it."""
    checks = _checks_of_bundle("checks", EXPECTED_CHECKS["checks"][1])
    bad = checks.loc[checks["verdict"].isin(["fail", "warn", "error"]), "check_id"].tolist()
    report = _demo_dir() / "bundle" / "reports" / "collection_report.md"
    if not report.is_file():
        pytest.skip("the collection report step did not run in this bundle")
    text = report.read_text(encoding="utf-8")
    assert len(bad) > 25 and [c for c in bad if c not in text] == []
