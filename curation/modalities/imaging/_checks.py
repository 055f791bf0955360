"""Imaging checks: series-, image-, instance- and nodule-level rules (ids ``imaging.<dimension>.<name>``).

Each series check is one declaration: the series it applies to, the ones failing, the DICOM field and a
rule sentence per failing series (:func:`_per_series`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ...quality import Check, CheckResult, Dimension, Outcome, Severity, Threshold, failures, run
from ...quality.checks import ANY_ACCEPTED
from .._timeliness import check_imaging_study_age
from ..base import Context, ModalityData
from ._mrpet import MR_PET_CHECKS
from ._nodules import AGREEMENT, check_agreement

__all__ = ["IMAGE_CHECKS", "NO_SERIES", "READER_AGREEMENT", "SERIES_CHECKS", "check_required_tags", "checks"]

M = "imaging"
WARN = Threshold(0.0, 1.0)  # findings that describe fitness rather than broken data: warn at most

Rows = Callable[[pd.DataFrame], pd.Series]  # a mask or a rule per series


def _all(s: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=s.index)


def _img(s: pd.DataFrame) -> pd.Series:
    return s["rows"].notna() if "rows" in s else pd.Series(False, index=s.index)


def _multi(s: pd.DataFrame) -> pd.Series:
    return _img(s) & (s["n_instances"] > 1)


def _ct(s: pd.DataFrame) -> pd.Series:
    return _img(s) & (s["modality"] == "CT")


def _vol(s: pd.DataFrame) -> pd.Series:
    return _multi(s) & s["geometry"].isin(["volume", "not_a_volume"])


def _per_series(
    applies: Rows, failing: Rows, *, field: str, rule: str | Callable[[pd.DataFrame], pd.Series | list[str]]
) -> Callable[[ModalityData, Context], Outcome]:
    """A check over the series it ``applies`` to: the ``failing`` ones, each with its ``rule``."""

    def check(data: ModalityData, ctx: Context) -> Outcome:
        s = data.tables["series"]
        sel = s[applies(s).fillna(False).astype(bool)]
        bad = sel[failing(s).reindex(sel.index).fillna(False).astype(bool)]
        rules: str | pd.Series | list[str] = rule if isinstance(rule, str) else rule(s)
        if isinstance(rules, list):
            rules = pd.Series(rules, index=s.index)
        return Outcome(
            len(sel),
            failures=failures(
                bad,
                row=bad.index,
                field=field,
                rule=rules if isinstance(rules, str) else rules.reindex(bad.index).astype(str).tolist(),
            ),
        )

    return check


def check_required_tags(data: ModalityData, ctx: Context) -> Outcome:
    """Image instances need the tags that geometry and HU depend on."""
    inst = data.tables["instances"]
    need = {
        "image_position": "ImagePositionPatient",
        "image_orientation": "ImageOrientationPatient",
        "pixel_spacing": "PixelSpacing",
        "modality": "Modality",
    }
    img = inst[inst["rows"].notna()] if len(inst) else inst
    missing = {col: img[col].isna() for col in need if col in img}
    ct = img["modality"] == "CT" if len(img) else pd.Series(dtype=bool)
    missing["rescale_intercept"] = ct & img["rescale_intercept"].isna() if len(img) else ct
    need["rescale_intercept"] = "RescaleIntercept"
    frames, any_missing = [], pd.Series(False, index=img.index)
    for col, m in missing.items():
        m = m.fillna(False).astype(bool)
        any_missing |= m
        frames.append(
            failures(
                img, m, row=img.index[m.to_numpy()], field=need[col], rule=f"{need[col]} missing on an image instance"
            )
        )
    return Outcome(len(img), failures=frames, n_failed=int(any_missing.sum()))


C = Dimension
NO_SERIES = Check(
    "completeness.series",
    C.COMPLETENESS,
    lambda data, ctx: Outcome(0, message="no DICOM series indexed"),
    description="DICOM series indexed (not applicable when there is none)",
)
SERIES_CHECKS = (
    Check(
        "completeness.instance_number",
        C.COMPLETENESS,
        _per_series(
            _multi,
            lambda s: s["n_missing_instance_numbers"] > 0,
            field="InstanceNumber",
            rule=lambda s: s["n_missing_instance_numbers"].map(lambda n: f"{n} InstanceNumber(s) missing in the run"),
        ),
    ),
    Check(
        "uniqueness.instance_number",
        C.UNIQUENESS,
        _per_series(
            _multi,
            lambda s: s["n_duplicate_instance_numbers"] > 0,
            field="InstanceNumber",
            rule="InstanceNumber repeated within the series",
        ),
    ),
    Check(
        "completeness.missing_slices",
        C.COMPLETENESS,
        _per_series(
            _vol,
            lambda s: s["n_missing_slices"] > 0,
            field="ImagePositionPatient",
            rule=lambda s: s["n_missing_slices"].map(lambda n: f"gap along the slice normal: ~{n} slice(s) missing"),
        ),
    ),
    Check(
        "consistency.slice_spacing",
        C.CONSISTENCY,
        _per_series(
            _vol,
            lambda s: s["n_nonuniform_steps"] > 0,
            field="ImagePositionPatient",
            rule=lambda s: [
                f"{n} slice step(s) differ from {d:.2f} mm by >5%"
                for n, d in zip(s["n_nonuniform_steps"], s["spacing_mm"], strict=True)
            ],
        ),
    ),
    Check(
        "consistency.volume",
        C.CONSISTENCY,
        _per_series(
            _multi,
            lambda s: s["geometry"] != "volume",
            field="ImagePositionPatient",
            rule=lambda s: s["geometry"].map(lambda g: f"slices do not form a volume ({g})"),
        ),
    ),
    Check(
        "consistency.gantry_tilt",
        C.CONSISTENCY,
        _per_series(
            _vol,
            lambda s: s["tilted"],
            field="ImageOrientationPatient",
            rule="slice normal not along the scan direction (gantry tilt): resample before volumetric use",
        ),
    ),
    Check(
        "consistency.orientation",
        C.CONSISTENCY,
        _per_series(
            _multi,
            lambda s: s["geometry"] == "mixed_orientation",
            field="ImageOrientationPatient",
            rule="more than one orientation in one series",
        ),
    ),
    Check(
        "consistency.matrix",
        C.CONSISTENCY,
        _per_series(
            _multi,
            lambda s: s["n_matrix_sizes"] > 1,
            field="Rows/Columns",
            rule="more than one matrix size in one series",
        ),
    ),
    Check(
        "completeness.ctdivol",
        C.COMPLETENESS,
        _per_series(
            _ct,
            lambda s: ~s["ctdivol_present"],
            field="CTDIvol",
            rule="CTDIvol missing: dose (and DLP) of a screening CT cannot be audited",
        ),
        threshold=WARN,
        severity=Severity.MINOR,
    ),
    Check(
        "accuracy.nodule_fitness",
        C.ACCURACY,
        _per_series(
            lambda s: _ct(s) & (s["n_instances"] > 1),
            lambda s: ~s["fit_for_nodule_measurement"],
            field="SliceThickness/ConvolutionKernel",
            rule=lambda s: s["fitness_problems"].map(lambda p: f"not fit for nodule measurement: {p}"),
        ),
        threshold=WARN,
        severity=Severity.INFO,
    ),
    Check(
        "conformance.burned_in_annotation",
        C.CONFORMANCE,
        _per_series(  # the export's own rule (_series.py)
            _img, lambda s: s["burned_in_refused"], field="BurnedInAnnotation", rule=lambda s: s["burned_in_reason"]
        ),
        severity=Severity.CRITICAL,
    ),
    Check(
        "completeness.patient_id",
        C.COMPLETENESS,
        _per_series(
            _all,
            lambda s: s["patient"] == "",
            field="PatientID",
            rule="no PatientID: the series cannot be linked to a patient",
        ),
    ),
    Check(
        "conformance.required_tags",
        C.CONFORMANCE,
        check_required_tags,
        description="image instances carry the tags geometry and HU depend on",
    ),
    Check(
        "plausibility.study_date",
        C.ACCURACY,
        _per_series(
            _all,
            lambda s: s["study_date"].isna() | (s["age_years"] < 0),
            field="StudyDate",
            rule="StudyDate missing or before birth",
        ),
    ),
    Check(
        "timeliness.study_age",
        C.TIMELINESS,
        check_imaging_study_age,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="imaging study at most timeliness.imaging_study_days before the patient's diagnosis (cohort.yaml)",
    ),
)
# when slices were decoded (source option image_qc)
IMAGE_CHECKS = (
    Check(
        "conformance.pixel_data",
        C.CONFORMANCE,
        _per_series(
            lambda s: s["n_sampled"].notna(),
            lambda s: s["n_decode_failed"] > 0,
            field="PixelData",
            rule="sampled slice(s) do not decode (corrupt stream or missing codec)",
        ),
    ),
    Check(
        "accuracy.hu_air",
        C.ACCURACY,
        _per_series(
            lambda s: _ct(s) & s["air_hu"].notna(),
            lambda s: (s["air_hu"] + 1000).abs() > 50,
            field="RescaleIntercept",
            rule=lambda s: s["air_hu"].map(lambda v: f"air at {v:.0f} HU, expected -1000 +/- 50"),
        ),
    ),
    Check(
        "accuracy.hu_water",
        C.ACCURACY,
        _per_series(
            lambda s: _ct(s) & s["water_hu"].notna(),
            lambda s: s["water_hu"].abs() > 60,
            field="RescaleSlope",
            rule=lambda s: s["water_hu"].map(lambda v: f"water-like peak at {v:.0f} HU, expected 0 +/- 60"),
        ),
        threshold=WARN,
    ),
    Check(
        "accuracy.noise",
        C.ACCURACY,
        _per_series(
            lambda s: _ct(s) & s["noise_hu"].notna(),
            lambda s: s["noise_hu"] > 60,
            field="PixelData",
            rule=lambda s: s["noise_hu"].map(lambda v: f"noise {v:.0f} HU in air > 60 HU"),
        ),
        threshold=WARN,
    ),
    Check(
        "accuracy.empty_image",
        C.ACCURACY,
        _per_series(
            lambda s: s["n_sampled"].notna(),
            lambda s: s["n_constant"] > 0,
            field="PixelData",
            rule="sampled slice(s) are empty or constant",
        ),
    ),
)
READER_AGREEMENT = Check(
    AGREEMENT,
    C.CONSISTENCY,
    check_agreement,
    threshold=Threshold(0.2, 0.4),
    severity=Severity.MINOR,
    description="two readers' Lung-RADS categories agree (kappa)",
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    """Series-, image-, instance- and nodule-level checks (ids ``imaging.<dimension>.<name>``)."""
    s = data.tables["series"]
    if s.empty:  # nothing indexed: every series check is not applicable, and nothing accepted fails
        return run([ANY_ACCEPTED, NO_SERIES], data, ctx, modality=M, thresholds=ctx.thresholds)
    todo = [
        ANY_ACCEPTED,
        *SERIES_CHECKS,
        *MR_PET_CHECKS,
        *(IMAGE_CHECKS if "n_sampled" in s.columns else ()),
        *((READER_AGREEMENT,) if len(data.tables["nodules"]) else ()),
    ]
    return run(todo, data, ctx, modality=M, thresholds=ctx.thresholds)
