"""End to end on the tiny demo cohort: planted defects caught, nothing identifying written."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pydicom")

from curation.modalities.imaging import _age_years
from curation.modalities.imaging._nodules import cohen_kappa, lung_rads


def _out(curated) -> Path:
    return Path(curated.ctx.bundle.root)


def test_every_planted_defect_is_caught(curated, demo_cohort) -> None:
    _, log, _ = demo_cohort
    out = _out(curated)
    failures = pd.read_parquet(out / "quality" / "failures" / "imaging.parquet")
    quarantine = pd.read_parquet(out / "quality" / "quarantine" / "imaging.parquet")
    assert len(log.defects) >= 6
    for d in log.defects:
        if d.expect.startswith("quarantine:"):
            reason = d.expect.split(":", 1)[1]
            hit = quarantine[(quarantine["reason"] == reason) & (quarantine["record"] == d.file_token)]
        else:
            hit = failures[(failures["check_id"] == d.expect) & (failures["pseudonym"] == d.pseudonym)]
        assert len(hit), f"{d.kind} ({d.expect}) not caught"


def test_ledger_balances_and_files_are_accounted_for(curated, demo_cohort) -> None:
    cohort, _, _ = demo_cohort
    led = curated.ledger
    assert led["balanced"].all()
    sites = [d for d in (cohort.parent / "raw" / "dicom").iterdir() if d.is_dir()]
    n_files = sum(1 for d in sites for p in d.rglob("*") if p.is_file())
    index = led[led["stage"] == "index"]
    assert index["n_in"].sum() == n_files
    assert (index["n_accepted"] + index["n_quarantined"] + index["n_excluded"]).sum() == n_files


def test_no_identifier_reaches_any_output(curated, demo_cohort) -> None:
    _, log, _ = demo_cohort
    idents = {i for i in log.identifiers if len(i) >= 4}
    assert idents
    out = _out(curated)
    texts = []
    for p in out.rglob("*.parquet"):
        texts.append(pd.read_parquet(p).astype(str).to_csv())
    blob = "\n".join(texts)
    # whole tokens only: an 8-digit admission number also occurs inside float digits by chance
    leaked = sorted(i for i in idents if re.search(rf"(?<![0-9A-Za-z]){re.escape(i)}(?![0-9A-Za-z])", blob))
    assert not leaked, f"{len(leaked)} identifier(s) in parquet outputs"
    for p in (out / "data" / "imaging" / "dicom").rglob("*"):
        if p.is_file():
            raw = p.read_bytes()
            bad = [i for i in idents if i.encode("utf-8") in raw]
            assert not bad, f"identifier in exported {p.name}"
    # and nothing raw identifies series or files
    inst = curated.data.tables["instances"]
    assert inst["sop_uid"].str.startswith("2.25.").all()
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(inst.columns)


def test_loaded_identifiers_cover_dicom_names_and_ids(curated, demo_cohort) -> None:
    from curation.deid.registry import Kind

    _, _, roster = demo_cohort
    ids = curated.data.identifiers
    assert set(roster["mrn"]) <= set(ids.values(Kind.mrn))
    assert set(roster["name"]) <= set(ids.values(Kind.name))  # the ideographic representation
    assert {p.replace("^", " ").lower() for p in roster["name_pinyin"]} <= set(ids.values(Kind.name))
    assert "李明" in ids.values(Kind.staff_name)  # the demo's ReferringPhysicianName
    assert ids.values(Kind.birth_date) and ids.values(Kind.accession)


def test_identifiers_hook_equals_what_load_notes(curated, demo_cohort) -> None:
    import curation.modalities as cm
    from curation.config import load_cohort
    from curation.modalities import imaging

    config = load_cohort(demo_cohort[0])
    reg = imaging.identifiers(cm.sources_of(config, "imaging"), ctx=cm.make_context(config))
    assert reg.values() == curated.data.identifiers.values()
    assert reg.sizes() == curated.data.identifiers.sizes()


def test_patient_characteristics_are_kept_and_linked(curated, demo_cohort) -> None:
    _, _, roster = demo_cohort
    s = curated.data.tables["series"]
    assert set(s["patient"]) <= set(roster["pseudonym"])
    assert s["age_years"].between(40, 90).all()
    assert set(s["smoking_status"]) <= {"YES", "NO", "UNKNOWN"}
    mismatch = roster.loc[roster["dicom_sex"].notna(), "pseudonym"].iloc[0]
    assert s.loc[s["patient"] == mismatch, "sex"].iloc[0] == "female"  # DICOM says F; the EMR says M


def test_export_has_a_regenerated_dicomdir_and_no_burned_in_series(curated) -> None:
    import pydicom
    from pydicom.fileset import FileSet

    root = _out(curated) / "data" / "imaging" / "dicom"
    burned = set(curated.data.tables["series"].query("burned_in_annotation")["patient"])
    exported = {p.name for p in root.iterdir() if p.is_dir()}
    assert exported and not burned & exported
    fs = FileSet(root / sorted(exported)[0] / "DICOMDIR")
    inst = fs.find(load=True)
    ds = inst[0].load()
    assert ds.PatientID == sorted(exported)[0]
    assert ds.get("PatientIdentityRemoved") == "YES"
    dicomdir = pydicom.dcmread(root / sorted(exported)[0] / "DICOMDIR")
    assert dicomdir.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.1.3.10"
    q = curated.quarantine
    assert (q.loc[q["stage"] == "export", "reason"] == "burned_in_annotation").sum() > 0


def test_image_checks_measure_the_phantom(curated) -> None:
    s = curated.data.tables["series"]
    assert (s["air_hu"] + 1000).abs().max() < 50
    assert s["water_hu"].abs().max() < 60
    assert s["noise_hu"].between(5, 30).all()
    verdicts = curated.checks.set_index("check_id")["verdict"]
    assert verdicts["imaging.accuracy.hu_air"] == "pass"
    assert verdicts["imaging.conformance.pixel_data"] == "pass"  # RLE (site B) decodes


def test_thumbnails_and_strip_withhold_burned_in_series(curated) -> None:
    from curation.modalities import imaging

    html = imaging.thumbnails_html(curated.data)
    s = curated.data.tables["series"]
    shown = s[~s["burned_in_annotation"]]
    assert html.count("data:image/png;base64,") == 2 * len(shown)
    assert "withheld" in html
    strip = imaging.slice_strip_html(curated.data)
    assert strip.count("<img") >= 3
    assert set(imaging.figures(curated.data, curated.results, ctx=curated.ctx))


def test_nodules_get_lung_rads_and_kappa(curated) -> None:
    nod = curated.data.tables["nodules"]
    assert len(nod) and nod["lung_rads"].isin(["2", "3", "4A", "4B"]).all()
    assert nod["reader"].str.startswith("RE").all()  # reader names are tokens too
    row = curated.checks.set_index("check_id").loc["imaging.consistency.reader_agreement"]
    assert "kappa" in row["message"]


@pytest.mark.parametrize(
    ("d", "kind", "cat"),
    [
        (4, "solid", "2"),
        (7, "solid", "3"),
        (10, "solid", "4A"),
        (20, "solid", "4B"),
        (5, "part-solid", "2"),
        (9, "part-solid", "3"),
        (25, "ground-glass", "2"),
        (31, "ground-glass", "3"),
    ],
)
def test_lung_rads(d: float, kind: str, cat: str) -> None:
    assert lung_rads(d, kind) == cat


def test_part_solid_uses_its_solid_component() -> None:
    assert lung_rads(12, "part-solid", 7) == "4A" and lung_rads(12, "part-solid", 9) == "4B"


def test_cohen_kappa_matches_sklearn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    a = ["2", "3", "3", "4A", "2", "2", "4B", "3"]
    b = ["2", "3", "4A", "4A", "2", "3", "4B", "3"]
    assert cohen_kappa(a, b) == pytest.approx(sk.cohen_kappa_score(a, b))


def test_age_helper() -> None:
    assert _age_years("063Y") == 63 and _age_years("006M") == 0.5 and pd.isna(_age_years("abc"))


def test_slice_viewer_pages_through_every_slice(curated) -> None:
    from curation.modalities import imaging

    s = curated.data.tables["series"]
    uid = s.loc[~s["burned_in_annotation"], "series_uid"].iloc[0]
    box = imaging.slice_viewer(curated.data, series_uid=uid)
    slider, image = box.children
    assert slider.max == int(s.set_index("series_uid").loc[uid, "n_instances"])
    first = image.value
    slider.value = 1
    assert image.value and image.value != first
    burned = s.loc[s["burned_in_annotation"], "series_uid"].iloc[0]
    assert "no series" in imaging.slice_viewer(curated.data, series_uid=burned).value


def test_bad_source_path_and_bad_nodule_file_name_the_fix(tmp_path: Path) -> None:
    import yaml

    import curation
    from curation.errors import ConfigError, SourceError

    (tmp_path / "k.key").write_text("ab" * 32)
    (tmp_path / "k.key").chmod(0o600)  # the run refuses a key file others can read
    (tmp_path / "dcm").mkdir()
    (tmp_path / "reads.csv").write_text("patient,series,diameter_mm\n1,2,3\n")

    def cohort(src: dict) -> Path:
        cfg = {"cohort": {"name": "t"}, "output": "out", "secret": {"file": "k.key"}, "sources": {"imaging": [src]}}
        (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(cfg))
        return tmp_path / "cohort.yaml"

    with pytest.raises(ConfigError, match=r"sources.imaging\[0\].path: 'nowhere' matches no file or folder"):
        curation.curate("imaging", cohort({"site": "A", "path": "nowhere", "format": "dicom"}), write=False)
    src = {"site": "A", "path": "dcm", "format": "dicom", "options": {"nodules": "reads.csv"}}
    with pytest.raises(SourceError, match=r"lacks column.*location, type, reader"):
        curation.curate("imaging", cohort(src), write=False)
