"""Series assembly and geometric QC from the (pseudonymized) instance index.

Slice geometry follows the usual volume-building rules: positions are projected on the normal of
ImageOrientationPatient (row x column cosines); steps between sorted positions should be equal;
a step that is about k times the typical one means k-1 missing slices; a zero step means two
slices at one position (not a volume); an angle between the normal and the direction through the
positions means a tilted gantry (the volume is sheared).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

# Sharp (lung / bone / edge-enhancing) reconstruction kernels by vendor; nodule measurement and
# Lung-RADS reading want one. Data, not logic: extend it when a site's scanner is missing.
LUNG_KERNEL = re.compile(
    r"^(?:B[5-9]\d|BL?5[5-9]|BR[5-9]\d|BR6\d|I[5-9]\d|HR?[5-9]\d|BL57|LUNG|BONE(?:PLUS)?|EDGE|SHARP|DETAIL"
    r"|Y[A-D]|L|LA|LB|LC|D|E|FC5[0-6]|FC8\d|FL0\d|LUNG[-_ ]?\w*)",
    re.IGNORECASE,
)
THIN_SLICE_MM = 2.5  # Lung-RADS / ACR: <= 2.5 mm, ideally <= 1 mm
TILT_TOLERANCE_DEG = 0.5
# nodule measurement (QIBA / Lung-RADS practice): in-plane pixels of at most ~1 mm on a 512 matrix; a
# 6 mm pixel (a scout, a PET-sized grid) cannot size a 4 mm nodule whatever the slice thickness
MAX_PIXEL_MM = 1.0
MIN_MATRIX = 512
SPACING_TOLERANCE = 0.05  # relative deviation of a step from the median step
SERIES_KEYS = ["patient", "site", "study_uid", "series_uid"]


def burned_in_refusal(value: object, sop: object, image_type: object, conversion: object = "") -> str:
    """Why the de-identified export refuses an instance for burned-in text ("" when it does not): the
    rule of :func:`curation.deid.dicom.check_burned_in`, on the header values of the index, so that the
    ``conformance.burned_in_annotation`` check and the export agree."""
    from ...deid.dicom import SECONDARY_CAPTURE

    v = str(value or "").strip().upper() if not pd.isna(value) else ""
    if v == "YES":
        return "BurnedInAnnotation YES: pixels may show identifiers; not exported"
    if v:
        return ""
    types = " ".join(image_type) if isinstance(image_type, list | tuple) else str(image_type or "")
    if str(sop or "") in SECONDARY_CAPTURE or str(conversion or "").upper() == "WSD" or "SCREEN" in types.upper():
        return (
            "BurnedInAnnotation missing on a secondary capture / screenshot: pixels may show identifiers; "
            "not exported (set it to NO only after checking the pixels)"
        )
    return ""


def _first(s: pd.Series) -> Any:
    s = s.dropna()
    return s.iloc[0] if len(s) else None


def _agg(s: pd.Series, how: str) -> float:
    """median / mean / max of the non-missing values; nan (without a warning) when there are none."""
    s = pd.to_numeric(s, errors="coerce").dropna()
    return float(getattr(s, how)()) if len(s) else float("nan")


def _first_of(v: Any) -> Any:
    return v[0] if isinstance(v, list | np.ndarray) and len(v) else None


def _mode(s: pd.Series) -> Any:
    s = s.dropna()
    return s.mode().iloc[0] if len(s) else None


def is_lung_kernel(kernel: object) -> bool:
    if kernel is None or (isinstance(kernel, float) and math.isnan(kernel)):
        return False
    return any(LUNG_KERNEL.match(k.strip()) for k in str(kernel).split("\\") if k.strip())


def geometry(ipp: list[Any], iop: list[Any]) -> dict[str, Any]:
    """Spacing, gaps, duplicates and tilt of one series' slices (lists aligned per instance)."""
    out: dict[str, Any] = {
        "n_positions": 0,
        "spacing_mm": np.nan,
        "spacing_cv": np.nan,
        "n_gaps": 0,
        "n_missing_slices": 0,
        "n_nonuniform_steps": 0,
        "n_duplicate_positions": 0,
        "tilt_deg": np.nan,
        "scan_length_mm": np.nan,
        "geometry": "unknown",
    }
    pairs = [
        (p, o)
        for p, o in zip(ipp, iop, strict=True)
        if isinstance(p, list | np.ndarray) and len(p) == 3 and isinstance(o, list | np.ndarray) and len(o) == 6
    ]
    if len(pairs) < 2:
        out["geometry"] = "single" if pairs else "unknown"
        return out
    orients = np.array([o for _, o in pairs], dtype=float)
    if np.ptp(orients, axis=0).max() > 1e-3:
        out["geometry"] = "mixed_orientation"
        return out
    row, col = orients[0][:3], orients[0][3:]
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm == 0:
        out["geometry"] = "invalid_orientation"
        return out
    normal = normal / norm
    pos = np.array([p for p, _ in pairs], dtype=float)
    d = np.sort(pos @ normal)
    steps = np.diff(d)
    out["n_positions"] = len(np.unique(np.round(d, 3)))
    out["n_duplicate_positions"] = int((steps < 1e-3).sum())
    out["scan_length_mm"] = float(d[-1] - d[0])
    nz = steps[steps >= 1e-3]
    if len(nz) == 0:
        out["geometry"] = "not_a_volume"
        return out
    # the typical step: the most frequent one (to 0.01 mm), so that a series whose spacing changes
    # half way is measured against its majority, not an in-between median; median when all differ
    vals, counts = np.unique(np.round(nz, 2), return_counts=True)
    med = float(vals[np.argmax(counts)]) if counts.max() > 1 else float(np.median(nz))
    out["spacing_mm"] = med
    out["spacing_cv"] = float(np.std(nz) / med) if med else np.nan
    ratio = nz / med
    gaps = ratio > 1.5
    out["n_gaps"] = int(gaps.sum())
    out["n_missing_slices"] = int(np.maximum(np.round(ratio[gaps]) - 1, 1).sum()) if gaps.any() else 0
    out["n_nonuniform_steps"] = int((np.abs(nz - med) > max(0.01, SPACING_TOLERANCE * med)).sum())
    # tilt: angle between the normal and the line through the first and last slice positions
    order = np.argsort(pos @ normal)
    through = pos[order[-1]] - pos[order[0]]
    length = np.linalg.norm(through)
    if length > 0:
        cosang = min(1.0, abs(float(through @ normal)) / float(length))
        out["tilt_deg"] = math.degrees(math.acos(cosang))
    out["geometry"] = "not_a_volume" if out["n_duplicate_positions"] else "volume"
    return out


def assemble_series(inst: pd.DataFrame) -> pd.DataFrame:
    """One row per (patient, study, series) with acquisition parameters and QC measures."""
    rows: list[dict[str, Any]] = []
    if inst.empty:
        return pd.DataFrame(columns=[*SERIES_KEYS, "n_instances"])
    for key, g in inst.groupby(SERIES_KEYS, sort=True, dropna=False):
        r: dict[str, Any] = dict(zip(SERIES_KEYS, key, strict=True))
        inum = g["instance_number"].dropna().astype("int64")
        r.update(
            {
                "modality": _mode(g["modality"]),
                "body_part": _mode(g["body_part"]),
                "series_number": _first(g["series_number"]),
                "n_instances": len(g),
                "n_missing_instance_numbers": int(inum.max() - inum.min() + 1 - inum.nunique()) if len(inum) else 0,
                "n_duplicate_instance_numbers": int(len(inum) - inum.nunique()),
                "n_without_instance_number": int(g["instance_number"].isna().sum()),
                "n_matrix_sizes": int(g[["rows", "columns"]].dropna().drop_duplicates().shape[0]),
                "rows": _mode(g["rows"]),
                "columns": _mode(g["columns"]),
                "slice_thickness_mm": _agg(g["slice_thickness"], "median"),
                "pixel_spacing_mm": _first(g["pixel_spacing"].map(_first_of)),
                "kvp": _agg(g["kvp"], "median"),
                "exposure_mas": _agg(g["exposure"], "median"),
                "kernel": _mode(g["kernel"]),
                "contrast_agent": _mode(g["contrast_agent"]),
                "manufacturer": _mode(g["manufacturer"]),
                "model": _mode(g["model"]),
                "study_date": g["study_date"].min(),
                "acquisition_date": g["acquisition_date"].min(),
                "gantry_tilt_tag_deg": _agg(g["gantry_tilt"].abs(), "max"),
                "ctdivol_mgy": _agg(g["ctdivol"], "mean"),
                "ctdivol_present": bool(g["ctdivol"].notna().all()),
                "burned_in_annotation": bool((g["burned_in_annotation"] == "YES").any()),
                **_burned_in(g),
                "transfer_syntax": _mode(g["transfer_syntax"]),
                "sex": _mode(g["sex"]),
                "age_years": _agg(g["age_years"], "median"),
                "birth_year": _mode(g["birth_year"]) if "birth_year" in g else None,
                "smoking_status": _mode(g["smoking_status"]),
            }
        )
        r.update(geometry(list(g["image_position"]), list(g["image_orientation"])))
        if r["n_positions"] <= 1 and len(g) > 1 and r["geometry"] == "unknown":
            r["geometry"] = "no_geometry"
        tilt_tag = r["gantry_tilt_tag_deg"]
        tilt = max(x for x in (r["tilt_deg"], tilt_tag, 0.0) if x is not None and not pd.isna(x))
        r["tilted"] = bool(tilt > TILT_TOLERANCE_DEG)
        thick = r["slice_thickness_mm"] if pd.notna(r["slice_thickness_mm"]) else 0.0
        length_cm = (r["scan_length_mm"] + thick) / 10 if pd.notna(r["scan_length_mm"]) else np.nan
        r["dlp_estimate_mgy_cm"] = round(r["ctdivol_mgy"] * length_cm, 2) if pd.notna(r["ctdivol_mgy"]) else np.nan
        r["ctdivol_mgy"] = round(r["ctdivol_mgy"], 3) if pd.notna(r["ctdivol_mgy"]) else np.nan
        r["lung_kernel"] = is_lung_kernel(r["kernel"])
        r["thin_slices"] = bool(pd.notna(r["slice_thickness_mm"]) and r["slice_thickness_mm"] <= THIN_SLICE_MM)
        problems = [
            name
            for name, bad in (
                ("not CT", r["modality"] != "CT"),
                ("thick slices", not r["thin_slices"]),
                ("no lung kernel", not r["lung_kernel"]),
                ("not a volume", r["geometry"] != "volume"),
                ("missing slices", r["n_missing_slices"] > 0),
                ("gantry tilt", r["tilted"]),
                ("no CTDIvol", not r["ctdivol_present"]),
                *_grid_problems(r),
            )
            if bad
        ]
        r["fit_for_nodule_measurement"] = not problems
        r["fitness_problems"] = ", ".join(problems)
        rows.append(r)
    return pd.DataFrame(rows)


def _burned_in(g: pd.DataFrame) -> dict[str, Any]:
    """The series' instances the export refuses for burned-in text: a flag, their number and the reason."""
    conv = g["conversion_type"] if "conversion_type" in g else pd.Series("", index=g.index)
    why = [
        burned_in_refusal(v, s, t, c)
        for v, s, t, c in zip(g["burned_in_annotation"], g["sop_class_uid"], g["image_type"], conv, strict=True)
    ]
    refused = [w for w in why if w]
    return {
        "burned_in_refused": bool(refused),
        "n_burned_in_refused": len(refused),
        "burned_in_reason": (f"{len(refused)} of {len(g)} instance(s): {refused[0]}" if refused else ""),
    }


def _grid_problems(r: dict[str, Any]) -> list[tuple[str, bool]]:
    """In-plane resolution and reconstruction matrix for nodule measurement."""
    px, rows, cols = r.get("pixel_spacing_mm"), r.get("rows"), r.get("columns")
    out = []
    if px is not None and pd.notna(px):
        out.append((f"pixels over {MAX_PIXEL_MM:g} mm ({float(px):.2f} mm)", float(px) > MAX_PIXEL_MM))
    if rows is not None and cols is not None and pd.notna(rows) and pd.notna(cols):
        out.append((f"matrix under {MIN_MATRIX} ({int(rows)}x{int(cols)})", min(int(rows), int(cols)) < MIN_MATRIX))
    return out
