"""Imaging (DICOM): fast header index, series QC, image QC, nodule reads, de-identified export.

``load`` walks each source (folder, DICOMDIR or .zip), parses headers only in isolated worker
processes and sets aside every file that cannot be used (quarantine with a reason code). The
same header pass gives every raw identifier (names in every PN representation, staff names from
every PN element at any depth, IDs, accession numbers, birth dates, folder and file names):
``identifiers`` returns them without reading any pixel, and ``load`` notes the same in
``data.identifiers``. ``standardize`` pseudonymizes (patient, UIDs, file names, dates), keeps the
patient characteristics PS3.15 allows (sex, age, smoking status), scrubs header text with the
cohort's scrubber, assembles series and measures a few sampled slices per series. ``checks`` turn
series and images into check results; ``write`` writes instances.parquet, series.parquet,
nodules.parquet and, when a source asks for it (``options: {export: true}``), a de-identified
DICOM copy (descriptions scrubbed with the cohort's scrubber) with a regenerated DICOMDIR.

Source options (:class:`~._options.ImagingOptions`): ``export`` (bool), ``nodules`` (CSV path
relative to cohort.yaml), ``jobs`` (worker processes, default 2), ``chunk_size`` (files per worker
task), ``image_qc`` (bool, default true).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import MissingDependency, SourceError
from ...io.dates import day_span
from ...quality import CheckResult
from ...security.consent import exclude_withdrawn, without_withdrawn
from ..base import Context, ModalityData, ModalitySpec, Source
from ._mrpet import mr_pet_series
from ._options import ImagingOptions

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ...deid.registry import IdentifierRegistry
    from ._walk import FileRef

from ._checks import IMAGE_CHECKS, READER_AGREEMENT, SERIES_CHECKS, check_required_tags, checks
from ._decide import exclude, relabel
from ._display import series_overview, slice_strip_html, slice_viewer, thumbnails_html
from ._nodules import check_agreement, reader_agreement

__all__ = [
    "IMAGE_CHECKS",
    "READER_AGREEMENT",
    "SERIES_CHECKS",
    "SPEC",
    "check_agreement",
    "check_required_tags",
    "checks",
    "exclude",
    "figures",
    "identifiers",
    "load",
    "reader_agreement",
    "relabel",
    "scrub_text",
    "series_overview",
    "slice_strip_html",
    "slice_viewer",
    "standardize",
    "thumbnails_html",
    "write",
]

SPEC = ModalitySpec(
    name="imaging",
    label="Imaging (DICOM)",
    formats=("dicom", "dicomdir", "zip"),
    notebook="imaging.ipynb",
    outputs=("parquet", "dicom"),
    extra="imaging",
    order=60,
    options=ImagingOptions,
    needs=("clinical",),  # its diagnosis dates, for timeliness.study_age
    description="CT/PET/MR DICOM: header index, series and image QC, nodule reads, de-identified copy",
)
M = "imaging"

# raw field -> output column of the instance table
_COLUMNS = {
    "SOPClassUID": "sop_class_uid",
    "TransferSyntaxUID": "transfer_syntax",
    "Modality": "modality",
    "BodyPartExamined": "body_part",
    "ImageType": "image_type",
    "SeriesNumber": "series_number",
    "InstanceNumber": "instance_number",
    "ImagePositionPatient": "image_position",
    "ImageOrientationPatient": "image_orientation",
    "SliceThickness": "slice_thickness",
    "PixelSpacing": "pixel_spacing",
    "Rows": "rows",
    "Columns": "columns",
    "NumberOfFrames": "number_of_frames",
    "SamplesPerPixel": "samples_per_pixel",
    "PhotometricInterpretation": "photometric",
    "BitsAllocated": "bits_allocated",
    "PixelRepresentation": "pixel_representation",
    "KVP": "kvp",
    "Exposure": "exposure",
    "ExposureTime": "exposure_time",
    "XRayTubeCurrent": "tube_current",
    "ConvolutionKernel": "kernel",
    "ContrastBolusAgent": "contrast_agent",
    "Manufacturer": "manufacturer",
    "ManufacturerModelName": "model",
    "CTDIvol": "ctdivol",
    "GantryDetectorTilt": "gantry_tilt",
    "BurnedInAnnotation": "burned_in_annotation",
    "WindowCenter": "window_center",
    "WindowWidth": "window_width",
    "RescaleIntercept": "rescale_intercept",
    "RescaleSlope": "rescale_slope",
    "PatientSex": "patient_sex",
    "SmokingStatus": "smoking_status",
}
_DATES = {"StudyDate": "study_date", "SeriesDate": "series_date", "AcquisitionDate": "acquisition_date"}
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate")
UID_FIELDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
TOP_AGE = 90


def _require() -> None:
    try:
        import pydicom  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("pydicom", "imaging") from exc


# --- load -------------------------------------------------------------------------------------

Sources = list[Source[ImagingOptions]]


def _index_sources(
    sources: Sources, *, ctx: Context
) -> list[tuple[Source[ImagingOptions], list[FileRef], list[dict[str, Any]]]]:
    """Walk each source and parse every file's header (the one header pass of load and identifiers)."""
    from ._index import index_refs
    from ._walk import walk_source

    out = []
    for src in sources:
        if not src.files:
            msg = (
                f"{src.key}: path {src.config.path!r} matches nothing; fix sources.imaging path in "
                f"{ctx.config.path.name} (relative to it)"
            )
            raise SourceError(msg)
        refs = [ref for root in src.files for ref in walk_source(root, src.config.format)]
        parsed = index_refs(refs, jobs=src.options.jobs, chunk_size=src.options.chunk_size)
        out.append((src, refs, parsed))
    return out


def _source_identifiers(refs: list[FileRef], parsed: list[dict[str, Any]], *, ctx: Context) -> IdentifierRegistry:
    from ._identifiers import source_identifiers

    return source_identifiers(refs, parsed, detect_names=ctx.config.privacy.detect_names)


def identifiers(sources: Sources, *, ctx: Context) -> IdentifierRegistry:
    """Every raw identifier of the sources, from one header pass (no pixels): what ``load`` notes.

    Patient names (every PN representation), PatientID, OtherPatientIDs and nested PatientIDs
    (OtherPatientIDsSequence), birth dates, accession numbers, StudyID, addresses and phones, every
    other person name (PN) at any sequence depth as a staff name, and the folder, archive and file
    names that name or identify somebody (:mod:`._identifiers`). Memory only; never written.
    """
    from ...deid.registry import IdentifierRegistry

    _require()
    reg = IdentifierRegistry()
    for _, refs, parsed in _index_sources(sources, ctx=ctx):
        reg.merge(_source_identifiers(refs, parsed, ctx=ctx))
    return reg


def load(sources: Sources, *, ctx: Context) -> ModalityData:
    """Index every file of every source (headers only); unusable files go to quarantine."""
    _require()
    from ._fastheader import IDENTIFIERS
    from ._walk import MEDIA_STORAGE_DIRECTORY

    data = ModalityData(M)
    data.objects.update(refs={}, sources={})
    rows: list[dict[str, Any]] = []
    for src, refs, parsed in _index_sources(sources, ctx=ctx):
        data.identifiers.merge(_source_identifiers(refs, parsed, ctx=ctx))
        data.objects["sources"][src.key] = {"site": src.site, "options": src.options}
        q: Counter[str] = Counter()
        excluded: Counter[str] = Counter()
        accepted = 0
        for ref, row in zip(refs, parsed, strict=True):
            token = ctx.keyring.token("file", ref.relpath)
            fields = {k: v for k, v in (row["fields"] or {}).items() if k != IDENTIFIERS}
            reason = row["reason"]
            sop_classes = (fields.get("SOPClassUID"), fields.get("MediaStorageSOPClassUID"))
            if row["ok"] and MEDIA_STORAGE_DIRECTORY in sop_classes:
                excluded["dicomdir"] += 1
                continue
            if row["ok"] and (gone := [k for k in UID_FIELDS if not fields.get(k)]):  # name the UID(s)
                reason, row = (
                    "missing_uid",
                    {
                        **row,
                        "detail": f"{', '.join(gone)} missing: the file cannot be "
                        "placed in a study and series; re-export it",
                    },
                )
            if reason or not row["ok"]:
                reason = reason or "unreadable"
                data.quarantine.add(
                    stage="index", source=src.key, record=token, reason=reason, field="(file)", detail=row["detail"]
                )
                q[reason] += 1
                continue
            data.objects["refs"][token] = ref
            rows.append(
                {
                    **fields,
                    "x_source": src.key,
                    "x_site": src.site,
                    "x_file": token,
                    "x_relpath": ref.relpath,
                    "x_parse_path": row["path"],
                    "x_size": row["size"],
                }
            )
            accepted += 1
        data.ledger.record(
            "index", source=src.key, n_in=len(refs), n_accepted=accepted, quarantined=dict(q), excluded=dict(excluded)
        )
    # consent withdrawn: the patient's files stop here (counted in the ledger), never indexed nor exported
    raw = exclude_withdrawn(
        pd.DataFrame(rows), data=data, ctx=ctx, id_col="PatientID", site_col="x_site", source_col="x_source"
    )
    data.objects["raw"] = _dedup(raw, data)
    return data


def _dedup(raw: pd.DataFrame, data: ModalityData) -> pd.DataFrame:
    """Second and later files with an already seen SOPInstanceUID go to quarantine."""
    if raw.empty:
        return raw
    dup = raw.duplicated("SOPInstanceUID", keep="first")
    for r in raw[dup].itertuples():
        data.quarantine.add(
            stage="dedup",
            source=r.x_source,
            record=r.x_file,
            reason="duplicate_sop_instance_uid",
            field="SOPInstanceUID",
            detail="another file of the export has this SOPInstanceUID",
        )
    for src, g in raw.groupby("x_source"):
        n_dup = int(dup[g.index].sum())
        data.ledger.record(
            "dedup",
            source=str(src),
            n_in=len(g),
            n_accepted=len(g) - n_dup,
            quarantined={"duplicate_sop_instance_uid": n_dup} if n_dup else {},
        )
    return raw[~dup].reset_index(drop=True)


# --- standardize ------------------------------------------------------------------------------


def _age_years(age: object) -> float:
    """DICOM AS ('063Y', '006M', '012W', '030D') in years."""
    if not isinstance(age, str) or len(age) < 2 or not age[:-1].strip().isdigit():
        return float("nan")
    n = int(age[:-1])
    return {"Y": n, "M": n / 12, "W": n / 52.18, "D": n / 365.25}.get(age[-1].upper(), float("nan"))


def _dicom_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.astype("string").str.slice(0, 8), format="%Y%m%d", errors="coerce")


def standardize(data: ModalityData, *, ctx: Context) -> ModalityData:
    """Pseudonymize, assemble series, measure sampled slices, read nodule CSVs."""
    from ._series import assemble_series

    raw: pd.DataFrame = data.objects.pop("raw")
    data.tables["instances"] = inst = scrub_text(_instances(raw, ctx=ctx), ctx=ctx)
    series = assemble_series(inst)
    opts_by_source = data.objects["sources"]
    want_images = any(o["options"].image_qc for o in opts_by_source.values())
    if want_images and not inst.empty:
        series = _measure_images(series, inst, data)
    data.tables["series"] = _tidy_types(mr_pet_series(series, inst, data.objects["refs"]))  # MR, PET SUV
    data.tables["instances"] = _tidy_types(inst)
    data.tables["nodules"] = scrub_text(_read_nodule_sources(data, ctx=ctx), ctx=ctx)
    data.standardized = True
    return data


# columns this module makes (pseudonyms, tokens, remapped UIDs, codes it assigns): not source text
_OWN_COLUMNS = frozenset(
    {
        "patient",
        "site",
        "source",
        "file",
        "study_uid",
        "series_uid",
        "sop_uid",
        "sex",
        "parse_path",
        "type",
        "reader",
        "lung_rads",
    }
)
_UID_COLUMNS = frozenset({"sop_class_uid", "transfer_syntax"})
_UID_VALUE = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def scrub_text(df: pd.DataFrame, *, ctx: Context) -> pd.DataFrame:
    """Every text column that comes from a source, through the cohort's scrubber (when the run has one).

    Header values nobody thinks of as free text (BodyPartExamined, ConvolutionKernel,
    ContrastBolusAgent, ManufacturerModelName, a nodule's location) are typed by hand at the
    scanner or in a reading tool and can hold a name. Class UIDs stay as they are when they are
    UIDs; anything else in them is text.
    """
    scrubber = ctx.scrubber
    if scrubber is None or df.empty:
        return df
    out = df.copy()
    for col in out.columns:
        if col in _OWN_COLUMNS or not (out[col].dtype == object or pd.api.types.is_string_dtype(out[col])):
            continue
        values = out[col]
        if not values.map(lambda v: v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v))).all():
            continue  # lists (positions, spacings) and numbers
        text = values.notna()
        if col in _UID_COLUMNS:
            text &= ~values.astype("string").str.fullmatch(_UID_VALUE.pattern).fillna(False).astype(bool)
        if text.any():
            scrubbed = scrubber.scrub_series(values[text])
            out[col] = values.astype(object).where(~text, scrubbed.astype(object))
    return out


def _tidy_types(df: pd.DataFrame) -> pd.DataFrame:
    """One Parquet type per object column: headers of odd files mix ints, floats, bools and text."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype != object:
            continue
        vals = out[c].dropna()
        if vals.empty:
            out[c] = out[c].astype("string")
        elif vals.map(lambda v: isinstance(v, list | tuple | np.ndarray)).all():
            continue  # list columns (positions, orientations, spacings)
        elif vals.map(lambda v: isinstance(v, bool | np.bool_)).all():
            out[c] = out[c].astype("boolean")
        elif vals.map(
            lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
        ).all():
            out[c] = pd.to_numeric(out[c], errors="coerce")
        else:
            out[c] = (
                out[c]
                .map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
                .astype("string")
            )
    return out


def _instances(raw: pd.DataFrame, *, ctx: Context) -> pd.DataFrame:
    cols = [
        "patient",
        "site",
        "source",
        "file",
        "study_uid",
        "series_uid",
        "sop_uid",
        *_COLUMNS.values(),
        "sex",
        "age_years",
        "birth_year",
        *_DATES.values(),
        "parse_path",
        "file_size",
    ]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    raw = raw.reindex(columns=sorted(set(raw.columns) | set(_COLUMNS) | set(_DATES) | {*IDENTIFYING, "PatientAge"}))
    out = pd.DataFrame(index=raw.index)
    kr = ctx.keyring
    out["patient"] = [
        kr.patient(pid, site=site) if isinstance(pid, str) and pid.strip() else ""
        for pid, site in zip(raw["PatientID"], raw["x_site"], strict=True)
    ]
    out["site"] = raw["x_site"].astype("string")
    out["source"] = raw["x_source"].astype("string")
    out["file"] = raw["x_file"].astype("string")
    for src, dst in zip(UID_FIELDS, ("study_uid", "series_uid", "sop_uid"), strict=True):
        out[dst] = raw[src].map(lambda u: kr.uid(u) if isinstance(u, str) and u else "")
    for src, dst in _COLUMNS.items():
        out[dst] = raw[src]
    for c in (
        "instance_number",
        "series_number",
        "rows",
        "columns",
        "number_of_frames",
        "samples_per_pixel",
        "bits_allocated",
        "pixel_representation",
    ):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    for c in (
        "slice_thickness",
        "kvp",
        "exposure",
        "exposure_time",
        "tube_current",
        "ctdivol",
        "gantry_tilt",
        "window_center",
        "window_width",
        "rescale_intercept",
        "rescale_slope",
    ):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ("image_position", "image_orientation", "pixel_spacing"):
        out[c] = out[c].map(lambda v: list(v) if isinstance(v, list) else None)
    out["sex"] = raw["PatientSex"].map({"M": "male", "F": "female"}).fillna("unknown")
    # dates: the same keyed per-patient shift as every other modality (intervals are preserved)
    shifts = pd.Series({p: kr.date_shift(p) for p in out["patient"].unique() if p})
    days = day_span(out["patient"].map(shifts))
    for src, dst in _DATES.items():
        out[dst] = _dicom_date(raw[src]) + days
    age = raw["PatientAge"].map(_age_years)
    from_birth = (_dicom_date(raw["StudyDate"]) - _dicom_date(raw["PatientBirthDate"])).dt.days / 365.25
    out["age_years"] = age.fillna(from_birth).clip(upper=TOP_AGE).round(1)  # ages >= 90 top-coded
    # the birth year alone (as clinical keeps it), suppressed at 90 and over, for crossmodal's identity checks
    born = _dicom_date(raw["PatientBirthDate"]).dt.year.astype("Int64")
    out["birth_year"] = born.mask((out["age_years"] >= TOP_AGE).fillna(False).astype(bool))
    out["parse_path"] = raw["x_parse_path"].astype("string")
    out["file_size"] = raw["x_size"].astype("int64")
    return out[cols].reset_index(drop=True)


def _measure_images(series: pd.DataFrame, inst: pd.DataFrame, data: ModalityData) -> pd.DataFrame:
    """Decode a few evenly spaced slices per image series and add their measures to the table."""
    from ._image import image_chunk, sample_positions
    from ._index import index_refs

    refs = data.objects["refs"]
    picks: list[tuple[str, str, int, bool]] = []  # series_uid, file, position in the sorted series, middle?
    img = inst[inst["rows"].notna() & inst["columns"].notna()]
    for uid, g in img.groupby("series_uid"):
        g = _sorted_slices(g)
        pos = sample_positions(len(g))
        for k in pos:
            picks.append((str(uid), str(g["file"].iloc[k]), k, k == len(g) // 2))
    rows = index_refs([refs[f] for _, f, _, _ in picks], jobs=2, chunk_size=50, parse=image_chunk)
    per = pd.DataFrame(
        [
            {**r, "series_uid": s, "file": f, "slice": k, "middle": mid}
            for (s, f, k, mid), r in zip(picks, rows, strict=True)
        ]
    )
    data.objects["slices"] = per
    if per.empty:
        return series
    ok = per[per["ok"]]
    agg = per.groupby("series_uid").agg(n_sampled=("ok", "size"), n_decode_failed=("ok", lambda s: int((~s).sum())))
    if len(ok):
        agg = agg.join(
            ok.groupby("series_uid").agg(
                air_hu=("air_hu", "median"),
                water_hu=("water_hu", "median"),
                noise_hu=("noise_hu", "median"),
                n_constant=("constant", lambda x: int(x.astype(bool).sum())),
            )
        )
    out = series.merge(agg.reset_index(), on="series_uid", how="left")
    for c in ("air_hu", "water_hu", "noise_hu", "n_constant"):  # present even when nothing decoded
        if c not in out:
            out[c] = np.nan
    return out


def _sorted_slices(g: pd.DataFrame) -> pd.DataFrame:
    """Slices in spatial order when geometry is known, else by InstanceNumber, else by file."""
    z = g["image_position"].map(lambda p: p[2] if isinstance(p, list) and len(p) == 3 else np.nan)
    normal_ok = z.notna().all()
    key = z if normal_ok else g["instance_number"].astype("float64")
    return g.assign(_k=key.to_numpy()).sort_values(["_k", "file"], na_position="last").drop(columns="_k")


def _read_nodule_sources(data: ModalityData, *, ctx: Context) -> pd.DataFrame:
    from ._nodules import read_nodules

    frames = []
    for key, src in data.objects["sources"].items():
        path = src["options"].nodules
        if path:
            frames.append(
                read_nodules(
                    ctx.config.resolve(path),
                    site=src["site"],
                    source=key,
                    keyring=ctx.keyring,
                    quarantine=data.quarantine,
                )
            )
    if not frames:
        return pd.DataFrame(
            columns=[
                "patient",
                "site",
                "series_uid",
                "location",
                "diameter_mm",
                "type",
                "solid_component_mm",
                "reader",
                "line",
                "lung_rads",
            ]
        )
    return without_withdrawn(pd.concat(frames, ignore_index=True), ctx=ctx, modality=M)


# --- figures ----------------------------------------------------------------------------------


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    """Series overview, slice spacing and HU figures, thumbnails and nodule reads (from de-identified data)."""
    from . import _figures

    return _figures.all_figures(data.tables["series"], data.quarantine.frame(), data.tables["nodules"])


# --- write ------------------------------------------------------------------------------------


def write(data: ModalityData, *, ctx: Context) -> list[Path]:
    """instances / series / nodules Parquet, and the de-identified DICOM copy where asked for."""
    from ._export import export_dicom

    b = ctx.bundle
    written = [
        b.write_parquet("data/imaging/instances.parquet", data.tables["instances"]),
        b.write_parquet("data/imaging/series.parquet", data.tables["series"]),
    ]
    if len(data.tables["nodules"]):
        written.append(b.write_parquet("data/imaging/nodules.parquet", data.tables["nodules"]))
    export = {k for k, s in data.objects["sources"].items() if s["options"].export}
    if export:
        written.extend(export_dicom(data, ctx=ctx, sources=export))
    return written
