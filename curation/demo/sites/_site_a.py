"""Demo hospital A: UTF-8 CSV with Chinese headers, ISO dates (some ``2023/1/5``), ``0-5`` reference ranges."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._common import EXPOSURE_YN

# dictionary field -> header, per table
HEADERS: dict[str, dict[str, str]] = {
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
        "report_date": "报告日期",
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
        "questionnaire_date": "调查日期",
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
}

YES_NO = {"yes": "是", "no": "否"}
IHC = {"positive": "(+)", "negative": "(-)", "not_done": "未做"}
HIST = {
    "adenocarcinoma": "腺癌",
    "squamous_cell_carcinoma": "鳞状细胞癌",
    "small_cell_carcinoma": "小细胞癌",
    "large_cell_carcinoma": "大细胞癌",
}

# field -> {standard value: site label}
LABELS: dict[str, dict[str, str]] = {
    "sex": {"male": "男", "female": "女"},
    "histology": HIST,
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
    "alk": IHC,
    "ros1": IHC,
    "ttf1": IHC,
    "p40": IHC,
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
    **dict.fromkeys(EXPOSURE_YN, YES_NO),
}

# missing token -> reason
MISSING_TOKENS = {"不详": "unknown", "未查": "not_collected", "/": "not_applicable", "待回报": "pending"}

UNITS = {"ng/mL": "ng/mL"}


def fmt_date(v: pd.Timestamp, u: float) -> Any:
    """A date as the site writes it; ``u`` in [0, 1) picks among its habits."""
    return f"{v:%Y-%m-%d}" if u < 0.85 else f"{v.year}/{v.month}/{v.day}"


def fmt_datetime(v: pd.Timestamp) -> Any:
    """A date and time as the site writes it."""
    return f"{v:%Y-%m-%d %H:%M}"


def fmt_value(v: float) -> str:
    """A lab result."""
    return f"{v:.2f}"


def fmt_range(upper: float) -> str:
    """A reference range from its upper limit."""
    return f"0-{upper:g}"
