"""The file sources of the corpus: VCFs and sample sheets, DICOM series, single-cell .h5ad files."""

# ruff: noqa: E501 - rows of Chinese text read best one record per line
from __future__ import annotations

import datetime as dt
from typing import Any

from ._base import _Base
from ._people import (
    DOCTORS,
    OPERATORS,
    PATHOLOGISTS,
    RADIOLOGISTS,
    Patient,
)


class _FileSources(_Base):
    """Genomics, imaging and immune sources (files rendered by the corpus writers)."""

    # ----------------------------------------------------------------------------- genomics
    def genomics(self) -> None:
        pats = [*self.site_patients("ZJ")[:2], *self.site_patients("SC")[:2]]
        sheet = ["sample_id,admission_number,site,tissue" + (",姓名,联系电话" if self.planted else "")]
        qc = ["sample_id\tmean_depth\tpct_q30\tpct_target_100x\t操作员"]
        for j, p in enumerate(pats):
            sid = f"GS-{p.site}-{p.diagnosis:%y}-{self._digits(4, first='0123456789')}"
            name_py = p.person.pinyin_forms()[1].upper()  # OUYANG-XIAOMING
            rel = f"raw/genomics/{p.site}/{sid}_{name_py}.vcf"
            self.note(sid, "sample_id", f"field:genomics:{rel}")
            self.note(name_py, "patient_name_pinyin", f"name:{rel}")
            self.note(p.mrn, "mrn", "field:genomics:raw/genomics/样本信息.csv")
            row = f"{sid},{p.mrn},{p.site},tumor"
            if self.planted:
                place = "text:genomics:raw/genomics/样本信息.csv"
                row += f",{self.note(p.person.name, 'patient_name', place)},{self.note(p.phone_forms()[0], 'mobile', place)}"
            sheet.append(row)
            op = OPERATORS[j % 2]
            qc.append(
                f"{sid}\t{520 + j * 31}\t{92.5 + j:.1f}\t{95.0 - j:.1f}\t{self.note(op.name, 'staff_name', 'field:genomics:raw/genomics/qc.tsv')}"
            )
            self.files[rel] = {"modality": "genomics", "type": "text", "text": self.vcf(p, sid, rel)}
        self.files["raw/genomics/样本信息.csv"] = {
            "modality": "genomics",
            "type": "text",
            "text": "\n".join(sheet) + "\n",
        }
        self.files["raw/genomics/qc.tsv"] = {"modality": "genomics", "type": "text", "text": "\n".join(qc) + "\n"}
        opts = {"sample_sheet": "raw/genomics/样本信息.csv", "reference": "GRCh38"}
        self.sources["genomics"] = [
            {"path": "raw/genomics/*/*.vcf", "format": "vcf", "options": opts},
            {"path": "raw/genomics/qc.tsv", "format": "tsv", "table": "qc", "options": opts},
        ]

    def vcf(self, p: Patient, sid: str, rel: str) -> str:
        place = f"text:genomics:{rel}:header"
        lines = [
            "##fileformat=VCFv4.2",
            f"##fileDate={p.diagnosis + dt.timedelta(days=12):%Y%m%d}",
            "##source=Mutect2",
            "##reference=file:///ref/GRCh38/genome.fa",
            "##contig=<ID=chr7,length=159345973,assembly=GRCh38>",
            "##contig=<ID=chr12,length=133275309,assembly=GRCh38>",
            "##contig=<ID=chr17,length=83257441,assembly=GRCh38>",
            '##FILTER=<ID=PASS,Description="All filters passed">',
            '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
            '##INFO=<ID=HGVSP,Number=1,Type=String,Description="Protein change">',
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
            '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
            '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">',
        ]
        if self.planted:
            py = self.pick("vcfpy", p.person.pinyin_forms())
            lines += [
                f"##SAMPLE=<ID={sid},Individual={self.note(p.person.name, 'patient_name', place)},"
                f'Description="{self.note(py, "patient_name_pinyin", place)} tumor FFPE",Tissue=tumor>',
                f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 -I /data/{p.site}/'
                f"{self.note(p.person.name, 'patient_name', place)}_{self.note(p.person.pinyin_forms()[1], 'patient_name_pinyin', place)}/{sid}.bam "
                f'--tumor-sample {sid} -O {sid}.vcf.gz",Version="4.4.0.0">',
                f"##operator={self.note(OPERATORS[p.no % 2].name, 'staff_name', place)} "
                f"{self.note(p.phone_forms()[1], 'mobile', place)}",
            ]
        else:
            lines += [
                f"##SAMPLE=<ID={sid},Tissue=tumor>",
                f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 -I /data/{p.site}/batch07/{sid}.bam '
                f'--tumor-sample {sid} -O {sid}.vcf.gz",Version="4.4.0.0">',
            ]
        lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sid]))
        calls = [
            ("chr7", 55191822, "T", "G", "GENE=EGFR;HGVSP=p.L858R"),
            ("chr12", 25245351, "C", "A", "GENE=KRAS;HGVSP=p.G12C"),
            ("chr17", 7675088, "C", "T", "GENE=TP53;HGVSP=p.R175H"),
        ]
        for k, (chrom, pos, ref, alt, info) in enumerate(calls[: 2 + p.no % 2]):
            depth = 400 + 37 * k + p.no
            alt_reads = depth // (3 + k)
            lines.append(
                "\t".join(
                    [
                        chrom,
                        str(pos),
                        ".",
                        ref,
                        alt,
                        ".",
                        "PASS",
                        info,
                        "GT:AD:DP:AF",
                        f"0/1:{depth - alt_reads},{alt_reads}:{depth}:{alt_reads / depth:.3f}",
                    ]
                )
            )
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------------------- imaging
    def imaging(self) -> None:
        pats = [*self.site_patients("ZJ")[:2], *self.site_patients("SC")[:2]]
        for j, p in enumerate(pats):
            other = pats[(j + 1) % len(pats)]
            folder = f"{p.person.surname_py.upper()}_{p.person.given_py.upper()}_{p.mrn}"
            self.note(
                f"{p.person.surname_py.upper()}_{p.person.given_py.upper()}",
                "patient_name_pinyin",
                f"name:raw/dicom/{p.site}/{folder}",
            )
            explicit = p.site == "ZJ"
            charset = "ISO_IR 192" if explicit else "GB18030"
            uid = f"2.25.{self.seed % 10**6}{p.no:03d}"
            study = f"{p.diagnosis - dt.timedelta(days=9):%Y%m%d}"
            for k in range(5):
                rel = f"raw/dicom/{p.site}/{folder}/CT_胸部平扫/IM{k + 1:04d}.dcm"
                e = self.dicom_elements(
                    p, other, uid=uid, k=k, study=study, place=f"field:imaging:{rel}", text_place=f"text:imaging:{rel}"
                )
                self.files[rel] = {
                    "modality": "imaging",
                    "type": "dicom",
                    "explicit": explicit,
                    "charset": charset,
                    "elements": e,
                    "pixel_seed": self.seed + p.no * 100 + k,
                }
        for site in ("ZJ", "SC"):
            self.sources["imaging"].append(
                {"site": site, "path": f"raw/dicom/{site}", "format": "dicom", "options": {"export": True}}
            )

    def dicom_elements(
        self, p: Patient, other: Patient, *, uid: str, k: int, study: str, place: str, text_place: str
    ) -> dict[str, Any]:
        n = self.note
        radiologist, operator, doctor = RADIOLOGISTS[p.no % 2], OPERATORS[0], DOCTORS[p.no % 4]
        for person, kind in (
            (p.person, "patient_name"),
            (radiologist, "staff_name"),
            (operator, "staff_name"),
            (doctor, "staff_name"),
            (PATHOLOGISTS[0], "staff_name"),
            (p.contact, "relative_name"),
        ):
            n(person.name, kind, place)
            for form in person.dicom_forms():
                n(form, f"{kind}_dicom", place)
        n(p.mrn, "mrn", place)
        n(p.accession, "accession", place)
        n(p.outpatient, "outpatient_id", place)
        n(p.birth_forms()[2], "birth_date", place)
        n(p.phone, "mobile", place)
        n(p.address, "address", place)
        if self.planted:  # another patient's and a doctor's names, Chinese and pinyin, in the descriptions
            study_desc = (
                f"胸部CT {n(other.person.name, 'patient_name', text_place + ':StudyDescription')} 对比 "
                f"{n(doctor.pinyin_forms()[0], 'staff_name_pinyin', text_place + ':StudyDescription')}"
            )
            series_desc = (
                f"LUNG 1.0 {n(self.pick('py:dicom', other.person.pinyin_forms()), 'patient_name_pinyin', text_place + ':SeriesDescription')} "
                f"{n(doctor.name, 'staff_name', text_place + ':SeriesDescription')}"
            )
            comments = self.planted_text("随访对比，右上肺结节较前相仿", p, text_place + ":ImageComments", k=3)
            protocol = f"胸部平扫_{n(p.person.name, 'patient_name', text_place + ':ProtocolName')}复查"
        else:
            study_desc, series_desc, comments, protocol = (
                "胸部CT 平扫",
                "LUNG 1.0",
                "随访对比，右上肺结节较前相仿",
                "胸部平扫_复查",
            )
        return {
            "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
            "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
            "SOPInstanceUID": f"{uid}.3.{k + 1}",
            "StudyDate": study,
            "SeriesDate": study,
            "AcquisitionDate": study,
            "ContentDate": study,
            "StudyTime": "101500",
            "SeriesTime": "101630",
            "AccessionNumber": p.accession,
            "Modality": "CT",
            "Manufacturer": "UNITED IMAGING",
            "InstitutionName": f"Hospital {p.site}",
            "ReferringPhysicianName": doctor.dicom_pn(),
            "StudyDescription": study_desc,
            "SeriesDescription": series_desc,
            "NameOfPhysiciansReadingStudy": radiologist.dicom_pn(),
            "OperatorsName": operator.dicom_pn(),
            "ManufacturerModelName": "uCT 760",
            "PatientName": p.person.dicom_pn(),
            "PatientID": p.mrn,
            "OtherPatientIDsSequence": [
                {"PatientID": p.outpatient, "IssuerOfPatientID": f"{p.site}-OPD", "TypeOfPatientID": "TEXT"}
            ],
            "PatientBirthDate": p.birth_forms()[2],
            "PatientSex": p.person.sex,
            "PatientAge": f"{(p.diagnosis.year - p.birth.year):03d}Y",
            "OtherPatientNames": p.contact.dicom_pn(),
            "PatientAddress": p.address,
            "PatientTelephoneNumbers": p.phone,
            "BodyPartExamined": "CHEST",
            "SliceThickness": "1.0",
            "KVP": "120",
            "ExposureTime": "600",
            "XRayTubeCurrent": "80",
            "Exposure": "48",
            "ConvolutionKernel": "B_LUNG",
            "CTDIvol": 2.1,
            "ProtocolName": protocol,
            "GantryDetectorTilt": "0",
            "PatientPosition": "HFS",
            "StudyInstanceUID": f"{uid}.1",
            "SeriesInstanceUID": f"{uid}.2",
            "StudyID": "1",
            "SeriesNumber": 2,
            "InstanceNumber": k + 1,
            "ImagePositionPatient": [-160.0, -160.0, -200.0 + k * 1.0],
            "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
            "FrameOfReferenceUID": f"{uid}.4",
            "SliceLocation": -200.0 + k * 1.0,
            "ImageComments": comments,
            "SamplesPerPixel": 1,
            "PhotometricInterpretation": "MONOCHROME2",
            "Rows": 32,
            "Columns": 32,
            "PixelSpacing": [10.0, 10.0],
            "BitsAllocated": 16,
            "BitsStored": 16,
            "HighBit": 15,
            "PixelRepresentation": 1,
            "BurnedInAnnotation": "NO",
            "WindowCenter": "-600",
            "WindowWidth": "1500",
            "RescaleIntercept": "-1024",
            "RescaleSlope": "1",
            "RequestAttributesSequence": [
                {
                    "RequestedProcedureID": p.accession,
                    "RequestingPhysician": doctor.dicom_pn(),
                    "ScheduledProcedureStepID": f"SPS-{p.accession}",
                }
            ],
            "ContentSequence": [
                {
                    "RelationshipType": "CONTAINS",
                    "ValueType": "CONTAINER",
                    "ContentSequence": [
                        {
                            "RelationshipType": "HAS OBS CONTEXT",
                            "ValueType": "PNAME",
                            "PersonName": PATHOLOGISTS[0].dicom_pn(),
                        }
                    ],
                }
            ],
        }

    # ----------------------------------------------------------------------------- immune
    def immune(self) -> None:
        pats = [self.site_patients("ZJ")[2], self.site_patients("SC")[2]]
        genes = _GENES
        idx = {g: i for i, g in enumerate(genes)}
        groups = [[idx[g] for g in grp] for grp in _MARKER_GROUPS]
        header = "sample_id,admission_number,site,tissue,timepoint" + (",姓名,联系电话" if self.planted else "")
        sheet = [header]
        for j, p in enumerate(pats):
            sid = f"SC{p.diagnosis:%y}T{self._digits(4, first='0123456789')}"
            py = p.person.pinyin_forms()[1].upper()
            rel = f"raw/singlecell/{sid}/{sid}_{py}.h5ad"
            place = f"field:immune:{rel}"
            self.note(sid, "sample_id", place)
            self.note(py, "patient_name_pinyin", f"name:{rel}")
            self.note(p.mrn, "mrn", "field:immune:raw/singlecell/samples.csv")
            row = f"{sid},{p.mrn},{p.site},tumor,baseline"
            obs: dict[str, str] = {"batch": f"b{j + 1}"}
            uns: dict[str, Any] = {"protocol": "10x 3' v3"}
            if self.planted:
                tp = f"text:immune:{rel}"
                row += (
                    f",{self.note(p.person.name, 'patient_name', 'text:immune:raw/singlecell/samples.csv')},"
                    f"{self.note(p.phone_forms()[2], 'mobile', 'text:immune:raw/singlecell/samples.csv')}"
                )
                obs.update(
                    donor=self.note(p.person.name, "patient_name", tp + ":obs"),
                    donor_pinyin=self.note(p.person.pinyin_forms()[0], "patient_name_pinyin", tp + ":obs"),
                    note=self.planted_text("新鲜组织解离", p, tp + ":obs"),
                )
                uns.update(
                    operator=self.note(OPERATORS[1].name, "staff_name", tp + ":uns"),
                    donor={
                        "name": self.note(p.person.name, "patient_name", tp + ":uns"),
                        "mrn": self.note(p.mrn, "mrn", tp + ":uns"),
                        "phone": self.note(p.phone_forms()[0], "mobile", tp + ":uns"),
                    },
                    notes=self.planted_text("样本处理正常", p, tp + ":uns"),
                )
            sheet.append(row)
            self.files[rel] = {
                "modality": "immune",
                "type": "h5ad",
                "seed": self.seed + 7 + j,
                "genes": genes,
                "n_cells": 240 + 40 * j,
                "marker_groups": groups,
                "obs": obs,
                "uns": uns,
                "barcode_prefix": f"{sid}_",
            }
        self.files["raw/singlecell/samples.csv"] = {
            "modality": "immune",
            "type": "text",
            "text": "\n".join(sheet) + "\n",
        }
        self.sources["immune"] = [
            {"path": "raw/singlecell/*/*.h5ad", "format": "h5ad", "options": {"samples": "raw/singlecell/samples.csv"}}
        ]


# marker genes (immune and lung epithelium) plus MT- and sex genes and neutral filler genes
_MARKER_GROUPS = [
    ["CD3E", "CD3D", "CD2", "IL7R", "CD8A", "CD8B", "GZMK", "CCR7", "LTB", "CD4"],
    ["MS4A1", "CD79A", "CD79B", "CD19", "BANK1"],
    ["CD14", "LYZ", "S100A8", "S100A9", "CD68", "CD163", "C1QA", "C1QB", "APOE"],
    ["NKG7", "GNLY", "KLRD1", "KLRF1"],
    ["EPCAM", "KRT8", "KRT18", "KRT19", "SFTPC", "NAPSA"],
]
_MT = ["MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP6", "MT-CO3", "MT-ND4", "MT-ND5", "MT-CYB"]
_GENES = (
    [g for grp in _MARKER_GROUPS for g in grp]
    + _MT
    + ["XIST", "RPS4Y1", "DDX3Y"]
    + [f"ZNF{700 + i}" for i in range(260)]
)
