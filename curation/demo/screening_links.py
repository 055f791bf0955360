"""Demo screening participants who are also the cohort's patients: the screen-detected cancers take a
roster patient of their site (the hospital's admission number, so the same pseudonym as in clinical,
pathology, imaging and lab) and dates and marker values that agree with those modalities; then one
planted defect per cross-modality link (crossmodal.yaml ``record_links``).

Nothing here draws from a random generator: which participant takes which patient follows the
participant and patient order, so the rest of the screening demo keeps its draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ._core import DemoLog

__all__ = ["LAB_MARKERS", "link"]

DAY = np.timedelta64(1, "D")
CLEAR_DAYS = 400  # a clear round before the detecting one: this long before the pathology (window 365)
LAB_MARKERS = ("CEA", "CYFRA21-1")  # screening markers the hospital LIS measures too
LOD = {"CEA": 0.5, "CYFRA21-1": 0.1}  # below: the LIS writes "<LOD" (curation.demo.tables.ANALYTES)
DATED = {  # table -> its date columns that move with the participant
    "participants": ["enrolment_date"],
    "rounds": ["scan_date", "report_date"],
    "reads": ["read_date"],
    "biomarkers": ["sample_date", "result_date"],
}


def _first_lab(lab: pd.DataFrame, pid: int, site: str) -> tuple[pd.Timestamp, dict[str, float]] | None:
    """The patient's first LIS draw and its numeric CEA / CYFRA21-1 values, as the site writes them
    (1 decimal at site C, 2 elsewhere); None when a value is censored or the draw lacks a marker."""
    mine = lab[(lab["_pid"] == pid).to_numpy()]  # lab: its LAB_MARKERS rows (link filters them once)
    if not len(mine):
        return None
    day = pd.to_datetime(mine["collected_date"]).dt.normalize()
    when = day.min()
    first = mine[(day == when).to_numpy()].drop_duplicates("analyte")
    values: dict[str, float] = {}
    for a, v in zip(first["analyte"], first["value"], strict=True):
        if isinstance(v, str) or not LOD[a] <= float(v) <= 1000:
            return None
        values[a] = float(f"{float(v):.{1 if site == 'C' else 2}f}")
    return (pd.Timestamp(when), values) if set(values) == set(LAB_MARKERS) else None


def _detecting(rounds: pd.DataFrame, number: str) -> pd.Series | None:
    """The participant's positive round that found the cancer; None for an interval cancer."""
    r = rounds[(rounds["number"] == number) & rounds["sick"].astype(bool) & (rounds["result"] == "positive")]
    return r.iloc[0] if len(r) else None


def _pairs(tables: dict[str, pd.DataFrame], roster: pd.DataFrame, used: set[int]) -> tuple[list[Any], dict[str, Any]]:
    """(participant number, roster row) for each cancer, per site in order, while the site has patients
    left (patients without a planted defect first); one patient per site is kept back (spares) for a
    planted defect, and so are the first two cancers."""
    f = tables["followup"]
    cancers = f[f["outcome"] == "cancer"].iloc[2:]  # the first two stay the programme's own (planted defects)
    out, spares = [], {}
    for site, grp in cancers.groupby("site", sort=True):
        pts = roster[roster["site"] == site].drop_duplicates("pid")
        pts = pts.assign(_used=pts["pid"].isin(used)).sort_values(["_used", "pid"], kind="stable")
        if len(pts) < 2:
            continue
        spares[site] = pts.iloc[-1]
        out += list(zip(grp["number"], (row for _, row in pts.iloc[:-1].iterrows()), strict=False))
    return out, spares


def _move(
    tables: dict[str, pd.DataFrame],
    number: str,
    delta: np.timedelta64,
    *,
    only: tuple[str, ...] = tuple(DATED),
    rounds: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> None:
    """Move the participant's dates (of the tables ``only``; of the ``rounds`` selected, and the
    enrolment with them) by ``delta``."""
    for table in only:
        df = tables[table]
        sel = (df["number"] == number).to_numpy()
        if rounds is not None and "round" in df.columns:
            sel &= rounds(df)
        for c in DATED[table]:
            df.loc[sel, c] = df.loc[sel, c] + delta


def _shift(tables: dict[str, pd.DataFrame], deltas: dict[str, Any]) -> None:
    """Move every date of each participant of ``deltas`` (number -> days) at once, table by table."""
    for table, cols in DATED.items():
        df = tables[table]
        days = df["number"].map(deltas)
        sel = days.notna().to_numpy()
        if sel.any():
            step = pd.to_timedelta(days[sel].astype("timedelta64[ns]")).to_numpy()
            for c in cols:
                df.loc[sel, c] = df.loc[sel, c].to_numpy() + step


def _plan_one(tables: dict[str, pd.DataFrame], number: str, row: pd.Series, lab: pd.DataFrame) -> dict[str, Any]:
    """Where one linked participant's record moves: its detecting round lands the day after the
    patient's first LIS draw (else two days before the diagnosis); an interval cancer's pathology
    lands on the diagnosis."""
    r, f = tables["rounds"], tables["followup"]
    dx = np.datetime64(pd.Timestamp(row["diagnosis_date"]).normalize(), "D")
    old_path = np.datetime64(f.loc[f["number"] == number, "pathology_date"].iloc[0], "D")
    hit = _detecting(r, number)
    drawn = _first_lab(lab, int(row["pid"]), str(row["site"]))
    delta: Any  # numpy's day arithmetic (datetime64[D] - datetime64[D])
    if hit is not None and drawn is not None:
        delta = np.datetime64(drawn[0].normalize(), "D") + DAY - np.datetime64(hit["scan_date"], "D")
    elif hit is not None:
        delta = dx - np.timedelta64(2, "D") - np.datetime64(hit["scan_date"], "D")
    else:
        delta = dx - old_path
    return {"delta": delta, "hit": hit, "drawn": drawn, "dx": dx, "old_path": old_path}


def _link_one(tables: dict[str, pd.DataFrame], number: str, row: pd.Series, plan: dict[str, Any]) -> dict[str, Any]:
    """Rounds, markers and pathology of one linked participant (its dates already moved) made to agree
    with the patient's other records."""
    r, f, bm = tables["rounds"], tables["followup"], tables["biomarkers"]
    hit, drawn, dx, old_path = plan["hit"], plan["drawn"], plan["dx"], plan["old_path"]
    fi = f.index[f["number"] == number][0]
    # the other rounds were clear (a recalled round would need its own CT in imaging)
    other = (r["number"] == number) & ((r["round"] != hit["round"]) if hit is not None else True)
    r.loc[other, ["result", "lung_rads"]] = ["negative", "2"]
    # markers only from the detecting round, drawn with the LIS's first draw (ctDNA is not a lab test)
    keep = (bm["number"] != number) | (bm["round"] == (hit["round"] if hit is not None else -1))
    keep &= ~((bm["number"] == number) & bm["marker"].isin(LAB_MARKERS) & (drawn is None))
    tables["biomarkers"] = bm = bm[keep.to_numpy()]
    if drawn is not None:
        when, values = drawn
        for marker, v in values.items():
            sel = (bm["number"] == number) & (bm["marker"] == marker)
            gap = bm.loc[sel, "result_date"] - bm.loc[sel, "sample_date"]
            bm.loc[sel, "sample_date"] = np.datetime64(when.normalize(), "D")
            bm.loc[sel, "result_date"] = bm.loc[sel, "sample_date"] + gap
            bm.loc[sel, "value"] = v
            bm.loc[sel, "marker_result"] = np.where(v >= bm.loc[sel, "cutoff"], "positive", "negative")
    path: Any = dx + np.timedelta64(int(row["pid"]) % 4, "D")
    last = np.datetime64(f.at[fi, "last_contact_date"], "D") - old_path + path
    f.loc[fi, ["pathology_date", "last_contact_date"]] = [path, last]
    if hit is not None:  # an earlier clear round stays out of the follow-up window, as the others do
        early = (r["number"] == number) & (r["round"] < hit["round"])
        gap = (path - r.loc[early, "scan_date"].to_numpy().astype("datetime64[D]")) / DAY
        extra = int(max(0, (CLEAR_DAYS - gap).max())) if len(gap) else 0
        if extra:
            _move(tables, number, -extra * DAY, rounds=lambda t: (t["round"] < hit["round"]).to_numpy())
    has_cea = bool(((bm["number"] == number) & (bm["marker"] == "CEA")).any())
    return {
        "number": str(row["mrn"]),
        "imaging": bool(row["has_imaging"]) and hit is not None,
        "markers": drawn if has_cea else None,
    }


def _rename_all(tables: dict[str, pd.DataFrame], rows: dict[str, pd.Series]) -> None:
    """Each participant of ``rows`` takes its patient's admission number, pseudonym and sex."""
    mrn = {k: str(v["mrn"]) for k, v in rows.items()}
    pseudonym = {k: v["pseudonym"] for k, v in rows.items()}
    sex = {k: "male" if v["sex"] == "M" else "female" for k, v in rows.items()}
    for df in tables.values():
        sel = df["number"].isin(list(mrn)).to_numpy()
        if sel.any():
            num = df.loc[sel, "number"]
            df.loc[sel, "pseudonym"] = num.map(pseudonym).to_numpy()
            if "sex" in df.columns:
                df.loc[sel, "sex"] = num.map(sex).to_numpy()
            df.loc[sel, "number"] = num.map(mrn).to_numpy()


def link(
    tables: dict[str, pd.DataFrame], roster: pd.DataFrame, *, lab: pd.DataFrame, used: set[int], log: DemoLog
) -> set[str]:
    """Link the screen-detected cancers to roster patients, then plant one defect per link rule.

    ``lab`` is the planned LIS table (``_pid``, analyte, value, collected_date), ``used`` the roster
    patients that carry another planted defect (linked last). Returns the participant numbers it
    touched (the other screening defects stay off them).
    """
    pairs, spares = _pairs(tables, roster, used)
    if len(lab):
        lab = lab[lab["analyte"].isin(LAB_MARKERS).to_numpy()]
    plans = {number: _plan_one(tables, number, row, lab) for number, row in pairs}
    _shift(tables, {number: p["delta"] for number, p in plans.items()})
    linked = [(_link_one(tables, number, row, plans[number]), row) for number, row in pairs]
    _rename_all(tables, dict(pairs))
    tables["biomarkers"] = tables["biomarkers"].reset_index(drop=True)
    touched = {str(info["number"]) for info, _ in linked}
    _plant(tables, linked, spares, log, touched)
    return touched


def _note(log: DemoLog, df: pd.DataFrame, i: Any, table: str, field: str, kind: str, check: str, text: str) -> None:
    row = df.loc[i]
    log.defect(
        modality="screening",
        site=row["site"],
        record=f"{table} of participant {row['number']}",
        field=field,
        kind=kind,
        dimension="consistency",
        expect=f"crossmodal.consistency.{check}",
        pseudonym=row["pseudonym"],
        note=text,
    )


def _plant(
    tables: dict[str, pd.DataFrame],
    linked: list[tuple[dict[str, Any], pd.Series]],
    spares: dict[str, pd.Series],
    log: DemoLog,
    touched: set[str],
) -> None:
    """One defect per ``record_links`` rule, each on its own participant."""
    f, r, bm = tables["followup"], tables["rounds"], tables["biomarkers"]
    taken: set[str] = set()

    def first(cond: Any) -> dict[str, Any] | None:
        for info, _ in linked:
            if info["number"] not in taken and cond(info):
                taken.add(info["number"])
                return info
        return None

    # a positive round whose CT in imaging is three months off: the LDCT was dated 90 days early
    got = first(lambda x: x["imaging"])
    if got:
        sel = (r["number"] == got["number"]) & (r["result"] == "positive")
        i = r.index[sel][0]
        _note(
            log,
            r,
            i,
            "rounds",
            "scan_date",
            "ldct_not_in_imaging",
            "screen_ldct_in_imaging",
            "the positive LDCT round is dated three months before the patient's CT study",
        )
        # the whole screening record moves (enrolment, rounds, reads): only the pathology and the markers stay
        _move(tables, got["number"], -90 * DAY, only=("participants", "rounds", "reads"))
    # a CEA result that disagrees with the LIS: 1.6 times the lab's value
    got = first(lambda x: x["markers"] is not None)
    if got:
        i = bm.index[(bm["number"] == got["number"]) & (bm["marker"] == "CEA")][0]
        _note(
            log,
            bm,
            i,
            "biomarkers",
            "value",
            "marker_disagrees_with_lab",
            "screen_marker_in_lab",
            "the screening CEA is 1.6 times the hospital lab's result of the same sample date",
        )
        bm.loc[i, "value"] = round(float(bm.at[i, "value"]) * 1.6, 2)
    # a pathology confirmation dated 100 days after the clinical diagnosis
    got = first(lambda x: True)
    if got:
        i = f.index[f["number"] == got["number"]][0]
        _note(
            log,
            f,
            i,
            "followup",
            "pathology_date",
            "cancer_dated_far_from_diagnosis",
            "screen_cancer_in_clinical",
            "the pathology confirmation is dated 100 days after the clinical diagnosis",
        )
        f.loc[i, ["pathology_date", "last_contact_date"]] = [
            f.at[i, "pathology_date"] + 100 * DAY,
            f.at[i, "last_contact_date"] + 100 * DAY,
        ]
    # a confirmed cancer under a participant number the hospital does not know: no pathology report
    free = f[(f["outcome"] == "cancer") & (f["pathology_confirmed"] == "是") & ~f["number"].isin(touched)]
    if len(free):
        i = free.index[0]
        _note(
            log,
            f,
            i,
            "followup",
            "pathology_date",
            "cancer_without_pathology_report",
            "screen_cancer_in_pathology",
            "a confirmed cancer whose participant has no pathology report (nor clinical record) in the cohort",
        )
        touched.add(str(f.at[i, "number"]))
    # a participant without cancer who is a lung-cancer patient of the hospital (a mistyped number)
    free = f[(f["outcome"] == "no_cancer") & ~f["number"].isin(touched)]
    for site, row in spares.items():
        cand = free[free["site"] == site]
        if len(cand):
            number = str(cand.iloc[0]["number"])
            _rename_all(tables, {number: row})
            touched.add(str(row["mrn"]))
            i = f.index[f["number"] == str(row["mrn"])][0]
            _note(
                log,
                f,
                i,
                "participants",
                "admission_number",
                "no_cancer_with_diagnosis",
                "screen_no_cancer_not_in_clinical",
                "recorded without cancer, but the participant number is a lung-cancer patient's",
            )
            break
