"""Demo hospital B: Excel workbooks with English headers; date cells mixed with Excel serial days and strings."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._common import EXPOSURE_YN

EXCEL_EPOCH = pd.Timestamp("1899-12-30")

# dictionary field -> header, per table
HEADERS: dict[str, dict[str, str]] = {
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
        "report_date": "Report Date",
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
        "questionnaire_date": "Survey Date",
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
}

YES_NO = {"yes": "Yes", "no": "No"}
IHC = {"positive": "Positive", "negative": "Negative", "not_done": "Not done"}
HIST = {
    "adenocarcinoma": "Adenocarcinoma",
    "squamous_cell_carcinoma": "Squamous cell carcinoma",
    "small_cell_carcinoma": "Small cell carcinoma",
    "large_cell_carcinoma": "Large cell carcinoma",
}

# field -> {standard value: site label}
LABELS: dict[str, dict[str, str]] = {
    "sex": {"male": "Male", "female": "Female"},
    "histology": HIST,
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
    "alk": IHC,
    "ros1": IHC,
    "ttf1": IHC,
    "p40": IHC,
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
    **dict.fromkeys(EXPOSURE_YN, YES_NO),
}

# missing token -> reason
MISSING_TOKENS = {"Unknown": "unknown", "NA": "not_collected", "N/A": "not_applicable", "Pending": "pending"}

UNITS = {"ng/mL": "ng/ml"}


def fmt_date(v: pd.Timestamp, u: float) -> Any:
    """A date as the site writes it; ``u`` in [0, 1) picks among its habits."""
    if u < 0.7:
        return v.to_pydatetime()  # a real Excel date cell
    if u < 0.9:
        return int((v.normalize() - EXCEL_EPOCH).days)  # serial days: the cell lost its date format
    return f"{v.year}/{v.month}/{v.day}"


def fmt_datetime(v: pd.Timestamp) -> Any:
    """A date and time as the site writes it (an Excel date-time cell)."""
    return v.to_pydatetime()


def fmt_value(v: float) -> str:
    """A lab result."""
    return f"{v:.2f}"


def fmt_range(upper: float) -> str:
    """A reference range from its upper limit."""
    return f"<{upper:g}"
