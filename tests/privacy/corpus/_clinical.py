"""The clinical sources of the corpus: the EMR exports of both sites (ZJ: UTF-8 TSVs; SC: an Excel
workbook, a GB18030 CSV and a follow-up workbook per patient named after the patient)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._base import _Base
from ._corpus import Table
from ._people import (
    DOCTORS,
    PHI_NONE,
    UNMAPPED,
    Patient,
)


class _ClinicalSources(_Base):
    """The EMR exports, and the source entry every tabular export is declared with (``_src``)."""

    # ----------------------------------------------------------------------------- clinical
    def clinical(self, site: str) -> None:
        pats = self.site_patients(site)
        values = {
            "sex": {"男": "male", "女": "female"},
            "histology": {"腺癌": "adenocarcinoma", "鳞状细胞癌": "squamous_cell_carcinoma"},
            "laterality": {"左": "left", "右": "right"},
            "treatment_type": {
                "化疗": "chemotherapy",
                "手术": "surgery",
                "靶向治疗": "targeted",
                "免疫治疗": "immunotherapy",
            },
            "vital_status": {"存活": "alive", "死亡": "dead"},
        }
        missing = {"不详": "unknown", "/": "not_applicable"}
        regimens = [
            "培美曲塞+顺铂 4周期",
            "奥希替尼 80mg qd",
            "帕博利珠单抗 200mg q3w",
            "胸腔镜右肺上叶切除术",
            "多西他赛+卡铂",
            "吉非替尼 250mg qd",
        ]
        if site == "ZJ":
            self._clinical_zj(pats, values, missing, regimens)
        else:
            self._clinical_sc(pats, values, missing, regimens)

    def _clinical_zj(
        self, pats: list[Patient], values: dict[str, dict[str, str]], missing: dict[str, str], regimens: list[str]
    ) -> None:
        """Site ZJ: one UTF-8 TSV per table."""
        site = "ZJ"
        base = "raw/ZJ/emr"
        rows = []
        for p in pats:
            place = f"field:clinical:{base}/患者基本信息.tsv"
            self.identity(p, place)
            rows.append(
                [
                    p.mrn,
                    self.note(p.outpatient, "outpatient_id", place),
                    p.person.name,
                    "男" if p.person.sex == "M" else "女",
                    self.note(p.birth_forms()[0], "birth_date", place),
                    p.resident_id,
                    self.note(p.phone_forms()[0], "mobile", place),
                    p.address,
                    p.contact.name,
                    p.contact_phone,
                    "汉族",
                    f"{p.diagnosis + dt.timedelta(days=3):%Y-%m-%d}",
                    self.planted_text("门诊转入", p, f"text:clinical:{base}/患者基本信息.tsv:备注"),
                ]
            )
        cols = {
            "住院号": "admission_number",
            "姓名": "name",
            "性别": "sex",
            "出生日期": "birth_date",
            "身份证号": "resident_id",
            "手机号码": "phone",
            "家庭住址": "address",
            "联系人": "contact_name",
            "联系人电话": "contact_phone",
            "民族": "ethnicity",
            "建档日期": "record_entry_date",
        }
        t = Table(
            "clinical",
            site,
            f"{base}/患者基本信息.tsv",
            "tsv",
            [
                "住院号",
                "门诊号",
                "姓名",
                "性别",
                "出生日期",
                "身份证号",
                "手机号码",
                "家庭住址",
                "联系人",
                "联系人电话",
                "民族",
                "建档日期",
                "备注",
            ],
            rows,
            slots={"备注": UNMAPPED},
        )
        self.table(t, self._src(t, "patients", cols, values, missing))
        rows = [
            [
                p.mrn,
                f"{p.diagnosis:%Y-%m-%d}",
                f"{p.diagnosis - dt.timedelta(days=40):%Y-%m-%d}",
                "C34.1",
                "8140/3",
                "腺癌",
                "右",
                "1",
                self.planted_text("CT发现右肺结节，穿刺确诊", p, f"text:clinical:{base}/诊断.tsv:诊断备注"),
            ]
            for p in pats
        ]
        t = Table(
            "clinical",
            site,
            f"{base}/诊断.tsv",
            "tsv",
            ["住院号", "诊断日期", "首发症状日期", "ICD10", "形态学", "病理类型", "侧别", "ECOG", "诊断备注"],
            rows,
            slots={"诊断备注": UNMAPPED},
        )
        self.table(
            t,
            self._src(
                t,
                "conditions",
                {
                    "住院号": "admission_number",
                    "诊断日期": "diagnosis_date",
                    "首发症状日期": "symptom_date",
                    "ICD10": "icd10",
                    "形态学": "icdo3_morphology",
                    "病理类型": "histology",
                    "侧别": "laterality",
                    "ECOG": "ecog",
                },
                values,
                missing,
            ),
        )
        rows = []
        for j, p in enumerate(pats):
            doctor = DOCTORS[j % 2]
            place = f"text:clinical:{base}/治疗.tsv"
            rows.append(
                [
                    p.mrn,
                    "化疗",
                    self.planted_text(regimens[j % len(regimens)], p, f"{place}:治疗方案"),
                    "1",
                    f"{p.diagnosis + dt.timedelta(days=14):%Y-%m-%d}",
                    f"{p.diagnosis + dt.timedelta(days=98):%Y-%m-%d}",
                    self.note(doctor.name, "staff_name", f"field:clinical:{base}/治疗.tsv"),
                    self.planted_text("按期完成", p, f"{place}:备注"),
                ]
            )
        t = Table(
            "clinical",
            site,
            f"{base}/治疗.tsv",
            "tsv",
            ["住院号", "治疗类型", "治疗方案", "线数", "开始日期", "结束日期", "主治医生", "备注"],
            rows,
            slots={"治疗方案": PHI_NONE, "备注": UNMAPPED},
        )
        self.table(
            t,
            self._src(
                t,
                "treatments",
                {
                    "住院号": "admission_number",
                    "治疗类型": "treatment_type",
                    "治疗方案": "regimen",
                    "线数": "line",
                    "开始日期": "treatment_start",
                    "结束日期": "treatment_end",
                    "主治医生": "physician",
                },
                values,
                missing,
            ),
        )
        rows = [
            [
                p.mrn,
                "存活",
                f"{p.diagnosis + dt.timedelta(days=300):%Y-%m-%d}",
                "/",
                self.note(DOCTORS[2].name, "staff_name", f"field:clinical:{base}/随访.tsv"),
                self.planted_text("电话随访，一般情况可", p, f"text:clinical:{base}/随访.tsv:随访记录"),
            ]
            for p in pats
        ]
        t = Table(
            "clinical",
            site,
            f"{base}/随访.tsv",
            "tsv",
            ["住院号", "生存状态", "末次随访", "死亡日期", "随访人", "随访记录"],
            rows,
            slots={"随访记录": UNMAPPED},
        )
        self.table(
            t,
            self._src(
                t,
                "outcomes",
                {
                    "住院号": "admission_number",
                    "生存状态": "vital_status",
                    "末次随访": "last_followup_date",
                    "死亡日期": "death_date",
                },
                values,
                missing,
            ),
        )

    def _clinical_sc(
        self, pats: list[Patient], values: dict[str, dict[str, str]], missing: dict[str, str], regimens: list[str]
    ) -> None:
        """Site SC: a workbook (patients, diagnoses), a GB18030 CSV (treatments), one follow-up workbook per patient."""
        site = "SC"
        book = "raw/SC/emr/病案首页.xlsx"
        rows = []
        for p in pats:
            place = f"field:clinical:{book}#患者信息"
            self.identity(p, place)
            rows.append(
                [
                    p.mrn,
                    p.person.name,
                    self.note(p.person.pinyin_forms()[0], "patient_name_pinyin", place),
                    "男" if p.person.sex == "M" else "女",
                    self.note(p.birth_forms()[1], "birth_date", place),
                    p.resident_id,
                    self.note(p.phone, "mobile", place),
                    p.address,
                    p.contact.name,
                    p.contact_phone,
                    "汉族",
                    f"{p.diagnosis + dt.timedelta(days=5):%Y/%m/%d}",
                    self.planted_text("医保患者", p, f"text:clinical:{book}#患者信息:备注"),
                ]
            )
        cols = {
            "病案号": "admission_number",
            "患者姓名": "name",
            "性别": "sex",
            "出生日期": "birth_date",
            "证件号码": "resident_id",
            "联系电话": "phone",
            "现住址": "address",
            "紧急联系人": "contact_name",
            "紧急联系人电话": "contact_phone",
            "民族": "ethnicity",
            "录入日期": "record_entry_date",
        }
        t = Table(
            "clinical",
            site,
            book,
            "excel",
            [
                "病案号",
                "患者姓名",
                "姓名拼音",
                "性别",
                "出生日期",
                "证件号码",
                "联系电话",
                "现住址",
                "紧急联系人",
                "紧急联系人电话",
                "民族",
                "录入日期",
                "备注",
            ],
            rows,
            sheet="患者信息",
            slots={"备注": UNMAPPED},
        )
        self.table(t, self._src(t, "patients", cols, values, missing))
        rows = [[p.mrn, f"{p.diagnosis:%Y/%m/%d}", "C34.3", "8070/3", "鳞状细胞癌", "左", "0"] for p in pats]
        t = Table(
            "clinical",
            site,
            book,
            "excel",
            ["病案号", "确诊日期", "ICD-10", "形态学编码", "病理类型", "侧别", "ECOG"],
            rows,
            sheet="诊断",
        )
        self.table(
            t,
            self._src(
                t,
                "conditions",
                {
                    "病案号": "admission_number",
                    "确诊日期": "diagnosis_date",
                    "ICD-10": "icd10",
                    "形态学编码": "icdo3_morphology",
                    "病理类型": "histology",
                    "侧别": "laterality",
                    "ECOG": "ecog",
                },
                values,
                missing,
            ),
        )
        rel = "raw/SC/emr/治疗记录.csv"
        rows = []
        for j, p in enumerate(pats):
            place = f"text:clinical:{rel}"
            rows.append(
                [
                    p.mrn,
                    "靶向治疗" if j % 2 else "免疫治疗",
                    self.planted_text(regimens[(j + 3) % len(regimens)], p, f"{place}:具体方案", k=3),
                    "1",
                    f"{p.diagnosis + dt.timedelta(days=20):%Y/%m/%d}",
                    "",
                    self.note(DOCTORS[3].name, "staff_name", f"field:clinical:{rel}"),
                    self.planted_text("无不良反应", p, f"{place}:备注"),
                ]
            )
        t = Table(
            "clinical",
            site,
            rel,
            "csv",
            ["病案号", "治疗方式", "具体方案", "线数", "开始", "结束", "经治医师", "备注"],
            rows,
            encoding="gb18030",
            slots={"具体方案": PHI_NONE, "备注": UNMAPPED},
        )
        self.table(
            t,
            self._src(
                t,
                "treatments",
                {
                    "病案号": "admission_number",
                    "治疗方式": "treatment_type",
                    "具体方案": "regimen",
                    "线数": "line",
                    "开始": "treatment_start",
                    "结束": "treatment_end",
                },
                values,
                missing,
            ),
        )
        first = True
        for p in pats:
            rel = f"raw/SC/随访/随访_{p.person.name}.xlsx"
            self.note(p.person.name, "patient_name", f"name:{rel}")
            row = [
                p.mrn,
                "存活",
                f"{p.diagnosis + dt.timedelta(days=280):%Y/%m/%d}",
                "",
                self.note(DOCTORS[1].name, "staff_name", f"field:clinical:{rel}"),
                self.planted_text("门诊复查，病情稳定", p, f"text:clinical:{rel}:随访记录"),
            ]
            t = Table(
                "clinical",
                site,
                rel,
                "excel",
                ["病案号", "生存状态", "末次随访日期", "死亡日期", "随访医生", "随访记录"],
                [row],
                sheet=p.person.name,
                slots={"随访记录": UNMAPPED},
            )
            src = {
                "site": site,
                "path": "raw/SC/随访/随访_*.xlsx",
                "format": "excel",
                "table": "outcomes",
                "columns": {
                    "病案号": "admission_number",
                    "生存状态": "vital_status",
                    "末次随访日期": "last_followup_date",
                    "死亡日期": "death_date",
                },
                "values": {"vital_status": values["vital_status"]},
                "missing": missing,
            }
            self.table(t, src if first else None)
            first = False

    def _src(
        self,
        t: Table,
        table: str | None,
        columns: dict[str, str],
        values: dict[str, dict[str, str]],
        missing: dict[str, str],
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        mapped = set(columns.values())
        src: dict[str, Any] = {"site": t.site, "path": t.path, "format": t.fmt}
        if t.fmt != "excel":
            src["encoding"] = t.encoding
        if t.sheet:
            src["sheet"] = t.sheet
        if table:
            src["table"] = table
        src["columns"] = columns
        src["values"] = {k: v for k, v in values.items() if k in mapped}
        src["missing"] = missing
        if options:
            src["options"] = options
        return src
