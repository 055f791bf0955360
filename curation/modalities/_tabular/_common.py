"""Names shared by the steps of the tabular pipeline: the columns kept in memory, the keys of what
the steps note in ``data.objects`` for the checks, and small text helpers."""

from __future__ import annotations

import pandas as pd

from ... import dictionary
from ...io.readers import LINE, REASON_SUFFIX, STR

PATIENT = "patient"
SITE = "site"
ROW = LINE
SOURCE = "_source"
TABLE = "_table"
WIDE = "_wide"
KEEP_TEXT = "_keep_text"
INVALID = "invalid"  # data.objects key: values that could not be typed (table, patient, row, field, rule)
UNMAPPED = "unmapped_columns"  # data.objects key: source key -> [n columns, headers mapped to no field]
FREE_TEXT = "unannotated_free_text"  # data.objects key: (table, field) -> counts of text found in a coded field
SOURCE_RECORDS = "source_records"  # data.objects key: (source key, file token) -> the file's independent count
SOURCE_NOTES = "source_notes"  # data.objects key: (source key, file token) -> why it gave no record
MISSING_HEADERS = "missing_headers"  # data.objects key: (source key, header) -> field, closest, n files
NO_ID_COLUMN = "no_id_column"  # data.objects key: source keys with a file lacking the admission number

# Per-patient diagnosis date (shifted like every date of that patient), written by the modality that
# owns it (clinical) and read by those that count days from it in dates.mode: relative. A hand-off
# between steps, not a research table: data/ follows dates.mode (day counts only when relative),
# this is a calendar date in every mode; like every output it is listed, checksummed and scanned.
ANCHORS = "quality/anchors/clinical.parquet"
DIAGNOSIS = "diagnosis_date"

_TNM_AXIS = {"ct": "t", "pt": "t", "cn": "n", "pn": "n", "cm": "m", "pm": "m"}
_REPEATING = {"treatments"}  # tables with several records per patient in a wide export


def _text(s: pd.Series) -> pd.Series:
    """Stripped text with "" for missing (a column absent from one source is NaN after concat)."""
    return s.astype(STR).fillna("").str.strip()


def internal(col: str) -> bool:
    """Whether a column stays in memory only (source line, tokens, missing reasons): never written."""
    return col.startswith("_") or col.endswith(REASON_SUFFIX)


def _pandas_dtype(f: dictionary.Field) -> str:
    """The in-memory dtype of a dictionary field."""
    return {"date": "datetime64[ns]", "integer": "Int64", "number": "float64", "boolean": "boolean"}.get(f.type, STR)
