"""Standard tables of the demo, drawn from the roster: dictionary field names, standard values, real dates.

The site renderers (:mod:`curation.demo.sites`) translate these into each hospital's headers, labels,
date formats and missing tokens; the planted defects (:mod:`curation.demo.defects`) edit them in
between. Two internal columns travel with every row and are never written: ``_pid`` (roster row,
-1 for rows that belong to nobody) and ``_rid`` (a row key the defects manifest points at).

A missing value that carries a reason is written as one of :data:`MISSING` (``"@not_applicable"`` ...);
a plain NaN / None is an empty cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["clinical_tables", "exposure_table", "lab_table", "pathology_table", "report_text"]

MISSING = {
    "@unknown": "unknown",
    "@not_collected": "not_collected",
    "@not_applicable": "not_applicable",
    "@pending": "pending",
}
NA_ = "@not_applicable"
NC_ = "@not_collected"
UNK = "@unknown"

HISTOLOGY_STD = {
    "adenocarcinoma": "adenocarcinoma",
    "squamous": "squamous_cell_carcinoma",
    "small_cell": "small_cell_carcinoma",
    "large_cell": "large_cell_carcinoma",
}

TARGETED = {
    "EGFR_L858R": "osimertinib",
    "EGFR_exon19del": "osimertinib",
    "ALK_fusion": "alectinib",
    "KRAS_G12C": "sotorasib",
    "BRAF_V600E": "dabrafenib+trametinib",
    "RET_fusion": "selpercatinib",
}

# analyte -> (reference upper limit, limit of detection, canonical unit)
ANALYTES = {
    "CEA": (5.0, 0.5, "ng/mL"),
    "CYFRA21-1": (3.3, 0.1, "ng/mL"),
    "NSE": (16.3, 0.5, "ng/mL"),
    "ProGRP": (65.0, 3.0, "pg/mL"),
    "SCC": (1.5, 0.1, "ng/mL"),
    "CA125": (35.0, 0.6, "U/mL"),
}
PM25 = {"A": (48, 9), "B": (33, 6), "C": (28, 5)}


def _spread(pid: int, low: int, high: int) -> int:
    """A whole number in [low, high] from the patient number: dates added to the demo without a draw, so
    every value drawn before stays as it was."""
    return low + (int(pid) * 5 + 3) % (high - low + 1)


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}:{i:05d}" for i in range(n)]


def _fmt_surgery(stage: str) -> bool:
    return stage.startswith(("IA", "IB", "IIA", "IIB")) or stage == "IIIA"


def clinical_tables(roster: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """patients, conditions, staging, treatments and outcomes of every patient."""
    r = roster
    n = len(r)
    base = pd.DataFrame({"_pid": r["pid"].to_numpy(), "site": r["site"].to_numpy(), "admission_number": r["mrn"]})
    patients = base.assign(
        name=r["name"],
        resident_id=r["resident_id"],
        phone=r["phone"],
        address=r["address"],
        sex=r["sex"].map({"M": "male", "F": "female"}),
        birth_date=r["birth_date"],
        ethnicity=np.where(rng.random(n) < 0.04, UNK, r["ethnicity"]).astype(object),
        record_entry_date=r["record_entry_date"],
    )
    method = np.where(rng.random(n) < 0.85, "histology", "cytology").astype(object)
    conditions = base.assign(
        symptom_date=r["symptom_date"],
        diagnosis_date=r["diagnosis_date"],
        icd10=r["icd10"],
        icdo3_topography=r["icd10"],
        icdo3_morphology=r["icdo3_morphology"],
        laterality=r["laterality"],
        diagnosis_method=method,
        histology=r["histology"].map(HISTOLOGY_STD),
        ecog=r["ecog"].astype(object),
    )
    surgical = np.array(
        [_fmt_surgery(s) and h != "small_cell" for s, h in zip(r["stage_group"], r["histology"], strict=True)]
    )
    pt = np.where(surgical, r["ct"], NA_).astype(object)
    pn = np.where(surgical, r["cn"], NA_).astype(object)
    pm = np.where(surgical, r["cm"], NA_).astype(object)
    staging = base.assign(
        ct=r["ct"], cn=r["cn"], cm=r["cm"], pt=pt, pn=pn, pm=pm, stage_group=r["stage_group"], ajcc_edition="8"
    )
    outcomes = base.assign(
        vital_status=r["vital_status"],
        last_followup_date=r["last_followup_date"],
        progression_date=r["progression_date"].astype(object).where(r["progression_date"].notna(), NA_),
        death_date=r["death_date"].astype(object).where(r["death_date"].notna(), NA_),
        cause_of_death=np.where(
            r["vital_status"] == "dead", np.where(rng.random(n) < 0.9, "lung_cancer", "other"), NA_
        ).astype(object),
    )
    treatments = _treatments(r, surgical, rng)
    out = {
        "patients": patients,
        "conditions": conditions,
        "staging": staging,
        "treatments": treatments,
        "outcomes": outcomes,
    }
    for name, df in out.items():
        df.insert(0, "_rid", _ids(name, len(df)))
    return out


def _treatments(r: pd.DataFrame, surgical: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    day = pd.Timedelta(days=1)
    for i, p in enumerate(r.itertuples(index=False)):
        start = p.treatment_start
        end_of_care = p.last_followup_date
        plan: list[tuple[str, str, int]] = []  # (type, regimen, duration days)
        if surgical[i]:
            plan.append(("surgery", "lobectomy" if rng.random() < 0.85 else "segmentectomy", 0))
            if p.stage_group not in ("IA1", "IA2", "IA3"):
                if p.driver.startswith("EGFR"):
                    plan.append(("targeted", "osimertinib", 3 * 365))
                else:
                    plan.append(("chemotherapy", "cisplatin+vinorelbine", 84))
        elif p.histology == "small_cell":
            plan.append(("chemotherapy", "etoposide+carboplatin", 84))
            plan.append(("immunotherapy", "atezolizumab", 365))
        elif p.cm == "M0":
            plan.append(("radiotherapy", "IMRT 60 Gy/30 fx", 42))
            plan.append(("chemotherapy", "paclitaxel+carboplatin", 42))
            plan.append(("immunotherapy", "durvalumab", 365))
        elif p.driver in TARGETED:
            plan.append(("targeted", TARGETED[p.driver], 540))
        else:
            chemo = "pemetrexed+carboplatin" if p.histology == "adenocarcinoma" else "paclitaxel+carboplatin"
            plan.append(("chemotherapy", chemo, 84))
            plan.append(("immunotherapy", "pembrolizumab", 365))
        t0 = start
        concurrent = {"radiotherapy"}
        for k, (kind, regimen, days) in enumerate(plan):
            if k > 0 and plan[k - 1][0] not in concurrent:
                t0 = rows[-1]["treatment_end"] + day * int(rng.integers(14, 42))  # type: ignore[operator]
            end = t0 + day * days
            if t0 >= end_of_care:
                break
            rows.append(
                {
                    "_pid": p.pid,
                    "site": p.site,
                    "admission_number": p.mrn,
                    "treatment_type": kind,
                    "regimen": regimen,
                    "line": 1,
                    "treatment_start": t0,
                    "treatment_end": min(end, end_of_care),
                }
            )
        if pd.notna(p.progression_date) and p.progression_date + 21 * day < end_of_care:
            t2 = p.progression_date + day * int(rng.integers(7, 21))
            rows.append(
                {
                    "_pid": p.pid,
                    "site": p.site,
                    "admission_number": p.mrn,
                    "treatment_type": "chemotherapy",
                    "regimen": "docetaxel",
                    "line": 2,
                    "treatment_start": t2,
                    "treatment_end": min(t2 + 84 * day, end_of_care),
                }
            )
    return pd.DataFrame(rows)


def pathology_table(roster: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One specimen per patient with IHC consistent with the histology (planted defects aside)."""
    rows = []
    for p in roster.itertuples(index=False):
        h = p.histology
        specimen_type = "biopsy" if p.stage_group.startswith(("III", "IV")) or rng.random() < 0.4 else "resection"
        if rng.random() < 0.08:
            specimen_type = "cytology"
        year = p.diagnosis_date.year % 100
        seq = int(rng.integers(1000, 99999))
        specimen_id = {"A": f"P{year:02d}-{seq:05d}", "B": f"S20{year:02d}-{seq:05d}", "C": f"BL{year:02d}{seq:05d}"}[
            p.site
        ]
        ttf1, p40 = {
            "adenocarcinoma": ("positive", "negative"),
            "squamous": ("negative", "positive"),
            "small_cell": ("positive", "negative"),
            "large_cell": ("negative", "negative"),
        }[h]
        pdl1: object = float(rng.choice([0, 0, 1, 5, 10, 20, 30, 50, 60, 70, 80, 90]))
        if h == "small_cell" and rng.random() < 0.5:
            pdl1 = NC_
        ki67 = float(rng.integers(60, 95)) if h == "small_cell" else float(rng.integers(5, 70))
        specimen_date = p.diagnosis_date - pd.Timedelta(days=int(rng.integers(0, 5)))
        rows.append(
            {
                "_pid": p.pid,
                "site": p.site,
                "admission_number": p.mrn,
                "specimen_id": specimen_id,
                "specimen_type": specimen_type,
                "specimen_date": specimen_date,
                # signed out 1-7 days later (from the patient number: no draw, the other values stay put)
                "report_date": specimen_date + pd.Timedelta(days=_spread(p.pid, 1, 7)),
                "histology": HISTOLOGY_STD[h],
                "grade": NA_ if h == "small_cell" else str(rng.choice(["G1", "G2", "G2", "G3", "G3"])),
                "pdl1_tps": pdl1,
                "ki67": ki67,
                "alk": "positive"
                if p.driver == "ALK_fusion"
                else ("negative" if h == "adenocarcinoma" else "not_done"),
                "ros1": "negative" if h == "adenocarcinoma" else "not_done",
                "ttf1": ttf1,
                "p40": p40,
                "_name": p.name,
                "_laterality": p.laterality,
                "_icd10": p.icd10,
            }
        )
    df = pd.DataFrame(rows)
    df.insert(0, "_rid", _ids("pathology", len(df)))
    return df


LOBES = {"C34.0": "主支气管", "C34.1": "上叶", "C34.2": "中叶", "C34.3": "下叶", "C34.8": "上叶", "C34.9": "上叶"}
HIST_CN = {
    "adenocarcinoma": "浸润性腺癌",
    "squamous_cell_carcinoma": "鳞状细胞癌",
    "small_cell_carcinoma": "小细胞癌",
    "large_cell_carcinoma": "大细胞癌",
}
IHC_CN = {"positive": "+", "negative": "-", "not_done": "未做"}


def report_text(row: pd.Series) -> str:
    """A pathology report as hospitals write it: with the patient's name and admission number."""
    side = {"left": "左", "right": "右"}.get(str(row["_laterality"]), "")
    lobe = LOBES.get(str(row["_icd10"]), "")
    pdl1 = row["pdl1_tps"]
    pdl1_s = "未做" if isinstance(pdl1, str) else f"TPS {pdl1:g}%"
    how = {"biopsy": "穿刺活检组织", "resection": "肺叶切除标本", "cytology": "细胞学涂片"}[str(row["specimen_type"])]
    return (
        f"姓名：{row['name_in_report']}  住院号：{row['admission_number']}  病理号：{row['specimen_id']}\n"
        f"送检：（{side}肺{lobe}）{how}。\n"
        f"病理诊断：（{side}肺{lobe}）{HIST_CN.get(str(row['histology']), '恶性肿瘤')}。\n"
        f"免疫组化：TTF-1({IHC_CN.get(str(row['ttf1']), '?')}), P40({IHC_CN.get(str(row['p40']), '?')}), "
        f"Ki-67(约{row['ki67']:g}%+), PD-L1(22C3) {pdl1_s}, ALK-V(D5F3)({IHC_CN.get(str(row['alk']), '?')})."
    )


def exposure_table(roster: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The standard exposure questionnaire table (smoking, occupational exposures, family history) of the roster."""
    n = len(roster)
    r = roster

    def yes_no(p: float, unknown: float = 0.03) -> np.ndarray:
        u = rng.random(n)
        return np.where(u < unknown, UNK, np.where(rng.random(n) < p, "yes", "no")).astype(object)

    male = (r["sex"] == "M").to_numpy()
    pm_mean = np.array([PM25[s][0] for s in r["site"]])
    pm_sd = np.array([PM25[s][1] for s in r["site"]])
    df = pd.DataFrame(
        {
            "_pid": r["pid"].to_numpy(),
            "site": r["site"].to_numpy(),
            "admission_number": r["mrn"],
            "smoking_status": r["smoking_status"],
            "pack_years": r["pack_years"],
            "smoking_age_started": r["smoking_age_started"].astype(object).where(r["smoking_age_started"].notna(), NA_),
            "years_since_quit": r["years_since_quit"].astype(object).where(r["years_since_quit"].notna(), NA_),
            "secondhand_smoke": yes_no(0.45),
            "asbestos": np.where(male, yes_no(0.05), yes_no(0.01)),
            "radon": np.where(rng.random(n) < 0.35, NC_, yes_no(0.04)).astype(object),
            "silica": np.where(male, yes_no(0.06), yes_no(0.01)),
            "diesel": np.where(male, yes_no(0.08), yes_no(0.01)),
            "cooking_fumes": np.where(male, yes_no(0.2), yes_no(0.65)),
            "household_fuel": np.array(["gas", "gas", "gas", "electricity", "coal", "biomass"], dtype=object)[
                rng.integers(6, size=n)
            ],
            "residence_pm25": np.round(rng.normal(pm_mean, pm_sd), 1),
            "family_history_lung_cancer": yes_no(0.12, unknown=0.06),
            "alcohol": np.array(["never", "never", "former", "current"], dtype=object)[rng.integers(4, size=n)],
            # filled in at the first visits: 20 days before to 30 days after diagnosis
            "questionnaire_date": [
                d + pd.Timedelta(days=_spread(pid, -20, 30))
                for d, pid in zip(r["diagnosis_date"], r["pid"], strict=True)
            ],
        }
    )
    df.insert(0, "_rid", _ids("exposure", len(df)))
    return df


def lab_table(roster: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """LIS long format: tumor markers from diagnosis through follow-up, as measured values."""
    rows = []
    day = pd.Timedelta(days=1)
    for p in roster.itertuples(index=False):
        analytes = ["CEA", "CYFRA21-1"]
        if p.histology == "small_cell":
            analytes += ["NSE", "ProGRP"]
        elif p.histology == "squamous":
            analytes += ["SCC"]
        if rng.random() < 0.3:
            analytes.append("CA125")
        times = [p.diagnosis_date - day * int(rng.integers(1, 6))]
        t = p.treatment_start + day * int(rng.integers(50, 80))
        while t < p.last_followup_date and len(times) < 5:
            times.append(t)
            t += day * int(rng.integers(60, 120))
        advanced = p.cm != "M0"
        for a in analytes:
            upper = ANALYTES[a][0]
            driven = {
                "CEA": p.histology == "adenocarcinoma",
                "SCC": p.histology == "squamous",
                "NSE": p.histology == "small_cell",
                "ProGRP": p.histology == "small_cell",
            }.get(a, True)
            base = upper * (rng.lognormal(0.8 if advanced else 0.0, 0.9) if driven else rng.uniform(0.1, 0.8))
            for k, when in enumerate(times):
                factor = 1.0 if k == 0 else 0.45
                if pd.notna(p.progression_date) and when > p.progression_date:
                    factor = 1.6 + 0.4 * k
                value = base * factor * rng.lognormal(0, 0.15)
                collected = when + pd.Timedelta(hours=int(rng.integers(7, 11)), minutes=int(rng.integers(0, 60)))
                rows.append(
                    {
                        "_pid": p.pid,
                        "site": p.site,
                        "admission_number": p.mrn,
                        "analyte": a,
                        "value": float(value),
                        "unit": ANALYTES[a][2],
                        "reference_range": upper,
                        "collected_date": collected,
                        "report_date": collected + pd.Timedelta(hours=int(rng.integers(2, 30))),
                    }
                )
    df = pd.DataFrame(rows)
    # Every site's LIS reports censored values: its lowest CEA below the limit of detection
    # (written "<0.5") and its highest above the upper limit of the assay (written ">1000").
    cea = df[df["analyte"] == "CEA"]
    for _, grp in cea.groupby("site"):
        df.loc[grp["value"].idxmin(), "value"] = 0.3
        df.loc[grp["value"].idxmax(), "value"] = 1480.0
    df.insert(0, "_rid", _ids("lab", len(df)))
    return df
