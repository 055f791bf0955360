"""The demo roster: one row per synthetic patient, the truth every site export is rendered from.

Everything is drawn from a seeded ``numpy.random.Generator`` and a seeded ``Faker('zh_CN')``; nothing
reads the clock, so the same seed gives the same roster on every machine.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from faker import Faker

    from ..deid.keys import Keyring

__all__ = ["build_roster", "make_resident_id", "resident_id_check_digit", "resident_id_valid", "stage_group"]

SITES = ("A", "B", "C")
# Follow-up of the demo cohort ends here (a fixed date: the generator never reads the clock).
DATA_CUTOFF = np.datetime64("2025-06-30", "D")

# Where each demo hospital is, and the resident-ID area codes of the districts its patients come from.
SITE_PLACES: dict[str, dict[str, Any]] = {
    "A": {
        "region": "北京市",
        "districts": {"110105": "朝阳区", "110108": "海淀区", "110106": "丰台区", "110102": "西城区"},
    },
    "B": {
        "region": "上海市",
        "districts": {"310104": "徐汇区", "310115": "浦东新区", "310105": "长宁区", "310110": "杨浦区"},
    },
    "C": {
        "region": "广东省",
        "districts": {
            "440106": "广州市天河区",
            "440104": "广州市越秀区",
            "440304": "深圳市福田区",
            "440605": "佛山市南海区",
        },
    },
}

HISTOLOGY_P = {"adenocarcinoma": 0.56, "squamous": 0.27, "small_cell": 0.13, "large_cell": 0.04}
# Driver alterations by histology (probabilities; the rest have none detected).
DRIVERS = {
    "adenocarcinoma": {
        "EGFR_L858R": 0.20,
        "EGFR_exon19del": 0.20,
        "KRAS_G12C": 0.12,
        "ALK_fusion": 0.06,
        "BRAF_V600E": 0.03,
        "RET_fusion": 0.03,
    },
    "squamous": {"KRAS_G12C": 0.04, "EGFR_L858R": 0.02},
    "small_cell": {},
    "large_cell": {"KRAS_G12C": 0.10},
}
ICDO3 = {
    "adenocarcinoma": ["8140/3", "8140/3", "8551/3", "8260/3", "8253/3"],
    "squamous": ["8070/3", "8070/3", "8071/3"],
    "small_cell": ["8041/3"],
    "large_cell": ["8012/3"],
}
ICD10_SUBSITES = ["C34.0", "C34.1", "C34.1", "C34.1", "C34.2", "C34.3", "C34.3", "C34.8", "C34.9"]
T_P = {"T1mi": 0.03, "T1a": 0.07, "T1b": 0.12, "T1c": 0.12, "T2a": 0.16, "T2b": 0.10, "T3": 0.18, "T4": 0.22}
N_P = {"N0": 0.40, "N1": 0.15, "N2": 0.30, "N3": 0.15}
M_P = {"M0": 0.66, "M1a": 0.10, "M1b": 0.09, "M1c": 0.15}

ROSTER_EXTRA_COLUMNS = {
    "family_name": "surname (姓)",
    "given_name": "given name (名)",
    "dicom_sex": "M | F: what the DICOM header says (= sex unless a mismatch is planted)",
    "sc_sex": "M | F: what single-cell XIST / chrY expression says (= sex unless a mismatch is planted)",
    "ethnicity": "民族, e.g. 汉族",
    "admission_date": "datetime64",
    "record_entry_date": "datetime64",
    "treatment_start": "datetime64, first treatment",
    "last_followup_date": "datetime64",
    "progression_date": "datetime64 or NaT",
    "death_date": "datetime64 or NaT",
    "vital_status": "alive | dead",
    "icd10": "C34.x",
    "icdo3_morphology": "e.g. 8140/3",
    "laterality": "left | right",
    "ct": "T category",
    "cn": "N category",
    "cm": "M category",
    "stage_group": "AJCC 8th stage group",
    "ecog": "int 0-4",
    "driver": "driver alteration or ''",
    "has_genomics": "bool: gets a tumor VCF",
    "smoking_age_started": "int or NA",
    "years_since_quit": "float or NA",
}


# ---------------------------------------------------------------------------------------------
# resident identity numbers (GB 11643-1999)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def resident_id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not first17.isdigit():
        msg = f"expected 17 digits, got {len(first17)} characters"
        raise ValueError(msg)
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def resident_id_valid(rid: str) -> bool:
    """True when ``rid`` has 18 characters, a plausible birth date and a correct check digit."""
    if len(rid) != 18 or not rid[:17].isdigit():
        return False
    try:
        pd.Timestamp(f"{rid[6:10]}-{rid[10:12]}-{rid[12:14]}")
    except ValueError:
        return False
    return resident_id_check_digit(rid[:17]) == rid[17].upper()


def make_resident_id(area: str, birth: pd.Timestamp, seq: int, *, sex: str) -> str:
    """Area code + birth date + sequence (odd for men, even for women) + check digit."""
    seq = seq % 500 * 2 + (1 if sex == "M" else 0)
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_digit(first17)


# ---------------------------------------------------------------------------------------------
# staging


T_CATEGORIES = ("T1mi", "T1a", "T1b", "T1c", "T2a", "T2b", "T3", "T4")
N_CATEGORIES = ("N0", "N1", "N2", "N3")
M_CATEGORIES = ("M0", "M1a", "M1b", "M1c")


@cache
def ajcc8_lung_table() -> dict[tuple[str, str, str], str]:
    """(T, N, M) -> stage group, from the AJCC 8th edition lung table of the data dictionary."""
    from ..dictionary import stage_group as expected_stage

    keys = [(t, n, m) for t in T_CATEGORIES for n in N_CATEGORIES for m in M_CATEGORIES]
    got = expected_stage(*(pd.Series([k[i] for k in keys]) for i in range(3)))
    return {k: str(v) for k, v in zip(keys, got, strict=True)}


def stage_group(t: str, n: str, m: str) -> str:
    """The AJCC 8th-edition stage group of a lung cancer TNM."""
    return ajcc8_lung_table()[(t, n, m)]


def _choice(rng: np.random.Generator, probs: dict[str, float], size: int) -> np.ndarray:
    keys = list(probs)
    p = np.array([probs[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=size, p=p / p.sum())]


def _days(rng: np.random.Generator, low: int, high: int, size: int) -> np.ndarray:
    return rng.integers(low, high, size=size).astype("timedelta64[D]")


# ---------------------------------------------------------------------------------------------
# identities


def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).upper()


def _identities(
    n: int, sexes: np.ndarray, sites: np.ndarray, births: pd.DatetimeIndex, rng: np.random.Generator, faker: Faker
) -> pd.DataFrame:
    rows = []
    seen_names: set[str] = set()
    seen_mrn: set[str] = set()
    for i in range(n):
        sex, site = sexes[i], sites[i]
        while True:  # names unique within the cohort so the leak scan's identifiers are unambiguous
            family = faker.last_name()
            given = faker.first_name_male() if sex == "M" else faker.first_name_female()
            if family + given not in seen_names:
                break
        seen_names.add(family + given)
        while True:
            if site == "A":  # a 10-digit number with leading zeros: breaks any loader that reads it as int
                mrn = f"00{rng.integers(10_000_000, 99_999_999)}"
            elif site == "B":
                mrn = f"{rng.integers(300_000_000, 399_999_999)}"
            else:
                mrn = f"ZY{rng.integers(1_000_000, 9_999_999)}"
            if mrn not in seen_mrn:
                break
        seen_mrn.add(mrn)
        places = SITE_PLACES[site]
        area = list(places["districts"])[rng.integers(len(places["districts"]))]
        district = places["districts"][area]
        region = places["region"]
        address = (
            f"{region}{district}{faker.street_name()}{rng.integers(1, 400)}号"
            f"{rng.integers(1, 30)}栋{rng.integers(1, 6)}单元{rng.integers(101, 2800)}室"
        )
        rows.append(
            {
                "mrn": mrn,
                "family_name": family,
                "given_name": given,
                "name": family + given,
                "name_pinyin": f"{_pinyin(family)}^{_pinyin(given)}",
                "resident_id": make_resident_id(area, births[i], i, sex=sex),
                "phone": faker.phone_number(),
                "address": address,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------


def build_roster(n: int, *, rng: np.random.Generator, faker: Faker, keyring: Keyring) -> pd.DataFrame:
    """The demo patients with coherent timelines, TNM consistent with stage, and their pseudonyms.

    Parameters
    ----------
    n
        Number of patients (split evenly over sites A, B and C).
    rng, faker
        Seeded random sources; the roster depends on nothing else.
    keyring
        Built from the demo key: ``pseudonym = keyring.patient(mrn, site=site)``.
    """
    if n < 6:
        msg = f"the demo needs at least 6 patients (2 per site) to plant its defects; got {n}"
        raise ValueError(msg)
    # every helper draws from rng in turn: their order is the roster's (same seed, same patients)
    sites = np.array([SITES[i % 3] for i in range(n)], dtype=object)
    histology = _choice(rng, HISTOLOGY_P, n)
    # Men smoke far more often in China; squamous and small-cell histology follow smoking.
    p_male = np.where(np.isin(histology, ["squamous", "small_cell"]), 0.85, 0.55)
    sexes = np.where(rng.random(n) < p_male, "M", "F").astype(object)

    diagnosis = np.datetime64("2018-01-01", "D") + _days(rng, 0, 6 * 365, n)
    age_at_dx = np.clip(rng.normal(62, 9.5, n), 32, 88)
    births = diagnosis - (np.round(age_at_dx * 365.25) + rng.integers(0, 365, n)).astype("timedelta64[D]")
    ident = _identities(n, sexes, sites, pd.DatetimeIndex(births), rng, faker)

    dates = {
        "symptom_date": diagnosis - _days(rng, 10, 180, n),
        "admission_date": diagnosis - _days(rng, 0, 10, n),
        "diagnosis_date": diagnosis,
        "record_entry_date": diagnosis + _days(rng, 0, 21, n),
        "treatment_start": diagnosis + _days(rng, 7, 45, n),
    }
    t, nn, m = _choice(rng, T_P, n), _choice(rng, N_P, n), _choice(rng, M_P, n)
    stage = np.array([stage_group(a, b, c) for a, b, c in zip(t, nn, m, strict=True)], dtype=object)
    advanced = np.isin(m, ["M1a", "M1b", "M1c"])
    outcome = _outcomes(rng, n, diagnosis, dates["treatment_start"], stage, advanced)
    smoking = _smoking(rng, n, sexes, diagnosis, births)
    tumor = _tumor(rng, n, histology, advanced)
    sources = _sources(rng, n, sites, tumor["driver"], diagnosis, advanced)

    roster = pd.DataFrame(
        {
            "pid": np.arange(n),
            "site": sites,
            "mrn": ident["mrn"],
            "name": ident["name"],
            "name_pinyin": ident["name_pinyin"],
            "family_name": ident["family_name"],
            "given_name": ident["given_name"],
            "resident_id": ident["resident_id"],
            "phone": ident["phone"],
            "address": ident["address"],
            "sex": sexes,
            "dicom_sex": sexes,
            "sc_sex": sexes,
            "ethnicity": np.where(
                rng.random(n) < 0.92,
                "汉族",
                np.array(["回族", "满族", "壮族", "蒙古族"], dtype=object)[rng.integers(4, size=n)],
            ),
            "birth_date": births,
            **dates,
            **outcome,
            "icd10": tumor["icd10"],
            "icdo3_morphology": tumor["icdo3_morphology"],
            "laterality": tumor["laterality"],
            "histology": histology,
            "ct": t,
            "cn": nn,
            "cm": m,
            "stage_group": stage,
            "ecog": tumor["ecog"].astype(int),
            "driver": tumor["driver"],
            **smoking,
            **sources,
        }
    )
    roster.loc[roster["smoking_age_started"] < 0, "smoking_age_started"] = pd.NA
    for col in (
        "birth_date",
        "symptom_date",
        "admission_date",
        "diagnosis_date",
        "record_entry_date",
        "treatment_start",
        "last_followup_date",
        "progression_date",
        "death_date",
    ):
        roster[col] = roster[col].astype("datetime64[ns]")
    roster["pseudonym"] = [
        keyring.patient(mrn, site=site) for mrn, site in zip(roster["mrn"], roster["site"], strict=True)
    ]
    return roster


def _outcomes(
    rng: np.random.Generator,
    n: int,
    diagnosis: np.ndarray,
    treatment: np.ndarray,
    stage: np.ndarray,
    advanced: np.ndarray,
) -> dict[str, np.ndarray]:
    """Follow-up, progression and death (roster columns)."""
    # Survival: exponential with a hazard that grows with stage; censored at the data cut-off.
    median_months = np.where(advanced, 14.0, np.where(np.char.startswith(stage.astype(str), "III"), 30.0, 90.0))
    survival_days = rng.exponential(median_months / np.log(2) * 30.4, n).astype(int) + 60  # after treatment start
    death = diagnosis + survival_days.astype("timedelta64[D]")
    dead = death < DATA_CUTOFF
    last_followup = np.where(dead, death, DATA_CUTOFF - _days(rng, 0, 120, n))
    last_followup = np.maximum(last_followup, treatment + np.timedelta64(14, "D"))
    dead &= death <= last_followup
    progression_days = (survival_days * rng.uniform(0.3, 0.8, n)).astype(int)
    progression = diagnosis + progression_days.astype("timedelta64[D]")
    has_prog = (progression < last_followup) & (progression > treatment) & (rng.random(n) < 0.8)
    return {
        "last_followup_date": last_followup,
        "progression_date": np.where(has_prog, progression, np.datetime64("NaT")),
        "death_date": np.where(dead, death, np.datetime64("NaT")),
        "vital_status": np.where(dead, "dead", "alive").astype(object),
    }


def _smoking(
    rng: np.random.Generator, n: int, sexes: np.ndarray, diagnosis: np.ndarray, births: np.ndarray
) -> dict[str, Any]:
    """Smoking status, pack-years, age started and years since quitting (roster columns)."""
    p_smoker = np.where(sexes == "M", 0.72, 0.14)
    ever = rng.random(n) < p_smoker
    current = ever & (rng.random(n) < 0.45)
    smoking = np.where(~ever, "never", np.where(current, "current", "former")).astype(object)
    pack_years = np.where(ever, np.round(np.clip(rng.lognormal(3.3, 0.5, n), 2, 110), 1), 0.0)
    age_started = np.where(ever, rng.integers(14, 30, n), -1)
    age_now = (diagnosis - births).astype(int) / 365.25
    quit_years = np.where(
        smoking == "former", np.round(np.minimum(rng.uniform(1, 25, n), age_now - age_started - 2), 0), np.nan
    )
    quit_years = np.where(smoking == "former", np.maximum(quit_years, 1), np.nan)
    return {
        "smoking_status": smoking,
        "pack_years": pack_years,
        "smoking_age_started": pd.array(np.where(ever, age_started, -1), dtype="Int64"),
        "years_since_quit": quit_years,
    }


def _tumor(rng: np.random.Generator, n: int, histology: np.ndarray, advanced: np.ndarray) -> dict[str, np.ndarray]:
    """Driver mutation, ICD-10 subsite, laterality, ICD-O-3 morphology and ECOG of each patient's tumor."""
    drivers = np.array(
        [_choice(rng, {**DRIVERS[h], "": 1 - sum(DRIVERS[h].values())}, 1)[0] for h in histology], dtype=object
    )
    icd10 = np.array(ICD10_SUBSITES, dtype=object)[rng.integers(len(ICD10_SUBSITES), size=n)]
    laterality = np.where(icd10 == "C34.2", "right", np.where(rng.random(n) < 0.55, "right", "left")).astype(object)
    morph = np.array([ICDO3[h][rng.integers(len(ICDO3[h]))] for h in histology], dtype=object)
    ecog = np.where(advanced, rng.choice([0, 1, 1, 2, 2, 3], n), rng.choice([0, 0, 1, 1, 2], n))
    return {"driver": drivers, "icd10": icd10, "laterality": laterality, "icdo3_morphology": morph, "ecog": ecog}


def _sources(
    rng: np.random.Generator,
    n: int,
    sites: np.ndarray,
    drivers: np.ndarray,
    diagnosis: np.ndarray,
    advanced: np.ndarray,
) -> dict[str, np.ndarray]:
    """Which patients have a CT study, single-cell samples and sequencing, and their tumor sample IDs."""
    has_imaging = np.zeros(n, dtype=bool)
    has_sc = np.zeros(n, dtype=bool)
    order = rng.permutation(n)
    # Every patient staged M1 has a CT study (distant metastasis is an imaging finding), so do an eighth
    # of the others; two per site get single-cell samples, spread over the sites so every site's export
    # is exercised.
    for s in SITES:
        idx = [i for i in order if sites[i] == s]
        has_imaging[idx[: max(2, len(idx) // 8)]] = True
        has_sc[idx[-2:]] = True
    has_imaging |= advanced
    has_genomics = (rng.random(n) < 0.7) | (drivers != "")
    seq = rng.integers(100, 9999, n)
    years = (diagnosis.astype("datetime64[Y]").astype(int) + 1970) % 100
    sample_ids = np.array(
        [
            f"SA{y:02d}T{s:04d}" if site == "A" else f"B-{y:02d}-{s:04d}-T" if site == "B" else f"CT{y:02d}{s:04d}"
            for y, s, site in zip(years, seq, sites, strict=True)
        ],
        dtype=object,
    )
    # sequence numbers may collide within a year: make the IDs unique deterministically
    sample_ids = np.array(
        [
            f"{sid}{'' if k == 0 else chr(64 + k)}"
            for sid, k in zip(sample_ids, pd.Series(sample_ids).groupby(sample_ids).cumcount(), strict=True)
        ],
        dtype=object,
    )
    return {
        "tumor_sample_id": sample_ids,
        "has_imaging": has_imaging,
        "has_single_cell": has_sc,
        "has_genomics": has_genomics,
    }
