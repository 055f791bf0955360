"""Demo hospital C: GB18030 CSV with other Chinese headers, ``2023年1月5日`` dates, Windows line ends."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._common import EXPOSURE_YN

STAGES = ["0", "IA1", "IA2", "IA3", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IVA", "IVB"]

# dictionary field -> header, per table
HEADERS: dict[str, dict[str, str]] = {
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
        "report_date": "签发日期",
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
        "questionnaire_date": "填表日期",
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
}

YES_NO = {"yes": "有", "no": "无"}
IHC = {"positive": "阳性", "negative": "阴性", "not_done": "未做"}
HIST = {
    "adenocarcinoma": "腺癌",
    "squamous_cell_carcinoma": "鳞癌",
    "small_cell_carcinoma": "小细胞肺癌",
    "large_cell_carcinoma": "大细胞癌",
}

# field -> {standard value: site label}
LABELS: dict[str, dict[str, str]] = {
    "sex": {"male": "男性", "female": "女性"},
    "histology": HIST,
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
    "alk": IHC,
    "ros1": IHC,
    "ttf1": IHC,
    "p40": IHC,
    "smoking_status": {"never": "不吸烟", "former": "既往吸烟", "current": "现在吸烟"},
    "alcohol": {"never": "不饮酒", "former": "戒酒", "current": "饮酒"},
    "household_fuel": {"gas": "天然气", "electricity": "电", "coal": "煤炭", "biomass": "柴火"},
    "stage_group": {s: f"{s}期" for s in STAGES},
    "analyte": {
        "CEA": "癌胚抗原",
        "CYFRA21-1": "CYFRA21-1",
        "NSE": "NSE",
        "ProGRP": "ProGRP",
        "SCC": "SCC",
        "CA125": "CA125",
    },
    **dict.fromkeys(EXPOSURE_YN, YES_NO),
}

# missing token -> reason
MISSING_TOKENS = {"不详": "unknown", "--": "not_collected", "不适用": "not_applicable", "待查": "pending"}

UNITS = {"ng/mL": "μg/L"}


def fmt_date(v: pd.Timestamp, u: float) -> Any:
    """A date as the site writes it; ``u`` in [0, 1) picks among its habits."""
    return f"{v.year}年{v.month}月{v.day}日" if u < 0.8 else f"{v.year}/{v.month}/{v.day}"


def fmt_datetime(v: pd.Timestamp) -> Any:
    """A date and time as the site writes it."""
    return f"{v.year}/{v.month}/{v.day} {v.hour}:{v.minute:02d}"


def fmt_value(v: float) -> str:
    """A lab result."""
    return f"{v:.1f}"


def fmt_range(upper: float) -> str:
    """A reference range from its upper limit."""
    return f"0～{upper:.1f}"
