"""MR and PET series QC: what the header index does not read, from one instance per series.

MR: field strength, sequence type, echo and repetition time, in-plane resolution and slice thickness,
and the b-values of a diffusion series. PET: what a standardized uptake value needs (radiopharmaceutical
or radionuclide, injected dose, injection time, half-life, patient weight, decay correction, units
BQML) and, when all of it is there, the SUVbw factor of the series (g/ml per Bq/ml: weight / decayed
dose), the QIBA / PERCIST definition.

The fast header reader reads top-level elements only; the radiopharmaceutical sequence and vendor
b-value tags are nested or private, so the first instance of each MR and PET series is read again
with pydicom (``stop_before_pixels``): one file per series, in the parent process.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...quality import Check, Dimension, Outcome, Severity, Threshold, failures

if TYPE_CHECKING:
    from ..base import Context, ModalityData
    from ._walk import FileRef

__all__ = ["MR_PET_CHECKS", "mr_pet_series", "suvbw_factor"]

MR_MAX_PIXEL_MM = 2.0  # coarser in-plane pixels than this: not diagnostic for most MR protocols
MR_MAX_SLICE_MM = 6.0
DIFFUSION = re.compile(r"DIFFUSION|ADC|TRACEW|\bDWI\b|ep_b\d|ep2d_diff|\bb\d{2,4}\b", re.IGNORECASE)
# b-value: the standard attribute, then Siemens (0019,100C) and GE (0043,1039, first value) private tags
B_TAGS = ((0x0018, 0x9087), (0x0019, 0x100C), (0x0043, 0x1039))
SUV_UNITS = ("BQML",)
DECAY = ("START", "ADMIN")


def _read(ref: FileRef) -> Any:
    import pydicom

    from ._walk import _opener

    zips: dict[str, Any] = {}
    try:
        opener, _ = _opener(ref, zips)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warnings quote raw values
            with opener() as fh:
                return pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    finally:
        for zf in zips.values():
            zf.close()


def _num(v: Any) -> float:
    try:
        return float(v[0] if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue" else v)
    except (TypeError, ValueError, IndexError):
        return float("nan")


def _seconds(t: Any) -> float:
    """DICOM TM (HHMMSS.frac) in seconds after midnight; NaN when absent or malformed."""
    s = str(t or "").strip()
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", s)
    if not m:
        return float("nan")
    h, mi, se, frac = m.groups()
    return int(h) * 3600 + int(mi or 0) * 60 + int(se or 0) + float(frac or 0)


def _mr(ds: Any, row: dict[str, Any]) -> dict[str, Any]:
    text = " ".join(
        str(x) for x in [*(ds.get("ImageType") or []), ds.get("SequenceName", ""), ds.get("ScanningSequence", "")]
    )
    diffusion = bool(DIFFUSION.search(text))
    b = next((v for tag in B_TAGS if np.isfinite(v := _num(ds[tag].value if tag in ds else None))), float("nan"))
    out: dict[str, Any] = {
        "field_strength_t": _num(ds.get("MagneticFieldStrength")),
        "scanning_sequence": "\\".join(map(str, ds.get("ScanningSequence") or []))
        or str(ds.get("ScanningSequence") or ""),
        "echo_time_ms": _num(ds.get("EchoTime")),
        "repetition_time_ms": _num(ds.get("RepetitionTime")),
        "diffusion": diffusion,
        "b_value": b,
    }
    px, thick = row.get("pixel_spacing_mm"), row.get("slice_thickness_mm")
    problems = [
        what
        for what, bad in (
            ("field strength missing", not np.isfinite(out["field_strength_t"])),
            ("sequence type missing", not out["scanning_sequence"]),
            ("echo time missing", not np.isfinite(out["echo_time_ms"])),
            ("repetition time missing", not np.isfinite(out["repetition_time_ms"])),
            ("diffusion series without b-value", diffusion and not np.isfinite(b)),
            ("in-plane resolution unknown", px is None or pd.isna(px)),
            (f"pixels over {MR_MAX_PIXEL_MM:g} mm", px is not None and pd.notna(px) and float(px) > MR_MAX_PIXEL_MM),
            (
                f"slices over {MR_MAX_SLICE_MM:g} mm",
                thick is not None and pd.notna(thick) and float(thick) > MR_MAX_SLICE_MM,
            ),
        )
        if bad
    ]
    return {**out, "mr_problems": ", ".join(problems)}


def suvbw_factor(
    *, weight_kg: float, dose_bq: float, half_life_s: float, injection_s: float, start_s: float, decay: str
) -> float:
    """SUVbw per Bq/ml: weight (g) over the injected dose decayed to the image's reference time.

    ``decay`` START: the image is decay-corrected to the series start (``start_s``), so the dose is
    decayed from injection to then; ADMIN: corrected to the injection, no decay. Times in seconds after
    midnight (an injection later than the start is taken as the day before).
    """
    if decay == "ADMIN":
        return weight_kg * 1000 / dose_bq
    delta = start_s - injection_s
    if delta < 0:
        delta += 86400
    return weight_kg * 1000 / (dose_bq * math.pow(2.0, -delta / half_life_s))


def _pet(ds: Any) -> dict[str, Any]:
    seq = ds.get("RadiopharmaceuticalInformationSequence") or []
    r = seq[0] if len(seq) else {}
    get = r.get if hasattr(r, "get") else (lambda *_: None)
    named = bool(
        get("Radiopharmaceutical") or get("RadiopharmaceuticalCodeSequence") or get("RadionuclideCodeSequence")
    )
    start_dt = str(get("RadiopharmaceuticalStartDateTime") or "")
    injection = _seconds(get("RadiopharmaceuticalStartTime") or (start_dt[8:] if len(start_dt) > 8 else ""))
    out: dict[str, Any] = {
        "radiopharmaceutical_named": named,
        "injected_dose_bq": _num(get("RadionuclideTotalDose")),
        "half_life_s": _num(get("RadionuclideHalfLife")),
        "injection_time_s": injection,
        "patient_weight_kg": _num(ds.get("PatientWeight")),
        "decay_correction": str(ds.get("DecayCorrection") or ""),
        "units": str(ds.get("Units") or ""),
        "series_time_s": _seconds(ds.get("SeriesTime") or ds.get("AcquisitionTime")),
    }
    missing = [
        what
        for what, bad in (
            ("radiopharmaceutical", not named),
            ("injected dose", not (out["injected_dose_bq"] > 0)),
            ("injection time", not np.isfinite(injection)),
            ("half-life", not (out["half_life_s"] > 0)),
            ("patient weight", not (out["patient_weight_kg"] > 0)),
            ("decay correction START or ADMIN", out["decay_correction"] not in DECAY),
            ("units BQML", out["units"] not in SUV_UNITS),
            ("series time", out["decay_correction"] == "START" and not np.isfinite(out["series_time_s"])),
        )
        if bad
    ]
    factor = float("nan")
    if not [m for m in missing if m != "radiopharmaceutical"]:
        factor = suvbw_factor(
            weight_kg=out["patient_weight_kg"],
            dose_bq=out["injected_dose_bq"],
            half_life_s=out["half_life_s"],
            injection_s=injection,
            start_s=out["series_time_s"],
            decay=out["decay_correction"],
        )
    return {**out, "suvbw_factor": factor, "suv_missing": ", ".join(missing)}


def mr_pet_series(series: pd.DataFrame, inst: pd.DataFrame, refs: dict[str, FileRef]) -> pd.DataFrame:
    """The series table with MR and PET columns (``mr_problems``, ``suv_missing``, ``suvbw_factor`` ...)
    for its MR and PT series; other series keep NaN / empty values."""
    if series.empty or "modality" not in series:
        return series
    rows = []
    for _, r in series[series["modality"].isin(["MR", "PT"])].iterrows():
        files = inst.loc[inst["series_uid"] == r["series_uid"], "file"]
        if files.empty or files.iloc[0] not in refs:
            continue
        try:
            ds = _read(refs[files.iloc[0]])
        except Exception:  # noqa: BLE001 - a header read once already; the index's checks report the file
            continue
        extra = _mr(ds, r.to_dict()) if r["modality"] == "MR" else _pet(ds)
        rows.append({"series_uid": r["series_uid"], **extra})
    if not rows:
        return series
    return series.merge(pd.DataFrame(rows), on="series_uid", how="left")


def _series_check(modality: str, column: str, field: str, what: str) -> Any:
    def check(data: ModalityData, ctx: Context) -> Outcome:
        s = data.tables["series"]
        if column not in s or "modality" not in s:
            return Outcome(0, message=f"no {modality} series")
        sel = s[(s["modality"] == modality) & s[column].notna()]
        bad = sel[sel[column].astype(str) != ""]
        return Outcome(
            len(sel), failures=failures(bad, row=bad.index, field=field, rule=[f"{what}: {p}" for p in bad[column]])
        )

    return check


MR_PET_CHECKS = (
    Check(
        "completeness.mr_parameters",
        Dimension.COMPLETENESS,
        _series_check("MR", "mr_problems", "MagneticFieldStrength/ScanningSequence/EchoTime", "MR series"),
        threshold=Threshold(0.0, 1.0),
        severity=Severity.MINOR,
        description="MR series with field strength, sequence type, echo and repetition time, b-values of a "
        "diffusion series, in-plane resolution <= 2 mm and slices <= 6 mm",
    ),
    Check(
        "completeness.pet_suv",
        Dimension.COMPLETENESS,
        _series_check(
            "PT",
            "suv_missing",
            "RadiopharmaceuticalInformationSequence/PatientWeight/Units",
            "SUV cannot be computed, missing",
        ),
        severity=Severity.MAJOR,
        description="PET series carry what SUVbw needs (radiopharmaceutical, dose, injection time, half-life, "
        "weight, decay correction, units BQML); the factor is in the series table",
    ),
)
