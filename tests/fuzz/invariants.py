"""The one assertion set every damaged variant of a source must satisfy (issue 11).

1. curating does not raise and no check crashes (the notebook-level run exits 0 or 1);
2. the ledger balances at every stage, and the load stage's n_in of each readable file equals an
   independent count of its records (the caller's oracle, computed without the reader under test);
3. every record of a readable file ends in a standard table, in quarantine (by line) or in the
   ledger's exclusions; every value the source gave that is missing from a standard table has a
   reason (``<field>__missing``, written to missing_reasons.parquet);
4. no value of a standard table lies outside its field's allowed values or plausible range;
5. a source that gave no record (empty, header only, unreadable) is named by
   ``<modality>.completeness.source_empty``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import curation as cu
from curation import dictionary
from curation.config import load_cohort
from curation.io.readers import DEFAULT_MISSING, LINE, SourceError, header_targets, read_table

SOURCE = "_source"


@dataclass
class Expect:
    """What the caller knows about the damaged file: its source key, an independent count of its
    records (None: not readable as a table), and whether it must be named as empty/unreadable."""

    source: str
    n_records: int | None
    empty: bool = False


def _raw_cells(cfg_path: Path, modality: str) -> dict[str, pd.DataFrame]:
    """Each readable source's records as the source wrote them (mapped headers, no value touched)."""
    cfg = load_cohort(cfg_path)
    known = {f.name for f in dictionary.fields(modality)}
    out = {}
    for i, src in enumerate(cfg.sources.get(modality, [])):
        files = cfg.source_files(modality, i)
        try:
            rt = read_table(
                files[0],
                format=src.format,
                encoding=src.encoding,
                sheet=src.sheet,
                sep=src.options.get("sep"),
                header_row=int(src.options.get("header_row", 1)),
            )
        except SourceError:
            continue
        keep = header_targets([c for c in rt.frame.columns if c != LINE], columns=src.columns, known=known)
        frame = rt.frame[[*keep, LINE]].rename(columns=keep)
        tokens = {k.strip() for k in {**DEFAULT_MISSING, **src.missing}}
        for c in keep.values():
            text = frame[c].astype("string").fillna("").str.strip()
            frame[c] = text.where(~text.isin(tokens), "")
        out[f"{modality}[{i}]"] = frame
    return out


def _quarantined_lines(q: pd.DataFrame, source: str) -> set[int]:
    lines: set[int] = set()
    for rec in q.loc[(q["source"] == source) & (q["stage"] != "load:values"), "record"]:
        m = re.fullmatch(r"lines? (\d+)(?:-(\d+))?", str(rec))
        if m:
            lines.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return lines


def _domain_violations(tables: Mapping[str, pd.DataFrame], modality: str) -> list[str]:
    bad = []
    for table, df in tables.items():
        for f in dictionary.fields(modality, table):
            if f.phi == "direct" or f.name not in df.columns:
                continue
            s = df[f.name].dropna()
            if f.allowed:
                text = s.astype("Int64").astype(str) if f.type == "integer" else s.astype(str)
                off = set(text) - set(f.allowed)
                if off:
                    bad.append(f"{table}.{f.name}: {len(off)} value(s) outside the allowed list")
            elif f.type in ("integer", "number") and (f.min is not None or f.max is not None):
                num = pd.to_numeric(s, errors="coerce")
                if ((f.min is not None) & (num < (f.min or 0))).any() or (f.max is not None and (num > f.max).any()):
                    bad.append(f"{table}.{f.name}: value(s) outside {f.min}-{f.max}")
            elif f.name == "age_at_diagnosis":
                ok = s.astype(str).str.fullmatch(r"\d+|90\+") & (
                    pd.to_numeric(s.astype(str).str.rstrip("+"), errors="coerce").between(f.min, f.max)
                )
                if not ok.all():
                    bad.append(f"{table}.{f.name}: age(s) outside {f.min}-{f.max}")
    return bad


def check(run_curate: Callable[[], cu.modalities.Curated], cfg_path: Path, modality: str, expect: Expect) -> None:
    """Curate and assert the invariants of the module docstring."""
    run = run_curate()  # 1. never raises
    checks = run.checks
    assert not (checks["verdict"] == "error").any(), checks.loc[checks["verdict"] == "error", "message"].tolist()
    led = run.ledger  # 2. balanced, n_in = the independent count
    assert led["balanced"].all(), led.loc[~led["balanced"]].to_dict("records")
    load = led[led["stage"] == "load"].set_index("source")
    if expect.n_records is not None:
        assert expect.source in load.index, f"{expect.source}: no load entry"
        assert load.loc[expect.source, "n_in"] == expect.n_records, (
            f"{expect.source}: n_in {load.loc[expect.source, 'n_in']} != independent count {expect.n_records}"
        )
    # 3. every record and every value accounted for
    q = run.quarantine
    raw = _raw_cells(cfg_path, modality)
    excluded = int(led["n_excluded"].sum())
    unaccounted = 0
    for source, frame in raw.items():
        held = set()
        for df in run.data.tables.values():
            if SOURCE in df.columns and len(df):
                held |= set(df.loc[df[SOURCE] == source, LINE].astype(int))
        lost = set(frame[LINE].astype(int)) - held - _quarantined_lines(q, source)
        unaccounted += len(lost)
        for table, df in run.data.tables.items():
            if SOURCE not in df.columns or not len(df):
                continue
            sub = df[df[SOURCE] == source]
            merged = sub.merge(frame, on=LINE, how="left", suffixes=("", "__raw"))
            for f in dictionary.fields(modality, table):
                raw_col = f"{f.name}__raw"
                if f.phi in ("direct", "free_text") or f.derived or raw_col not in merged.columns:
                    continue
                gave = merged[raw_col].fillna("").astype(str).str.strip() != ""
                missing = merged[f.name].isna() if f.name in merged.columns else pd.Series(True, index=merged.index)
                reason = merged.get(f"{f.name}__missing", pd.Series(pd.NA, index=merged.index))
                silent = gave & missing & reason.isna()
                assert not silent.any(), (
                    f"{source} {table}.{f.name}: {int(silent.sum())} value(s) given by the "
                    f"source are missing without a reason (lines "
                    f"{merged.loc[silent, LINE].tolist()[:5]})"
                )
    assert unaccounted <= excluded, f"{unaccounted} record(s) in no table, not quarantined, not excluded"
    # 4. nothing outside its domain
    outside = _domain_violations(run.data.tables, modality)
    assert not outside, outside
    # 5. empty and unreadable sources are named
    failures = run.failures
    named = set(failures.loc[failures["check_id"] == f"{modality}.completeness.source_empty", "field"])
    by_file = (q["stage"] == "load") & ~q["record"].astype(str).str.match(r"lines? \d")
    file_level = set(q.loc[by_file, "source"])  # quarantined as a whole file (record = file token)
    empty_sources = {s for s, n in load["n_in"].items() if n == 0} | file_level
    assert empty_sources <= named, f"empty or unreadable source(s) not named: {sorted(empty_sources - named)}"
    if expect.empty:
        assert expect.source in named, f"{expect.source} gave no record and is not named by source_empty"
