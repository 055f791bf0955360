"""The tabular sources of the corpus: clinical (:mod:`._clinical`), pathology, lab and exposure exports of
both sites."""

from __future__ import annotations

import datetime as dt

from ._clinical import _ClinicalSources
from ._corpus import Table
from ._people import (
    ALLOW_LISTED,
    CODED,
    INTERVIEWERS,
    LAB_STAFF,
    PATHOLOGISTS,
    PHI_NONE,
    UNMAPPED,
)


class _TabularSources(_ClinicalSources):
    """The EMR, pathology, LIS and questionnaire exports."""

    # ----------------------------------------------------------------------------- pathology
    def pathology(self, site: str) -> None:
        pats = self.site_patients(site)
        values = {
            "specimen_type": {"穿刺活检": "biopsy", "手术切除": "resection"},
            "histology": {"腺癌": "adenocarcinoma", "鳞状细胞癌": "squamous_cell_carcinoma"},
            "ttf1": {"(+)": "positive", "(-)": "negative"},
            "p40": {"(+)": "positive", "(-)": "negative"},
        }
        reports = [
            "送检（右肺上叶）穿刺组织两条。镜下见肿瘤细胞呈腺泡状排列，免疫组化：TTF-1(+)，NapsinA(+)，P40(-)。病理诊断：浸润性腺癌。",
            "（左肺下叶）切除标本，肿物大小3.0×2.5×2.0cm，镜下为角化型鳞状细胞癌，P40(+)，TTF-1(-)，支气管切缘未见癌。",
        ]
        rel = "raw/ZJ/病理/病理报告.csv" if site == "ZJ" else "raw/SC/病理/pathology.xlsx"
        rows = []
        for j, p in enumerate(pats):
            place = f"field:pathology:{rel}"
            self.note(p.mrn, "mrn", place)
            self.note(p.specimen, "specimen_id", place)
            squamous = site == "SC"
            rows.append(
                [
                    p.mrn,
                    p.specimen,
                    "穿刺活检" if j % 2 else "手术切除",
                    f"{p.diagnosis - dt.timedelta(days=2):%Y-%m-%d}",
                    "鳞状细胞癌" if squamous else "腺癌",
                    f"{(j * 17) % 90}%",
                    f"{20 + j * 7}%",
                    "(-)" if squamous else "(+)",
                    "(+)" if squamous else "(-)",
                    self.planted_text(reports[squamous], p, f"text:pathology:{rel}:报告", k=4),
                    self.note(PATHOLOGISTS[j % 2].name, "staff_name", place),
                    self.note(PATHOLOGISTS[(j + 1) % 2].name, "staff_name", place),
                    self.planted_text("会诊", p, f"text:pathology:{rel}:备注"),
                ]
            )
        header = [
            "住院号" if site == "ZJ" else "病案号",
            "病理号",
            "标本类型",
            "送检日期",
            "病理诊断",
            "PD-L1(TPS)",
            "Ki-67",
            "TTF-1",
            "P40",
            "报告",
            "诊断医师",
            "审核医师",
            "备注",
        ]
        t = Table(
            "pathology",
            site,
            rel,
            "csv" if site == "ZJ" else "excel",
            header,
            rows,
            encoding="gb18030",
            sheet="" if site == "ZJ" else "病理",
            slots={"报告": ALLOW_LISTED, "备注": UNMAPPED},
        )
        cols = {
            header[0]: "admission_number",
            "病理号": "specimen_id",
            "标本类型": "specimen_type",
            "送检日期": "specimen_date",
            "病理诊断": "histology",
            "PD-L1(TPS)": "pdl1_tps",
            "Ki-67": "ki67",
            "TTF-1": "ttf1",
            "P40": "p40",
            "报告": "report_text",
            "诊断医师": "pathologist",
            "审核医师": "reviewer",
        }
        self.table(t, self._src(t, None, cols, values, {"不详": "unknown"}, {"keep_free_text": ["report_text"]}))

    # ----------------------------------------------------------------------------- lab
    def lab(self, site: str) -> None:
        pats = self.site_patients(site)
        analytes = [
            ("癌胚抗原(CEA)", "ng/mL", "0-5"),
            ("细胞角蛋白19片段(CYFRA21-1)", "ng/mL", "0-3.3"),
            ("神经元特异性烯醇化酶(NSE)", "ng/mL", "0-16.3"),
        ]
        rel = "raw/ZJ/检验/LIS导出.tsv" if site == "ZJ" else "raw/SC/检验/lis.csv"
        rows = []
        for j, p in enumerate(pats):
            for k, (name, unit, ref) in enumerate(analytes):
                when = p.diagnosis - dt.timedelta(days=3 - k)
                value = "溶血，请重新采样" if (j + k) % 5 == 0 else f"{1.2 + ((j * 7 + k * 3) % 40) / 4:.2f}"
                place = f"text:lab:{rel}"
                if (j + k) % 5 == 0:
                    value = self.planted_text(value, p, f"{place}:结果")
                staff = LAB_STAFF[(j + k) % 2]
                rows.append(
                    [
                        p.mrn,
                        name,
                        value,
                        unit,
                        ref,
                        f"{when:%Y-%m-%d} 08:{10 + k}",
                        f"{when + dt.timedelta(days=1):%Y-%m-%d} 15:30",
                        self.note(staff.name, "staff_name", f"field:lab:{rel}"),
                        self.planted_text("" if k else "空腹", p, f"{place}:备注", k=1),
                    ]
                )
        header = [
            "住院号" if site == "ZJ" else "病案号",
            "检验项目",
            "结果",
            "单位",
            "参考范围",
            "采集时间",
            "报告时间",
            "报告人" if site == "ZJ" else "检验医师",
            "备注",
        ]
        t = Table(
            "lab",
            site,
            rel,
            "tsv" if site == "ZJ" else "csv",
            header,
            rows,
            encoding="utf-8" if site == "ZJ" else "gb18030",
            slots={"结果": PHI_NONE, "备注": UNMAPPED},
        )
        cols = {
            header[0]: "admission_number",
            "检验项目": "analyte",
            "结果": "value",
            "单位": "unit",
            "参考范围": "reference_range",
            "采集时间": "collected_date",
            "报告时间": "report_date",
        }
        if site == "ZJ":
            cols["报告人"] = "reporter"
        values = {"analyte": {a[0]: a[0].split("(")[1].rstrip(")") for a in analytes}}
        self.table(t, self._src(t, None, cols, values, {"/": "not_applicable"}))

    # ----------------------------------------------------------------------------- exposure
    def exposure(self, site: str) -> None:
        pats = self.site_patients(site)
        rel = "raw/ZJ/问卷/暴露问卷.xlsx" if site == "ZJ" else "raw/SC/问卷/exposure.tsv"
        rows = []
        for j, p in enumerate(pats):
            place = f"text:exposure:{rel}"
            fam = "有" if j % 3 == 0 else "无"
            if fam == "有" and self.planted:
                fam = f"有，{self.snippet(p, place + ':肺癌家族史')}"
            rows.append(
                [
                    p.mrn,
                    ["从不吸烟", "已戒烟", "目前吸烟"][j % 3],
                    f"{(j % 3) * 15}",
                    "是" if j % 2 else "否",
                    "否",
                    "燃气",
                    fam,
                    self.note(INTERVIEWERS[j % 2].name, "staff_name", f"field:exposure:{rel}"),
                    self.planted_text("本人填写", p, f"{place}:备注"),
                ]
            )
        header = [
            "住院号" if site == "ZJ" else "病案号",
            "吸烟状态",
            "吸烟包年",
            "二手烟暴露",
            "厨房油烟",
            "家用燃料",
            "肺癌家族史",
            "调查员",
            "备注",
        ]
        t = Table(
            "exposure",
            site,
            rel,
            "excel" if site == "ZJ" else "tsv",
            header,
            rows,
            sheet="问卷" if site == "ZJ" else "",
            slots={"肺癌家族史": CODED, "备注": UNMAPPED},
        )
        yes = {"是": "yes", "否": "no"}
        cols = {
            header[0]: "admission_number",
            "吸烟状态": "smoking_status",
            "吸烟包年": "pack_years",
            "二手烟暴露": "secondhand_smoke",
            "厨房油烟": "cooking_fumes",
            "家用燃料": "household_fuel",
            "肺癌家族史": "family_history_lung_cancer",
            "调查员": "interviewer",
        }
        values = {
            "smoking_status": {"从不吸烟": "never", "已戒烟": "former", "目前吸烟": "current"},
            "secondhand_smoke": yes,
            "cooking_fumes": yes,
            "household_fuel": {"燃气": "gas", "煤": "coal"},
            "family_history_lung_cancer": {"有": "yes", "无": "no"},
        }
        self.table(t, self._src(t, None, cols, values, {"不详": "unknown"}))
