"""The shared pipeline of the tabular modalities (clinical, pathology, exposure; later lab).

load         read every configured file as text, map headers to dictionary fields, map values,
             turn null tokens into missing reasons; malformed lines and unreadable files are
             quarantined (never skipped silently)
standardize  one frame per standard table of the modality's dictionary: keyed patient pseudonym,
             typed values (unparseable dates quarantined), direct identifiers dropped, birth date
             generalized, dates shifted per patient, free text dropped or scrubbed
write        one Parquet file per table with dictionary types (dates as date32, codes as strings);
             in ``dates.mode: relative`` dates become days since the patient's diagnosis, read from
             the anchors clinical writes (:data:`ANCHORS`), never by re-running clinical

Columns whose name starts with ``_`` are kept in memory for the checks (source line, keyed tokens,
exact ages) and never written. ``<field>__missing`` columns hold the missing reason a source gave.
"""

from __future__ import annotations

from ._common import (
    ANCHORS,
    DIAGNOSIS,
    FREE_TEXT,
    INVALID,
    KEEP_TEXT,
    MISSING_HEADERS,
    NO_ID_COLUMN,
    PATIENT,
    ROW,
    SITE,
    SOURCE,
    SOURCE_NOTES,
    SOURCE_RECORDS,
    TABLE,
    UNMAPPED,
    WIDE,
    internal,
)
from ._load import identifiers, load
from ._standardize import Derive, standardize, uncoded
from ._write import completeness, diagnosis_anchors, missing_reasons, output_frame, write, write_anchors

__all__ = [
    "ANCHORS",
    "DIAGNOSIS",
    "FREE_TEXT",
    "INVALID",
    "KEEP_TEXT",
    "MISSING_HEADERS",
    "NO_ID_COLUMN",
    "PATIENT",
    "ROW",
    "SITE",
    "SOURCE",
    "SOURCE_NOTES",
    "SOURCE_RECORDS",
    "TABLE",
    "UNMAPPED",
    "WIDE",
    "Derive",
    "completeness",
    "diagnosis_anchors",
    "identifiers",
    "internal",
    "load",
    "missing_reasons",
    "output_frame",
    "standardize",
    "uncoded",
    "write",
    "write_anchors",
]
