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

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import dictionary
from ..deid.collect import note_fields, note_unmapped
from ..deid.dates import patient_shifts
from ..deid.tabular import drop_identifiers, known_identifiers, pseudonymize
from ..deid.text import token as token_of
from ..errors import ConfigError, MissingInput, SourceError
from ..io.dates import parse_dates
from ..io.readers import (
    LINE,
    REASON_SUFFIX,
    STR,
    apply_mapping,
    header_targets,
    map_values,
    merge_duplicate_headers,
    read_table,
)
from ..quality import checks as qc
from . import _clean
from .base import ModalityData

if TYPE_CHECKING:
    import pyarrow as pa

    from ..deid.registry import IdentifierRegistry
    from ..deid.text import Scrubber
    from ._options import TabularOptions
    from .base import Context, Source

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
log = logging.getLogger(__name__)

_TNM_AXIS = {"ct": "t", "pt": "t", "cn": "n", "pn": "n", "cm": "m", "pm": "m"}
_REPEATING = {"treatments"}  # tables with several records per patient in a wide export




def _text(s: pd.Series) -> pd.Series:
    """Stripped text with "" for missing (a column absent from one source is NaN after concat)."""
    return s.astype(STR).fillna("").str.strip()


def _distinct(s: pd.Series) -> list[str]:
    """Distinct non-empty values as Python strings (fast on Arrow-backed columns)."""
    return [v for v in pd.unique(s.to_numpy(dtype=object, na_value="")) if v]


def internal(col: str) -> bool:
    return col.startswith("_") or col.endswith(REASON_SUFFIX)


# ---------------------------------------------------------------------------------------- load
def load(modality: str, sources: list[Source[TabularOptions]], *, ctx: Context) -> ModalityData:
    """Read every file of every source as text with the cohort's column, value and null mapping."""
    data = ModalityData(modality)
    fields = list({f.name: f for f in dictionary.fields(modality)}.values())
    known = {f.name for f in fields}
    tables = set(dictionary.tables(modality))
    raw: list[pd.DataFrame] = []
    n_files = 0
    bad_files: dict[str, int] = {}
    counts: dict[tuple[str, str], int] = data.objects.setdefault(SOURCE_RECORDS, {})
    notes: dict[tuple[str, str], str] = data.objects.setdefault(SOURCE_NOTES, {})
    maps = _clean.value_maps(modality, ctx)
    for src in sources:
        cfg = src.config
        _check_mapping(src, modality, known, tables)
        for path in src.files:
            n_files += 1
            rel = _relative(path, ctx)
            token = ctx.keyring.token("file", rel)
            try:
                rt = read_table(path, format=cfg.format, encoding=cfg.encoding, sheet=cfg.sheet,
                                sep=src.options.sep, header_row=src.options.header_row)
                # a repeated header is folded into one column; records whose copies disagree are set aside
                frame, conflicts = merge_duplicate_headers(rt.frame, rt.duplicates, columns=cfg.columns, known=known)
                df, unmapped = apply_mapping(frame, columns=cfg.columns, known=known, values=cfg.values,
                                             missing=cfg.missing)
            except SourceError as exc:
                # the message names the file, whose name may hold an identifier (or ": "): keep only the fix
                reason = getattr(exc, "reason", "unreadable_file")
                text = str(exc)
                detail = (text.removeprefix(f"{path.name}: ") if text.startswith(f"{path.name}: ")
                          else text.split(": ", 1)[-1])
                data.quarantine.add(stage="load", source=src.key, record=token, reason=reason, detail=detail)
                bad_files[reason] = bad_files.get(reason, 0) + 1
                counts[(src.key, token)] = 0
                notes[(src.key, token)] = f"unreadable, {reason}: {detail}"
                continue
            counts[(src.key, token)] = rt.n_records
            if rt.empty:
                notes[(src.key, token)] = rt.empty
            mapped = header_targets([c for c in frame.columns if c != LINE], columns=cfg.columns, known=known)
            if rt.has_header:
                _note_missing_headers(data, src, [c for c in frame.columns if c != LINE], mapped, modality)
            # every raw identifier, for the cohort-wide registry (scrubbing, leak scan): mapped
            # identifier fields (records set aside included), and unmapped columns whose header
            # names a person, phone or ID
            note_fields(data.identifiers, df, fields)
            note_unmapped(data.identifiers, rt.frame, unmapped)
            conflict = _quarantine_conflicts(data, src, df, conflicts, mapped)
            if conflict is not None:
                df = df.loc[~conflict]
            df = _clean.clean_values(df, rt, src=src, modality=modality, mapped=mapped, data=data, maps=maps)
            if rt.may_hold_control:  # the identifiers as they are once control characters are removed
                note_fields(data.identifiers, df, fields)
            # dropped, never carried along (a free-text "备注" column may hold anything): but reported
            data.objects.setdefault(UNMAPPED, {}).setdefault(src.key, [len(rt.frame.columns) - 1, []])
            data.objects[UNMAPPED][src.key][1].extend(c for c in unmapped
                                                      if c not in data.objects[UNMAPPED][src.key][1])
            for b in rt.bad_lines:
                data.quarantine.add(stage="load", source=src.key, record=b.record, reason=b.reason,
                                    detail=b.describe(src.site))
            # n_in is the reader's independent count of the file's records, not the parser's row count
            quarantined = Counter(rt.quarantined())
            if conflict is not None:
                quarantined["conflicting_duplicate_header"] += int(conflict.sum())
            data.ledger.record("load", source=src.key, n_in=rt.n_records, n_accepted=len(df),
                               quarantined=dict(quarantined) or None)
            df[SITE] = src.site
            df[SOURCE] = src.key
            df[TABLE] = cfg.table or ""
            df[KEEP_TEXT] = ",".join(src.options.keep_free_text)
            raw.append(df)
    data.ledger.record("load:files", n_in=n_files, n_accepted=n_files - sum(bad_files.values()),
                       quarantined=bad_files or None)
    data.objects["raw"] = raw
    return data


def _note_missing_headers(data: ModalityData, src: Source, headers: list[str], mapped: dict[str, str],
                          modality: str) -> None:
    found: dict[tuple[str, str], list] = data.objects.setdefault(MISSING_HEADERS, {})
    checked: set[tuple[str, str]] = data.objects.setdefault(MISSING_HEADERS + ":checked", set())
    checked.update((src.key, h) for h in src.config.columns)
    for header, target, close in _clean.missing_headers(src, headers, mapped, modality=modality):
        entry = found.setdefault((src.key, header), [target, close, 0])
        entry[2] += 1
    if "admission_number" not in mapped.values():
        data.objects.setdefault(NO_ID_COLUMN, set()).add(src.key)


def _quarantine_conflicts(data: ModalityData, src: Source, df: pd.DataFrame, conflicts: dict[str, pd.Series],
                          mapped: dict[str, str]) -> pd.Series | None:
    """Records where the copies of a repeated header disagree: quarantined (one row per record,
    naming the fields), never first-wins. Returns the mask of those records, None when there are none."""
    if not conflicts:
        return None
    both = pd.DataFrame(conflicts)
    headers = list(both.columns)
    for line, flags in zip(df[LINE].tolist(), both.to_numpy(), strict=True):
        if not flags.any():
            continue
        names = [h for h, hit in zip(headers, flags, strict=True) if hit]
        data.quarantine.add(stage="load", source=src.key, record=f"line {line}",
                            field=",".join(mapped.get(h, h) for h in names), reason="conflicting_duplicate_header",
                            detail=(f"the header(s) {', '.join(map(repr, names))} appear more than once with different "
                                    "values in this record; remove the extra column or map each copy to its own field"))
    return both.any(axis=1)


def identifiers(modality: str, sources: list[Source[TabularOptions]], *, ctx: Context) -> IdentifierRegistry:
    """The raw identifiers :func:`load` notes (the modality hook for the cohort registry)."""
    return load(modality, sources, ctx=ctx).identifiers


def _check_mapping(src: Source[TabularOptions], modality: str, known: set[str], tables: set[str]) -> None:
    """A mapping to a field the dictionary does not have would silently drop a column: refuse it."""
    import difflib

    cfg = src.config
    where = f"cohort.yaml: sources.{src.key}"
    if cfg.table is not None and cfg.table not in tables:
        msg = (f"{where}.table: {cfg.table!r} is not a {modality} table; expected one of "
               f"{', '.join(sorted(tables))} (see `curation dictionary -m {modality}`)")
        raise ConfigError(msg)
    bad = [(f"columns.{header}", target) for header, target in cfg.columns.items() if target not in known]
    bad += [(f"values.{name}", name) for name in cfg.values if name not in known]
    if bad:
        key, value = bad[0]
        hint = difflib.get_close_matches(value, sorted(known), n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"see `curation dictionary -m {modality}` for the fields"
        msg = f"{where}.{key}: {value!r} is not a {modality} dictionary field; {fix}"
        raise ConfigError(msg)


def _relative(path: Path, ctx: Context) -> str:
    try:
        return path.resolve().relative_to(ctx.config.base_dir).as_posix()
    except (ValueError, AttributeError):
        return path.name


# --------------------------------------------------------------------------------- standardize
Derive = Callable[[dict[str, pd.DataFrame], ModalityData, "Context"], None]


def standardize(data: ModalityData, *, ctx: Context, derive: Derive | None = None,
                tokens: dict[str, str] | None = None) -> ModalityData:
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
    invalid: list[pd.DataFrame] = []
    typed: dict[str, pd.DataFrame] = {}
    for table in dictionary.tables(modality):
        fields = dictionary.fields(modality, table)
        typed[table] = _standardize_table(table, fields, raw, data=data, invalid=invalid, tokens=tokens,
                                          scrubber=ctx.scrubber)
    del raw
    if derive is not None:
        derive(typed, data, ctx)
    # values outside their field's domain are never written: null, with the reason and an invalid row
    _clean.enforce_domains(typed, modality, invalid=invalid, patient=PATIENT, row=ROW)
    # one keyed shift per patient for every table (deid.dates.patient_shifts), computed once
    present = [df[PATIENT] for df in typed.values() if len(df)]
    patients = (pd.concat(present, ignore_index=True).dropna().unique() if present
                else np.array([], dtype=object))
    shift = patient_shifts(pd.Series(patients, dtype="string"), keyring=ctx.keyring)
    days = dict(zip(patients, shift.astype("float64"), strict=True))
    for table, df in typed.items():
        dates = [f.name for f in dictionary.fields(modality, table) if f.type == "date" and f.name in df.columns]
        if dates:
            delta = pd.to_timedelta(df[PATIENT].map(days).astype("float64"), unit="D")  # no pseudonym -> NaT
            typed[table] = df.assign(**{c: df[c] + delta for c in dates})
    data.tables = typed
    data.objects[INVALID] = (pd.concat(invalid, ignore_index=True) if invalid
                             else pd.DataFrame(columns=["table", PATIENT, ROW, "field", "rule", "kind"]))
    data.standardized = True
    return data


def _prepare(df: pd.DataFrame, modality: str, *, data: ModalityData, ctx: Context,
             tokens: dict[str, str]) -> pd.DataFrame:
    """Once per raw frame (a wide export feeds several tables): stripped Arrow text, the keyed
    patient pseudonym, keyed tokens, and every raw identifier value noted for the leak scan."""
    fields = {f.name: f for f in dictionary.fields(modality)}
    df = df.copy()
    for col in [c for c in df.columns if c in fields]:
        df[col] = _text(df[col])  # identifier values were noted at load (note_fields)
    if "admission_number" in df.columns:
        ids = pseudonymize(df[["admission_number", SITE]], id_col="admission_number", keyring=ctx.keyring,
                           site_col=SITE, out_col=PATIENT)
        df[PATIENT] = ids[PATIENT]
    if "resident_id" in df.columns:
        uniq = {v: ctx.keyring.token("rid", v) for v in _distinct(df["resident_id"])}
        df["_rid_token"] = map_values(df["resident_id"], uniq)  # keyed: never the ID or a plain hash
    for fld, out_col in tokens.items():
        if fld in df.columns:
            uniq = {v: ctx.keyring.token(out_col, v) for v in _distinct(df[fld])}
            df[out_col] = map_values(df[fld], uniq)
    return df


def _parts(table: str, names: list[str], raw: list[pd.DataFrame], fields: list[dictionary.Field],
           tokens: dict[str, str]) -> pd.DataFrame | None:
    parts = []
    free_text = {f.name for f in fields if f.phi == "free_text"}
    direct = {f.name for f in fields if f.phi == "direct"}  # identifiers alone do not make a record
    for df in raw:
        target = df[TABLE].iat[0] if len(df) else ""
        if target and target != table:
            continue
        present = [n for n in names if n in df.columns]
        content = [n for n in present if n not in direct]
        if not target and not content:
            continue
        keep_text = set(filter(None, (df[KEEP_TEXT].iat[0] if len(df) else "").split(",")))
        present = [n for n in present if n not in free_text or n in keep_text]
        reasons = [n + REASON_SUFFIX for n in present if n + REASON_SUFFIX in df.columns]
        derived = [c for c in (PATIENT, "_rid_token", *tokens.values()) if c in df.columns
                   and (c == PATIENT or (c == "_rid_token" and "resident_id" in names)
                        or (c in tokens.values() and any(tokens.get(n) == c for n in names)))]
        part = df[[*present, *reasons, *derived, ROW, SITE, SOURCE]].copy()
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


def _standardize_table(table: str, fields: list[dictionary.Field], raw: list[pd.DataFrame], *,
                       data: ModalityData, invalid: list[pd.DataFrame], tokens: dict[str, str],
                       scrubber: Scrubber | None = None) -> pd.DataFrame:
    names = [f.name for f in fields]
    frame = _parts(table, names, raw, fields, tokens)
    stage = f"standardize:{table}"
    if frame is None:
        return _empty(fields)
    n_in = len(frame)
    quarantined: dict[str, int] = {}
    excluded: dict[str, int] = {}
    direct = [f.name for f in fields if f.phi == "direct" and f.name in frame.columns]

    # rows of a wide export that hold nothing for this table are not records of it
    content = [n for n in names if n in frame.columns and n not in direct]
    reasons = [c for c in frame.columns if c.endswith(REASON_SUFFIX)]
    if content:
        empty = (frame[content].fillna("") == "").all(axis=1)
        if reasons:
            empty &= frame[reasons].isna().all(axis=1)
        empty &= frame[WIDE].astype(bool)
        if empty.any():
            excluded["no_data"] = int(empty.sum())
            frame = frame.loc[~empty]

    if PATIENT not in frame.columns:
        for line, source in frame[[ROW, SOURCE]].itertuples(index=False):
            data.quarantine.add(stage=stage, source=source, record=f"line {line}",
                                reason="missing_id", field="admission_number",
                                detail="no column maps to admission_number; map the 住院号/MRN header in cohort.yaml")
        data.ledger.record(stage, n_in=n_in, n_accepted=0, quarantined={"missing_id": len(frame)}, excluded=excluded)
        return _empty(fields)

    keep_text = [f.name for f in fields if f.phi == "free_text" and f.name in frame.columns]
    # per-row identifiers to scrub from allow-listed free text (costly: only when there is some)
    known = known_identifiers(frame, direct) if keep_text else None
    no_id = frame[PATIENT].isna()
    if no_id.any():
        no_column = data.objects.get(NO_ID_COLUMN, set())
        for r in frame.loc[no_id, [ROW, SOURCE]].itertuples(index=False):
            detail = ("the source has no admission number column (its mapped header is absent: see "
                      f"{data.modality}.completeness.missing_header); map it in cohort.yaml `columns`"
                      if r[1] in no_column else "empty admission number: the record cannot be linked")
            data.quarantine.add(stage=stage, source=r[1], record=f"line {r[0]}", reason="missing_id",
                                field="admission_number", detail=detail)
        quarantined["missing_id"] = int(no_id.sum())
        frame = frame.loc[~no_id]
        known = known.loc[frame.index] if known is not None else None

    # identifiers stop here: direct columns dropped, allow-listed free text scrubbed
    phi = {f.name: f.phi for f in fields}
    frame = drop_identifiers(frame, phi, keep_text=keep_text, known_by_row=known, scrubber=scrubber)
    frame = frame.drop(columns=[c for c in frame.columns if c.removesuffix(REASON_SUFFIX) in direct
                                and c.endswith(REASON_SUFFIX)])
    frame = _scrub_uncoded(frame, table, fields, data=data, scrubber=scrubber)

    bad_dates = pd.Series(False, index=frame.index)
    for f in fields:
        if f.name not in frame.columns or f.phi == "direct":
            continue
        values, bad, rule = _convert(frame[f.name], f)
        frame[f.name] = values
        if not bad.any():
            continue
        if f.type == "date":
            for r in frame.loc[bad, [PATIENT, ROW, SOURCE]].itertuples(index=False):
                data.quarantine.add(stage=stage, source=r[2], record=f"line {r[1]}", pseudonym=r[0], field=f.name,
                                    reason="unparseable_date",
                                    detail="not a date in an accepted format (2023-01-05, 2023/1/5, 2023年1月5日, "
                                           "20230105, Excel serial); correct it in the export")
            bad_dates |= bad
        else:
            # the value is null now: its reason goes with it (missing_reasons), the record to the checks
            _clean.set_reason(frame, f.name, bad, _clean.reason_for_rule(rule))
            invalid.append(pd.DataFrame({
                "table": table, PATIENT: frame.loc[bad, PATIENT].to_numpy(), ROW: frame.loc[bad, ROW].to_numpy(),
                "field": f.name, "rule": rule, "kind": "allowed" if f.allowed else "type"}))
    if bad_dates.any():
        quarantined["unparseable_date"] = int(bad_dates.sum())
        frame = frame.loc[~bad_dates]

    # a wide export with one row per treatment repeats the patient's other tables on every row
    if table not in _REPEATING and frame[WIDE].any():
        value_cols = [c for c in frame.columns if c not in (ROW, SOURCE, WIDE)]
        rep = frame[WIDE].astype(bool) & frame.duplicated(subset=value_cols, keep="first")
        if rep.any():
            excluded["repeated_row"] = int(rep.sum())
            frame = frame.loc[~rep]
    frame = frame.drop(columns=[WIDE])
    frame[SITE] = frame[SITE].astype(STR)
    data.ledger.record(stage, n_in=n_in, n_accepted=len(frame), quarantined=quarantined or None,
                       excluded=excluded or None)
    front = [PATIENT, SITE]
    return frame[[*front, *[c for c in frame.columns if c not in front]]].reset_index(drop=True)


# Free text hides in fields nobody marked as free text (a regimen cell with "按王主任意见 ..."): a
# value with a space between words, sentence punctuation, or a long run of text is free text.
_FREE = r"\S\s+\S|[，。；;！？!?、：:（）()]|[^\x00-\x7f]{12,}|.{41,}"
# text a name or an address could be written in: scrubbed with every detector. Other values
# (numbers, ranges, codes such as 250000, <0.5, 0-5, EGFR) are compared with the registry whole:
# the number and date detectors would cut a lab result that merely looks like an ID.
_TEXTUAL = r"[^\x00-\x7f]|[A-Za-z]{2,}\s+[A-Za-z]{2,}"


def uncoded(f: dictionary.Field) -> bool:
    """A text field whose values are not constrained to a vocabulary (anything can be typed in)."""
    return f.phi in ("none", "quasi") and f.type in ("string", "code") and not (f.allowed or f.codes) \
        and f.name not in _TNM_AXIS and f.name != "stage_group"


def _scrub_uncoded(frame: pd.DataFrame, table: str, fields: list[dictionary.Field], *, data: ModalityData,
                   scrubber: Scrubber | None) -> pd.DataFrame:
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
                "distinct": len(distinct), "free_text": n_free,
                "scrubbed_values": int(text.isin(changed).sum()) if changed else 0}
        if changed:
            frame[f.name] = map_values(text, {v: clean[v] for v in changed}).fillna(text).astype(STR)
    return frame


def _convert(s: pd.Series, f: dictionary.Field) -> tuple[pd.Series, pd.Series, str]:
    """Typed values, a mask of present-but-invalid inputs, and the rule they break."""
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


# ------------------------------------------------------------------------------ completeness
def completeness(data: ModalityData, modality: str) -> pd.DataFrame:
    """Completeness of every non-identifying field by site (the heatmap's data)."""
    frames = []
    for table, df in data.tables.items():
        view = df
        if "_has_birth_date" in df.columns:
            view = df.assign(birth_date=df["_has_birth_date"].where(df["_has_birth_date"]))
        # optional fields no source provides are not news: leave them out of the heatmap
        names = [f.name for f in dictionary.fields(modality, table) if f.phi != "direct" and not f.derived
                 and (f.required != "optional" or f.name in view.columns)]
        frames.append(qc.completeness_table(view, names, table=table))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --------------------------------------------------------------------------------------- write
def _pandas_dtype(f: dictionary.Field) -> str:
    return {"date": "datetime64[ns]", "integer": "Int64", "number": "float64", "boolean": "boolean"}.get(f.type,
                                                                                                       STR)


def _arrow_type(f: dictionary.Field, *, relative: bool) -> pa.DataType:
    import pyarrow as pa

    if f.type == "date":
        return pa.int32() if relative else pa.date32()
    return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}.get(f.type, pa.string())


def output_frame(df: pd.DataFrame, fields: Iterable[dictionary.Field], *, extra: Iterable[str] = (),
                 relative_to: pd.Series | None = None) -> tuple[pd.DataFrame, pa.Schema]:
    """The written form of a standard table: pseudonym, site, extra token columns, then every
    non-identifying dictionary field (missing ones as nulls), with an explicit Arrow schema."""
    import pyarrow as pa

    fields = [f for f in fields if f.phi != "direct" and f.name != "birth_date"]
    extra = [c for c in extra if c in df.columns]
    out = pd.DataFrame(index=df.index)
    schema_fields = [pa.field(PATIENT, pa.string()), pa.field(SITE, pa.string())]
    out[PATIENT] = df[PATIENT].astype("string")
    out[SITE] = df[SITE].astype("string")
    for c in extra:
        out[c] = df[c].astype("string")
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
            s = s.astype("string")
        out[f.name if not (relative and f.type == "date") else f"{f.name}_days"] = s
        name = f"{f.name}_days" if relative and f.type == "date" else f.name
        schema_fields.append(pa.field(name, _arrow_type(f, relative=relative)))
    return out.reset_index(drop=True), pa.schema(schema_fields)


def missing_reasons(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table of the missing reasons sources gave: table, patient, field, reason."""
    rows = []
    for table, df in tables.items():
        for col in [c for c in df.columns if c.endswith(REASON_SUFFIX)]:
            sub = df.loc[df[col].notna(), [PATIENT, col]]
            if len(sub):
                rows.append(pd.DataFrame({"table": table, PATIENT: sub[PATIENT].to_numpy(),
                                          "field": col.removesuffix(REASON_SUFFIX),
                                          "reason": sub[col].to_numpy()}))
    if not rows:
        return pd.DataFrame({"table": pd.Series([], dtype="string"), PATIENT: pd.Series([], dtype="string"),
                             "field": pd.Series([], dtype="string"), "reason": pd.Series([], dtype="string")})
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
        msg = (f"{modality}: dates.mode is relative, so dates count from each patient's diagnosis, which clinical "
               f"writes to {ANCHORS} in {ctx.bundle.root}; it is not there yet. Run clinical first, into the same "
               f"bundle: curate(\"clinical\", cohort, out=...) in a notebook, or `curation run {ctx.config.path.name} "
               "--only clinical`")
        raise MissingInput(msg)
    df = pd.read_parquet(path)
    return pd.Series(pd.to_datetime(df[DIAGNOSIS]).to_numpy(), index=df[PATIENT].astype(str).to_numpy())


def write(data: ModalityData, *, ctx: Context, extra: dict[str, list[str]] | None = None,
          anchor: tuple[str, str] | None = None) -> list[Path]:
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
            log.warning("%s: the cohort has no clinical sources, so relative dates count from each patient's "
                        "earliest date in each table, not from a diagnosis", modality)
    for table, df in data.tables.items():
        fields = dictionary.fields(modality, table)
        rel = anchors
        if relative and rel is None:
            dates = [f.name for f in fields if f.type == "date" and f.name in df.columns]
            rel = (df[[PATIENT, *dates]].melt(id_vars=PATIENT).groupby(PATIENT)["value"].min()
                   if dates else pd.Series(dtype="datetime64[ns]"))
        out, schema = output_frame(df, fields, extra=(extra or {}).get(table, []),
                                   relative_to=rel if relative else None)
        written.append(ctx.bundle.write_parquet(f"data/{modality}/{table}.parquet", out, schema=schema))
    reasons = missing_reasons(data.tables)
    written.append(ctx.bundle.write_parquet(f"data/{modality}/missing_reasons.parquet", reasons))
    return written
