"""Standardize: one frame per standard table of the modality's dictionary. Keyed patient pseudonym,
typed values (unparseable dates quarantined), direct identifiers dropped, dates shifted per patient,
free text dropped or scrubbed; identifiers stop here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import dictionary
from ...decisions.replay import RELEASED, released_records
from ...deid.dates import patient_shifts
from ...deid.tabular import drop_identifiers, known_identifiers, pseudonym_codes
from ...deid.text import token as token_of
from ...io.dates import day_span, parse_dates
from ...io.readers import REASON_SUFFIX, STR, map_values
from ...io.values import factorize_text, text_by_code
from .. import _clean
from ..base import ModalityData
from . import _relative_days as rel
from ._common import (
    _REPEATING,
    _TNM_AXIS,
    FREE_TEXT,
    INVALID,
    KEEP_TEXT,
    NO_ID_COLUMN,
    PATIENT,
    ROW,
    SITE,
    SOURCE,
    TABLE,
    WIDE,
    _pandas_dtype,
    _text,
)

if TYPE_CHECKING:
    from ...deid.text import Scrubber
    from ..base import Context


RELEASE_KEYS = "_release_keys"  # in memory: the record keys a curator released (never written)
SHIFT = "_shift_days"  # in memory, per row: the patient's keyed date shift in days (dropped once applied)

Derive = Callable[[dict[str, pd.DataFrame], ModalityData, "Context"], None]


def standardize(
    data: ModalityData, *, ctx: Context, derive: Derive | None = None, tokens: dict[str, str] | None = None
) -> ModalityData:
    """Standard tables from the raw frames; identifiers stop here.

    Parameters
    ----------
    data
        Output of :func:`load`.
    ctx
        Run context (keyring, cohort config).
    derive
        Modality hook run on the typed, still unshifted tables (e.g. age at diagnosis from birth date).
    tokens
        Direct-identifier fields to keep as keyed tokens (field -> token column), e.g.
        ``{"specimen_id": "specimen"}``.
    """
    modality = data.modality
    tokens = tokens or {}
    raw = [_prepare(df, modality, data=data, ctx=ctx, tokens=tokens) for df in data.objects.pop("raw", [])]
    data.objects[RELEASE_KEYS] = released_records(ctx, modality)  # curator releases: re-admitted, not quarantined
    invalid: list[pd.DataFrame] = []
    typed: dict[str, pd.DataFrame] = {}
    for table in dictionary.tables(modality):
        fields = dictionary.fields(modality, table)
        typed[table] = _standardize_table(
            table, fields, raw, data=data, invalid=invalid, tokens=tokens, scrubber=ctx.scrubber
        )
    del raw
    if derive is not None:
        derive(typed, data, ctx)
    # values outside their field's domain are never written: null, with the reason and an invalid row
    _clean.enforce_domains(typed, modality, invalid=invalid, patient=PATIENT, row=ROW)
    # each row's keyed shift (deid.dates.patient_shifts) came from _prepare with its pseudonym
    for table, df in typed.items():
        dates = [f.name for f in dictionary.fields(modality, table) if f.type == "date" and f.name in df.columns]
        shift = df.pop(SHIFT) if SHIFT in df.columns else pd.Series(np.nan, index=df.index)
        if dates:
            delta = day_span(shift)  # no pseudonym -> NaT
            typed[table] = df.assign(**{c: df[c] + delta for c in dates})
    data.tables = typed
    data.objects[INVALID] = (
        pd.concat(invalid, ignore_index=True)
        if invalid
        else pd.DataFrame(columns=["table", PATIENT, ROW, "field", "rule", "kind"])
    )
    data.standardized = True
    return data


def _prepare(
    df: pd.DataFrame, modality: str, *, data: ModalityData, ctx: Context, tokens: dict[str, str]
) -> pd.DataFrame:
    """Once per raw frame (a wide export feeds several tables): stripped Arrow text, the keyed
    patient pseudonym, keyed tokens, and every raw identifier value noted for the leak scan."""
    fields = {f.name: f for f in dictionary.fields(modality)}
    df = df.copy()
    for col in [c for c in df.columns if c in fields]:
        df[col] = _text(df[col])  # identifier values were noted at load (note_fields)
    if "admission_number" in df.columns:
        codes, names = pseudonym_codes(df, id_col="admission_number", keyring=ctx.keyring, site_col=SITE)
        # as pseudonymize writes it; each row's keyed date shift goes along (applied by standardize)
        # from the same codes, so no table's rows are joined to their patients again
        df[PATIENT] = text_by_code(names, codes, df.index)
        days = patient_shifts(pd.Series(names.to_pylist(), dtype="string"), keyring=ctx.keyring)
        df[SHIFT] = np.append(days.to_numpy(dtype="float64", na_value=np.nan), np.nan)[codes]
    if "resident_id" in df.columns:
        df["_rid_token"] = _keyed(df["resident_id"], "rid", ctx)  # keyed: never the ID or a plain hash
    for fld, out_col in tokens.items():
        if fld in df.columns:
            df[out_col] = _keyed(df[fld], out_col, ctx)
    return df


def _keyed(s: pd.Series, kind: str, ctx: Context) -> pd.Series:
    """The keyed token of each value of a stripped text column (missing for "" and missing values):
    one batch of HMACs over the distinct values, taken back by code. A column of distinct IDs has
    as many distinct values as rows, so no Python dict or lookup is built per value."""
    codes, uniq = factorize_text(s)
    values = np.asarray(uniq, dtype=object)
    filled = values != ""
    out = np.full(len(values), None, dtype=object)
    out[filled] = ctx.keyring.tokens(kind, values[filled].tolist())
    return text_by_code(out.tolist(), codes, s.index)


def _parts(
    table: str, names: list[str], raw: list[pd.DataFrame], fields: list[dictionary.Field], tokens: dict[str, str]
) -> pd.DataFrame | None:
    parts = []
    free_text = {f.name for f in fields if f.phi == "free_text"}
    direct = {f.name for f in fields if f.phi == "direct"}  # identifiers alone do not make a record
    for df in raw:
        target = df[TABLE].iat[0] if len(df) else ""
        if target and target != table:
            continue
        present = [n for n in names if n in df.columns]
        content = [n for n in present if n not in direct]
        relative = rel.carried(df, names)  # options.relative_dates: day counts for this table
        content += relative[:1]
        if not target and not content:
            continue
        keep_text = set(filter(None, (df[KEEP_TEXT].iat[0] if len(df) else "").split(",")))
        present = [n for n in present if n not in free_text or n in keep_text]
        reasons = [n + REASON_SUFFIX for n in present if n + REASON_SUFFIX in df.columns]
        derived = [
            c
            for c in (PATIENT, SHIFT, "_rid_token", *tokens.values())
            if c in df.columns
            and (
                c in (PATIENT, SHIFT)
                or (c == "_rid_token" and "resident_id" in names)
                or (c in tokens.values() and any(tokens.get(n) == c for n in names))
            )
        ]
        marks = [c for c in (f"_where_{table}",) if c in df.columns]  # options.where for this table (_load.py)
        marks += relative
        part = df[[*present, *reasons, *derived, ROW, SITE, SOURCE, *marks]].copy()
        part[WIDE] = not target
        parts.append(part)
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True)


def _empty(fields: list[dictionary.Field]) -> pd.DataFrame:
    cols: dict[str, pd.Series] = {PATIENT: pd.Series([], dtype=STR), SITE: pd.Series([], dtype=STR)}
    for f in fields:
        if f.phi != "direct":
            cols[f.name] = pd.Series([], dtype=_pandas_dtype(f))
    cols[ROW] = pd.Series([], dtype="int64")
    cols[SOURCE] = pd.Series([], dtype=STR)
    return pd.DataFrame(cols)


def _standardize_table(
    table: str,
    fields: list[dictionary.Field],
    raw: list[pd.DataFrame],
    *,
    data: ModalityData,
    invalid: list[pd.DataFrame],
    tokens: dict[str, str],
    scrubber: Scrubber | None = None,
) -> pd.DataFrame:
    names = [f.name for f in fields]
    frame = _parts(table, names, raw, fields, tokens)
    stage = f"standardize:{table}"
    if frame is None:
        return _empty(fields)
    n_in = len(frame)
    quarantined: dict[str, int] = {}
    excluded: dict[str, int] = {}
    direct = [f.name for f in fields if f.phi == "direct" and f.name in frame.columns]
    frame = rel.prepare(frame, table, names, invalid=invalid)
    content = [n for n in names if n in frame.columns and n not in direct] + rel.day_columns(frame)
    frame = _drop_empty_wide_rows(frame, content, excluded)
    if (mark := f"_where_{table}") in frame.columns:  # rows options.where keeps out of this table
        rule = frame.pop(mark).fillna("").astype(str)
        for name, n in rule[rule != ""].value_counts().items():
            excluded[str(name)] = excluded.get(str(name), 0) + int(n)
        frame = frame.loc[(rule == "").to_numpy()]

    if PATIENT not in frame.columns:
        for line, source in frame[[ROW, SOURCE]].itertuples(index=False):
            data.quarantine.add(
                stage=stage,
                source=source,
                record=f"line {line}",
                reason="missing_id",
                field="admission_number",
                detail="no column maps to admission_number; map the 住院号/MRN header in cohort.yaml",
            )
        data.ledger.record(stage, n_in=n_in, n_accepted=0, quarantined={"missing_id": len(frame)}, excluded=excluded)
        return _empty(fields)

    keep_text = [f.name for f in fields if f.phi == "free_text" and f.name in frame.columns]
    # per-row identifiers to scrub from allow-listed free text (costly: only when there is some)
    known = known_identifiers(frame, direct) if keep_text else None
    frame = _quarantine_unlinked(frame, data=data, stage=stage, quarantined=quarantined)
    known = known.loc[frame.index] if known is not None else None

    # identifiers stop here: direct columns dropped, allow-listed free text scrubbed
    phi = {f.name: f.phi for f in fields}
    frame = drop_identifiers(frame, phi, keep_text=keep_text, known_by_row=known, scrubber=scrubber)
    frame = frame.drop(
        columns=[c for c in frame.columns if c.removesuffix(REASON_SUFFIX) in direct and c.endswith(REASON_SUFFIX)]
    )
    frame = _scrub_uncoded(frame, table, fields, data=data, scrubber=scrubber)
    frame = _type_values(frame, table, fields, data=data, stage=stage, invalid=invalid, quarantined=quarantined)
    frame = rel.derive(frame, fields)  # dates from a full index date; shifted below like the others

    # a wide export with one row per treatment repeats the patient's other tables on every row
    if table not in _REPEATING and frame[WIDE].any():
        value_cols = [c for c in frame.columns if c not in (ROW, SOURCE, WIDE)]
        # a repeated row repeats its patient: only rows of a patient seen more than once are
        # compared whole (a frame-wide duplicated() hashed every value of 200k rows: 0.15 s a table)
        again = frame[PATIENT].duplicated(keep=False).to_numpy(dtype=bool)
        rep = pd.Series(False, index=frame.index)
        if again.any():
            sub = frame.loc[again]
            rep[again] = (sub[WIDE].astype(bool) & sub.duplicated(subset=value_cols, keep="first")).to_numpy()
        if rep.any():
            excluded["repeated_row"] = int(rep.sum())
            frame = frame.loc[~rep]
    frame = frame.drop(columns=[WIDE])
    frame[SITE] = frame[SITE].astype(STR)
    data.ledger.record(
        stage, n_in=n_in, n_accepted=len(frame), quarantined=quarantined or None, excluded=excluded or None
    )
    front = [PATIENT, SITE]
    return frame[[*front, *[c for c in frame.columns if c not in front]]].reset_index(drop=True)


def _drop_empty_wide_rows(frame: pd.DataFrame, content: list[str], excluded: dict[str, int]) -> pd.DataFrame:
    """Rows of a wide export that hold nothing for this table are not records of it (counted in ``excluded``)."""
    if not content or not frame[WIDE].any():  # only rows of a wide export can be empty for this table
        return frame
    reasons = [c for c in frame.columns if c.endswith(REASON_SUFFIX)]
    # column by column: a row-wise all() over a 200k x 30 frame costs 0.3 s, this a tenth of it
    empty = frame[WIDE].astype(bool).to_numpy(copy=True)
    for c in content:  # text "" or missing (day counts are Int64: missing only)
        empty &= (frame[c].astype(STR).fillna("") == "").to_numpy(dtype=bool)
    for c in reasons:
        empty &= frame[c].isna().to_numpy(dtype=bool)
    empty = pd.Series(empty, index=frame.index)
    if empty.any():
        excluded["no_data"] = int(empty.sum())
        frame = frame.loc[~empty]
    return frame


def _quarantine_unlinked(
    frame: pd.DataFrame, *, data: ModalityData, stage: str, quarantined: dict[str, int]
) -> pd.DataFrame:
    """Records without a pseudonym (no admission number) are quarantined as ``missing_id``."""
    no_id = frame[PATIENT].isna()
    if not no_id.any():
        return frame
    no_column = data.objects.get(NO_ID_COLUMN, set())
    for r in frame.loc[no_id, [ROW, SOURCE]].itertuples(index=False):
        detail = (
            "the source has no admission number column (its mapped header is absent: see "
            f"{data.modality}.completeness.missing_header); map it in cohort.yaml `columns`"
            if r[1] in no_column
            else "empty admission number: the record cannot be linked"
        )
        data.quarantine.add(
            stage=stage,
            source=r[1],
            record=f"line {r[0]}",
            reason="missing_id",
            field="admission_number",
            detail=detail,
        )
    quarantined["missing_id"] = int(no_id.sum())
    return frame.loc[~no_id]


def _type_values(
    frame: pd.DataFrame,
    table: str,
    fields: list[dictionary.Field],
    *,
    data: ModalityData,
    stage: str,
    invalid: list[pd.DataFrame],
    quarantined: dict[str, int],
) -> pd.DataFrame:
    """Every field converted to its dictionary type. A record with an unparseable date is quarantined;
    another invalid value becomes null with its reason and an ``invalid`` row for the checks."""
    bad_dates = pd.Series(False, index=frame.index)
    for f in fields:
        if f.name not in frame.columns or f.phi == "direct":
            continue
        values, bad, rule = _convert(frame[f.name], f)
        frame[f.name] = values
        if not bad.any():
            continue
        if f.type == "date":
            bad = _release(frame, bad, f.name, rule, data=data, table=table)
            for r in frame.loc[bad, [PATIENT, ROW, SOURCE]].itertuples(index=False):
                data.quarantine.add(
                    stage=stage,
                    source=r[2],
                    record=f"line {r[1]}",
                    pseudonym=r[0],
                    field=f.name,
                    reason="unparseable_date",
                    detail="not a date in an accepted format (2023-01-05, 2023/1/5, 2023年1月5日, "
                    "20230105, Excel serial); correct it in the export",
                )
            bad_dates |= bad
        else:
            # the value is null now: its reason goes with it (missing_reasons), the record to the checks
            _clean.set_reason(frame, f.name, bad, _clean.reason_for_rule(rule))
            invalid.append(
                pd.DataFrame(
                    {
                        "table": table,
                        PATIENT: frame.loc[bad, PATIENT].to_numpy(),
                        ROW: frame.loc[bad, ROW].to_numpy(),
                        "field": f.name,
                        "rule": rule,
                        "kind": "allowed" if f.allowed else "type",
                    }
                )
            )
    if bad_dates.any():
        quarantined["unparseable_date"] = int(bad_dates.sum())
        frame = frame.loc[~bad_dates]
    return frame


def _release(
    frame: pd.DataFrame, bad: pd.Series, field: str, rule: str, *, data: ModalityData, table: str
) -> pd.Series:
    """Records a curator released (decision ``release <modality>.<pseudonym or line N>``) keep their place
    with the unreadable date null and its reason, counted per key in ``data.objects["released"]`` and in
    the ledger (``release:<table>``); returns the rows still to quarantine."""
    keys = data.objects.get(RELEASE_KEYS) or set()
    if not keys or not bad.any():
        return bad
    line = "line " + frame[ROW].astype("string")
    free = bad & (frame[PATIENT].isin(keys) | line.isin(keys)).fillna(False).astype(bool)
    seen = data.objects.setdefault(f"{RELEASE_KEYS}:{table}", set())  # a row with two unreadable dates: once
    new = free & ~frame.index.isin(list(seen))
    if not free.any():
        return bad
    seen.update(frame.index[new])
    _clean.set_reason(frame, field, free, _clean.reason_for_rule(rule))
    counts = data.objects.setdefault(RELEASED, {})
    for key in frame.loc[new, PATIENT].where(frame.loc[new, PATIENT].isin(keys), line[new]):
        counts.setdefault(str(key), {}).setdefault(table, 0)
        counts[str(key)][table] += 1
    if new.any():
        data.ledger.record(f"release:{table}", n_in=int(new.sum()), n_accepted=int(new.sum()))
    return bad & ~free


# Free text hides in fields nobody marked as free text (a regimen cell with "按王主任意见 ..."): a
# value with a space between words, sentence punctuation, or a long run of text is free text.
_FREE = r"\S\s+\S|[，。；;！？!?、：:（）()]|[^\x00-\x7f]{12,}|.{41,}"
# text a name or an address could be written in: scrubbed with every detector. Other values
# (numbers, ranges, codes such as 250000, <0.5, 0-5, EGFR) are compared with the registry whole:
# the number and date detectors would cut a lab result that merely looks like an ID.
_TEXTUAL = r"[^\x00-\x7f]|[A-Za-z]{2,}\s+[A-Za-z]{2,}"


def uncoded(f: dictionary.Field) -> bool:
    """A text field whose values are not constrained to a vocabulary (anything can be typed in)."""
    return (
        f.phi in ("none", "quasi")
        and f.type in ("string", "code")
        and not (f.allowed or f.codes)
        and f.name not in _TNM_AXIS
        and f.name != "stage_group"
    )


def _scrub_uncoded(
    frame: pd.DataFrame, table: str, fields: list[dictionary.Field], *, data: ModalityData, scrubber: Scrubber | None
) -> pd.DataFrame:
    """Default deny for text: every uncoded text field goes through the cohort scrubber (registry
    + detectors), and one whose values look like free text is reported (FREE_TEXT) so that the
    dictionary can be corrected. Coded fields (allowed values, code lists, TNM) stay as coded."""
    if scrubber is None:
        return frame
    whole: dict[str, str] | None = None
    for f in fields:
        if f.name not in frame.columns or not uncoded(f):
            continue
        text = frame[f.name].astype(STR)
        distinct = pd.Series(pd.unique(text.dropna().to_numpy(dtype=object)), dtype=STR)
        if distinct.empty:
            continue
        free = distinct.str.contains(_FREE, regex=True).fillna(False)
        textual = free | distinct.str.contains(_TEXTUAL, regex=True).fillna(False)
        if whole is None:  # registry forms, for values compared whole
            reg = scrubber.registry
            whole = {} if reg is None else {v.strip().lower(): token_of(k) for k, v in reg.items()}
        values = distinct.tolist()
        texts = [v for v, t in zip(values, textual.tolist(), strict=True) if t]
        clean = dict(zip(texts, scrubber.scrub_many(texts), strict=True))  # one batch: several times faster
        clean.update({v: whole.get(v.strip().lower(), v) for v in values if v not in clean})
        changed = [v for v, c in clean.items() if c != v]
        n_free = int(free.sum())
        if n_free or changed:
            data.objects.setdefault(FREE_TEXT, {})[(table, f.name)] = {
                "distinct": len(distinct),
                "free_text": n_free,
                "scrubbed_values": int(text.isin(changed).sum()) if changed else 0,
            }
        if changed:
            frame[f.name] = map_values(text, {v: clean[v] for v in changed}).fillna(text).astype(STR)
    return frame


def _convert(s: pd.Series, f: dictionary.Field) -> tuple[pd.Series, pd.Series, str]:
    """Typed values, a mask of present-but-invalid inputs, and the rule they break.

    Every conversion is a function of the value alone: a column that repeats its values (most do)
    is converted once per distinct value and the results are spread back by code."""
    text = s.astype(STR)
    if _plain(f):  # stripped text, blanks missing: Arrow does that per row faster than coding the column
        return _convert_each(text, f)
    codes, uniq = factorize_text(text)
    if 2 * len(uniq) > len(s):
        return _convert_each(text, f)
    values, bad, rule = _convert_each(pd.Series(pd.array([*np.asarray(uniq, dtype=object), pd.NA], dtype=STR)), f)
    at = np.where(codes < 0, len(uniq), codes)  # the last: a missing value
    return values.iloc[at].set_axis(s.index), pd.Series(bad.to_numpy(dtype=bool)[at], index=s.index), rule


def _plain(f: dictionary.Field) -> bool:
    """A field :func:`_convert_each` keeps as text, only stripped (no parsing, mapping or case)."""
    if f.type in ("date", "integer", "number", "boolean"):
        return False
    return not (f.type == "code" and (f.name in _TNM_AXIS or f.name == "stage_group" or f.codes or f.allowed))


def _convert_each(s: pd.Series, f: dictionary.Field) -> tuple[pd.Series, pd.Series, str]:
    text = s.astype(STR).str.strip()
    present = text.notna() & (text != "")
    text = text.where(present)
    if f.type == "date":
        parsed = parse_dates(text)
        return parsed.values, parsed.unparseable, "unparseable date"
    if f.type in ("integer", "number"):
        t = text
        if f.unit == "%":
            t = t.str.rstrip("%").str.strip()
        num = pd.to_numeric(t, errors="coerce")
        bad = present & num.isna()
        rule = "not a number"
        if f.type == "integer":
            frac = num.notna() & (num % 1 != 0)
            bad |= frac
            num = num.where(~frac)
            rule = "not a whole number"
            if f.allowed:
                rule = f"not one of {', '.join(f.allowed)}"
            return num.astype("Int64"), bad.astype(bool), rule
        return num.astype("float64"), bad.astype(bool), rule
    if f.type == "code":
        if f.name in _TNM_AXIS:
            norm = dictionary.normalize_tnm(text, _TNM_AXIS[f.name])
            return norm.fillna(text).astype(STR), pd.Series(False, index=s.index), ""
        if f.name == "stage_group":
            return dictionary.normalize_stage(text), pd.Series(False, index=s.index), ""
        if f.codes:
            return text.str.upper().astype(STR), pd.Series(False, index=s.index), ""
        if f.allowed:
            canon = {a.lower(): a for a in f.allowed}
            key = text.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
            mapped = map_values(key, canon)
            return mapped.fillna(text).astype(STR), pd.Series(False, index=s.index), ""
    if f.type == "boolean":
        low = text.str.lower()
        val = low.map({"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False})
        return val.astype("boolean"), (present & val.isna()).astype(bool), "not yes/no"
    return text.astype(STR), pd.Series(False, index=s.index), ""
