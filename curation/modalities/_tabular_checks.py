"""The checks every tabular modality runs (clinical, pathology, exposure, lab), declared once.

They read the dictionary of ``data.modality`` and what the shared pipeline (:mod:`._tabular`) noted
while loading and typing: values that could not be typed or were nulled (``data.objects['invalid']``),
unmapped columns, mapped headers a source lacks, text found in fields not marked free text.
:func:`checks_for` gives a modality these checks followed by its own; an own check with the id of
a shared one replaces it (lab judges plausibility per analyte, not per field).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import dictionary
from ..quality import WARN_ONLY, Check, Dimension, Outcome, Severity, combine, failures
from ..quality import checks as qc
from ._tabular import FREE_TEXT, INVALID, MISSING_HEADERS, UNMAPPED, uncoded
from ._tabular._relative_days import DAYS, present, used_columns

if TYPE_CHECKING:
    from .base import Context, ModalityData

__all__ = [
    "ALLOWED_VALUES",
    "FREE_TEXT_CHECK",
    "MISSING_HEADER",
    "RANGE",
    "TYPES",
    "UNMAPPED_COLUMNS",
    "checks_for",
    "completeness_checks",
]


def _invalid(data: ModalityData, kind: str) -> pd.DataFrame | None:
    """Values of one kind (allowed, type, range) set to null while typing, named by record."""
    invalid = data.objects.get(INVALID)
    if invalid is None or not len(invalid):
        return None
    return invalid[invalid["kind"] == kind]


def _named(bad: pd.DataFrame) -> Outcome:
    return Outcome(len(bad), failures=failures(bad, field=bad["field"].tolist(), rule=bad["rule"].tolist()))


def _completeness(table: str, field: dictionary.Field) -> Callable[[ModalityData, Context], list[Outcome]]:
    def check(data: ModalityData, ctx: Context) -> list[Outcome]:
        df = data.tables.get(table)
        if df is None:
            return []
        if field.name == "birth_date":  # generalized at standardize: judged on whether one was given
            has = df["_has_birth_date"] if "_has_birth_date" in df.columns else None
            df = df.assign(birth_date=pd.NA if has is None else has.where(has))
        elif field.type == "date" and field.name + DAYS in df.columns:  # given as days from an index event
            has = present(df, field.name)
            df = df.assign(**{field.name: has.where(has)})
        return qc.check_completeness(df, field.name, required=field.required)

    return check


def completeness_checks(modality: str) -> list[Check]:
    """One completeness check per required or recommended field of every table of the modality."""
    out = []
    for table in dictionary.tables(modality):
        for f in dictionary.fields(modality, table):
            if f.phi == "direct" or f.derived or f.required == "optional":
                continue
            severity, threshold = qc.REQUIRED_LEVELS[f.required]
            out.append(
                Check(
                    f"completeness.{f.name}",
                    Dimension.COMPLETENESS,
                    _completeness(table, f),
                    severity=severity,
                    threshold=threshold,
                    description=f"{table}.{f.name} present ({f.required})",
                )
            )
    return out


def check_allowed_values(data: ModalityData, ctx: Context) -> Outcome:
    """Values outside their field's allowed list, including those set to null while typing."""
    parts = [
        qc.check_allowed(
            df, {f.name: f.allowed for f in dictionary.fields(data.modality, table) if f.allowed and f.phi != "direct"}
        )
        for table, df in data.tables.items()
    ]
    bad = _invalid(data, "allowed")
    if bad is not None:
        parts.append(_named(bad))
    got = combine(parts)
    return replace(
        got,
        message=(
            f"{got.count} of {got.n_checked} values not among their field's allowed values "
            "(set to null, reason unmapped_value: map them in cohort.yaml value_maps)"
            if got.count
            else f"{got.n_checked} values, all allowed"
        ),
    )


def check_types(data: ModalityData, ctx: Context) -> Outcome:
    """Values that could not be typed (not a number, not a date ...)."""
    n = sum(len(df) for df in data.tables.values())
    bad = _invalid(data, "type")
    return Outcome(n) if bad is None or not len(bad) else replace(_named(bad), n_checked=n)


def check_ranges(data: ModalityData, ctx: Context) -> Outcome:
    """Numbers outside their field's plausible range, including those set to null (out_of_range)."""
    parts = []
    for table, df in data.tables.items():
        ranges = {
            f.name: (f.min, f.max)
            for f in dictionary.fields(data.modality, table)
            if (f.min is not None or f.max is not None) and f.type in ("integer", "number") and not f.allowed
        }  # allowed lists are conformance's business
        parts.append(qc.check_range(df, ranges))
    bad = _invalid(data, "range")
    if bad is not None:
        parts.append(_named(bad))
    got = combine(parts)
    nulled = 0 if bad is None else len(bad)
    return replace(
        got,
        message=f"{got.count} of {got.n_checked} values outside their plausible range"
        + (f" ({nulled} set to null, reason out_of_range)" if nulled else ""),
    )


def check_missing_headers(data: ModalityData, ctx: Context) -> Outcome:
    """Headers cohort.yaml maps that a source does not have: one failure per source and header."""
    found: dict[tuple[str, str], list[Any]] = data.objects.get(MISSING_HEADERS, {})
    n = len(data.objects.get(MISSING_HEADERS + ":checked", set()))
    items = sorted(found.items())
    rules = []
    for (key, header), (target, close, n_files) in items:
        near = (
            f"closest headers present: {', '.join(map(repr, close))}" if close else "no header present is close to it"
        )
        files = f" ({n_files} files)" if n_files > 1 else ""
        rules.append(
            f"{key}: mapped header {header!r} (-> {target}) is not in the source{files}; {near}; "
            "fix `columns:` in cohort.yaml or the export"
        )
    return Outcome(
        max(n, len(items)),
        failures=failures(field=[target for _, (target, _, _) in items], rule=rules),
        message=(
            f"{len(items)} mapped header(s) absent from their source"
            if items
            else "every mapped header a source needs is present"
        ),
    )


def check_unmapped_columns(data: ModalityData, ctx: Context) -> Outcome:
    """Source columns that map to no dictionary field (dropped): informational, for the curator."""
    found: dict[str, list[Any]] = data.objects.get(UNMAPPED, {})
    used = used_columns(ctx.config, data.modality)  # read by options.relative_dates, not dropped
    headers = [(key, h) for key, (_, hs) in found.items() for h in hs if h not in used.get(key, ())]
    return Outcome(
        sum(n for n, _ in found.values()),
        failures=failures(
            field=[h for _, h in headers],
            rule=[f"{key}: source column mapped to no dictionary field (dropped)" for key, _ in headers],
        ),
        message=f"{len(headers)} source column(s) not mapped to the dictionary and dropped",
    )


def check_free_text(data: ModalityData, ctx: Context) -> Outcome:
    """Uncoded text fields whose values look like free text or held identifiers (scrubbed)."""
    found: dict[tuple[str, str], dict[str, int]] = data.objects.get(FREE_TEXT, {})
    n = sum(
        1
        for t, df in data.tables.items()
        for f in dictionary.fields(data.modality, t)
        if f.name in df.columns and uncoded(f)
    )
    items = sorted(found.items())
    return Outcome(
        n,
        failures=failures(
            field=[f"{t}.{name}" for (t, name), _ in items],
            rule=[
                f"{c['free_text']} of {c['distinct']} distinct values look like free text; {c['scrubbed_values']} "
                "value(s) had identifiers removed. It was scrubbed as free text: mark the field free_text in the "
                "data dictionary, or map it to coded values"
                for _, c in items
            ],
        ),
        message=(
            f"{len(items)} text field(s) not marked free text hold free text or identifiers (scrubbed)"
            if items
            else "no free text in fields not marked as free text"
        ),
    )


MISSING_HEADER = Check(
    "completeness.missing_header",
    Dimension.COMPLETENESS,
    check_missing_headers,
    description="headers cohort.yaml maps that a source lacks, with the closest ones present",
)
ALLOWED_VALUES = Check(
    "conformance.allowed_values",
    Dimension.CONFORMANCE,
    check_allowed_values,
    description="values outside their field's allowed list",
)
TYPES = Check(
    "conformance.types",
    Dimension.CONFORMANCE,
    check_types,
    description="values that could not be typed as their field's type",
)
RANGE = Check(
    "plausibility.range", Dimension.ACCURACY, check_ranges, description="numbers outside their field's plausible range"
)
UNMAPPED_COLUMNS = Check(
    "conformance.unmapped_columns",
    Dimension.CONFORMANCE,
    check_unmapped_columns,
    severity=Severity.INFO,
    threshold=WARN_ONLY,
    description="source columns mapped to no dictionary field (dropped)",
)
FREE_TEXT_CHECK = Check(
    "conformance.unannotated_free_text",
    Dimension.CONFORMANCE,
    check_free_text,
    severity=Severity.MINOR,
    threshold=WARN_ONLY,
    description="text fields not marked free text that hold free text or identifiers",
)


def checks_for(modality: str, own: Sequence[Check] = ()) -> list[Check]:
    """The shared checks of a tabular modality, then its ``own``; an own check whose id is that of a
    shared one takes its place."""
    shared = [
        qc.SOURCE_EMPTY,
        qc.ANY_ACCEPTED,
        MISSING_HEADER,
        *completeness_checks(modality),
        ALLOWED_VALUES,
        TYPES,
        RANGE,
        UNMAPPED_COLUMNS,
        FREE_TEXT_CHECK,
    ]
    mine = {c.id: c for c in own}
    out = [mine.pop(c.id, c) for c in shared]
    return out + [c for c in own if c.id in mine]
