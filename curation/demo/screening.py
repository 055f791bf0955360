"""Demo lung-cancer screening programme: 600 participants over sites A, B and C (two arms, two risk
groups, most without cancer), two LDCT rounds, AI and expert reads that disagree now and then,
biomarkers in the combined arm, follow-up outcomes, and planted defects for the screening checks.

The participants are their own people (the programme's participant numbers), not the cancer roster;
the generator takes the roster only for the shared signature (:mod:`curation.demo._core`). Everything
is drawn from ``rng`` in one fixed order, so the same seed gives the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..deid.keys import Keyring
    from ._core import DemoLog
    from .generate import Plan

__all__ = ["PARTICIPANTS_PER_SITE", "generate"]

PARTICIPANTS_PER_SITE = 200
SITES = ("A", "B", "C")
START = np.datetime64("2021-03-01")
MARKERS = {  # marker -> (unit, cut-off, log-mean without cancer, log-mean with cancer, log-sd)
    "CEA": ("ng/mL", 5.0, 0.8, 1.6, 0.55),
    "CYFRA21-1": ("ng/mL", 3.3, 0.6, 1.3, 0.5),
    "ctDNA_methylation": ("score", 50.0, 3.0, 4.1, 0.45),
}
AI = {"A": ("LungAssist", "2.1"), "B": ("NoduleNet-CT", "3.0"), "C": ("LungAssist", "2.2")}
RADS_POS = ["3", "4A", "4B", "4X"]
RADS_NEG = ["1", "2"]
HEADERS = {
    "participants": {
        "筛查编号": "admission_number",
        "筛查组别": "arm",
        "入组日期": "enrolment_date",
        "性别": "sex",
        "入组年龄": "age_at_enrolment",
        "吸烟包年": "pack_years",
        "肺癌家族史": "family_history",
        "风险分层": "risk_group",
        "风险评分": "risk_score",
    },
    "rounds": {
        "筛查编号": "admission_number",
        "轮次": "round",
        "LDCT日期": "scan_date",
        "报告日期": "report_date",
        "Lung-RADS": "lung_rads",
        "筛查结果": "result",
        "费用": "cost",
    },
    "reads": {
        "筛查编号": "admission_number",
        "轮次": "round",
        "结节序号": "nodule",
        "阅片者编号": "reader_id",
        "阅片者类型": "reader_kind",
        "AI软件": "ai_software",
        "AI版本": "ai_version",
        "阅片日期": "read_date",
        "结节大小mm": "size_mm",
        "密度类型": "nodule_type",
        "形态": "morphology",
        "Lung-RADS": "read_lung_rads",
    },
    "biomarkers": {
        "筛查编号": "admission_number",
        "轮次": "round",
        "标志物": "marker",
        "采样日期": "sample_date",
        "报告日期": "result_date",
        "检测值": "value",
        "单位": "unit",
        "阳性阈值": "cutoff",
        "结论": "marker_result",
    },
    "followup": {
        "筛查编号": "admission_number",
        "随访结局": "outcome",
        "病理确诊日期": "pathology_date",
        "病理证实": "pathology_confirmed",
        "分期": "stage",
        "末次随访日期": "last_contact_date",
    },
}
ZH = {
    "marker_result": {"positive": "阳性", "negative": "阴性"},
    "arm": {"combined": "联合筛查", "ldct": "低剂量CT"},
    "sex": {"male": "男", "female": "女"},
    "family_history": {"yes": "有", "no": "无"},
    "risk_group": {"high": "高危", "non_high": "非高危"},
    "result": {"positive": "阳性", "negative": "阴性"},
    "reader_kind": {"ai": "AI", "expert": "专家"},
    "nodule_type": {"solid": "实性", "part_solid": "部分实性", "ground_glass": "磨玻璃"},
    "morphology": {"smooth": "光滑", "lobulated": "分叶", "spiculated": "毛刺"},
    "outcome": {"cancer": "确诊肺癌", "no_cancer": "未患癌", "lost": "失访"},
    "stage": {"I": "Ⅰ期", "II": "Ⅱ期", "III": "Ⅲ期", "IV": "Ⅳ期"},
}
TYPES = np.array(["solid", "part_solid", "ground_glass"])
SHAPES = np.array(["smooth", "lobulated", "spiculated"])


def _days(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=n).astype("timedelta64[D]")


def _participants(rng: np.random.Generator, keyring: Keyring) -> pd.DataFrame:
    """Participants with their risk factors, risk group by the default rule, risk score and truth."""
    n = PARTICIPANTS_PER_SITE * len(SITES)
    site = np.repeat(SITES, PARTICIPANTS_PER_SITE)
    number = [f"SC{s}{20210000 + i * 7 + 13:08d}" for i, s in enumerate(site)]
    age = rng.integers(45, 80, size=n)
    smoker = rng.random(n) < 0.6
    pack = np.where(smoker, np.round(rng.gamma(3.0, 9.0, size=n), 1), 0.0)
    fam = rng.random(n) < 0.15
    high = (age >= 50) & (age <= 74) & ((pack >= 20) | fam)
    lin = -6.2 + 0.05 * (age - 60) + 0.035 * pack + 0.7 * fam
    score = 1 / (1 + np.exp(-lin))
    # the demo's programme enrols a cancer-rich sample so that every indicator has cases: ~10 % cancers
    cancer = rng.random(n) < np.clip(score * 7.0, 0, 0.6)
    return pd.DataFrame(
        {
            "site": site,
            "number": number,
            "pseudonym": [keyring.patient(x, site=s) for x, s in zip(number, site, strict=True)],
            "arm": np.where(rng.random(n) < 0.5, "combined", "ldct"),
            "enrolment_date": START + _days(rng, 0, 180, n),
            "sex": np.where(rng.random(n) < 0.62, "male", "female"),
            "age_at_enrolment": age,
            "pack_years": pack,
            "family_history": np.where(fam, "yes", "no"),
            "risk_group": np.where(high, "high", "non_high"),
            "risk_score": np.round(score * 4.0, 4),
            "cancer": cancer,
            # when a cancer shows: 0 detectable at round 1, 1 at round 2, 2 between rounds (interval)
            "onset": rng.choice(3, size=n, p=[0.55, 0.33, 0.12]),
        }
    )


def _rounds(p: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Two LDCT rounds a year apart; the result follows the truth with the arm's accuracy."""
    n = len(p)
    scan1 = p["enrolment_date"].to_numpy() + _days(rng, 5, 60, n)
    scan2 = scan1 + _days(rng, 330, 400, n)
    out = []
    for r, scan in ((1, scan1), (2, scan2)):
        sick = p["cancer"].to_numpy() & (p["onset"].to_numpy() == r - 1)
        combined = p["arm"].to_numpy() == "combined"
        sens = np.where(combined, 0.9, 0.8)
        fpr = np.where(combined, 0.12, 0.15)
        pos = np.where(sick, rng.random(n) < sens, rng.random(n) < fpr)
        rads = np.where(
            pos, rng.choice(RADS_POS, size=n, p=[0.45, 0.3, 0.15, 0.1]), rng.choice(RADS_NEG, size=n, p=[0.55, 0.45])
        )
        out.append(
            pd.DataFrame(
                {
                    "number": p["number"],
                    "site": p["site"],
                    "pseudonym": p["pseudonym"],
                    "round": r,
                    "scan_date": scan,
                    "report_date": scan + _days(rng, 1, 18, n),
                    "lung_rads": rads,
                    "result": np.where(pos, "positive", "negative"),
                    "cost": np.where(combined, 780.0, 450.0),
                    "sick": sick,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _followup(p: pd.DataFrame, r: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Cancers confirmed by pathology (after a positive round, or as interval cancers), the others
    followed past the second round's window, a few lost."""
    n = len(p)
    s1 = r.loc[r["round"] == 1, "scan_date"].to_numpy()
    s2 = r.loc[r["round"] == 2, "scan_date"].to_numpy()
    onset = p["onset"].to_numpy()
    path = np.where(
        onset == 0,
        s1 + _days(rng, 20, 120, n),
        np.where(onset == 1, s2 + _days(rng, 20, 120, n), s1 + _days(rng, 150, 320, n)),
    )
    # a sick round the screen missed shows as an interval cancer later in that window
    missed = (
        r.groupby("number", sort=False)
        .apply(lambda g: bool((g["sick"] & (g["result"] == "negative")).any()), include_groups=False)
        .reindex(p["number"])
        .to_numpy()
    )
    path = np.where(missed & (onset < 2), path + _days(rng, 120, 200, n), path)
    cancer = p["cancer"].to_numpy()
    lost = ~cancer & (rng.random(n) < 0.05)
    stage = np.where(
        onset == 2,
        rng.choice(["I", "II", "III", "IV"], size=n, p=[0.2, 0.2, 0.3, 0.3]),
        rng.choice(["I", "II", "III", "IV"], size=n, p=[0.55, 0.2, 0.15, 0.1]),
    )
    last = np.where(lost, s1 + _days(rng, 60, 300, n), s2 + _days(rng, 380, 720, n))
    return pd.DataFrame(
        {
            "number": p["number"],
            "site": p["site"],
            "pseudonym": p["pseudonym"],
            "outcome": np.where(cancer, "cancer", np.where(lost, "lost", "no_cancer")),
            "pathology_date": np.where(cancer, path, np.datetime64("NaT")),
            "pathology_confirmed": np.where(cancer, "是", ""),
            "stage": np.where(cancer, stage, ""),
            "last_contact_date": np.where(cancer, path + _days(rng, 30, 400, n), last),
        }
    )


def _reads(r: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Per nodule an expert read and an AI read; the AI disagrees on Lung-RADS, type and size now and then."""
    n_nod = np.where(r["result"] == "positive", rng.integers(1, 3, size=len(r)), rng.integers(0, 2, size=len(r)))
    idx = np.repeat(np.arange(len(r)), n_nod)
    base = r.iloc[idx].reset_index(drop=True)
    k = len(base)
    nodule = base.groupby(["number", "round"]).cumcount().to_numpy() + 1
    size = np.round(
        np.where(base["result"] == "positive", rng.gamma(4.0, 3.2, size=k), rng.gamma(2.5, 1.8, size=k)) + 2.0, 1
    )
    ntype = rng.choice(TYPES, size=k, p=[0.6, 0.15, 0.25])
    shape = rng.choice(SHAPES, size=k, p=[0.6, 0.28, 0.12])
    rads = base["lung_rads"].to_numpy()
    order = ["1", "2", "3", "4A", "4B", "4X"]
    pos = np.array([order.index(x) for x in rads])
    shift = rng.choice([-1, 0, 1], size=k, p=[0.1, 0.8, 0.1])
    ai_rads = np.array(order)[np.clip(pos + shift, 0, len(order) - 1)]
    ai_type = np.where(rng.random(k) < 0.85, ntype, rng.choice(TYPES, size=k))
    ai_size = np.round(np.clip(size * (1 + rng.normal(0.03, 0.08, size=k)) + rng.normal(0, 0.5, size=k), 1, 99), 1)
    experts = np.array([f"RAD{s}{rng.integers(100, 999)}" for s in SITES])  # staff numbers, one pool per site
    pool = {s: [f"{e}{j}" for e in experts[i : i + 1] for j in range(3)] for i, s in enumerate(SITES)}
    expert_id = np.array([pool[s][j] for s, j in zip(base["site"], rng.integers(0, 3, size=k), strict=True)])
    soft = np.array([AI[s][0] for s in base["site"]])
    ver = np.array([AI[s][1] for s in base["site"]])
    read_date = base["report_date"].to_numpy()
    common = {
        "number": base["number"],
        "site": base["site"],
        "pseudonym": base["pseudonym"],
        "round": base["round"],
        "nodule": nodule,
        "read_date": read_date,
    }
    expert = pd.DataFrame(
        {
            **common,
            "reader_id": expert_id,
            "reader_kind": "expert",
            "ai_software": "",
            "ai_version": "",
            "size_mm": size,
            "nodule_type": ntype,
            "morphology": shape,
            "read_lung_rads": rads,
        }
    )
    ai = pd.DataFrame(
        {
            **common,
            "reader_id": [f"DEV-{s}-{v}" for s, v in zip(soft, ver, strict=True)],
            "reader_kind": "ai",
            "ai_software": soft,
            "ai_version": ver,
            "size_mm": ai_size,
            "nodule_type": ai_type,
            "morphology": shape,
            "read_lung_rads": ai_rads,
        }
    )
    return pd.concat([expert, ai], ignore_index=True).sort_values(
        ["site", "number", "round", "nodule", "reader_kind"], kind="stable"
    )


def _biomarkers(p: pd.DataFrame, r: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Tumour markers and a ctDNA methylation score at each round of the combined arm."""
    arm = dict(zip(p["number"], p["arm"], strict=True))
    rc = r[r["number"].map(arm) == "combined"].reset_index(drop=True)
    out = []
    for marker, (unit, cut, mu0, mu1, sd) in MARKERS.items():
        n = len(rc)
        value = np.exp(np.where(rc["sick"], mu1, mu0) + rng.normal(0, sd, size=n))
        sample = rc["scan_date"].to_numpy() - _days(rng, 0, 7, n)
        out.append(
            pd.DataFrame(
                {
                    "number": rc["number"],
                    "site": rc["site"],
                    "pseudonym": rc["pseudonym"],
                    "round": rc["round"],
                    "marker": marker,
                    "sample_date": sample,
                    "result_date": sample + _days(rng, 1, 12, n),
                    "value": np.round(value, 2),
                    "unit": unit,
                    "cutoff": cut,
                    "marker_result": np.where(value >= cut, "positive", "negative"),
                }
            )
        )
    return pd.concat(out, ignore_index=True).sort_values(["site", "number", "round", "marker"], kind="stable")


def _plant(
    tables: dict[str, pd.DataFrame], p: pd.DataFrame, rng: np.random.Generator, log: DemoLog, touched: set[str]
) -> None:
    """One defect per new check, each on its own participant (the test matches them by pseudonym), none
    on a participant the cross-modality links touched."""
    used: set[str] = set(touched)

    def pick(df: pd.DataFrame, mask: pd.Series | np.ndarray) -> Any:
        cand = df.index[np.asarray(mask, dtype=bool) & ~df["number"].isin(used).to_numpy()]
        i = cand[int(rng.integers(0, len(cand)))]
        used.add(df.at[i, "number"])
        return i

    def note(table: str, i: Any, field: str, kind: str, dimension: str, check: str, text: str) -> None:
        row = tables[table].loc[i]
        log.defect(
            modality="screening",
            site=row["site"],
            record=f"{table} of participant {row['number']}",
            field=field,
            kind=kind,
            dimension=dimension,
            expect=f"screening.{check}",
            pseudonym=row["pseudonym"],
            note=text,
        )

    r, f, rd, bm, pp = (tables[k] for k in ("rounds", "followup", "reads", "biomarkers", "participants"))
    i = pick(r, (r["result"] == "positive") & (r["round"] == 1))
    note(
        "rounds",
        i,
        "outcome",
        "positive_screen_without_followup",
        "consistency",
        "consistency.positive_without_followup",
        "the follow-up record of a recalled participant is missing",
    )
    tables["followup"] = f[f["number"] != r.at[i, "number"]]
    f = tables["followup"]
    i = pick(f, f["outcome"] == "cancer")
    note(
        "followup",
        i,
        "pathology_date",
        "cancer_without_pathology",
        "consistency",
        "consistency.cancer_without_pathology",
        "a cancer outcome with no pathology confirmation or date",
    )
    f.loc[i, ["pathology_date", "pathology_confirmed"]] = [np.datetime64("NaT"), ""]
    i = pick(rd, rd["reader_kind"] == "ai")
    note(
        "reads",
        i,
        "reader_kind",
        "read_without_reader_kind",
        "consistency",
        "consistency.read_reader_kind",
        "an AI read whose reader kind was left blank",
    )
    rd.loc[i, "reader_kind"] = ""
    i = pick(pp, (pp["risk_group"] == "non_high") & (pp["age_at_enrolment"] < 50))
    note(
        "participants",
        i,
        "risk_group",
        "risk_group_against_rule",
        "consistency",
        "consistency.risk_group",
        "recorded high risk, but younger than the rule's age band",
    )
    pp.loc[i, "risk_group"] = "high"
    i = pick(bm, bm["round"] == 2)
    note(
        "biomarkers",
        i,
        "result_date",
        "result_before_sample",
        "consistency",
        "consistency.dates_in_order",
        "biomarker result dated before its sample",
    )
    bm.loc[i, "result_date"] = bm.at[i, "sample_date"] - np.timedelta64(3, "D")


def _raw(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The export as the site writes it: Chinese headers and values, dates as text."""
    cols = {field: header for header, field in HEADERS[table].items()}
    out = df[[c if c != "admission_number" else "number" for c in cols]].copy()
    out.columns = list(cols.values())
    for field, header in cols.items():
        if field in ZH:
            out[header] = out[header].map(lambda v, m=ZH[field]: m.get(v, v))
        if field.endswith("_date"):
            out[header] = pd.to_datetime(out[header]).dt.strftime("%Y-%m-%d").fillna("")
    return out


def generate(
    roster: pd.DataFrame,
    out: Path,
    *,
    rng: np.random.Generator,
    log: DemoLog,
    keyring: Keyring,
    plan: Plan | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Write the screening exports of sites A, B and C under ``raw/site<X>/screening/``.

    With the cohort's ``plan`` (its planned LIS table and the patients carrying planted defects), the
    screen-detected cancers become roster patients whose clinical, pathology, imaging and lab records
    agree with the screening ones (:mod:`.screening_links`), with one planted defect per link."""
    from .screening_links import link

    p = _participants(rng, keyring)
    r = _rounds(p, rng)
    tables = {
        "participants": p.assign(number=p["number"]),
        "rounds": r,
        "followup": _followup(p, r, rng),
        "reads": _reads(r, rng),
        "biomarkers": _biomarkers(p, r, rng),
    }
    tables = {k: v.reset_index(drop=True) for k, v in tables.items()}
    touched: set[str] = set()
    if plan is not None:
        touched = link(tables, roster, lab=plan.tables.get("lab", pd.DataFrame()), used=set(plan.planter.used), log=log)
    _plant(tables, p, rng, log, touched)
    log.identifier(*p["number"], *tables["reads"].loc[tables["reads"]["reader_kind"] == "expert", "reader_id"])
    sources: list[dict[str, Any]] = []
    for site in SITES:
        folder = out / "raw" / f"site{site}" / "screening"
        folder.mkdir(parents=True, exist_ok=True)
        encoding = "gb18030" if site == "C" else "utf-8"
        for table, df in tables.items():
            raw = _raw(df[df["site"] == site], table)
            path = folder / f"{table}.csv"
            path.write_bytes(raw.to_csv(index=False, lineterminator="\n").encode(encoding))
            entry: dict[str, Any] = {
                "site": site,
                "path": path.relative_to(out).as_posix(),
                "format": "csv",
                "encoding": encoding,
                "table": table,
                "columns": dict(HEADERS[table]),
            }
            if site == "A" and table == "participants":
                entry["options"] = {
                    "indicators": {
                        "window_days": 365,
                        "bootstrap": 1000,
                        "targets": {"sensitivity": 0.8, "specificity": 0.8},
                    }
                }
            sources.append(entry)
    return {"screening": sources}
