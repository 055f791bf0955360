"""Value hygiene of the tabular modalities: nothing lost without a reason, nothing written outside
its domain.

At load (per file, per mapped field, before identifiers are noted):

- an Excel error cell or a formula without a cached value (from the reader), and Excel error text
  in a CSV (``#DIV/0!``, ``#N/A`` ...): the value is emptied with reason ``excel_error`` and a
  field-level quarantine note (stage ``load:values``);
- control characters (NUL ...) are removed with a note ``control_characters`` (the reason, when
  nothing is left);
- number fields: NFKC and grouping separators by the source's locale (``options.decimal``);
  date, code and yes/no fields: NFKC;
- coded fields: cohort.yaml ``value_maps`` and then the dictionary's default ``values``, after
  the source's own ``values`` (which :func:`~curation.io.readers.apply_mapping` applied).

After typing and the modality's derive hook (:func:`enforce_domains`):

- a value outside its field's allowed list is set to null with reason ``unmapped_value``;
- a number outside its plausible range is set to null with reason ``out_of_range`` (the age at
  diagnosis is judged on the exact age the clinical derive step keeps in memory);
- a value of a code-list field (ICD-10, ICD-O-3) that is not even shaped like a code is set to null
  with reason ``malformed_code``; the original stays in memory (:func:`raw_column`) for the code
  check. A well-formed code missing from the shipped list is kept and named by that check.

Each nulled value keeps its reason in ``<field>__missing`` (written to missing_reasons.parquet) and
goes to the invalid table, so the conformance and plausibility checks still name the record.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import pandas as pd

from .. import dictionary
from ..io.readers import LINE, REASON_SUFFIX, STR, RawTable, normalize_header
from ..io.values import excel_error_mask, map_declared, nfkc, normalize_numbers, strip_control, value_key

if TYPE_CHECKING:
    from ._options import TabularOptions
    from .base import Context, ModalityData, Source

VALUES_STAGE = "load:values"
NOTE_CAP = 50  # field-level notes listed per source, field and reason; the rest in one summary row
# derived text fields whose plausible range applies to an exact value kept in memory
EXACT = {"age_at_diagnosis": "_age_exact"}
# curation's own missing reasons (beside the sources' not_collected, not_applicable, pending, unknown)
NULLED = (
    "excel_error",
    "control_characters",
    "unmapped_value",
    "out_of_range",
    "not_a_number",
    "not_a_whole_number",
    "not_yes_no",
    "malformed_code",
)
_RULE_REASON = {"not a number": "not_a_number", "not a whole number": "not_a_whole_number", "not yes/no": "not_yes_no"}


def reason_for_rule(rule: str) -> str:
    """The missing reason of a value that could not be typed (by the rule it breaks)."""
    return _RULE_REASON.get(rule, "unmapped_value" if rule.startswith("not one of") else "invalid_value")


def set_reason(df: pd.DataFrame, field: str, mask: pd.Series, reason: str) -> None:
    """Record ``reason`` in ``<field>__missing`` where ``mask`` holds and no reason is there yet."""
    col = field + REASON_SUFFIX
    cur = df[col].astype(STR) if col in df.columns else pd.Series(pd.NA, index=df.index, dtype=STR)
    df[col] = cur.where(~(mask & cur.isna()), reason)


def value_maps(modality: str, ctx: Context) -> dict[str, dict[str, str]]:
    """Field -> declared value map (keys :func:`~curation.io.values.value_key`-normalized): the
    dictionary's defaults overridden by cohort.yaml ``value_maps`` (``field`` or ``modality.field``)."""
    out: dict[str, dict[str, str]] = {}
    for f in dictionary.fields(modality):
        if f.values:
            out.setdefault(f.name, {}).update({value_key(k): v for k, v in f.values})
    declared = getattr(ctx.config, "value_maps", {}) or {}
    for key, mapping in declared.items():
        mod, _, name = key.rpartition(".")
        if mod and mod != modality:
            continue
        out.setdefault(name, {}).update({value_key(k): str(v) for k, v in mapping.items()})
    return out


def _note(data: ModalityData, src: Source, field: str, lines: list[int], reason: str, detail: str) -> None:
    for ln in lines[:NOTE_CAP]:
        data.quarantine.add(
            stage=VALUES_STAGE, source=src.key, record=f"line {ln}", field=field, reason=reason, detail=detail
        )
    if len(lines) > NOTE_CAP:
        data.quarantine.add(
            stage=VALUES_STAGE,
            source=src.key,
            record=f"{len(lines) - NOTE_CAP} more lines",
            field=field,
            reason=reason,
            detail=detail,
        )


def clean_values(
    df: pd.DataFrame,
    rt: RawTable,
    *,
    src: Source[TabularOptions],
    modality: str,
    mapped: dict[str, str],
    data: ModalityData,
    maps: dict[str, dict[str, str]],
) -> pd.DataFrame:
    """The load-time steps of the module docstring on one mapped file (a new frame)."""
    df = df.copy()
    fields = {f.name: f for f in dictionary.fields(modality)}
    decimal = src.options.decimal
    where = f"site {src.site}: " if src.site else ""
    if rt.cells:
        lines_here = set(df[LINE].tolist())
        by_field: dict[tuple[str, str], list[int]] = {}
        for ci in rt.cells:
            field = mapped.get(ci.column)
            if field is None or field not in df.columns or ci.line not in lines_here:
                continue  # an unmapped column, or a record already set aside
            by_field.setdefault((field, ci.detail), []).append(ci.line)
        for (field, detail), lines in by_field.items():
            mask = df[LINE].isin(lines).fillna(False).astype(bool)
            df.loc[mask, field] = ""
            set_reason(df, field, mask, "excel_error")
            _note(data, src, field, lines, "excel_error", f"{where}{detail}; fix the cell in the workbook")
    for field in [c for c in df.columns if c in fields]:
        f = fields[field]
        s = df[field].astype(STR)
        err = excel_error_mask(s)
        if err.any():
            s = s.where(~err, "")
            set_reason(df, field, err, "excel_error")
            _note(
                data,
                src,
                field,
                df.loc[err, LINE].tolist(),
                "excel_error",
                f"{where}an Excel error (#DIV/0!, #N/A ...) exported as text; fix the formula and re-export",
            )
        if rt.may_hold_control:
            clean, had = strip_control(s)
            if had.any():
                codes = sorted({f"U+{ord(ch):04X}" for v in s[had].head(200) for ch in str(v) if _is_control(ch)})
                s = clean
                set_reason(df, field, had & (s.fillna("").str.strip() == ""), "control_characters")
                _note(
                    data,
                    src,
                    field,
                    df.loc[had, LINE].tolist(),
                    "control_characters",
                    f"{where}control character(s) {', '.join(codes[:5])} removed from the value; fix the export",
                )
        if f.phi not in ("direct", "free_text"):
            if f.type in ("integer", "number"):
                s = normalize_numbers(s, decimal=decimal)
            elif f.type in ("date", "code", "boolean"):
                s = nfkc(s)
        if field in maps:
            s = map_declared(s, maps[field])
        df[field] = s
    return df


def _is_control(ch: str) -> bool:
    o = ord(ch)
    return (o < 0x20 and ch not in "\t\n\r") or (0x7F <= o <= 0x9F and o != 0x85)


# ------------------------------------------------------------------------------------ headers
def missing_headers(
    src: Source, headers: list[str], mapped: dict[str, str], *, modality: str
) -> list[tuple[str, str, list[str]]]:
    """Mapped headers absent from a file: (expected header, its field, closest headers present).

    Expected are the ``columns`` entries whose field no other header of the file provides and
    that belong to a table the file feeds (its ``table:``, or for a wide export the tables of the
    fields it has): a column map shared by a site's files does not make every file miss the
    others' headers. A file that provides no field at all misses every mapped header.
    """
    fields = dictionary.fields(modality)
    tables_of: dict[str, set[str]] = {}
    direct = {f.name for f in fields if f.phi == "direct"}
    for f in fields:
        tables_of.setdefault(f.name, set()).add(f.table)
    present = set(mapped.values())
    cfg = src.config
    fed = {cfg.table} if cfg.table else {t for fld in present - direct for t in tables_of.get(fld, ())}
    others = [h for h in headers if h not in mapped]
    out = []
    for header, target in cfg.columns.items():
        if target in present or target not in tables_of or (fed and not tables_of[target] & fed):
            continue
        close = difflib.get_close_matches(normalize_header(header), others, n=3, cutoff=0.5)
        out.append((normalize_header(header), target, close))
        present.add(target)  # one finding per field, not one per alternative spelling
    return out


# ------------------------------------------------------------------------------------ domains
def _bound(v: float | None) -> str:
    return "" if v is None else f"{v}"


def _outside(s: pd.Series, allowed: tuple[str, ...]) -> pd.Series:
    """Present values not in ``allowed`` (compared in the column's own type: no copy of a large column)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        ok = s.isin(pd.to_numeric(pd.Series(list(allowed)), errors="coerce").dropna().tolist())
        return s.notna() & ~ok
    present = s.notna() & (s.astype(STR) != "") if s.dtype == object else s.notna() & (s != "")
    return present & ~s.isin(list(allowed))


def raw_column(field: str) -> str:
    """In-memory column holding a value that was nulled (never written: it starts with ``_``)."""
    return f"_{field}_raw"


def enforce_domains(
    typed: dict[str, pd.DataFrame], modality: str, *, invalid: list[pd.DataFrame], patient: str, row: str
) -> None:
    """The standardize-time steps of the module docstring, on every standard table (in place)."""
    for table, df in list(typed.items()):
        out = df
        for f in dictionary.fields(modality, table):
            if f.phi == "direct" or f.name not in df.columns or not len(df):
                continue
            kind = ""
            if f.allowed and f.derived:
                continue  # coded by the modality's own derive step (censored, abnormal): in its domain by construction
            if f.allowed:
                bad = _outside(df[f.name], f.allowed)
                rule, reason, kind = f"not one of {', '.join(f.allowed)}", "unmapped_value", "allowed"
            elif f.codes:
                # a value that is not even shaped like a code of its system (free text typed into
                # the code field: "肺癌 待查") is not written; a well-formed code that the shipped
                # list lacks is kept, and the code check names both
                s = df[f.name]
                present = s.notna() & (s.astype(STR).str.strip() != "")
                bad = present & ~dictionary.codes(f.codes).well_formed(s)
                rule, reason = f"malformed {f.code_system or f.codes} code", "malformed_code"
                if bad.fillna(False).any():
                    out = df.copy() if out is df else out
                    out[raw_column(f.name)] = s.where(bad.fillna(False))  # in memory, for the check
            elif f.min is not None or f.max is not None:
                exact = EXACT.get(f.name)
                if f.type in ("integer", "number"):
                    num = pd.to_numeric(df[f.name], errors="coerce")
                    kind = "range"
                elif exact in df.columns:
                    num = pd.to_numeric(df[exact], errors="coerce")  # the modality's own check names it
                else:
                    continue
                bad = pd.Series(False, index=df.index)
                if f.min is not None:
                    bad |= num < f.min
                if f.max is not None:
                    bad |= num > f.max
                rule = f"outside the plausible range {_bound(f.min)}–{_bound(f.max)}"
                reason = "out_of_range"
            else:
                continue
            bad = bad.fillna(False).astype(bool)
            if not bad.any():
                continue
            if out is df:
                out = df.copy()
            out[f.name] = out[f.name].mask(bad)
            set_reason(out, f.name, bad, reason)
            if kind:
                # the value itself stays in memory: the notebook's value-mapping widget lists the distinct ones
                invalid.append(
                    pd.DataFrame(
                        {
                            "table": table,
                            patient: out.loc[bad, patient].to_numpy(),
                            row: out.loc[bad, row].to_numpy(),
                            "field": f.name,
                            "rule": rule,
                            "kind": kind,
                            "value": df.loc[bad, f.name].astype(STR).to_numpy(),
                        }
                    )
                )
        typed[table] = out
