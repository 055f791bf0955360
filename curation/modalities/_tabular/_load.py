"""Load: every configured file read as text with the cohort's column, value and null mapping;
malformed lines and unreadable files quarantined, never skipped silently."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from ... import dictionary
from ...deid.collect import note_fields, note_unmapped
from ...errors import ConfigError, SourceError
from ...io.readers import (
    LINE,
    apply_mapping,
    header_targets,
    merge_duplicate_headers,
    read_table,
)
from ...security.consent import RULE as CONSENT_RULE
from ...security.consent import consent_of
from .. import _clean
from ..base import ModalityData
from ._common import (
    KEEP_TEXT,
    MISSING_HEADERS,
    NO_ID_COLUMN,
    SITE,
    SOURCE,
    SOURCE_NOTES,
    SOURCE_RECORDS,
    TABLE,
    UNMAPPED,
)
from ._relative_days import attach as attach_relative

if TYPE_CHECKING:
    from ...deid.registry import IdentifierRegistry
    from .._options import TabularOptions
    from ..base import Context, Source


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
                rt = read_table(
                    path,
                    format=cfg.format,
                    encoding=cfg.encoding,
                    sheet=cfg.sheet,
                    sep=src.options.sep,
                    header_row=src.options.header_row,
                )
                # a repeated header is folded into one column; records whose copies disagree are set aside
                frame, conflicts = merge_duplicate_headers(rt.frame, rt.duplicates, columns=cfg.columns, known=known)
                df, unmapped = apply_mapping(
                    frame, columns=cfg.columns, known=known, values=cfg.values, missing=cfg.missing
                )
                _where_columns(frame, src, tables)
                df = attach_relative(df, frame, src, modality=modality)  # options.relative_dates
            except SourceError as exc:
                # the message names the file, whose name may hold an identifier (or ": "): keep only the fix
                reason = getattr(exc, "reason", "unreadable_file")
                text = str(exc)
                detail = (
                    text.removeprefix(f"{path.name}: ")
                    if text.startswith(f"{path.name}: ")
                    else text.split(": ", 1)[-1]
                )
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
            df, filtered = _where(df, frame, src)  # options.where: rows kept out of the modality, counted
            # consent withdrawn: the patient's records stop here, counted, never written
            df, withdrawn = consent_of(ctx.config, ctx.keyring).drop(
                df, modality=modality, keyring=ctx.keyring, id_col="admission_number", site=src.site
            )
            df = _clean.clean_values(df, rt, src=src, modality=modality, mapped=mapped, data=data, maps=maps)
            if rt.may_hold_control:  # the identifiers as they are once control characters are removed
                note_fields(data.identifiers, df, fields)
            # dropped, never carried along (a free-text "备注" column may hold anything): but reported
            data.objects.setdefault(UNMAPPED, {}).setdefault(src.key, [len(rt.frame.columns) - 1, []])
            data.objects[UNMAPPED][src.key][1].extend(
                c for c in unmapped if c not in data.objects[UNMAPPED][src.key][1]
            )
            for b in rt.bad_lines:
                data.quarantine.add(
                    stage="load", source=src.key, record=b.record, reason=b.reason, detail=b.describe(src.site)
                )
            # n_in is the reader's independent count of the file's records, not the parser's row count
            quarantined = Counter(rt.quarantined())
            if conflict is not None:
                quarantined["conflicting_duplicate_header"] += int(conflict.sum())
            data.ledger.record(
                "load",
                source=src.key,
                n_in=rt.n_records,
                n_accepted=len(df),
                quarantined=dict(quarantined) or None,
                excluded={**({CONSENT_RULE: withdrawn} if withdrawn else {}), **filtered} or None,
            )
            # Arrow text (one value taken per row), as standardize keeps it: pseudonyms are keyed per
            # (site, id) pair, and factorizing 1M Python strings took 0.1-0.3 s
            one = pa.array([src.site], type=pa.large_string())
            df[SITE] = pd.Series(
                pd.arrays.ArrowStringArray(one.take(np.zeros(len(df), dtype=np.int64))), index=df.index
            )
            df[SOURCE] = src.key
            df[TABLE] = cfg.table or ""
            df[KEEP_TEXT] = ",".join(src.options.keep_free_text)
            raw.append(df)
    data.ledger.record(
        "load:files", n_in=n_files, n_accepted=n_files - sum(bad_files.values()), quarantined=bad_files or None
    )
    data.objects["raw"] = raw
    return data


def _note_missing_headers(
    data: ModalityData, src: Source, headers: list[str], mapped: dict[str, str], modality: str
) -> None:
    found: dict[tuple[str, str], list] = data.objects.setdefault(MISSING_HEADERS, {})
    checked: set[tuple[str, str]] = data.objects.setdefault(MISSING_HEADERS + ":checked", set())
    checked.update((src.key, h) for h in src.config.columns)
    for header, target, close in _clean.missing_headers(src, headers, mapped, modality=modality):
        entry = found.setdefault((src.key, header), [target, close, 0])
        entry[2] += 1
    if "admission_number" not in mapped.values():
        data.objects.setdefault(NO_ID_COLUMN, set()).add(src.key)


def _quarantine_conflicts(
    data: ModalityData, src: Source, df: pd.DataFrame, conflicts: dict[str, pd.Series], mapped: dict[str, str]
) -> pd.Series | None:
    """Records where the copies of a repeated header disagree: quarantined (one row per record,
    naming the fields), never first-wins. Returns the mask of those records, None when there are none."""
    if not conflicts:
        return None
    both = pd.DataFrame(conflicts)
    headers = list(both.columns)
    hit = both.any(axis=1).to_numpy()  # a row per conflicting record, not a Python step per record
    for line, flags in zip(df[LINE].to_numpy()[hit].tolist(), both.to_numpy()[hit], strict=True):
        names = [h for h, hit in zip(headers, flags, strict=True) if hit]
        data.quarantine.add(
            stage="load",
            source=src.key,
            record=f"line {line}",
            field=",".join(mapped.get(h, h) for h in names),
            reason="conflicting_duplicate_header",
            detail=(
                f"the header(s) {', '.join(map(repr, names))} appear more than once with different "
                "values in this record; remove the extra column or map each copy to its own field"
            ),
        )
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
        msg = (
            f"{where}.table: {cfg.table!r} is not a {modality} table; expected one of "
            f"{', '.join(sorted(tables))} (see `curation dictionary -m {modality}`)"
        )
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


def _where_columns(frame: pd.DataFrame, src: Source[TabularOptions], tables: set[str]) -> None:
    """A column named in ``options.where`` that the file lacks, or a table the modality does not have:
    the file cannot be filtered (a finding)."""
    from ...io.readers import SourceReadError

    wrong = sorted({r.table for r in src.options.where.values() if r.table and r.table not in tables})
    if wrong:
        msg = f"{src.key} options.where table(s) {', '.join(wrong)} unknown (one of {', '.join(sorted(tables))})"
        raise SourceReadError(msg, reason="missing_columns")
    absent = [c for c in src.options.where if c not in frame.columns]
    if absent:
        msg = (
            f"{src.key} options.where column(s) {', '.join(map(repr, absent))} not in the file; name the "
            "source column as its header reads"
        )
        raise SourceReadError(msg, reason="missing_columns")


def _where(df: pd.DataFrame, frame: pd.DataFrame, src: Source[TabularOptions]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows ``options.where`` keeps, and the rows each rule drops (``where:<column>``; a row is
    counted under the first rule that drops it)."""
    if not src.options.where:
        return df, {}
    keep = pd.Series(True, index=df.index)
    dropped: dict[str, int] = {}
    for col, rule in src.options.where.items():
        text = frame[col].reindex(df.index).astype("string").fillna("").str.strip().str.lower()
        listed = text.isin({v.strip().lower() for v in (rule.in_ if rule.in_ is not None else rule.not_in or ())})
        drop = (~listed if rule.in_ is not None else listed).fillna(False).astype(bool)
        if rule.table:  # out of one table only: marked here, dropped and counted when that table is built
            mark = where_column(rule.table)
            prev = df[mark] if mark in df.columns else pd.Series("", index=df.index)
            df = df.assign(**{mark: prev.where(prev != "", drop.map({True: f"where:{col}", False: ""}))})
            continue
        drop &= keep
        if drop.any():
            dropped[f"where:{col}"] = int(drop.sum())
        keep &= ~drop
    return df.loc[keep.to_numpy()], dropped


def where_column(table: str) -> str:
    """The column marking rows ``options.where`` keeps out of ``table`` (the rule's name, "" to keep)."""
    return f"_where_{table}"
