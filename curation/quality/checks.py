"""Generic, reusable checks over standardized tables.

Every function takes a tidy frame that carries the patient pseudonym (``patient``), the source row
(``_line``) and the site (``site``), and returns :class:`CheckResult` objects whose failures name
pseudonym, row, field and rule, never a raw value of an identifying field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from .model import (
    FAILURE_COLUMNS,
    STRICT,
    CheckResult,
    Dimension,
    Severity,
    Threshold,
    failures_frame,
    make_result,
)

__all__ = ["check_allowed", "check_codes", "check_completeness", "check_date_order", "check_range",
           "check_same_person", "check_source_empty", "check_timeliness", "check_unique", "completeness_table"]

PATIENT, ROW, SITE = "patient", "_line", "site"
NOT_APPLICABLE = "not_applicable"


def _rows(df: pd.DataFrame) -> pd.Series:
    return df[ROW] if ROW in df.columns else pd.Series(df.index, index=df.index)


def _fail(check_id: str, modality: str, df: pd.DataFrame, mask: pd.Series, field: str | Iterable[str],
          rule: str | Iterable[str]) -> pd.DataFrame:
    sub = df.loc[mask]
    if not isinstance(field, str):
        field = list(field)
    if not isinstance(rule, str):
        rule = list(rule)
    return failures_frame(check_id, modality, pseudonym=sub[PATIENT] if PATIENT in sub else [""] * len(sub),
                          row=_rows(sub), field=field, rule=rule)


def _missing(df: pd.DataFrame, field: str) -> tuple[pd.Series, pd.Series]:
    """(missing, not_applicable) masks: a value the source marked not applicable is not missing."""
    if field not in df.columns:
        miss = pd.Series(True, index=df.index)
    else:
        s = df[field]
        miss = s.isna()
        if s.dtype == object:
            miss |= s.astype("string").str.strip().fillna("") == ""
        elif isinstance(s.dtype, pd.StringDtype):  # standardized text: stripped, "" already missing
            miss |= (s == "").fillna(False).astype(bool)
    reason = df.get(f"{field}__missing")
    na = ((reason == NOT_APPLICABLE).fillna(False).astype(bool) if reason is not None
          else pd.Series(False, index=df.index))
    return (miss & ~na).astype(bool), (miss & na).astype(bool)


def completeness_table(df: pd.DataFrame, fields: Sequence[str], *, table: str = "") -> pd.DataFrame:
    """Completeness per field and site (and ``all``): n records, n present, n not applicable, fraction."""
    rows = []
    sites = sorted(df[SITE].dropna().astype(str).unique()) if SITE in df.columns else []
    for field in fields:
        miss, na = _missing(df, field)
        for site in [*sites, "all"]:
            sel = (df[SITE].astype(str) == site) if site != "all" else pd.Series(True, index=df.index)
            n = int(sel.sum() - (na & sel).sum())
            present = int(n - (miss & sel).sum())
            rows.append({"table": table, "field": field, "site": site, "n": n, "n_present": present,
                         "n_not_applicable": int((na & sel).sum()),
                         "completeness": present / n if n else float("nan")})
    return pd.DataFrame(rows, columns=["table", "field", "site", "n", "n_present", "n_not_applicable",
                                       "completeness"])


def check_completeness(df: pd.DataFrame, field: str, *, check_id: str, modality: str, required: str = "required",
                       threshold: Threshold | None = None, per_site: bool = True) -> list[CheckResult]:
    """Missing values of one field against its required level: the overall result (with the failing
    records) first, then one result per site (counts only) when there are several sites.

    Values the source marked ``not_applicable`` count as neither present nor missing.
    """
    if threshold is None:
        threshold = STRICT if required == "required" else Threshold(0.05, 0.5)
    severity = Severity.MAJOR if required == "required" else Severity.MINOR
    miss, na = _missing(df, field)
    reason = df.get(f"{field}__missing")
    rules = (("missing: " + reason.loc[miss].fillna("no value").astype(str)).tolist() if reason is not None
             else f"missing ({required})")
    failures = _fail(check_id, modality, df, miss, field, rules)
    n = int(len(df) - na.sum())
    out = [make_result(check_id, modality, Dimension.COMPLETENESS, n_checked=n, failures=failures,
                       severity=severity, threshold=threshold,
                       message=f"{field} ({required}): {int(miss.sum())} of {n} missing"
                               + (f", {int(na.sum())} not applicable" if na.any() else ""))]
    sites = sorted(df[SITE].dropna().astype(str).unique()) if SITE in df.columns else []
    if per_site and len(sites) > 1:
        for site in sites:
            sel = df[SITE].astype(str) == site
            n_site = int(sel.sum() - (na & sel).sum())
            k = int((miss & sel).sum())
            out.append(make_result(check_id, modality, Dimension.COMPLETENESS, n_checked=n_site, n_failed=k,
                                   severity=severity, threshold=threshold, site=site,
                                   message=f"site {site}: {field} ({required}): {k} of {n_site} missing"))
    return out


def check_allowed(df: pd.DataFrame, allowed: Mapping[str, Sequence[str]], *, check_id: str, modality: str,
                  extra: pd.DataFrame | None = None, threshold: Threshold = STRICT) -> CheckResult:
    """Values outside their field's allowed list (missing values are completeness's business).

    ``extra``: failures found earlier (values that could not even be typed), in FAILURE_COLUMNS form.
    """
    frames = []
    n_checked = 0
    for field, values in allowed.items():
        if field not in df.columns:
            continue
        s = df[field]
        present = s.notna()
        n_checked += int(present.sum())
        ok = s.astype("string[pyarrow]").isin([str(v) for v in values])
        bad = (present & ~ok.fillna(False)).astype(bool)
        if bad.any():
            frames.append(_fail(check_id, modality, df, bad, field,
                                f"not one of {', '.join(map(str, values))}"))
    if extra is not None and len(extra):
        frames.append(extra.assign(check_id=check_id, modality=modality)[FAILURE_COLUMNS])
        n_checked += len(extra)
    failures = pd.concat(frames, ignore_index=True) if frames else None
    return make_result(check_id, modality, Dimension.CONFORMANCE, n_checked=n_checked, failures=failures,
                       threshold=threshold)


def check_codes(df: pd.DataFrame, field: str, codelist: object, *, check_id: str, modality: str,
                threshold: Threshold = STRICT) -> CheckResult:
    """Codes that are malformed (the system's pattern) or not in the shipped list of valid codes."""
    if field not in df.columns:
        return make_result(check_id, modality, Dimension.CONFORMANCE, n_checked=0, threshold=threshold,
                           message=f"{field}: not in the data")
    s = df[field]
    raw = f"_{field}_raw"  # a malformed code nulled at standardize (modalities/_clean.py) is still named
    if raw in df.columns:
        s = s.where(s.notna(), df[raw])
    present = (s.notna() & (s.astype("string[pyarrow]") != "")).fillna(False).astype(bool)
    valid = codelist.valid(s)  # type: ignore[attr-defined]
    formed = codelist.well_formed(s)  # type: ignore[attr-defined]
    bad = (present & ~valid).astype(bool)
    rules = ["malformed code" if not f else "not in the list of valid lung codes" for f in formed[bad]]
    failures = _fail(check_id, modality, df, bad, field, rules)
    return make_result(check_id, modality, Dimension.CONFORMANCE, n_checked=int(present.sum()), failures=failures,
                       threshold=threshold,
                       message=f"{field}: {int(bad.sum())} of {int(present.sum())} codes malformed or not valid")


def check_range(df: pd.DataFrame, ranges: Mapping[str, tuple[float | None, float | None]], *, check_id: str,
                modality: str, dimension: Dimension = Dimension.ACCURACY, threshold: Threshold = STRICT,
                labels: Mapping[str, str] | None = None) -> CheckResult:
    """Numeric values outside their plausible range ([min, max], inclusive)."""
    frames = []
    n_checked = 0
    for field, (lo, hi) in ranges.items():
        if field not in df.columns:
            continue
        s = pd.to_numeric(df[field], errors="coerce")
        present = s.notna()
        n_checked += int(present.sum())
        bad = pd.Series(False, index=df.index)
        if lo is not None:
            bad |= s < lo
        if hi is not None:
            bad |= s > hi
        bad = (bad & present).fillna(False).astype(bool)
        if bad.any():
            name = (labels or {}).get(field, field)
            frames.append(_fail(check_id, modality, df, bad, name,
                                f"outside the plausible range {'' if lo is None else lo}–{'' if hi is None else hi}"))
    failures = pd.concat(frames, ignore_index=True) if frames else None
    return make_result(check_id, modality, dimension, n_checked=n_checked, failures=failures, threshold=threshold)


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    d = later - earlier
    if pd.api.types.is_timedelta64_dtype(d):
        return d / pd.Timedelta(days=1)
    return pd.to_numeric(d, errors="coerce")


def check_date_order(df: pd.DataFrame, pairs: Sequence[tuple[str, str, str]], *, check_id: str, modality: str,
                     tolerance_days: float = 0, threshold: Threshold = STRICT) -> CheckResult:
    """For each (earlier, later, field to blame): records where ``later`` precedes ``earlier``.

    Records missing either date are not checked for that pair.
    """
    frames = []
    n_checked = 0
    for earlier, later, blame in pairs:
        if earlier not in df.columns or later not in df.columns:
            continue
        both = df[earlier].notna() & df[later].notna()
        n_checked += int(both.sum())
        gap = _days(df[later], df[earlier])
        bad = (both & (gap < -tolerance_days)).fillna(False).astype(bool)
        if bad.any():
            frames.append(_fail(check_id, modality, df, bad, blame, f"{later} before {earlier}"))
    failures = pd.concat(frames, ignore_index=True) if frames else None
    return make_result(check_id, modality, Dimension.CONSISTENCY, n_checked=n_checked, failures=failures,
                       threshold=threshold)


def check_unique(df: pd.DataFrame, keys: Sequence[str], *, check_id: str, modality: str, field: str = "",
                 threshold: Threshold = STRICT) -> CheckResult:
    """Records that share their key with another record (every copy is reported)."""
    keys = [k for k in keys if k in df.columns]
    if not keys:
        return make_result(check_id, modality, Dimension.UNIQUENESS, n_checked=0, threshold=threshold)
    present = df[keys].notna().all(axis=1)
    dup = (present & df.duplicated(subset=keys, keep=False)).astype(bool)
    failures = _fail(check_id, modality, df, dup, field or "+".join(keys),
                     f"{' + '.join(keys)} is not unique")
    return make_result(check_id, modality, Dimension.UNIQUENESS, n_checked=int(present.sum()), failures=failures,
                       threshold=threshold)


def check_same_person(df: pd.DataFrame, token: str, *, check_id: str, modality: str, field: str,
                      threshold: Threshold = STRICT) -> CheckResult:
    """One person under several pseudonyms: a keyed token (e.g. of the resident ID) shared by
    records of different patients. Every patient involved is reported."""
    if token not in df.columns:
        return make_result(check_id, modality, Dimension.UNIQUENESS, n_checked=0, threshold=threshold,
                           message=f"{field}: not in the data")
    sub = df.loc[df[token].notna(), [token, PATIENT]]
    n_pat = sub.groupby(token)[PATIENT].nunique()
    shared = set(n_pat.index[n_pat > 1])
    bad = df[token].isin(shared).fillna(False).astype(bool)
    counts = df[token].map(n_pat).fillna(1).astype(int)
    rules = [f"same {field} (keyed token) as {c - 1} other patient pseudonym(s)" for c in counts[bad]]
    failures = _fail(check_id, modality, df, bad, field, rules)
    return make_result(check_id, modality, Dimension.UNIQUENESS, n_checked=len(sub), failures=failures,
                       threshold=threshold,
                       message=f"{len(shared)} {field} value(s) appear under more than one patient pseudonym")


def check_timeliness(df: pd.DataFrame, entry: str, event: str, *, max_days: float, check_id: str, modality: str,
                     threshold: Threshold = STRICT) -> CheckResult:
    """Records entered more than ``max_days`` after the event they describe."""
    if entry not in df.columns or event not in df.columns:
        return make_result(check_id, modality, Dimension.TIMELINESS, n_checked=0, threshold=threshold)
    both = df[entry].notna() & df[event].notna()
    gap = _days(df[entry], df[event])
    bad = (both & (gap > max_days)).fillna(False).astype(bool)
    failures = _fail(check_id, modality, df, bad, entry, f"{entry} more than {max_days:g} days after {event}")
    return make_result(check_id, modality, Dimension.TIMELINESS, n_checked=int(both.sum()), failures=failures,
                       threshold=threshold)


def check_source_empty(records: Mapping[tuple[str, str], int], *, modality: str,
                       notes: Mapping[tuple[str, str], str] | None = None,
                       threshold: Threshold = STRICT) -> CheckResult:
    """Source files that gave no record at all: 0-byte, header only, an empty or absent sheet, an
    empty folder, or a file that could not be read. Check id ``<modality>.completeness.source_empty``.

    Parameters
    ----------
    records
        ``(source key, file token) -> number of records`` for every file of every source: the
        independent count of the file's records (0 for a file that could not be read). Use ``""``
        as the token for a source that matched no file (an empty folder).
    modality
        The modality whose sources these are.
    notes
        Why a file gave nothing, by the same key (``"header only"``, ``"0-byte file"``, ``"unreadable,
        encrypted_workbook: export it without a password"``, ``"... sheet 2 of 3 has 40 row(s): set
        `sheet: 1`"``); shown in the failure's rule. Never a file or sheet name (they can hold names).
    threshold
        Default: any empty file fails.

    Returns
    -------
    One result; each empty file is a failure whose field is the source key and whose rule names
    the file token, the note and the fix.
    """
    check_id = f"{modality}.completeness.source_empty"
    notes = notes or {}
    empty = [key for key, n in records.items() if not n]
    rules = []
    for key, token in empty:
        why = notes.get((key, token)) or "no record"
        what = f"file {token}" if token else "no file"
        fix = "" if ";" in why else "; re-export it with its records, or remove it from the source"
        rules.append(f"{what}: {why}{fix}")
    failures = failures_frame(check_id, modality, pseudonym=[""] * len(empty), row=[-1] * len(empty),
                              field=[key for key, _ in empty], rule=rules)
    sources = sorted({key for key, _ in empty})
    return make_result(check_id, modality, Dimension.COMPLETENESS, n_checked=len(records), failures=failures,
                       severity=Severity.MAJOR, threshold=threshold,
                       message=(f"{len(empty)} of {len(records)} source file(s) gave no record ({', '.join(sources)})"
                                if empty else f"every source file ({len(records)}) gave records"))
