"""Generic, reusable checks over standardized tables.

Every function takes a tidy frame that carries the patient pseudonym (``patient``), the source row
(``_line``) and the site (``site``), and returns :class:`~curation.quality.model.Outcome` objects
for a :class:`~curation.quality.model.Check` declaration to turn into results: failures name
pseudonym, row, field and rule, never a raw value of an identifying field, and never the check's
id, which only its declaration holds.

>>> from curation.quality import Check, Dimension, run
>>> UNIQUE = Check("uniqueness.patient", Dimension.UNIQUENESS, lambda df: check_unique(df, ["patient"]))
>>> [r] = run([UNIQUE], pd.DataFrame({"patient": ["PT1", "PT1"]}), modality="m")
>>> (r.check_id, r.n_failed, str(r.verdict))
('m.uniqueness.patient', 2, 'fail')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .model import PATIENT, STRICT, Check, Dimension, Outcome, Severity, Threshold, combine, failures

__all__ = [
    "ANY_ACCEPTED",
    "REQUIRED_LEVELS",
    "SOURCE_EMPTY",
    "check_allowed",
    "check_any_accepted",
    "check_codes",
    "check_completeness",
    "check_date_order",
    "check_range",
    "check_same_person",
    "check_source_empty",
    "check_timeliness",
    "check_unique",
    "completeness_table",
]

SITE = "site"
NOT_APPLICABLE = "not_applicable"
# a field's required level -> (severity, threshold) of its completeness check
REQUIRED_LEVELS: dict[str, tuple[Severity, Threshold]] = {
    "required": (Severity.MAJOR, STRICT),
    "recommended": (Severity.MINOR, Threshold(0.05, 0.5)),
}


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
    na = (
        (reason == NOT_APPLICABLE).fillna(False).astype(bool)
        if reason is not None
        else pd.Series(False, index=df.index)
    )
    return (miss & ~na).astype(bool), (miss & na).astype(bool)


def _sites(df: pd.DataFrame) -> list[str]:
    return sorted({str(v) for v in df[SITE].dropna().unique()}) if SITE in df.columns else []


def completeness_table(df: pd.DataFrame, fields: Sequence[str], *, table: str = "") -> pd.DataFrame:
    """Completeness per field and site (and ``all``): n records, n present, n not applicable, fraction."""
    rows = []
    sites = _sites(df)
    for field in fields:
        miss, na = _missing(df, field)
        for site in [*sites, "all"]:
            sel = (df[SITE].astype(str) == site) if site != "all" else pd.Series(True, index=df.index)
            n = int(sel.sum() - (na & sel).sum())
            present = int(n - (miss & sel).sum())
            rows.append(
                {
                    "table": table,
                    "field": field,
                    "site": site,
                    "n": n,
                    "n_present": present,
                    "n_not_applicable": int((na & sel).sum()),
                    "completeness": present / n if n else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["table", "field", "site", "n", "n_present", "n_not_applicable", "completeness"])


def check_completeness(
    df: pd.DataFrame, field: str, *, required: str = "required", per_site: bool = True
) -> list[Outcome]:
    """Missing values of one field: the overall outcome (with the failing records) first, then one
    per site (counts only) when there are several sites.

    Values the source marked ``not_applicable`` count as neither present nor missing. The field's
    required level is named in the message; its severity and threshold are the declaration's
    (:data:`REQUIRED_LEVELS`).
    """
    miss, na = _missing(df, field)
    reason = df.get(f"{field}__missing")
    rules = (
        ("missing: " + reason.loc[miss].fillna("no value").astype(str)).tolist()
        if reason is not None
        else f"missing ({required})"
    )
    n = int(len(df) - na.sum())
    out = [
        Outcome(
            n,
            failures=failures(df, miss, field=field, rule=rules),
            message=f"{field} ({required}): {int(miss.sum())} of {n} missing"
            + (f", {int(na.sum())} not applicable" if na.any() else ""),
        )
    ]
    sites = _sites(df)
    if per_site and len(sites) > 1:
        for site in sites:
            sel = df[SITE].astype(str) == site
            n_site = int(sel.sum() - (na & sel).sum())
            k = int((miss & sel).sum())
            out.append(
                Outcome(
                    n_site, n_failed=k, site=site, message=f"site {site}: {field} ({required}): {k} of {n_site} missing"
                )
            )
    return out


def check_allowed(
    df: pd.DataFrame, allowed: Mapping[str, Sequence[str]], *, extra: pd.DataFrame | None = None
) -> Outcome:
    """Values outside their field's allowed list (missing values are completeness's business).

    ``extra``: failures found earlier (values that could not even be typed), from :func:`failures`.
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
            frames.append(failures(df, bad, field=field, rule=f"not one of {', '.join(map(str, values))}"))
    if extra is not None and len(extra):
        frames.append(extra)
        n_checked += len(extra)
    return Outcome(n_checked, failures=frames)


def check_codes(df: pd.DataFrame, field: str, codelist: Any) -> Outcome:
    """Codes that are malformed (the system's pattern) or not in the shipped list of valid codes
    (``codelist``: a :class:`~curation.dictionary.CodeList`)."""
    if field not in df.columns:
        return Outcome(0, message=f"{field}: not in the data")
    s = df[field]
    raw = f"_{field}_raw"  # a malformed code nulled at standardize (modalities/_clean.py) is still named
    if raw in df.columns:
        s = s.where(s.notna(), df[raw])
    present = (s.notna() & (s.astype("string[pyarrow]") != "")).fillna(False).astype(bool)
    valid = codelist.valid(s)
    formed = codelist.well_formed(s)
    bad = (present & ~valid).astype(bool)
    rules = ["malformed code" if not f else "not in the list of valid lung codes" for f in formed[bad]]
    return Outcome(
        int(present.sum()),
        failures=failures(df, bad, field=field, rule=rules),
        message=f"{field}: {int(bad.sum())} of {int(present.sum())} codes malformed or not valid",
    )


def check_range(
    df: pd.DataFrame,
    ranges: Mapping[str, tuple[float | None, float | None]],
    *,
    labels: Mapping[str, str] | None = None,
) -> Outcome:
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
            frames.append(
                failures(
                    df,
                    bad,
                    field=(labels or {}).get(field, field),
                    rule=f"outside the plausible range {'' if lo is None else lo}–{'' if hi is None else hi}",
                )
            )
    return Outcome(n_checked, failures=frames)


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    d = later - earlier
    if pd.api.types.is_timedelta64_dtype(d):
        return d / pd.Timedelta(days=1)
    return pd.to_numeric(d, errors="coerce")


def check_date_order(df: pd.DataFrame, pairs: Sequence[tuple[str, str, str]], *, tolerance_days: float = 0) -> Outcome:
    """For each (earlier, later, field to blame): records where ``later`` precedes ``earlier``.

    Records missing either date are not checked for that pair.
    """
    parts = []
    for earlier, later, blame in pairs:
        if earlier not in df.columns or later not in df.columns:
            continue
        both = df[earlier].notna() & df[later].notna()
        bad = (both & (_days(df[later], df[earlier]) < -tolerance_days)).fillna(False).astype(bool)
        parts.append(
            Outcome(int(both.sum()), failures=failures(df, bad, field=blame, rule=f"{later} before {earlier}"))
        )
    return combine(parts)


def check_unique(df: pd.DataFrame, keys: Sequence[str], *, field: str = "") -> Outcome:
    """Records that share their key with another record (every copy is reported)."""
    keys = [k for k in keys if k in df.columns]
    if not keys:
        return Outcome(0)
    present = df[keys].notna().all(axis=1)
    dup = (present & df.duplicated(subset=keys, keep=False)).astype(bool)
    return Outcome(
        int(present.sum()),
        failures=failures(df, dup, field=field or "+".join(keys), rule=f"{' + '.join(keys)} is not unique"),
    )


def check_same_person(df: pd.DataFrame, token: str, *, field: str) -> Outcome:
    """One person under several pseudonyms: a keyed token (e.g. of the resident ID) shared by
    records of different patients. Every patient involved is reported."""
    if token not in df.columns:
        return Outcome(0, message=f"{field}: not in the data")
    sub = df.loc[df[token].notna(), [token, PATIENT]]
    n_pat = sub.groupby(token, sort=False)[PATIENT].nunique()  # looked up, never listed: no sort
    shared = set(n_pat.index[n_pat > 1])
    bad = df[token].isin(shared).fillna(False).astype(bool)
    counts = df[token].map(n_pat).fillna(1).astype(int)
    rules = [f"same {field} (keyed token) as {c - 1} other patient pseudonym(s)" for c in counts[bad]]
    return Outcome(
        len(sub),
        failures=failures(df, bad, field=field, rule=rules),
        message=f"{len(shared)} {field} value(s) appear under more than one patient pseudonym",
    )


def check_timeliness(df: pd.DataFrame, entry: str, event: str, *, max_days: float) -> Outcome:
    """Records entered more than ``max_days`` after the event they describe."""
    if entry not in df.columns or event not in df.columns:
        return Outcome(0)
    both = df[entry].notna() & df[event].notna()
    bad = (both & (_days(df[entry], df[event]) > max_days)).fillna(False).astype(bool)
    return Outcome(
        int(both.sum()),
        failures=failures(df, bad, field=entry, rule=f"{entry} more than {max_days:g} days after {event}"),
    )


def check_source_empty(
    records: Mapping[tuple[str, str], int], *, notes: Mapping[tuple[str, str], str] | None = None
) -> Outcome:
    """Source files that gave no record at all: 0-byte, header only, an empty or absent sheet, an
    empty folder, or a file that could not be read.

    Parameters
    ----------
    records
        ``(source key, file token) -> number of records`` for every file of every source: the
        independent count of the file's records (0 for a file that could not be read). Use ``""``
        as the token for a source that matched no file (an empty folder).
    notes
        Why a file gave nothing, by the same key (``"header only"``, ``"0-byte file"``, ``"unreadable,
        encrypted_workbook: export it without a password"``, ``"... sheet 2 of 3 has 40 row(s): set
        `sheet: 1`"``); shown in the failure's rule. Never a file or sheet name (they can hold names).

    Returns
    -------
    One outcome; each empty file is a failure whose field is the source key and whose rule names
    the file token, the note and the fix.
    """
    notes = notes or {}
    empty = [key for key, n in records.items() if not n]
    rules = []
    for key, token in empty:
        why = notes.get((key, token)) or "no record"
        what = f"file {token}" if token else "no file"
        fix = "" if ";" in why else "; re-export it with its records, or remove it from the source"
        rules.append(f"{what}: {why}{fix}")
    sources = sorted({key for key, _ in empty})
    return Outcome(
        len(records),
        failures=failures(field=[key for key, _ in empty], rule=rules),
        message=(
            f"{len(empty)} of {len(records)} source file(s) gave no record ({', '.join(sources)})"
            if empty
            else f"every source file ({len(records)}) gave records"
        ),
    )


SOURCE_EMPTY = Check(
    "completeness.source_empty",
    Dimension.COMPLETENESS,
    lambda data, ctx: check_source_empty(
        data.objects.get("source_records", {}), notes=data.objects.get("source_notes", {})
    ),
    description="source files that gave no record (0-byte, header only, empty sheet or folder, unreadable); "
    "reads data.objects['source_records'] and ['source_notes']",
)


def _final_stage(entries: Sequence[Any]) -> tuple[str, list[Any]]:
    """The ledger's last stage group (``standardize:patients`` and ``standardize:staging`` are one
    group, ``standardize``) and its entries: the records that stage accepted are the modality's output."""
    groups: dict[str, list[Any]] = {}
    for e in entries:
        groups.setdefault(e.stage.split(":", 1)[0], []).append(e)
    if not groups:
        return "", []
    last = list(groups)[-1]
    return last, groups[last]


def check_any_accepted(entries: Sequence[Any], sources: Sequence[str]) -> Outcome:
    """No verdict of pass on nothing: a modality whose sources gave no accepted record fails.

    Parameters
    ----------
    entries
        The modality's ledger entries (:class:`~curation.quality.ledger.LedgerEntry`) when its checks
        run: the records the last stage group accepted are what the modality curated.
    sources
        The keys of the modality's configured sources (``imaging[0]`` ...). None: not applicable.

    Returns
    -------
    One outcome over the modality (n_checked 1): failing when nothing was accepted, with one failure
    per source saying what came in and where it went (quarantined or excluded, by reason).
    """
    if not sources:
        return Outcome(0, message="no source configured")
    stage, final = _final_stage(entries)
    accepted = sum(e.n_accepted for e in final)
    if accepted:
        return Outcome(1, message=f"{accepted} record(s) accepted at {stage}")
    rules = []
    for key in sources:
        # the source's first stage (its entries may be per file: "genomics[0] file F...")
        got = [e for e in entries if e.source == key or e.source.startswith(f"{key} ")]
        got = [e for e in got if got and e.stage == got[0].stage]
        if not got:
            rules.append("no record read from it (see completeness.source_empty and the quarantine)")
            continue
        why: dict[str, int] = {}
        for e in got:
            for k, v in [*e.quarantined.items(), *e.excluded.items()]:
                why[k] = why.get(k, 0) + v
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(why.items()) if v)
        rules.append(
            f"{sum(e.n_in for e in got)} in at {got[0].stage}, {sum(e.n_accepted for e in got)} accepted"
            + (f" ({reasons})" if reasons else "")
        )
    where = f" at {stage}" if stage else ""
    return Outcome(
        1,
        n_failed=1,
        failures=failures(field=list(sources), rule=rules),
        message=f"nothing accepted{where} from {len(sources)} source(s): no curated record; "
        "see the quarantine and the ledger for why",
    )


ANY_ACCEPTED = Check(
    "completeness.any_accepted",
    Dimension.COMPLETENESS,
    lambda data, ctx: check_any_accepted(
        data.ledger.entries, [f"{data.modality}[{i}]" for i in range(len(ctx.config.sources.get(data.modality, [])))]
    ),
    severity=Severity.CRITICAL,
    description="sources were given and some record was accepted (a modality never passes on nothing); "
    "reads the ledger and cohort.yaml's sources",
)
