"""The three demo hospitals and how each writes its exports.

Site A: UTF-8 CSV with Chinese headers, ISO dates (some ``2023/1/5``).
Site B: Excel workbooks with English headers, date cells mixed with Excel serial days and strings.
Site C: GB18030 CSV with other Chinese headers, ``2023年1月5日`` dates, Windows line ends.

Each renderer returns the cohort.yaml ``sources`` entries of what it wrote: the column mapping from
the site's headers to dictionary fields, the value mapping from its labels to standard values and
its missing-value tokens, so the generated cohort.yaml is ready to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from .._core import DemoLog
from ..tables import ANALYTES, MISSING
from . import _site_a, _site_b, _site_c
from ._writers import write_csv, write_xlsx

__all__ = [
    "HEADERS",
    "LABELS",
    "MISSING_TOKENS",
    "SITES",
    "UNITS",
    "Rendered",
    "render_table",
    "source_entry",
    "write_csv",
    "write_sites",
    "write_xlsx",
]

# site -> the module that knows how it writes (headers, labels, missing tokens, units, dates, lab values)
SITES: dict[str, ModuleType] = {"A": _site_a, "B": _site_b, "C": _site_c}
# dictionary field -> header, per site and table
HEADERS: dict[str, dict[str, dict[str, str]]] = {k: m.HEADERS for k, m in SITES.items()}
# field -> {standard value: site label}, per site
LABELS: dict[str, dict[str, dict[str, str]]] = {k: m.LABELS for k, m in SITES.items()}
# missing token -> reason, per site
MISSING_TOKENS: dict[str, dict[str, str]] = {k: m.MISSING_TOKENS for k, m in SITES.items()}
UNITS: dict[str, dict[str, str]] = {k: m.UNITS for k, m in SITES.items()}

TREATMENT_CN = {
    "lobectomy": "肺叶切除术",
    "segmentectomy": "肺段切除术",
    "osimertinib": "奥希替尼",
    "alectinib": "阿来替尼",
    "sotorasib": "索托拉西布",
    "dabrafenib+trametinib": "达拉非尼+曲美替尼",
    "selpercatinib": "塞普替尼",
    "cisplatin+vinorelbine": "顺铂+长春瑞滨",
    "etoposide+carboplatin": "依托泊苷+卡铂",
    "atezolizumab": "阿替利珠单抗",
    "IMRT 60 Gy/30 fx": "调强放疗 60Gy/30次",
    "paclitaxel+carboplatin": "紫杉醇+卡铂",
    "durvalumab": "度伐利尤单抗",
    "pemetrexed+carboplatin": "培美曲塞+卡铂",
    "pembrolizumab": "帕博利珠单抗",
    "docetaxel": "多西他赛",
}

DATE_FIELDS = {
    "birth_date",
    "record_entry_date",
    "symptom_date",
    "diagnosis_date",
    "treatment_start",
    "treatment_end",
    "last_followup_date",
    "progression_date",
    "death_date",
    "specimen_date",
    "questionnaire_date",
}
DATETIME_FIELDS = {"collected_date", "report_date"}  # the LIS's; pathology's report_date is a date
PHI_FIELDS = ("admission_number", "name", "resident_id", "phone", "address", "specimen_id")

# B's workbooks: (file, sheet) per table
B_FILES = {
    "patients": ("emr_export.xlsx", "Patients"),
    "conditions": ("emr_export.xlsx", "Diagnosis"),
    "staging": ("emr_export.xlsx", "Staging"),
    "treatments": ("emr_export.xlsx", "Treatments"),
    "outcomes": ("emr_export.xlsx", "FollowUp"),
    "pathology": ("pathology.xlsx", "Pathology"),
    "exposure": ("questionnaire.xlsx", "Questionnaire"),
    "lab": ("lis_tumor_markers.xlsx", "Results"),
}
CSV_FILES = {
    "patients": "patients.csv",
    "conditions": "diagnosis.csv",
    "staging": "staging.csv",
    "treatments": "treatments.csv",
    "outcomes": "followup.csv",
    "pathology": "pathology.csv",
    "exposure": "questionnaire.csv",
    "lab": "lis_tumor_markers.csv",
}
MODALITY = {
    "patients": "clinical",
    "conditions": "clinical",
    "staging": "clinical",
    "treatments": "clinical",
    "outcomes": "clinical",
    "pathology": "pathology",
    "exposure": "exposure",
    "lab": "lab",
}
# Site A's questionnaire is saved by Excel as "CSV UTF-8" (with a byte-order mark); these two
# sources declare `encoding: auto` so the reader's detection is exercised on both encodings.
WITH_BOM = {("A", "exposure")}
DETECT_ENCODING = {("A", "exposure"), ("C", "lab")}


@dataclass
class Rendered:
    """Where each planted row ended up: _rid -> human-readable location."""

    locations: dict[str, str] = field(default_factory=dict)


def _fmt_date(site: str, v: Any, u: float) -> Any:
    """A date as the site writes it; ``u`` in [0, 1) picks among the site's habits."""
    if isinstance(v, str) or v is None or (not isinstance(v, pd.Timestamp) and pd.isna(v)):
        return v
    return SITES[site].fmt_date(pd.Timestamp(v), u)


def _fmt_datetime(site: str, v: Any) -> Any:
    if isinstance(v, str) or v is None or pd.isna(v):
        return v
    return SITES[site].fmt_datetime(pd.Timestamp(v))


def _fmt_lab(site: str, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    fmt = SITES[site]
    values, units, ranges = [], [], []
    for a, v, unit, upper in zip(df["analyte"], df["value"], df["unit"], df["reference_range"], strict=True):
        lod = ANALYTES[a][1] if a in ANALYTES else 0.0
        if isinstance(v, str):
            values.append(v)
        elif v < lod:
            values.append(f"<{lod:g}")
        elif v > 1000:
            values.append(">1000")
        else:
            values.append(fmt.fmt_value(v))
        units.append(fmt.UNITS.get(unit, unit))
        ranges.append(upper if isinstance(upper, str) else fmt.fmt_range(upper))
    df["value"], df["unit"], df["reference_range"] = values, units, ranges
    return df


def render_table(site: str, table: str, df: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """Standard frame -> the site's frame: labels, dates, missing tokens, headers (internal columns dropped)."""
    df = df[df["site"] == site].reset_index(drop=True)
    if table == "lab":
        df = _fmt_lab(site, df)
    if table == "treatments" and site != "B":
        df = df.assign(regimen=df["regimen"].map(lambda r: TREATMENT_CN.get(r, r)))
    if table == "pathology":
        df = df.assign(name_in_report=df["_name"])
        from ..tables import report_text

        df["report_text"] = [report_text(row) for _, row in df.iterrows()]
        if site == "A":  # site A's pathology system writes percentages with the sign
            for f in ("pdl1_tps", "ki67"):
                df[f] = [v if isinstance(v, str) else f"{v:g}%" for v in df[f]]
    headers = HEADERS[site][table]
    labels = LABELS[site]
    tokens = {reason: token for token, reason in MISSING_TOKENS[site].items()}
    out = pd.DataFrame(index=df.index)
    for f, header in headers.items():
        col = df[f] if f in df else pd.Series([None] * len(df), index=df.index, dtype=object)
        lab = labels.get(f, {})
        u = rng.random(len(df))

        def cell(v: Any, k: int, f: str = f, lab: dict[str, str] = lab, u: np.ndarray = u) -> Any:
            if isinstance(v, str) and v in MISSING:
                return tokens[MISSING[v]]
            if (
                isinstance(v, str) and v == "@malformed"
            ):  # written quoted here; write_csv removes the quotes to break the line
                return "穿刺活检,CT引导"
            if f in DATE_FIELDS or (f == "report_date" and table == "pathology"):
                return _fmt_date(site, v, u[k])
            if f in DATETIME_FIELDS:
                return _fmt_datetime(site, v)
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                return None
            if isinstance(v, str):
                return lab.get(v, v)
            if isinstance(v, (float, np.floating)) and float(v).is_integer() and f in ("ecog", "line"):
                return int(v)
            return v

        out[header] = [cell(v, k) for k, v in enumerate(col.tolist())]
    out.attrs["rids"] = df["_rid"].tolist()
    return out


def source_entry(site: str, table: str, path: str, *, fmt: str, sheet: str | None = None) -> dict[str, Any]:
    """The cohort-config source entry (path, format, headers, value labels) of one site table."""
    headers = HEADERS[site][table]
    values = {f: {label: std for std, label in LABELS[site][f].items()} for f in headers if f in LABELS[site]}
    entry: dict[str, Any] = {"site": site, "path": path, "format": fmt}
    if fmt == "csv":
        entry["encoding"] = "auto" if (site, table) in DETECT_ENCODING else "utf-8" if site == "A" else "gb18030"
    if MODALITY[table] == "clinical":
        entry["table"] = table
    if sheet:
        entry["sheet"] = sheet
    entry["columns"] = {h: f for f, h in headers.items()}
    if values:
        entry["values"] = values
    entry["missing"] = dict(MISSING_TOKENS[site])
    return entry


def write_sites(
    tables: dict[str, pd.DataFrame],
    out: Path,
    *,
    rng: np.random.Generator,
    log: DemoLog,
    malformed: dict[str, dict[str, tuple[str, str]]] | None = None,
) -> tuple[dict[str, list[dict]], dict]:
    """Render and write every site's exports.

    Parameters
    ----------
    tables
        Standard tables (with planted defects) keyed by table name.
    malformed
        table -> {_rid: (quoted text, unquoted text)}: rows to write as malformed CSV lines.

    Returns
    -------
    The cohort.yaml sources (modality -> entries) and _rid -> location of every written row.
    """
    malformed = malformed or {}
    sources: dict[str, list[dict]] = {}
    where: dict[str, str] = {}
    for site in ("A", "B", "C"):
        folder = out / "raw" / f"site{site}"
        books: dict[str, dict[str, pd.DataFrame]] = {}
        for table, std in tables.items():
            frame = render_table(site, table, std, rng=rng)
            _log_identifiers(log, std[std["site"] == site])
            rids = frame.attrs["rids"]
            if site == "B":
                file, sheet = B_FILES[table]
                books.setdefault(file, {})[sheet] = frame
                rel = f"raw/siteB/{file}"
                for k, rid in enumerate(rids):
                    where[rid] = f"{rel} sheet {sheet} row {k + 2}"
                entry = source_entry(site, table, rel, fmt="excel", sheet=sheet)
            else:
                rel = f"raw/site{site}/{CSV_FILES[table]}"
                pos = {rid: k for k, rid in enumerate(rids)}
                bad = {pos[rid]: v for rid, v in malformed.get(table, {}).items() if rid in pos}
                write_csv(out / rel, frame, site=site, bom=(site, table) in WITH_BOM, malformed=bad)
                for k, rid in enumerate(rids):
                    where[rid] = f"{rel} row {k + 1}" + (f" (line {k + 2})" if table != "pathology" else "")
                entry = source_entry(site, table, rel, fmt="csv")
            sources.setdefault(MODALITY[table], []).append(entry)
        for file, sheets in books.items():
            write_xlsx(folder / file, sheets)
    return sources, where


def _log_identifiers(log: DemoLog, std: pd.DataFrame) -> None:
    for f in PHI_FIELDS:
        if f in std:
            for v in std[f]:
                if isinstance(v, str) and v not in MISSING:
                    log.identifier(v)
                    if v.isdigit() and v.startswith("0"):
                        log.identifier(v.lstrip("0"))  # what a loader that drops leading zeros would write
    if "_name" in std:
        log.identifier(*std["_name"])
