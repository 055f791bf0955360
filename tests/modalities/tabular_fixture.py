"""A tiny hand-made three-site EMR cohort in the manner of the demo (curation.demo), with planted defects.

Site A: UTF-8 CSVs with Chinese headers, one file per table. Site B: one Excel workbook with English
headers (a wide sheet plus a treatments sheet), date cells and Excel serial days. Site C: a wide
GB18030 CSV with Chinese headers, 2023年1月5日 dates and a malformed line. Everything is synthetic.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from curation.deid.keys import Keyring

KEY = "ab" * 32
KEYRING = Keyring(KEY.encode())

A_PAT = ["住院号", "姓名", "性别", "出生日期", "身份证号", "联系电话", "录入日期"]
A_DX = ["住院号", "诊断日期", "首发症状日期", "ICD-10编码", "形态学编码", "病理类型", "ECOG评分"]
A_STAGE = ["住院号", "cT", "cN", "cM", "临床分期", "AJCC版本"]
A_TX = ["住院号", "治疗类型", "开始日期", "结束日期"]
A_OUT = ["住院号", "生存状态", "末次随访日期", "死亡日期"]

# admission number -> which defect it carries (the tests look up pseudonyms by these)
DEFECTS = {
    "00101": "missing_diagnosis_date",
    "00102": "invalid_icd10",
    "00103": "tnm_stage_contradiction",
    "00104": "symptom_after_diagnosis",
    "00105": "unparseable_date",
    "B201": "missing_sex",
    "B202": "invalid_icdo3",
    "B203": "death_before_diagnosis",
    "B204": "duplicate_patient",  # same resident ID as B200
    "C301": "out_of_range_age",
    "C302": "invalid_ecog",
    "C303": "treatment_before_diagnosis",
    "C304": "late_entry",
    "C305": "malformed_line",
}


def pseudonym(mrn: str, site: str) -> str:
    return KEYRING.patient(mrn, site=site)


def _csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8", newline: str = "\n") -> None:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(lines) + newline).encode(encoding))


def _site_a(root: Path) -> list[dict]:
    d = root / "raw" / "siteA"
    pats, dx, st, tx, out = [], [], [], [], []
    for i in range(6):
        mrn = f"0010{i}"
        pats.append(
            [
                mrn,
                f"张{i}",
                "男" if i % 2 else "女",
                "1960-03-0" + str(i + 1),
                f"11010119600301{i:03d}X",
                f"1380000{i:04d}",
                "2023-02-01",
            ]
        )
        dx.append([mrn, "2023-01-05", "2022/12/1", "C34.1", "8140/3", "腺癌", "1"])
        st.append([mrn, "cT1a", "cN0", "cM0", "IA1", "8"])
        tx.append([mrn, "手术", "2023年1月20日", "2023年1月20日"])
        out.append([mrn, "存活", "2024-06-01", "/"])
    dx[1][1] = ""  # 00101 missing diagnosis date
    dx[2][3] = "C34.7"  # 00102 invalid ICD-10
    st[3][4] = "IIIA"  # 00103 stage contradicts T1a N0 M0
    dx[4][2] = "2023-03-01"  # 00104 symptom after diagnosis
    dx[5][1] = "2023-02-30"  # 00105 unparseable date
    _csv(d / "patients.csv", A_PAT, pats)
    _csv(d / "diagnosis.csv", A_DX, dx)
    _csv(d / "staging.csv", A_STAGE, st)
    _csv(d / "treatments.csv", A_TX, tx)
    _csv(d / "followup.csv", A_OUT, out)
    values = {
        "sex": {"男": "male", "女": "female"},
        "histology": {"腺癌": "adenocarcinoma", "鳞状细胞癌": "squamous_cell_carcinoma"},
        "treatment_type": {"手术": "surgery", "化疗": "chemotherapy"},
        "vital_status": {"存活": "alive", "死亡": "dead"},
    }
    cols = {
        "住院号": "admission_number",
        "姓名": "name",
        "性别": "sex",
        "出生日期": "birth_date",
        "身份证号": "resident_id",
        "联系电话": "phone",
        "录入日期": "record_entry_date",
        "诊断日期": "diagnosis_date",
        "首发症状日期": "symptom_date",
        "ICD-10编码": "icd10",
        "形态学编码": "icdo3_morphology",
        "病理类型": "histology",
        "ECOG评分": "ecog",
        "cT": "ct",
        "cN": "cn",
        "cM": "cm",
        "临床分期": "stage_group",
        "AJCC版本": "ajcc_edition",
        "治疗类型": "treatment_type",
        "开始日期": "treatment_start",
        "结束日期": "treatment_end",
        "生存状态": "vital_status",
        "末次随访日期": "last_followup_date",
        "死亡日期": "death_date",
    }
    missing = {"/": "not_applicable", "不详": "unknown", "未查": "not_collected"}
    return [
        {
            "site": "A",
            "path": f"raw/siteA/{f}",
            "format": "csv",
            "encoding": "utf-8",
            "table": t,
            "columns": cols,
            "values": values,
            "missing": missing,
        }
        for f, t in [
            ("patients.csv", "patients"),
            ("diagnosis.csv", "conditions"),
            ("staging.csv", "staging"),
            ("treatments.csv", "treatments"),
            ("followup.csv", "outcomes"),
        ]
    ]


def _site_b(root: Path) -> list[dict]:
    from openpyxl import Workbook

    header = [
        "MRN",
        "Patient Name",
        "Gender",
        "DOB",
        "ID Card No",
        "Diagnosis Date",
        "ICD10",
        "Morphology",
        "Histology",
        "ECOG PS",
        "cT",
        "cN",
        "cM",
        "Stage",
        "Vital Status",
        "Last Follow-up",
        "Date of Death",
        "Entry Date",
    ]
    wb = Workbook()
    ws = wb.active
    ws.title = "Clinical"
    ws.append(header)
    rows = []
    for i in range(5):
        mrn = f"B20{i}"
        rows.append(
            [
                mrn,
                f"Li Si {i}",
                "Male",
                dt.datetime(1955, 5, 1 + i),
                f"1101011955050100{i}1",
                dt.datetime(2022, 6, 1) if i % 2 else 44713,
                "C34.3",
                "8070/3",
                "Squamous cell carcinoma",
                0,
                "T2a",
                "N1",
                "M0",
                "IIB",
                "Dead" if i == 3 else "Alive",
                "2024/1/5",
                dt.datetime(2022, 4, 1) if i == 3 else None,
                "2022-06-10",
            ]
        )
    rows[0][4] = "110101195505010099"  # B200 and B204 share a resident ID (below)
    rows[1][2] = None  # B201 missing sex
    rows[2][7] = "8140/5"  # B202 invalid ICD-O-3 behaviour
    rows[4][4] = "110101195505010099"  # B204 = same person as B200
    for r in rows:
        ws.append(r)
    tx = wb.create_sheet("Treatments")
    tx.append(["MRN", "Treatment", "Start Date", "End Date"])
    for i in range(5):
        tx.append([f"B20{i}", "Chemotherapy", dt.datetime(2022, 7, 1), dt.datetime(2022, 9, 1)])
    path = root / "raw" / "siteB" / "emr_export.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    cols = {
        "MRN": "admission_number",
        "Patient Name": "name",
        "Gender": "sex",
        "DOB": "birth_date",
        "ID Card No": "resident_id",
        "Diagnosis Date": "diagnosis_date",
        "ICD10": "icd10",
        "Morphology": "icdo3_morphology",
        "Histology": "histology",
        "ECOG PS": "ecog",
        "cT": "ct",
        "cN": "cn",
        "cM": "cm",
        "Stage": "stage_group",
        "Vital Status": "vital_status",
        "Last Follow-up": "last_followup_date",
        "Date of Death": "death_date",
        "Entry Date": "record_entry_date",
        "Treatment": "treatment_type",
        "Start Date": "treatment_start",
        "End Date": "treatment_end",
    }
    values = {"sex": {"Male": "male", "Female": "female"}, "vital_status": {"Alive": "alive", "Dead": "dead"}}
    return [
        {
            "site": "B",
            "path": "raw/siteB/emr_export.xlsx",
            "format": "excel",
            "sheet": "Clinical",
            "columns": cols,
            "values": values,
            "missing": {"NA": "not_collected"},
        },
        {
            "site": "B",
            "path": "raw/siteB/emr_export.xlsx",
            "format": "excel",
            "sheet": "Treatments",
            "table": "treatments",
            "columns": cols,
            "values": {"treatment_type": {"Chemotherapy": "chemotherapy"}},
        },
    ]


def _site_c(root: Path) -> list[dict]:
    header = [
        "住院号码",
        "患者姓名",
        "性别",
        "出生年月日",
        "确诊日期",
        "诊断编码(ICD-10)",
        "形态学编码",
        "组织学类型",
        "ECOG",
        "T分期",
        "N分期",
        "M分期",
        "TNM分期",
        "治疗方式",
        "治疗开始",
        "生存情况",
        "最后随访",
        "录入日期",
        "确诊方式",
    ]
    rows = []
    for i in range(6):
        mrn = f"C30{i}"
        rows.append(
            [
                mrn,
                f"王{i}",
                "女性",
                "1958年7月1日",
                "2023年3月1日",
                "C34.9",
                "8041/3",
                "小细胞肺癌",
                "2",
                "T3",
                "N2",
                "M0",
                "IIIB期",
                "化疗",
                "2023年3月20日",
                "死亡",
                "2024年2月1日",
                "2023年3月5日",
                "病理确诊",
            ]
        )
    rows[1][3] = "1900年1月1日"  # C301 age at diagnosis 123
    rows[2][8] = "7"  # C302 ECOG 7
    rows[3][14] = "2023年2月1日"  # C303 treatment before diagnosis
    rows[4][17] = "2024年8月1日"  # C304 entered 17 months after diagnosis
    rows[5][18] = "穿刺活检,CT引导"  # C305 an unquoted comma: one field too many
    _csv(root / "raw" / "siteC" / "clinical.csv", header, rows, encoding="gb18030", newline="\r\n")
    cols = {
        "住院号码": "admission_number",
        "患者姓名": "name",
        "性别": "sex",
        "出生年月日": "birth_date",
        "确诊日期": "diagnosis_date",
        "诊断编码(ICD-10)": "icd10",
        "形态学编码": "icdo3_morphology",
        "组织学类型": "histology",
        "ECOG": "ecog",
        "T分期": "ct",
        "N分期": "cn",
        "M分期": "cm",
        "TNM分期": "stage_group",
        "治疗方式": "treatment_type",
        "治疗开始": "treatment_start",
        "生存情况": "vital_status",
        "最后随访": "last_followup_date",
        "录入日期": "record_entry_date",
        "确诊方式": "diagnosis_method",
    }
    values = {
        "sex": {"男性": "male", "女性": "female"},
        "histology": {"小细胞肺癌": "small_cell_carcinoma"},
        "stage_group": {"IIIB期": "IIIB"},
        "treatment_type": {"化疗": "chemotherapy"},
        "vital_status": {"生存": "alive", "死亡": "dead"},
        "diagnosis_method": {"病理确诊": "histology"},
    }
    return [
        {
            "site": "C",
            "path": "raw/siteC/clinical.csv",
            "format": "csv",
            "encoding": "auto",
            "columns": cols,
            "values": values,
            "missing": {"不详": "unknown", "--": "not_collected"},
        }
    ]


PATHOLOGY_DEFECTS = {
    "00100": "histology_ihc_contradiction",
    "00101": "out_of_range_pdl1",
    "00102": "duplicate_specimen",
}
EXPOSURE_DEFECTS = {
    "00100": "smoking_contradiction",
    "00101": "out_of_range_pack_years",
    "00102": "missing_smoking_status",
    "B201": "invalid_allowed_value",
}


def _pathology(root: Path) -> list[dict]:
    header = ["住院号", "病理号", "标本类型", "取材日期", "病理诊断", "PD-L1(TPS)", "Ki-67", "TTF-1", "P40", "病理报告"]
    rows = []
    for i in range(5):
        mrn = f"0010{i}"
        rows.append(
            [
                mrn,
                f"P23-0{i}123",
                "穿刺活检",
                "2023-01-04",
                "鳞状细胞癌",
                f"{10 * i}%",
                "30%",
                "(-)",
                "(+)",
                f"姓名：张{'一二三四五'[i]}明  住院号：{mrn}  病理诊断：鳞状细胞癌",
            ]
        )
    rows[0][7], rows[0][8] = "(+)", "(-)"  # 00100 squamous with TTF-1 positive
    rows[1][5] = "150%"  # 00101 TPS over 100 %
    rows[2][1] = rows[3][1]  # 00102 the same specimen number as 00103
    _csv(root / "raw" / "siteA" / "pathology.csv", header, rows)
    cols = {
        "住院号": "admission_number",
        "病理号": "specimen_id",
        "标本类型": "specimen_type",
        "取材日期": "specimen_date",
        "病理诊断": "histology",
        "PD-L1(TPS)": "pdl1_tps",
        "Ki-67": "ki67",
        "TTF-1": "ttf1",
        "P40": "p40",
        "病理报告": "report_text",
    }
    values = {
        "specimen_type": {"穿刺活检": "biopsy"},
        "histology": {"鳞状细胞癌": "squamous_cell_carcinoma"},
        "ttf1": {"(+)": "positive", "(-)": "negative"},
        "p40": {"(+)": "positive", "(-)": "negative"},
    }
    return [
        {
            "site": "A",
            "path": "raw/siteA/pathology.csv",
            "format": "csv",
            "columns": cols,
            "values": values,
            "options": {"keep_free_text": ["report_text"]},
        }
    ]


def _exposure(root: Path) -> list[dict]:
    header = ["住院号", "吸烟状态", "吸烟包年", "二手烟暴露", "居住地PM2.5"]
    rows = [[f"0010{i}", "目前吸烟", "30", "是", "45.5"] for i in range(4)]
    rows[0][1], rows[0][2] = "从不吸烟", "20"  # 00100 never smoker with 20 pack-years
    rows[1][2] = "250"  # 00101 implausible pack-years
    rows[2][1] = "未查"  # 00102 smoking status not collected
    _csv(root / "raw" / "siteA" / "questionnaire.csv", header, rows)
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Smoking Status", "Pack Years", "Secondhand Smoke"])
    ws.append(["B200", "Former", 12.5, "No"])
    ws.append(["B201", "Sometimes", 3, "No"])  # B201 not an allowed smoking status
    (root / "raw" / "siteB").mkdir(parents=True, exist_ok=True)
    wb.save(root / "raw" / "siteB" / "questionnaire.xlsx")
    return [
        {
            "site": "A",
            "path": "raw/siteA/questionnaire.csv",
            "format": "csv",
            "columns": {
                "住院号": "admission_number",
                "吸烟状态": "smoking_status",
                "吸烟包年": "pack_years",
                "二手烟暴露": "secondhand_smoke",
                "居住地PM2.5": "residence_pm25",
            },
            "values": {
                "smoking_status": {"从不吸烟": "never", "已戒烟": "former", "目前吸烟": "current"},
                "secondhand_smoke": {"是": "yes", "否": "no"},
            },
            "missing": {"未查": "not_collected"},
        },
        {
            "site": "B",
            "path": "raw/siteB/questionnaire.xlsx",
            "format": "excel",
            "columns": {
                "MRN": "admission_number",
                "Smoking Status": "smoking_status",
                "Pack Years": "pack_years",
                "Secondhand Smoke": "secondhand_smoke",
            },
        },
    ]


def make_cohort(root: Path, *, extra_sources: dict[str, list[dict]] | None = None, mode: str = "shift") -> Path:
    """Write the cohort under ``root`` and return the path of its cohort.yaml."""
    (root / "keys").mkdir(parents=True, exist_ok=True)
    (root / "keys" / "demo.key").write_text(KEY)
    (root / "keys" / "demo.key").chmod(0o600)  # the run refuses a key file others can read
    sources = {
        "clinical": _site_a(root) + _site_b(root) + _site_c(root),
        "pathology": _pathology(root),
        "exposure": _exposure(root),
        **(extra_sources or {}),
    }
    cfg = {
        "cohort": {"name": "tiny"},
        "sites": [{"id": s} for s in "ABC"],
        "sources": sources,
        "secret": {"file": "keys/demo.key"},
        "output": "out",
        "dates": {"mode": mode},
    }
    path = root / "cohort.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


IDENTIFIERS = [
    "00101",
    "张1",
    "11010119600301001X",
    "13800000001",
    "B204",
    "Li Si 2",
    "110101195505010099",
    "C303",
    "王3",
]
