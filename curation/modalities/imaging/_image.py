"""Image-level QC on a few slices per series: HU calibration, noise, empty images, thumbnails.

Pixels are decoded by pydicom's pixel handlers (pylibjpeg for JPEG, JPEG-LS and JPEG 2000; numpy
for RLE and uncompressed), in the same isolated worker processes as the header index, since a
decoder can crash on a malformed stream. Thumbnails are small PNGs (base64) for the notebook; they
are kept in memory only and withheld for series flagged BurnedInAnnotation = YES.
"""

from __future__ import annotations

import base64
import io
import warnings
import zipfile
from typing import Any

import numpy as np

from ._walk import FileRef, _opener

SAMPLE_SLICES = 5
THUMB_PX = 96
LUNG_WINDOW = (-600.0, 1500.0)
MEDIASTINAL_WINDOW = (40.0, 400.0)
AIR_HU = -1000.0
OUTSIDE_FOV_HU = -1500.0  # scanners pad outside the reconstruction circle with -2000 / -3024


def hu_array(ds: Any) -> np.ndarray:
    """First frame of a dataset in Hounsfield units (modality LUT: slope and intercept)."""
    arr = ds.pixel_array
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[0]
    if samples > 1 and arr.ndim == 3:  # colour (secondary capture): QC its luminance
        arr = arr.mean(axis=-1)
    if arr.ndim != 2:
        raise ValueError(f"unexpected pixel array shape {arr.shape}")
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return arr.astype(np.float32) * slope + intercept


def slice_stats(hu: np.ndarray) -> dict[str, Any]:
    """Air level, water level (when a near-water peak exists), noise, and constancy of one slice."""
    flat = hu.ravel()
    fov = flat[flat > OUTSIDE_FOV_HU]
    out: dict[str, Any] = {
        "constant": bool(flat.size == 0 or float(flat.max()) == float(flat.min())),
        "hu_min": float(flat.min()) if flat.size else np.nan,
        "hu_max": float(flat.max()) if flat.size else np.nan,
        "air_hu": np.nan,
        "water_hu": np.nan,
        "noise_hu": np.nan,
    }
    if fov.size < 16 or out["constant"]:
        return out
    low = np.sort(fov)[: max(8, fov.size // 100)]  # darkest 1 % of the field of view: air
    air = float(np.median(low))
    out["air_hu"] = air
    band = fov[np.abs(fov - air) <= 150]
    if band.size >= 16:
        mad = float(np.median(np.abs(band - np.median(band))))
        out["noise_hu"] = 1.4826 * mad
    near = fov[(fov >= -100) & (fov <= 100)]
    if near.size >= max(16, fov.size // 200):
        hist, edges = np.histogram(near, bins=40, range=(-100, 100))
        peak = int(np.argmax(hist))
        out["water_hu"] = float((edges[peak] + edges[peak + 1]) / 2)
    return out


def png_b64(hu: np.ndarray, window: tuple[float, float], *, size: int = THUMB_PX) -> str:
    """A small grayscale PNG of ``hu`` shown through ``window`` (center, width), base64."""
    from PIL import Image

    center, width = window
    lo = center - width / 2
    img = np.clip((hu - lo) / width * 255.0, 0, 255).astype(np.uint8)
    pil = Image.fromarray(img)
    pil.thumbnail((size, size))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def read_hu(ref: FileRef, zips: dict[str, zipfile.ZipFile]) -> np.ndarray:
    import pydicom

    opener, _ = _opener(ref, zips)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warnings can quote raw values
        with opener() as fh:
            ds = pydicom.dcmread(fh)
            return hu_array(ds)


def image_chunk(refs: list[FileRef]) -> list[dict[str, Any]]:
    """Worker: decode each sampled slice, measure it and render its thumbnails; never raises."""
    zips: dict[str, zipfile.ZipFile] = {}
    rows = []
    try:
        for ref in refs:
            row: dict[str, Any] = {"relpath": ref.relpath, "ok": False, "reason": "", "detail": ""}
            try:
                hu = read_hu(ref, zips)
                row.update(slice_stats(hu))
                row["thumb_lung"] = png_b64(hu, LUNG_WINDOW)
                row["thumb_mediastinal"] = png_b64(hu, MEDIASTINAL_WINDOW)
                row["ok"] = True
            except Exception as exc:  # noqa: BLE001 - a slice that does not decode is a finding, not a crash
                row.update(reason="pixel_decode_failed", detail=type(exc).__name__)
            rows.append(row)
    finally:
        for zf in zips.values():
            zf.close()
    return rows


def sample_positions(n: int, k: int = SAMPLE_SLICES) -> list[int]:
    """Indices of ``k`` evenly spaced slices of ``n`` (middle slice included)."""
    if n <= k:
        return list(range(n))
    idx = sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()) | {n // 2})
    return idx
