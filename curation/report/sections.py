"""The collection report's sections beyond the quality tables, each read from the bundle as this run
left it: per-modality coverage, quality by modality, timeliness, equipment and acquisition, the
privacy measures applied (run.json), the formats written, archiving.

Pure readers: each takes the bundle root (and the cohort configuration or the run record) and
returns tidy frames or rows of (item, value); :mod:`curation.report.collection` lays them out.
Counts are of distinct checks (quality/checks.parquet has one row per check) and of distinct
patient pseudonyms.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from ..quality import Dimension
from .i18n import N_

__all__ = [
    "archiving",
    "bundle_files",
    "compatibility",
    "coverage",
    "data_checksum",
    "equipment",
    "patient_sets",
    "period",
    "privacy_measures",
    "quality_by_modality",
    "screening_indicators",
    "timeliness",
]

NOT_PASSING = ("fail", "error", "warn")
HAS = "●"  # a modality present in a row of the coverage matrix


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns) if path.is_file() else pd.DataFrame()
    except Exception:  # noqa: BLE001 - an unreadable table leaves its section empty, the report goes on
        return pd.DataFrame()


# --------------------------------------------------------------------------- coverage


def patient_sets(root: Path) -> dict[str, set[str]]:
    """Distinct patient pseudonyms per modality, from every Parquet table with a ``patient`` column
    under data/<modality>/ (a step whose tables name no patient, such as the cross-modality links, is left out)."""
    out: dict[str, set[str]] = {}
    data = root / "data"
    if not data.is_dir():
        return out
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        seen: set[str] = set()
        found = False
        for p in sorted(folder.rglob("*.parquet")):
            try:
                if "patient" not in pq.read_schema(p).names:
                    continue
                found = True
                seen.update(str(v) for v in pq.read_table(p, columns=["patient"]).column("patient").to_pylist() if v)
            except Exception:  # noqa: BLE001 - an unreadable table only lowers the counts
                continue
        if found:
            out[folder.name] = seen
    return out


def coverage(sets: Mapping[str, set[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients per modality, patients per combination of modalities).

    The first: patients with the modality and their share of every patient of the cohort (any
    modality). The second, the coverage matrix: one row per combination present (a column per
    modality, :data:`HAS` where the patients have it) with its patient count, the commonest first.
    """
    everyone = set().union(*sets.values()) if sets else set()
    per = pd.DataFrame(
        [
            {"modality": m, "patients": len(s), "share": len(s) / len(everyone) if everyone else 0.0}
            for m, s in sets.items()
        ],
        columns=["modality", "patients", "share"],
    )
    names = list(sets)
    combos: dict[tuple[bool, ...], int] = {}
    for p in everyone:
        key = tuple(p in sets[m] for m in names)
        combos[key] = combos.get(key, 0) + 1
    matrix = pd.DataFrame(
        [dict(zip(names, [HAS if x else "" for x in k], strict=True)) | {"patients": n} for k, n in combos.items()],
        columns=[*names, "patients"],
    )
    if len(matrix):
        # ties broken by the combination itself: the patients come from a set, whose order changes
        # from process to process with Python's string hashing
        matrix = matrix.assign(_n=(matrix[names] == HAS).sum(axis=1)).sort_values(
            ["patients", "_n", *names], ascending=False, kind="stable"
        )
        matrix = matrix.drop(columns="_n").reset_index(drop=True)
    return per, matrix


# --------------------------------------------------------------------------- quality


def quality_by_modality(checks: pd.DataFrame) -> pd.DataFrame:
    """Distinct checks per modality and dimension, as "not passing / checks" (one row per modality)."""
    dims = [str(d) for d in Dimension]
    if checks.empty:
        return pd.DataFrame(columns=["modality", *dims, "total"])
    c = checks.assign(bad=checks["verdict"].isin(NOT_PASSING))
    rows = []
    for m, sub in c.groupby("modality", sort=False):
        row: dict[str, Any] = {"modality": m}
        for d in dims:
            part = sub[sub["dimension"] == d]
            row[d] = f"{int(part['bad'].sum())} / {len(part)}" if len(part) else "–"
        row["total"] = f"{int(sub['bad'].sum())} / {len(sub)}"
        rows.append(row)
    out = pd.DataFrame(rows)
    keep = [d for d in dims if (out[d] != "–").any()]
    return out[["modality", *keep, "total"]]


def _targets(config: Any) -> dict[str, tuple[str, int]]:
    """check id -> (cohort.yaml key, days) from the timeliness targets' descriptions, which name their check."""
    t = getattr(config, "timeliness", None)
    if t is None:
        return {}
    out = {}
    for name, info in type(t).model_fields.items():
        m = re.search(r"\(([a-z_]+\.timeliness\.[a-z_]+)\)", info.description or "")
        value = getattr(t, name)
        if m and isinstance(value, int):
            out[m.group(1)] = (f"timeliness.{name}", value)
    return out


def timeliness(checks: pd.DataFrame, config: Any) -> pd.DataFrame:
    """The timeliness checks of the run: target (days, from cohort.yaml), records measured, late, share on time."""
    cols = ["check_id", "target", "n_checked", "n_failed", "on_time", "verdict"]
    if checks.empty:
        return pd.DataFrame(columns=cols)
    t = checks[checks["dimension"] == str(Dimension.TIMELINESS)]
    targets = _targets(config)
    rows = [
        {
            "check_id": r["check_id"],
            "target": (
                f"{targets[r['check_id']][1]} d ({targets[r['check_id']][0]})" if r["check_id"] in targets else "–"
            ),
            "n_checked": int(r["n_checked"]),
            "n_failed": int(r["n_failed"]),
            "on_time": (1 - r["n_failed"] / r["n_checked"]) if r["n_checked"] else float("nan"),
            "verdict": r["verdict"],
        }
        for r in t.sort_values("check_id").to_dict("records")
    ]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- screening

# The screening modality's indicators and tests (data/screening/indicators/), as the report names them
INDICATORS = {
    "sensitivity": N_("sensitivity"),
    "specificity": N_("specificity"),
    "ppv": N_("positive predictive value"),
    "npv": N_("negative predictive value"),
    "missed_diagnosis_rate": N_("missed-diagnosis rate"),
    "misdiagnosis_rate": N_("misdiagnosis rate"),
    "recall_rate": N_("recall rate"),
    "detection_rate": N_("detection rate"),
    "interval_cancer_rate": N_("interval-cancer rate"),
    "early_stage_share": N_("early-stage share (stage I-II) of screen-detected cancers"),
    "auc": N_("AUC"),
    "kappa_lung_rads": N_("AI vs expert agreement on Lung-RADS (weighted kappa)"),
    "kappa_nodule_type": N_("AI vs expert agreement on nodule type (kappa)"),
    "icc_size": N_("AI vs expert reliability of nodule size (ICC)"),
    "scan_to_report_days": N_("days from LDCT to report (median)"),
    "sample_to_result_days": N_("days from sample to biomarker result (median)"),
}
TESTS = {
    "screening": N_("LDCT screening"),
    "ai_vs_expert": N_("AI vs expert reading"),
    "risk_score": N_("risk score"),
    "process": N_("processing"),
}
SCREENING_ACCURACY = ("sensitivity", "specificity", "ppv", "npv")


def _interval(est: Any, low: Any, high: Any) -> str:
    if est is None or pd.isna(est):
        return "–"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{float(est):.3g}"
    return f"{float(est):.3g} ({float(low):.3g}–{float(high):.3g})"


def _counts(row: Mapping[str, Any]) -> str:
    """The counts an estimate comes from: tp/fp/tn/fn, else numerator/denominator, else n."""

    def n(key: str) -> int | None:
        v = row.get(key)
        return None if v is None or pd.isna(v) else int(v)

    cells = {k: n(k) for k in ("tp", "fp", "tn", "fn")}
    if any(v is not None for v in cells.values()):
        return " · ".join(f"{k.upper()} {'–' if v is None else v}" for k, v in cells.items())
    if n("numerator") is not None and n("denominator") is not None:
        return f"{n('numerator')} / {n('denominator')}"
    return f"n = {n('n')}" if n("n") is not None else "–"


def screening_indicators(root: Path) -> dict[str, pd.DataFrame]:
    """The screening programme's validation indicators, from data/screening/indicators/ (none without it).

    ``targets``: each indicator with a target in cohort.yaml: verdict, estimate with its 95% interval,
    target and the counts it comes from (failing first). ``by_arm``: sensitivity, specificity, PPV and
    NPV of LDCT screening per arm, each with its interval and counts.
    """
    from .i18n import translator

    folder = root / "data" / "screening" / "indicators"
    bi = translator("both").bi
    out: dict[str, pd.DataFrame] = {}
    verdicts = _read(folder / "verdicts.parquet")
    if len(verdicts):
        out["targets"] = pd.DataFrame(
            {
                "verdict": verdicts["verdict"].astype(str),
                "indicator": [bi(INDICATORS[i]) if i in INDICATORS else i for i in verdicts["indicator"].astype(str)],
                "test": [bi(TESTS[t]) if t in TESTS else t for t in verdicts["test"].astype(str)],
                "estimate_ci": [
                    _interval(r.get("estimate"), r.get("ci_low"), r.get("ci_high")) for r in verdicts.to_dict("records")
                ],
                "target": verdicts["target"].astype(str),
                "counts_from": [_counts(r) for r in verdicts.to_dict("records")],
            }
        )
    accuracy = _read(folder / "accuracy.parquet")
    need = {"indicator", "test", "stratum", "group", "estimate"}
    if len(accuracy) and need <= set(accuracy.columns):
        a = accuracy[
            accuracy["test"].astype(str).eq("screening")
            & accuracy["stratum"].astype(str).isin(["overall", "arm"])
            & accuracy["indicator"].astype(str).isin(SCREENING_ACCURACY)
        ]
        rows = [
            {
                "arm": bi(N_("all arms")) if str(r["stratum"]) == "overall" else str(r["group"]),
                "indicator": bi(INDICATORS[str(r["indicator"])]),
                "estimate_ci": _interval(r.get("estimate"), r.get("ci_low"), r.get("ci_high")),
                "counts_from": _counts(r),
            }
            for r in a.to_dict("records")
        ]
        if rows:
            out["by_arm"] = pd.DataFrame(rows)
    return out


# --------------------------------------------------------------------------- equipment


def _span(s: pd.Series, unit: str = "") -> str:
    v = pd.to_numeric(s, errors="coerce").dropna()
    if v.empty:
        return "–"
    lo, hi = v.min(), v.max()
    fmt = lambda x: f"{x:g}"  # noqa: E731
    return (fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}") + (f" {unit}" if unit else "")


def _median(s: pd.Series | None, unit: str) -> str:
    v = pd.to_numeric(s, errors="coerce").dropna() if s is not None else pd.Series(dtype=float)
    return f"{v.median():.0f}{unit}" if len(v) else "–"


def _values(s: pd.Series, limit: int = 8) -> str:
    got = [str(v) for v in pd.Series(s).dropna().astype(str).unique() if str(v).strip()]
    return ", ".join(sorted(got)[:limit]) + (f" (+{len(got) - limit})" if len(got) > limit else "") if got else "–"


def equipment(root: Path, config: Any) -> dict[str, pd.DataFrame]:
    """Equipment and acquisition, per modality that ran, from its standard tables: imaging scanners
    (manufacturer, model, kernel, slice thickness, kVp), sequencing (reference, panel, platform, depth),
    laboratory assays (analyte, LOINC, unit, analyzer), single-cell samples (counts source, chemistry).
    A property no source records is shown as "not recorded"."""
    out: dict[str, pd.DataFrame] = {}
    series = _read(root / "data" / "imaging" / "series.parquet")
    if len(series):
        keys = [k for k in ("site", "modality", "manufacturer", "model") if k in series]
        g = series.fillna(dict.fromkeys(keys, "not recorded")).groupby(keys, sort=True, dropna=False)
        out["imaging"] = pd.DataFrame(
            [
                {
                    **dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)),
                    "series": len(sub),
                    "kernel": _values(sub.get("kernel", pd.Series(dtype=str))),
                    "slice_thickness": _span(sub.get("slice_thickness_mm", pd.Series(dtype=float)), "mm"),
                    "kvp": _span(sub.get("kvp", pd.Series(dtype=float)), "kV"),
                }
                for k, sub in g
            ]
        )
    samples = _read(root / "data" / "genomics" / "samples.parquet")
    if len(samples):
        refs = {str(s.options["reference"]) for s in config.sources.get("genomics", []) if s.options.get("reference")}
        panel_mb = getattr(getattr(config, "exports", None), "panel_size_mb", None)
        keys = [k for k in ("site", "tissue") if k in samples]
        out["genomics"] = pd.DataFrame(
            [
                {
                    **dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)),
                    "samples": len(sub),
                    "platform": _values(sub["platform"]) if "platform" in sub else "not recorded",
                    "panel": (_values(sub["panel"]) if "panel" in sub else "not recorded")
                    + (f" ({panel_mb:g} Mb)" if panel_mb else ""),
                    "reference": ", ".join(sorted(refs)) or "not recorded",
                    "median_depth": _median(sub.get("mean_depth"), "x"),
                }
                for k, sub in samples.fillna(dict.fromkeys(keys, "–")).groupby(keys, sort=True)
            ]
        )
    lab = _read(root / "data" / "lab" / "results.parquet")
    if len(lab):
        keys = [k for k in ("analyte", "loinc", "unit_std") if k in lab]
        analyzer = next((c for c in ("analyzer", "instrument", "assay_method") if c in lab), None)
        out["lab"] = pd.DataFrame(
            [
                {
                    **dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)),
                    "results": len(sub),
                    "sites": _values(sub.get("site", pd.Series(dtype=str))),
                    "analyzer": _values(sub[analyzer]) if analyzer else "not recorded",
                }
                for k, sub in lab.fillna(dict.fromkeys(keys, "–")).groupby(keys, sort=True)
            ]
        )
    qc = _read(root / "data" / "immune" / "qc_samples.parquet")
    if len(qc):
        assay = getattr(getattr(config, "exports", None), "assay", "")
        fmt = {f"immune[{i}]": s.format for i, s in enumerate(config.sources.get("immune", []))}
        qc = qc.assign(format=qc["source"].astype(str).map(fmt).fillna("–") if "source" in qc else "–")
        keys = [k for k in ("site", "tissue", "format") if k in qc]
        chem = next((c for c in ("chemistry", "assay") if c in qc), None)
        declared = f"not recorded (declared assay {assay})" if assay else "not recorded"
        out["single_cell"] = pd.DataFrame(
            [
                {
                    **dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)),
                    "samples": len(sub),
                    "cells": int(pd.to_numeric(sub["n_cells"], errors="coerce").sum()) if "n_cells" in sub else 0,
                    "cells_kept": int(pd.to_numeric(sub["n_kept"], errors="coerce").sum()) if "n_kept" in sub else 0,
                    "chemistry": _values(sub[chem]) if chem else declared,
                }
                for k, sub in qc.fillna(dict.fromkeys(keys, "–")).groupby(keys, sort=True)
            ]
        )
    return out


# --------------------------------------------------------------------------- privacy, formats, archive


def privacy_measures(
    config: Any, record: Mapping[str, Any] | None, *, fingerprint: str = "", root: Path | None = None
) -> list[tuple[str, str]]:
    """(measure, what this run did) from run.json (``record``); without it (the report written during
    the run, before the leak scan) the leak scan is said to be pending."""
    rec = dict(record or {})
    detail = dict(rec.get("leak_scan_detail") or {})
    key = rec.get("key_fingerprint") or fingerprint or "–"
    rows = [(N_("pseudonyms"), f"keyed HMAC-SHA256; key fingerprint {key}")]
    dates = config.dates
    rows.append(
        (
            N_("dates"),
            f"shifted per patient by up to {dates.max_shift_days} days (intervals kept)"
            if dates.mode == "shift"
            else "days relative to each patient's diagnosis",
        )
    )
    classes = {k: v for k, v in (detail.get("identifier_classes") or {}).items() if v}
    if classes:
        rows.append(
            (
                N_("identifier classes"),
                f"{sum(classes.values())} values in {len(classes)} classes: "
                + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())),
            )
        )
    text = (
        "scrubbed with the cohort's identifiers and pattern detectors"
        + ("; person names detected" if config.privacy.detect_names else "; name detection off")
        + (f"; {len(config.id_patterns)} local ID pattern(s)" if config.id_patterns else "")
    )
    rows.append((N_("free text"), text))
    if config.sources.get("imaging"):
        n = sum(1 for p in (root / "data" / "imaging" / "dicom").rglob("*") if p.is_file()) if root else 0
        rows.append((N_("DICOM"), f"PS3.15 Annex E basic profile (default deny); {n} de-identified file(s) written"))
    if record is None:
        rows.append(
            (
                N_("leak scan"),
                "pending: it runs over the whole bundle after this report; run.json and index.html give its result",
            )
        )
    else:
        rows.append((N_("leak scan"), str(rec.get("leak_scan", "not recorded"))))
        if detail:
            scanned = f"{detail.get('files', 0)} file(s), {detail.get('findings', 0)} finding(s)"
            rows.append((N_("files scanned"), scanned))
        withheld = list(rec.get("withheld") or [])
        rows.append((N_("withheld files"), ", ".join(withheld) if withheld else "none"))
        rows.append((N_("releasable"), "yes" if rec.get("releasable") else "no"))
    security = dict(rec.get("security") or {})
    if security.get("modes"):
        rows.append(
            (
                N_("access"),
                f"{security['modes']}" + (f", group {security['group']}" if security.get("group") else ", owner only"),
            )
        )
    if security.get("audit_trail"):
        rows.append(
            (
                N_("audit trail"),
                f"{security['audit_trail']}: one event a line, each with the SHA-256 of "
                "the previous one (curation verify checks the chain)",
            )
        )
    return rows


FORMATS = {
    ".parquet": ("Apache Parquet", "pandas, R arrow, DuckDB, Spark"),
    ".h5ad": ("AnnData h5ad", "scanpy, CELLxGENE, Seurat (via conversion)"),
    ".h5mu": ("MuData h5mu", "muon, mudata"),
    ".vcf": ("VCF", "bcftools, IGV, VEP"),
    ".maf": ("MAF", "maftools, cBioPortal"),
    ".ndjson": ("FHIR R4 NDJSON", "FHIR servers (bulk import)"),
    ".csv": ("CSV", "spreadsheets, R, OHDSI tools"),
    ".txt": ("tab-separated text", "cBioPortal, spreadsheets"),
    ".json": ("JSON", "any JSON reader"),
    ".html": ("HTML", "a web browser, offline"),
    ".pdf": ("PDF (A4)", "any PDF reader, print"),
    ".ipynb": ("Jupyter notebook", "JupyterLab"),
    ".md": ("Markdown", "any text editor"),
    ".yaml": ("YAML", "any text editor"),
    ".js": ("JavaScript (plotly.js)", "the report pages"),
    ".dcm": (N_("DICOM"), "PACS, DICOM viewers"),
}


def _area(rel: str) -> str:
    parts = rel.split("/")
    return (
        "/".join(parts[:2])
        if parts[0] in ("data", "exports") and len(parts) > 2
        else (parts[0] if len(parts) > 1 else "bundle root")
    )


def _format(path: Path, rel: str) -> str:
    if path.suffix.lower() in FORMATS:
        return path.suffix.lower()
    if "/dicom/" in f"/{rel}" or path.name == "DICOMDIR":
        return ".dcm"
    return path.suffix.lower() or "(none)"


def bundle_files(root: Path) -> list[Path]:
    """The bundle's files as the manifest lists them (its own order)."""
    from ..io.bundle import Bundle

    return Bundle(root).files() if root.is_dir() else []


def compatibility(root: Path, files: Iterable[Path] | None = None) -> pd.DataFrame:
    """Formats written, per area of the bundle (data/<modality>, exports/<target>, quality, reports):
    files, megabytes, and the software that opens them."""
    rows = []
    for p in files if files is not None else bundle_files(root):
        rel = p.relative_to(root).as_posix()
        if rel.startswith("history/"):
            continue
        fmt = _format(p, rel)
        rows.append({"area": _area(rel), "suffix": fmt, "bytes": p.stat().st_size})
    if not rows:
        return pd.DataFrame(columns=["area", "format", "files", "MB", "opens_in"])
    df = pd.DataFrame(rows)
    g = df.groupby(["area", "suffix"], sort=True).agg(files=("bytes", "size"), size=("bytes", "sum")).reset_index()
    g["format"] = [FORMATS.get(s, (s, ""))[0] for s in g["suffix"]]
    g["opens_in"] = [FORMATS.get(s, ("", "–"))[1] for s in g["suffix"]]
    g["MB"] = (g["size"] / 1e6).round(2)
    return g[["area", "format", "files", "MB", "opens_in"]]


DATA_AREAS = ("data/", "exports/")


def data_checksum(root: Path, files: Iterable[Path] | None = None) -> tuple[str, int, int]:
    """SHA-256 over the manifest lines of the data and export files (``sha256  path``, the manifest's order),
    their count and bytes: ``grep -E '  (data|exports)/' manifest-sha256.txt | sha256sum`` gives the same."""
    from ..io.bundle import sha256_file

    h = hashlib.sha256()
    n = size = 0
    for p in files if files is not None else bundle_files(root):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(DATA_AREAS):
            h.update(f"{sha256_file(p)}  {rel}\n".encode())
            n += 1
            size += p.stat().st_size
    return h.hexdigest(), n, size


def archiving(root: Path, config: Any, record: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(item, value): the data checksum, the manifest, provenance, the retention declared, runs kept."""
    from .delta import HISTORY

    files = bundle_files(root)
    digest, n, size = data_checksum(root, files)
    rows = [
        (
            N_("data checksum"),
            f"sha256 {digest} over {n} data and export file(s), {size / 1e6:.1f} MB "
            "(grep -E '  (data|exports)/' manifest-sha256.txt | sha256sum)",
        ),
        (
            N_("manifest"),
            "manifest-sha256.txt: the SHA-256 of every file of the bundle, written last "
            "(cd OUT && sha256sum -c manifest-sha256.txt)",
        ),
        (
            N_("provenance"),
            f"run.json: cohort.yaml sha256 {config.checksum()[:16]}…, "
            + (f"{len(record.get('inputs') or [])} input file checksums, " if record else "")
            + "package versions, parameters",
        ),
        (N_("retention"), config.report.retention or "not declared (report.retention in cohort.yaml)"),
    ]
    kept = sorted(p.name for p in (root / HISTORY).iterdir() if p.is_dir()) if (root / HISTORY).is_dir() else []
    rows.append((N_("earlier runs kept"), f"{len(kept)} under {HISTORY}/ (run.json and checks)" if kept else "none"))
    return rows


def period(root: Path, config: Any) -> str:
    """The collection period: declared (report.period), else the range of diagnosis dates in the data."""
    if config.report.period:
        return str(config.report.period)
    if config.dates.mode != "shift":  # relative dates: days from diagnosis, no calendar period
        return ""
    cond = _read(root / "data" / "clinical" / "conditions.parquet", ["diagnosis_date"])
    dates = pd.to_datetime(cond.get("diagnosis_date", pd.Series(dtype=str)), errors="coerce").dropna()
    if dates.empty:
        return ""
    span = f"{dates.min():%Y-%m} – {dates.max():%Y-%m}"
    if config.dates.mode == "shift":
        span += f" (diagnosis dates as shifted, up to {config.dates.max_shift_days} days per patient)"
    return span
