"""JSON objects built column-wise: one string per row, without a Python dict per row.

The FHIR export writes millions of resources (a 200,000-patient cohort with a million lab results);
building a dict per resource and calling ``json.dumps`` on each is the slow part. Here a resource is
a concatenation of per-column fragments (``"key":<json>``) done by Arrow's string kernels: every
Series is Arrow-backed text (:data:`S`), a missing value is a missing fragment, and text is
JSON-escaped once per distinct value, and only when it holds a character JSON must escape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["S", "array", "date", "field", "maybe", "number", "obj", "raw", "text"]

S = pd.StringDtype("pyarrow")
_ESCAPE = r'["\\\x00-\x1f]'  # what JSON strings must escape (non-ASCII stays as UTF-8)


def _s(values: pd.Series) -> pd.Series:
    return values if values.dtype == S else values.astype(S)


def _arrow(values: pd.Series) -> pa.Array:
    arr = pa.array(_s(values).array)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def _series(arr: pa.Array, index: pd.Index) -> pd.Series:
    out = arr.to_pandas(types_mapper={pa.string(): S, pa.large_string(): S}.get)
    out.index = index
    return out


def text(values: pd.Series) -> pd.Series:
    """Each value as a JSON string literal; missing and empty values stay missing."""
    arr = _arrow(values)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    if pc.any(pc.match_substring_regex(arr, _ESCAPE)).as_py():
        enc = pc.dictionary_encode(arr)
        quoted = pa.array([json.dumps(v, ensure_ascii=False) for v in enc.dictionary.to_pylist()], pa.string())
        out = pc.take(quoted, enc.indices)
    else:
        out = pc.binary_join_element_wise('"', arr, '"', "")
    return _series(out, values.index)


def number(values: pd.Series) -> pd.Series:
    """Each finite number as a JSON number (``5``, ``3.95``); missing, NaN and infinities stay missing."""
    v = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    arr = pa.array(v, mask=~np.isfinite(v))
    return _series(pc.cast(arr, pa.string()), values.index)


def date(values: pd.Series) -> pd.Series:
    """Datetimes as JSON ``"YYYY-MM-DD"`` strings; NaT stays missing."""
    d = pd.to_datetime(values, errors="coerce")
    arr = pa.array(d.to_numpy(dtype="datetime64[ns]"), mask=d.isna().to_numpy())
    out = pc.binary_join_element_wise('"', pc.strftime(arr, format="%Y-%m-%d"), '"', "")
    return _series(out, values.index)


def raw(value: str, index: pd.Index) -> pd.Series:
    """The same JSON text on every row."""
    return pd.Series(value, index=index, dtype=S)


def field(key: str, values: pd.Series) -> pd.Series:
    """``"key":<value>`` where the value is present, else missing."""
    return json.dumps(key) + ":" + _s(values)


def _joined(items: Iterable[pd.Series], index: pd.Index) -> pa.Array:
    """The present items joined by commas ("" where none is present)."""
    parts = [pc.fill_null(pc.binary_join_element_wise(",", _arrow(item), ""), "") for item in items]
    if not parts:
        return pa.array([""] * len(index), pa.string())
    body = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
    return pc.utf8_slice_codeunits(body, 1)  # the leading comma


def obj(fragments: Iterable[pd.Series], index: pd.Index) -> pd.Series:
    """``{...}`` of the present fragments; rows with none give ``{}``."""
    return _series(pc.binary_join_element_wise("{", _joined(fragments, index), "}", ""), index)


def array(items: Iterable[pd.Series], index: pd.Index) -> pd.Series:
    """``[...]`` of the present items; missing where none is present."""
    body = _joined(items, index)
    out = pc.binary_join_element_wise("[", body, "]", "")
    return _series(pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), out), index)


def maybe(values: pd.Series, present: pd.Series) -> pd.Series:
    """``values`` where ``present`` holds, else missing."""
    return _s(values).where(present.fillna(False).astype(bool).to_numpy(), pd.NA)
