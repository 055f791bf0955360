"""Write: one Parquet file per table with dictionary types, the per-patient anchors clinical owns,
relative dates counted from them, and the completeness table of the report."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import dictionary
from ...errors import MissingInput
from ...io.readers import REASON_SUFFIX, STR
from ...quality import checks as qc
from ..base import ModalityData
from ._common import ANCHORS, DIAGNOSIS, PATIENT, SITE, _pandas_dtype
from ._relative_days import DAYS

if TYPE_CHECKING:
    import pyarrow as pa

    from ..base import Context

log = logging.getLogger(__name__)


def completeness(data: ModalityData, modality: str) -> pd.DataFrame:
    """Completeness of every non-identifying field by site (the heatmap's data)."""
    frames = []
    for table, df in data.tables.items():
        view = df
        if "_has_birth_date" in df.columns:
            view = df.assign(birth_date=df["_has_birth_date"].where(df["_has_birth_date"]))
        # optional fields no source provides are not news: leave them out of the heatmap
        names = [
            f.name
            for f in dictionary.fields(modality, table)
            if f.phi != "direct" and not f.derived and (f.required != "optional" or f.name in view.columns)
        ]
        frames.append(qc.completeness_table(view, names, table=table))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _arrow_type(f: dictionary.Field, *, relative: bool) -> pa.DataType:
    import pyarrow as pa

    if f.type == "date":
        return pa.int32() if relative else pa.date32()
    return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}.get(f.type, pa.string())


def output_frame(
    df: pd.DataFrame,
    fields: Iterable[dictionary.Field],
    *,
    extra: Iterable[str] = (),
    relative_to: pd.Series | None = None,
) -> tuple[pd.DataFrame, pa.Schema]:
    """The written form of a standard table: pseudonym, site, extra token columns, then every
    non-identifying dictionary field (missing ones as nulls), with an explicit Arrow schema."""
    import pyarrow as pa

    fields = [f for f in fields if f.phi != "direct" and f.name != "birth_date"]
    extra = [c for c in extra if c in df.columns]
    out = pd.DataFrame(index=df.index)
    schema_fields = [pa.field(PATIENT, pa.string()), pa.field(SITE, pa.string())]
    # Arrow-backed text: no copy for the columns that are already Arrow, and the Parquet bytes (pandas
    # metadata included) are those of the Python-backed ``string`` type
    out[PATIENT] = df[PATIENT].astype(STR)
    out[SITE] = df[SITE].astype(STR)
    for c in extra:
        out[c] = df[c].astype(STR)
        schema_fields.append(pa.field(c, pa.string()))
    relative = relative_to is not None
    for f in fields:
        s = df[f.name] if f.name in df.columns else pd.Series(index=df.index, dtype=_pandas_dtype(f))
        if f.type == "date":
            s = pd.to_datetime(s)
            if relative:
                anchor = pd.to_datetime(df[PATIENT].map(relative_to))
                s = np.floor((s - anchor) / pd.Timedelta(days=1)).astype("Int32")
            else:
                s = s.dt.date
        elif f.type == "integer":
            s = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif f.type == "number":
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            s = s.astype(STR)
        out[f.name if not (relative and f.type == "date") else f"{f.name}_days"] = s
        name = f"{f.name}_days" if relative and f.type == "date" else f.name
        schema_fields.append(pa.field(name, _arrow_type(f, relative=relative)))
        if f.type == "date" and f.name + DAYS in df.columns:  # options.relative_dates: no date, a day count
            out[f.name + DAYS] = df[f.name + DAYS].astype("Int32")
            schema_fields.append(pa.field(f.name + DAYS, pa.int32(), metadata={"unit": "d", "from": "index event"}))
    return out.reset_index(drop=True), pa.schema(schema_fields)


def missing_reasons(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table of the missing reasons sources gave: table, patient, field, reason."""
    rows = []
    for table, df in tables.items():
        for col in [c for c in df.columns if c.endswith(REASON_SUFFIX)]:
            sub = df.loc[df[col].notna(), [PATIENT, col]]
            if len(sub):
                rows.append(
                    pd.DataFrame(
                        {
                            "table": table,
                            PATIENT: sub[PATIENT].to_numpy(),
                            "field": col.removesuffix(REASON_SUFFIX),
                            "reason": sub[col].to_numpy(),
                        }
                    )
                )
    if not rows:
        return pd.DataFrame(
            {
                "table": pd.Series([], dtype="string"),
                PATIENT: pd.Series([], dtype="string"),
                "field": pd.Series([], dtype="string"),
                "reason": pd.Series([], dtype="string"),
            }
        )
    return pd.concat(rows, ignore_index=True).astype("string")


def write_anchors(df: pd.DataFrame, field: str, *, ctx: Context) -> tuple[pd.Series, Path]:
    """The earliest ``field`` date per patient of ``df``: written to :data:`ANCHORS` (patient, diagnosis_date,
    shifted) and returned as a Series (patient -> date). Patients without one are not listed."""
    import pyarrow as pa

    anchors = df.groupby(PATIENT)[field].min().dropna() if field in df.columns else pd.Series(dtype="datetime64[ns]")
    table = pd.DataFrame({PATIENT: anchors.index.astype(str), DIAGNOSIS: pd.to_datetime(anchors).dt.date.to_numpy()})
    schema = pa.schema([pa.field(PATIENT, pa.string()), pa.field(DIAGNOSIS, pa.date32())])
    return anchors, ctx.bundle.write_parquet(ANCHORS, table, schema=schema)


def diagnosis_anchors(ctx: Context, *, modality: str) -> pd.Series | None:
    """Per-patient diagnosis date (shifted like every date of that patient), as clinical wrote it.

    Returns
    -------
    patient -> date; None when the cohort has no clinical sources (there is no diagnosis to count from).

    Raises
    ------
    MissingInput
        The cohort has clinical sources, but clinical has not written its anchors into this bundle yet.
    """
    if not ctx.config.sources.get("clinical"):
        return None
    path = ctx.bundle.path(ANCHORS)
    if not path.is_file():
        msg = (
            f"{modality}: dates.mode is relative, so dates count from each patient's diagnosis, which clinical "
            f"writes to {ANCHORS} in {ctx.bundle.root}; it is not there yet. Run clinical first, into the same "
            f'bundle: curate("clinical", cohort, out=...) in a notebook, or `curation run {ctx.config.path.name} '
            "--only clinical`"
        )
        raise MissingInput(msg)
    df = pd.read_parquet(path)
    return pd.Series(pd.to_datetime(df[DIAGNOSIS]).to_numpy(), index=df[PATIENT].astype(str).to_numpy())


def write(
    data: ModalityData,
    *,
    ctx: Context,
    extra: dict[str, list[str]] | None = None,
    anchor: tuple[str, str] | None = None,
) -> list[Path]:
    """Write every standard table of the modality to ``data/<modality>/<table>.parquet``.

    ``anchor`` (table, date field) names the per-patient date this modality owns for the others to
    count from (clinical: the earliest diagnosis date): it is written to :data:`ANCHORS` in every
    mode. In ``dates.mode: relative`` every date becomes days since that anchor; a modality without
    its own reads clinical's (:func:`diagnosis_anchors`; a patient without one gets no relative
    dates). Only in a cohort without clinical sources does a patient's earliest date in the table
    stand in, with a warning.
    """
    modality = data.modality
    relative = ctx.config.dates.mode == "relative"
    anchors: pd.Series | None = None
    written = []
    if anchor is not None:
        anchors, path = write_anchors(data.tables.get(anchor[0], pd.DataFrame()), anchor[1], ctx=ctx)
        written.append(path)
    elif relative:
        anchors = diagnosis_anchors(ctx, modality=modality)
        if anchors is None:
            log.warning(
                "%s: the cohort has no clinical sources, so relative dates count from each patient's "
                "earliest date in each table, not from a diagnosis",
                modality,
            )
    for table, df in data.tables.items():
        fields = dictionary.fields(modality, table)
        rel = anchors
        if relative and rel is None:
            dates = [f.name for f in fields if f.type == "date" and f.name in df.columns]
            rel = (
                df[[PATIENT, *dates]].melt(id_vars=PATIENT).groupby(PATIENT)["value"].min()
                if dates
                else pd.Series(dtype="datetime64[ns]")
            )
        out, schema = output_frame(
            df, fields, extra=(extra or {}).get(table, []), relative_to=rel if relative else None
        )
        written.append(ctx.bundle.write_parquet(f"data/{modality}/{table}.parquet", out, schema=schema))
    reasons = missing_reasons(data.tables)
    written.append(ctx.bundle.write_parquet(f"data/{modality}/missing_reasons.parquet", reasons))
    return written
