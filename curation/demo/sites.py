"""The three demo hospitals and how each writes its exports.

Site A: UTF-8 CSV with Chinese headers, ISO dates (some ``2023/1/5``).
Site B: Excel workbooks with English headers, date cells mixed with Excel serial days and strings.
Site C: GB18030 CSV with other Chinese headers, ``2023年1月5日`` dates, Windows line ends.

Each renderer returns the cohort.yaml ``sources`` entries of what it wrote: the column mapping from
the site's headers to dictionary fields, the value mapping from its labels to standard values and
its missing-value tokens, so the generated cohort.yaml is ready to run.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._core import DemoLog
from .tables import ANALYTES, MISSING

# dictionary field -> header, per site and table
HEADERS: dict[str, dict[str, dict[str, str]]] = {
    "A": {
        "patients": {
            "admission_number": "住院号",
            "name": "姓名",
            "sex": "性别",
            "birth_date": "出生日期",
            "resident_id": "身份证号",
            "phone": "联系电话",
            "address": "家庭住址",
            "ethnicity": "民族",
            "record_entry_date": "病案录入日期",
        },
        "conditions": {
            "admission_number": "住院号",
            "symptom_date": "首发症状日期",
            "diagnosis_date": "诊断日期",
            "icd10": "ICD-10编码",
            "icdo3_topography": "ICD-O-3部位",
            "icdo3_morphology": "ICD-O-3形态学",
            "laterality": "侧别",
            "diagnosis_method": "诊断依据",
            "histology": "病理类型",
            "ecog": "ECOG评分",
        },
        "staging": {
            "admission_number": "住院号",
            "ct": "cT",
            "cn": "cN",
            "cm": "cM",
            "pt": "pT",
            "pn": "pN",
            "pm": "pM",
            "stage_group": "临床分期",
            "ajcc_edition": "AJCC版本",
        },
        "treatments": {
            "admission_number": "住院号",
            "treatment_type": "治疗类型",
            "regimen": "治疗方案",
            "line": "治疗线数",
            "treatment_start": "开始日期",
            "treatment_end": "结束日期",
        },
        "outcomes": {
            "admission_number": "住院号",
            "vital_status": "生存状态",
            "last_followup_date": "末次随访日期",
            "progression_date": "进展日期",
            "death_date": "死亡日期",
            "cause_of_death": "死亡原因",
        },
        "pathology": {
            "admission_number": "住院号",
            "specimen_id": "病理号",
            "specimen_type": "标本类型",
            "specimen_date": "取材日期",
            "histology": "病理诊断",
            "grade": "分化程度",
            "pdl1_tps": "PD-L1(TPS)",
            "ki67": "Ki-67",
            "alk": "ALK",
            "ros1": "ROS1",
            "ttf1": "TTF-1",
            "p40": "P40",
            "report_text": "病理报告",
        },
        "exposure": {
            "admission_number": "住院号",
            "smoking_status": "吸烟状态",
            "pack_years": "吸烟包年",
            "smoking_age_started": "开始吸烟年龄",
            "years_since_quit": "戒烟年数",
            "secondhand_smoke": "二手烟暴露",
            "asbestos": "石棉接触",
            "radon": "氡暴露",
            "silica": "二氧化硅接触",
            "diesel": "柴油废气接触",
            "cooking_fumes": "厨房油烟暴露",
            "household_fuel": "家用燃料",
            "residence_pm25": "居住地PM2.5",
            "family_history_lung_cancer": "肺癌家族史",
            "alcohol": "饮酒",
        },
        "lab": {
            "admission_number": "住院号",
            "analyte": "检验项目",
            "value": "结果",
            "unit": "单位",
            "reference_range": "参考范围",
            "collected_date": "采集时间",
            "report_date": "报告时间",
        },
    },
    "B": {
        "patients": {
            "admission_number": "MRN",
            "name": "Patient Name",
            "sex": "Gender",
            "birth_date": "DOB",
            "resident_id": "ID Card No",
            "phone": "Mobile",
            "address": "Address",
            "ethnicity": "Ethnicity",
            "record_entry_date": "Entry Date",
        },
        "conditions": {
            "admission_number": "MRN",
            "symptom_date": "Symptom Onset",
            "diagnosis_date": "Diagnosis Date",
            "icd10": "ICD10",
            "icdo3_topography": "Topography",
            "icdo3_morphology": "Morphology",
            "laterality": "Side",
            "diagnosis_method": "Dx Method",
            "histology": "Histology",
            "ecog": "ECOG PS",
        },
        "staging": {
            "admission_number": "MRN",
            "ct": "cT",
            "cn": "cN",
            "cm": "cM",
            "pt": "pT",
            "pn": "pN",
            "pm": "pM",
            "stage_group": "Stage",
            "ajcc_edition": "AJCC Edition",
        },
        "treatments": {
            "admission_number": "MRN",
            "treatment_type": "Treatment",
            "regimen": "Regimen",
            "line": "Line",
            "treatment_start": "Start Date",
            "treatment_end": "End Date",
        },
        "outcomes": {
            "admission_number": "MRN",
            "vital_status": "Vital Status",
            "last_followup_date": "Last Follow-up",
            "progression_date": "Progression Date",
            "death_date": "Date of Death",
            "cause_of_death": "Cause of Death",
        },
        "pathology": {
            "admission_number": "MRN",
            "specimen_id": "Specimen No",
            "specimen_type": "Specimen Type",
            "specimen_date": "Collection Date",
            "histology": "Diagnosis",
            "grade": "Grade",
            "pdl1_tps": "PD-L1 TPS",
            "ki67": "Ki-67",
            "alk": "ALK",
            "ros1": "ROS1",
            "ttf1": "TTF-1",
            "p40": "p40",
            "report_text": "Report",
        },
        "exposure": {
            "admission_number": "MRN",
            "smoking_status": "Smoking Status",
            "pack_years": "Pack Years",
            "smoking_age_started": "Age Started Smoking",
            "years_since_quit": "Years Since Quitting",
            "secondhand_smoke": "Secondhand Smoke",
            "asbestos": "Asbestos",
            "radon": "Radon",
            "silica": "Silica",
            "diesel": "Diesel Exhaust",
            "cooking_fumes": "Cooking Fumes",
            "household_fuel": "Household Fuel",
            "residence_pm25": "PM2.5",
            "family_history_lung_cancer": "Family History of Lung Cancer",
            "alcohol": "Alcohol",
        },
        "lab": {
            "admission_number": "MRN",
            "analyte": "Test",
            "value": "Result",
            "unit": "Units",
            "reference_range": "Reference Range",
            "collected_date": "Collected",
            "report_date": "Reported",
        },
    },
    "C": {
        "patients": {
            "admission_number": "住院号码",
            "name": "患者姓名",
            "sex": "性别",
            "birth_date": "出生年月日",
            "resident_id": "身份证号码",
            "phone": "手机号",
            "address": "现住址",
            "ethnicity": "民族",
            "record_entry_date": "录入日期",
        },
        "conditions": {
            "admission_number": "住院号码",
            "symptom_date": "症状出现日期",
            "diagnosis_date": "确诊日期",
            "icd10": "诊断编码(ICD-10)",
            "icdo3_topography": "部位编码",
            "icdo3_morphology": "形态学编码",
            "laterality": "肿瘤侧别",
            "diagnosis_method": "确诊方式",
            "histology": "组织学类型",
            "ecog": "ECOG",
        },
        "staging": {
            "admission_number": "住院号码",
            "ct": "T分期",
            "cn": "N分期",
            "cm": "M分期",
            "pt": "病理T",
            "pn": "病理N",
            "pm": "病理M",
            "stage_group": "TNM分期",
            "ajcc_edition": "分期版本",
        },
        "treatments": {
            "admission_number": "住院号码",
            "treatment_type": "治疗方式",
            "regimen": "具体方案",
            "line": "线数",
            "treatment_start": "治疗开始",
            "treatment_end": "治疗结束",
        },
        "outcomes": {
            "admission_number": "住院号码",
            "vital_status": "生存情况",
            "last_followup_date": "最后随访",
            "progression_date": "疾病进展日期",
            "death_date": "死亡时间",
            "cause_of_death": "死因",
        },
        "pathology": {
            "admission_number": "住院号码",
            "specimen_id": "标本编号",
            "specimen_type": "标本类型",
            "specimen_date": "送检日期",
            "histology": "组织学诊断",
            "grade": "组织学分级",
            "pdl1_tps": "PD-L1表达(%)",
            "ki67": "Ki67指数(%)",
            "alk": "ALK(D5F3)",
            "ros1": "ROS1",
            "ttf1": "TTF1",
            "p40": "P40",
            "report_text": "报告全文",
        },
        "exposure": {
            "admission_number": "住院号码",
            "smoking_status": "吸烟史",
            "pack_years": "包年",
            "smoking_age_started": "开始吸烟年龄",
            "years_since_quit": "戒烟年限",
            "secondhand_smoke": "被动吸烟",
            "asbestos": "石棉",
            "radon": "氡",
            "silica": "矽尘",
            "diesel": "柴油尾气",
            "cooking_fumes": "烹饪油烟",
            "household_fuel": "生活燃料",
            "residence_pm25": "PM2.5",
            "family_history_lung_cancer": "肺癌家族史",
            "alcohol": "饮酒史",
        },
        "lab": {
            "admission_number": "住院号码",
            "analyte": "项目名称",
            "value": "检测结果",
            "unit": "结果单位",
            "reference_range": "参考值",
            "collected_date": "采样时间",
            "report_date": "审核时间",
        },
    },
}

_YES_NO = {"A": {"yes": "是", "no": "否"}, "B": {"yes": "Yes", "no": "No"}, "C": {"yes": "有", "no": "无"}}
_IHC = {
    "A": {"positive": "(+)", "negative": "(-)", "not_done": "未做"},
    "B": {"positive": "Positive", "negative": "Negative", "not_done": "Not done"},
    "C": {"positive": "阳性", "negative": "阴性", "not_done": "未做"},
}
_HIST = {
    "A": {
        "adenocarcinoma": "腺癌",
        "squamous_cell_carcinoma": "鳞状细胞癌",
        "small_cell_carcinoma": "小细胞癌",
        "large_cell_carcinoma": "大细胞癌",
    },
    "B": {
        "adenocarcinoma": "Adenocarcinoma",
        "squamous_cell_carcinoma": "Squamous cell carcinoma",
        "small_cell_carcinoma": "Small cell carcinoma",
        "large_cell_carcinoma": "Large cell carcinoma",
    },
    "C": {
        "adenocarcinoma": "腺癌",
        "squamous_cell_carcinoma": "鳞癌",
        "small_cell_carcinoma": "小细胞肺癌",
        "large_cell_carcinoma": "大细胞癌",
    },
}
_STAGES = ["0", "IA1", "IA2", "IA3", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IVA", "IVB"]
_EXPOSURE_YN = (
    "secondhand_smoke",
    "asbestos",
    "radon",
    "silica",
    "diesel",
    "cooking_fumes",
    "family_history_lung_cancer",
)

# field -> {standard value: site label}
LABELS: dict[str, dict[str, dict[str, str]]] = {
    "A": {
        "sex": {"male": "男", "female": "女"},
        "histology": _HIST["A"],
        "laterality": {"left": "左", "right": "右"},
        "diagnosis_method": {"histology": "组织病理学", "cytology": "细胞学"},
        "treatment_type": {
            "surgery": "手术",
            "chemotherapy": "化疗",
            "radiotherapy": "放疗",
            "targeted": "靶向治疗",
            "immunotherapy": "免疫治疗",
        },
        "vital_status": {"alive": "存活", "dead": "死亡"},
        "cause_of_death": {"lung_cancer": "肺癌", "other": "其他"},
        "specimen_type": {"biopsy": "穿刺活检", "resection": "手术切除", "cytology": "细胞学"},
        "alk": _IHC["A"],
        "ros1": _IHC["A"],
        "ttf1": _IHC["A"],
        "p40": _IHC["A"],
        "smoking_status": {"never": "从不吸烟", "former": "已戒烟", "current": "目前吸烟"},
        "alcohol": {"never": "从不饮酒", "former": "已戒酒", "current": "饮酒"},
        "household_fuel": {"gas": "燃气", "electricity": "电", "coal": "煤", "biomass": "柴草"},
        "analyte": {
            "CEA": "癌胚抗原(CEA)",
            "CYFRA21-1": "细胞角蛋白19片段(CYFRA21-1)",
            "NSE": "神经元特异性烯醇化酶(NSE)",
            "ProGRP": "胃泌素释放肽前体(ProGRP)",
            "SCC": "鳞状细胞癌抗原(SCC)",
            "CA125": "糖类抗原125(CA125)",
        },
        **{f: _YES_NO["A"] for f in _EXPOSURE_YN},
    },
    "B": {
        "sex": {"male": "Male", "female": "Female"},
        "histology": _HIST["B"],
        "laterality": {"left": "L", "right": "R"},
        "diagnosis_method": {"histology": "Histology", "cytology": "Cytology"},
        "treatment_type": {
            "surgery": "Surgery",
            "chemotherapy": "Chemotherapy",
            "radiotherapy": "Radiotherapy",
            "targeted": "Targeted therapy",
            "immunotherapy": "Immunotherapy",
        },
        "vital_status": {"alive": "Alive", "dead": "Dead"},
        "cause_of_death": {"lung_cancer": "Lung cancer", "other": "Other"},
        "specimen_type": {"biopsy": "Biopsy", "resection": "Resection", "cytology": "Cytology"},
        "alk": _IHC["B"],
        "ros1": _IHC["B"],
        "ttf1": _IHC["B"],
        "p40": _IHC["B"],
        "smoking_status": {"never": "Never", "former": "Former", "current": "Current"},
        "alcohol": {"never": "Never", "former": "Former", "current": "Current"},
        "household_fuel": {"gas": "Gas", "electricity": "Electric", "coal": "Coal", "biomass": "Biomass"},
        "analyte": {
            "CEA": "CEA",
            "CYFRA21-1": "CYFRA 21-1",
            "NSE": "NSE",
            "ProGRP": "ProGRP",
            "SCC": "SCC-Ag",
            "CA125": "CA-125",
        },
        **{f: _YES_NO["B"] for f in _EXPOSURE_YN},
    },
    "C": {
        "sex": {"male": "男性", "female": "女性"},
        "histology": _HIST["C"],
        "laterality": {"left": "左肺", "right": "右肺"},
        "diagnosis_method": {"histology": "病理确诊", "cytology": "细胞学确诊"},
        "treatment_type": {
            "surgery": "手术",
            "chemotherapy": "化疗",
            "radiotherapy": "放疗",
            "targeted": "靶向",
            "immunotherapy": "免疫",
        },
        "vital_status": {"alive": "生存", "dead": "死亡"},
        "cause_of_death": {"lung_cancer": "肺癌", "other": "其他原因"},
        "specimen_type": {"biopsy": "活检", "resection": "切除", "cytology": "细胞学"},
        "alk": _IHC["C"],
        "ros1": _IHC["C"],
        "ttf1": _IHC["C"],
        "p40": _IHC["C"],
        "smoking_status": {"never": "不吸烟", "former": "既往吸烟", "current": "现在吸烟"},
        "alcohol": {"never": "不饮酒", "former": "戒酒", "current": "饮酒"},
        "household_fuel": {"gas": "天然气", "electricity": "电", "coal": "煤炭", "biomass": "柴火"},
        "stage_group": {s: f"{s}期" for s in _STAGES},
        "analyte": {
            "CEA": "癌胚抗原",
            "CYFRA21-1": "CYFRA21-1",
            "NSE": "NSE",
            "ProGRP": "ProGRP",
            "SCC": "SCC",
            "CA125": "CA125",
        },
        **{f: _YES_NO["C"] for f in _EXPOSURE_YN},
    },
}

# missing token -> reason
MISSING_TOKENS = {
    "A": {"不详": "unknown", "未查": "not_collected", "/": "not_applicable", "待回报": "pending"},
    "B": {"Unknown": "unknown", "NA": "not_collected", "N/A": "not_applicable", "Pending": "pending"},
    "C": {"不详": "unknown", "--": "not_collected", "不适用": "not_applicable", "待查": "pending"},
}

UNITS = {"A": {"ng/mL": "ng/mL"}, "B": {"ng/mL": "ng/ml"}, "C": {"ng/mL": "μg/L"}}

TREATMENT_CN = {
    "lobectomy": "肺叶切除术",
    "segmentectomy": "肺段切除术",
    "osimertinib": "奥希替尼",
    "alectinib": "阿来替尼",
    "sotorasib": "索托拉西布",
    "dabrafenib+trametinib": "达拉非尼+曲美替尼",
    "selpercatinib": "塞普替尼",
    "cisplatin+vinorelbine": "顺铂+长春瑞滨",
    "etoposide+carboplatin": "依托泊苷+卡铂",
    "atezolizumab": "阿替利珠单抗",
    "IMRT 60 Gy/30 fx": "调强放疗 60Gy/30次",
    "paclitaxel+carboplatin": "紫杉醇+卡铂",
    "durvalumab": "度伐利尤单抗",
    "pemetrexed+carboplatin": "培美曲塞+卡铂",
    "pembrolizumab": "帕博利珠单抗",
    "docetaxel": "多西他赛",
}

DATE_FIELDS = {
    "birth_date",
    "record_entry_date",
    "symptom_date",
    "diagnosis_date",
    "treatment_start",
    "treatment_end",
    "last_followup_date",
    "progression_date",
    "death_date",
    "specimen_date",
}
DATETIME_FIELDS = {"collected_date", "report_date"}
PHI_FIELDS = ("admission_number", "name", "resident_id", "phone", "address", "specimen_id")

# B's workbooks: (file, sheet) per table
B_FILES = {
    "patients": ("emr_export.xlsx", "Patients"),
    "conditions": ("emr_export.xlsx", "Diagnosis"),
    "staging": ("emr_export.xlsx", "Staging"),
    "treatments": ("emr_export.xlsx", "Treatments"),
    "outcomes": ("emr_export.xlsx", "FollowUp"),
    "pathology": ("pathology.xlsx", "Pathology"),
    "exposure": ("questionnaire.xlsx", "Questionnaire"),
    "lab": ("lis_tumor_markers.xlsx", "Results"),
}
CSV_FILES = {
    "patients": "patients.csv",
    "conditions": "diagnosis.csv",
    "staging": "staging.csv",
    "treatments": "treatments.csv",
    "outcomes": "followup.csv",
    "pathology": "pathology.csv",
    "exposure": "questionnaire.csv",
    "lab": "lis_tumor_markers.csv",
}
MODALITY = {
    "patients": "clinical",
    "conditions": "clinical",
    "staging": "clinical",
    "treatments": "clinical",
    "outcomes": "clinical",
    "pathology": "pathology",
    "exposure": "exposure",
    "lab": "lab",
}
# Site A's questionnaire is saved by Excel as "CSV UTF-8" (with a byte-order mark); these two
# sources declare `encoding: auto` so the reader's detection is exercised on both encodings.
WITH_BOM = {("A", "exposure")}
DETECT_ENCODING = {("A", "exposure"), ("C", "lab")}
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2024-01-01T00:00:00Z"


@dataclass
class Rendered:
    """Where each planted row ended up: _rid -> human-readable location."""

    locations: dict[str, str] = field(default_factory=dict)


def _fmt_date(site: str, v: Any, u: float) -> Any:
    """A date as the site writes it; ``u`` in [0, 1) picks among the site's habits."""
    if isinstance(v, str) or v is None or (not isinstance(v, pd.Timestamp) and pd.isna(v)):
        return v
    v = pd.Timestamp(v)
    if site == "A":
        return f"{v:%Y-%m-%d}" if u < 0.85 else f"{v.year}/{v.month}/{v.day}"
    if site == "C":
        return f"{v.year}年{v.month}月{v.day}日" if u < 0.8 else f"{v.year}/{v.month}/{v.day}"
    if u < 0.7:
        return v.to_pydatetime()  # a real Excel date cell
    if u < 0.9:
        return int((v.normalize() - EXCEL_EPOCH).days)  # serial days: the cell lost its date format
    return f"{v.year}/{v.month}/{v.day}"


def _fmt_datetime(site: str, v: Any) -> Any:
    if isinstance(v, str) or v is None or pd.isna(v):
        return v
    v = pd.Timestamp(v)
    if site == "A":
        return f"{v:%Y-%m-%d %H:%M}"
    if site == "C":
        return f"{v.year}/{v.month}/{v.day} {v.hour}:{v.minute:02d}"
    return v.to_pydatetime()


def _fmt_lab(site: str, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    values, units, ranges = [], [], []
    for a, v, unit, upper in zip(df["analyte"], df["value"], df["unit"], df["reference_range"], strict=True):
        lod = ANALYTES[a][1] if a in ANALYTES else 0.0
        if isinstance(v, str):
            values.append(v)
        elif v < lod:
            values.append(f"<{lod:g}")
        elif v > 1000:
            values.append(">1000")
        else:
            values.append(f"{v:.2f}" if site != "C" else f"{v:.1f}")
        units.append(UNITS[site].get(unit, unit))
        if isinstance(upper, str):
            ranges.append(upper)
        else:
            ranges.append({"A": f"0-{upper:g}", "B": f"<{upper:g}", "C": f"0～{upper:.1f}"}[site])
    df["value"], df["unit"], df["reference_range"] = values, units, ranges
    return df


def render_table(site: str, table: str, df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Standard frame -> the site's frame: labels, dates, missing tokens, headers (internal columns dropped)."""
    df = df[df["site"] == site].reset_index(drop=True)
    if table == "lab":
        df = _fmt_lab(site, df)
    if table == "treatments" and site != "B":
        df = df.assign(regimen=df["regimen"].map(lambda r: TREATMENT_CN.get(r, r)))
    if table == "pathology":
        df = df.assign(name_in_report=df["_name"])
        from .tables import report_text

        df["report_text"] = [report_text(row) for _, row in df.iterrows()]
        if site == "A":  # site A's pathology system writes percentages with the sign
            for f in ("pdl1_tps", "ki67"):
                df[f] = [v if isinstance(v, str) else f"{v:g}%" for v in df[f]]
    headers = HEADERS[site][table]
    labels = LABELS[site]
    tokens = {reason: token for token, reason in MISSING_TOKENS[site].items()}
    out = pd.DataFrame(index=df.index)
    for f, header in headers.items():
        col = df[f] if f in df else pd.Series([None] * len(df), index=df.index, dtype=object)
        lab = labels.get(f, {})
        u = rng.random(len(df))

        def cell(v: Any, k: int, f: str = f, lab: dict[str, str] = lab, u: np.ndarray = u) -> Any:
            if isinstance(v, str) and v in MISSING:
                return tokens[MISSING[v]]
            if (
                isinstance(v, str) and v == "@malformed"
            ):  # written quoted here; write_csv removes the quotes to break the line
                return "穿刺活检,CT引导"
            if f in DATE_FIELDS:
                return _fmt_date(site, v, u[k])
            if f in DATETIME_FIELDS:
                return _fmt_datetime(site, v)
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                return None
            if isinstance(v, str):
                return lab.get(v, v)
            if isinstance(v, (float, np.floating)) and float(v).is_integer() and f in ("ecog", "line"):
                return int(v)
            return v

        out[header] = [cell(v, k) for k, v in enumerate(col.tolist())]
    out.attrs["rids"] = df["_rid"].tolist()
    return out


def source_entry(site: str, table: str, path: str, fmt: str, *, sheet: str | None = None) -> dict[str, Any]:
    headers = HEADERS[site][table]
    values = {f: {label: std for std, label in LABELS[site][f].items()} for f in headers if f in LABELS[site]}
    entry: dict[str, Any] = {"site": site, "path": path, "format": fmt}
    if fmt == "csv":
        entry["encoding"] = "auto" if (site, table) in DETECT_ENCODING else "utf-8" if site == "A" else "gb18030"
    if MODALITY[table] == "clinical":
        entry["table"] = table
    if sheet:
        entry["sheet"] = sheet
    entry["columns"] = {h: f for f, h in headers.items()}
    if values:
        entry["values"] = values
    entry["missing"] = dict(MISSING_TOKENS[site])
    return entry


# ---------------------------------------------------------------------------------------------
# writers


def write_csv(
    path: Path, df: pd.DataFrame, *, site: str, bom: bool = False, malformed: dict[int, tuple[str, str]] | None = None
) -> None:
    """Write a site CSV; ``malformed`` maps row position -> (quoted text, unquoted text) to break."""
    text = df.to_csv(index=False, lineterminator="\r\n" if site == "C" else "\n")
    if malformed:
        lines = text.split("\r\n" if site == "C" else "\n")
        for pos, (quoted, raw) in malformed.items():
            lines[pos + 1] = lines[pos + 1].replace(quoted, raw, 1)
        text = ("\r\n" if site == "C" else "\n").join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8-sig" if bom else "utf-8" if site == "A" else "gb18030"))


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """An Excel workbook whose bytes depend only on its content (fixed times in the zip and properties)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append([None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in row])
        for cells in ws.iter_rows(min_row=2):
            for c in cells:
                if isinstance(c.value, datetime):  # as the hospital's Excel shows them
                    midnight = c.value.hour == 0 and c.value.minute == 0
                    c.number_format = "yyyy-mm-dd" if midnight else "yyyy-mm-dd hh:mm"
    wb.properties.creator = "HIS export"
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_deterministic_zip(buf.getvalue()))


def _deterministic_zip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + FIXED_DOC_TIME.encode() + rb"\g<3>",
                    body,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, body)
    return out.getvalue()


def write_sites(
    tables: dict[str, pd.DataFrame],
    out: Path,
    *,
    rng: np.random.Generator,
    log: DemoLog,
    malformed: dict[str, dict[str, tuple[str, str]]] | None = None,
) -> tuple[dict[str, list[dict]], dict]:
    """Render and write every site's exports.

    Parameters
    ----------
    tables
        Standard tables (with planted defects) keyed by table name.
    malformed
        table -> {_rid: (quoted text, unquoted text)}: rows to write as malformed CSV lines.

    Returns
    -------
    The cohort.yaml sources (modality -> entries) and _rid -> location of every written row.
    """
    malformed = malformed or {}
    sources: dict[str, list[dict]] = {}
    where: dict[str, str] = {}
    for site in ("A", "B", "C"):
        folder = out / "raw" / f"site{site}"
        books: dict[str, dict[str, pd.DataFrame]] = {}
        for table, std in tables.items():
            frame = render_table(site, table, std, rng)
            _log_identifiers(log, std[std["site"] == site])
            rids = frame.attrs["rids"]
            if site == "B":
                file, sheet = B_FILES[table]
                books.setdefault(file, {})[sheet] = frame
                rel = f"raw/siteB/{file}"
                for k, rid in enumerate(rids):
                    where[rid] = f"{rel} sheet {sheet} row {k + 2}"
                entry = source_entry(site, table, rel, "excel", sheet=sheet)
            else:
                rel = f"raw/site{site}/{CSV_FILES[table]}"
                pos = {rid: k for k, rid in enumerate(rids)}
                bad = {pos[rid]: v for rid, v in malformed.get(table, {}).items() if rid in pos}
                write_csv(out / rel, frame, site=site, bom=(site, table) in WITH_BOM, malformed=bad)
                for k, rid in enumerate(rids):
                    where[rid] = f"{rel} row {k + 1}" + (f" (line {k + 2})" if table != "pathology" else "")
                entry = source_entry(site, table, rel, "csv")
            sources.setdefault(MODALITY[table], []).append(entry)
        for file, sheets in books.items():
            write_xlsx(folder / file, sheets)
    return sources, where


def _log_identifiers(log: DemoLog, std: pd.DataFrame) -> None:
    for f in PHI_FIELDS:
        if f in std:
            for v in std[f]:
                if isinstance(v, str) and v not in MISSING:
                    log.identifier(v)
                    if v.isdigit() and v.startswith("0"):
                        log.identifier(v.lstrip("0"))  # what a loader that drops leading zeros would write
    if "_name" in std:
        log.identifier(*std["_name"])
