"""Series geometry, and the real failing CT series flagged with the right reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("pydicom")

from curation.modalities.imaging._series import geometry, is_lung_kernel

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _geo(z: list[float], iop: list[float] = AXIAL, shear: float = 0.0) -> dict:
    ipp = [[0.0, shear * k, zk] for k, zk in enumerate(z)]
    return geometry(ipp, [iop] * len(z))


def test_uniform_volume() -> None:
    g = _geo([0, 2.5, 5, 7.5, 10])
    assert g["geometry"] == "volume" and g["spacing_mm"] == pytest.approx(2.5)
    assert g["n_missing_slices"] == 0 and g["n_nonuniform_steps"] == 0 and g["tilt_deg"] == pytest.approx(0)


def test_gap_counts_missing_slices() -> None:
    g = _geo([0, 2.5, 5, 12.5, 15])
    assert g["n_gaps"] == 1 and g["n_missing_slices"] == 2 and g["n_nonuniform_steps"] == 1


def test_spacing_change_is_nonuniform_not_missing() -> None:
    g = _geo([0, 2.5, 5, 8, 11])
    assert g["n_missing_slices"] == 0 and g["n_nonuniform_steps"] == 2


def test_same_position_is_not_a_volume() -> None:
    assert _geo([5, 5, 5, 5])["geometry"] == "not_a_volume"


def test_sheared_positions_mean_gantry_tilt() -> None:
    g = _geo([0, 5, 10, 15], shear=5 * np.tan(np.radians(15)))
    assert g["tilt_deg"] == pytest.approx(15, abs=0.01)


def test_mixed_orientation() -> None:
    ipp = [[0, 0, 0], [0, 0, 1]]
    assert geometry(ipp, [AXIAL, [1, 0, 0, 0, 0, -1]])["geometry"] == "mixed_orientation"


@pytest.mark.parametrize(
    ("kernel", "sharp"),
    [
        ("B70f", True),
        ("LUNG", True),
        ("FC52", True),
        ("YA", True),
        ("B40f", False),
        ("STANDARD", False),
        ("B", False),
        (None, False),
    ],
)
def test_lung_kernels(kernel: str | None, sharp: bool) -> None:
    assert is_lung_kernel(kernel) is sharp


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory):
    # module scope (one curate run for several tests), so the function-scoped real_data fixture's
    # lookup is repeated here
    real = Path(os.environ.get("CURATION_REAL_DATA", Path(__file__).resolve().parents[4] / "shared" / "data" / "real"))
    if not real.is_dir():
        pytest.skip(f"real sample data not found at {real} (set CURATION_REAL_DATA)")
    import curation

    root = tmp_path_factory.mktemp("real")
    (root / "k.key").write_text("cd" * 32)
    (root / "k.key").chmod(0o600)  # the run refuses a key file others can read
    srcs = [
        {"site": "R", "path": str(real / d), "format": "dicom", "options": {"export": True}}
        for d in ("tcia-lung-pet-ct-dx", "dicom2nifti-failing-ct", "suyashkumar-dicom-tcia")
    ]
    cfg = {"cohort": {"name": "real"}, "sources": {"imaging": srcs}, "output": "out", "secret": {"file": "k.key"}}
    (root / "cohort.yaml").write_text(yaml.safe_dump(cfg))
    return curation.curate("imaging", root / "cohort.yaml")


def _failing(run, check_id: str) -> set[int]:
    f = run.failures
    return set(f.loc[f["check_id"] == check_id, "row"])


def test_real_failing_series_flagged_with_their_reason(real_run) -> None:
    s = real_run.data.tables["series"]
    folder = {}  # which real folder each series came from, through the instance files' source
    inst = real_run.data.tables["instances"]
    for uid, g in inst.groupby("series_uid"):
        folder[uid] = g["source"].iloc[0]
    s = s.assign(src=s["series_uid"].map(folder), n=s["n_instances"])
    tcia = s[(s["src"] == "imaging[0]")]
    assert len(tcia) == 1 and tcia["n"].iloc[0] == 30 and tcia["geometry"].iloc[0] == "volume"
    assert tcia["n_missing_slices"].iloc[0] == 0
    assert abs(tcia["air_hu"].iloc[0] + 1000) < 50  # real scanner: air is calibrated
    d2n = s[s["src"] == "imaging[1]"].set_index("n_instances", drop=False)
    tilt_row = d2n.index[d2n["tilted"]].tolist()
    assert tilt_row, "the gantry-tilted series is not flagged"
    by_geo = dict(zip(s.index, s["geometry"], strict=True))
    not_vol = {i for i, g in by_geo.items() if g == "not_a_volume"}
    assert not_vol & _failing(real_run, "imaging.consistency.volume")
    assert _failing(real_run, "imaging.completeness.missing_slices") & set(s.index[s["src"] == "imaging[1]"])
    assert _failing(real_run, "imaging.consistency.gantry_tilt") == set(s.index[s["tilted"]])
    assert real_run.checks.set_index("check_id").loc["imaging.ledger_balanced", "verdict"] == "pass"


def test_real_export_writes_a_readable_dicomdir(real_run) -> None:
    from pydicom.fileset import FileSet

    out = Path(real_run.ctx.bundle.root) / "data" / "imaging" / "dicom"
    dirs = sorted(p for p in out.iterdir() if p.is_dir())
    assert dirs and all(p.name.startswith("PT") for p in dirs)
    fs = FileSet(dirs[0] / "DICOMDIR")
    assert len(fs) > 0
