"""The data dictionary: the project's standard data checklist, shipped as versioned YAML.

One file per modality (``clinical.yaml``, ``pathology.yaml``, ``exposure.yaml``); a modality's
fields are grouped into its standard tables (clinical: patients, conditions, staging, treatments,
outcomes). ``codes.yaml`` holds the shipped code lists (lung-relevant ICD-10, ICD-O-3 topography
and morphology) and the AJCC 8th edition lung TNM -> stage group table.

>>> from curation import dictionary
>>> dictionary.load("clinical").query("phi == 'direct'").name.unique().tolist()[:2]
['admission_number', 'name']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from ..errors import ConfigError

__all__ = [
    "CodeList",
    "Field",
    "checklist",
    "codes",
    "describe",
    "fields",
    "load",
    "modalities",
    "normalize_stage",
    "normalize_tnm",
    "stage_group",
    "stage_table",
    "tables",
    "version",
]

REQUIRED_LEVELS = ("required", "recommended", "optional")
PHI_CLASSES = ("direct", "quasi", "none", "free_text")
TYPES = ("string", "code", "integer", "number", "date", "boolean")
# what kind of identifier a ``phi: direct`` field holds (curation.deid.registry.Kind; a test keeps
# the two lists equal): decides how its values are expanded (names into pinyin forms, dates into
# their renderings) in the cohort-wide identifier registry
IDENTIFIER_KINDS = (
    "name",
    "staff_name",
    "mrn",
    "admission_number",
    "id_card",
    "phone",
    "address",
    "birth_date",
    "accession",
    "other_patient_id",
    "specimen_id",
    "sample_id",
    "file_name",
    "email",
    "other",
)
COLUMNS = [
    "modality",
    "table",
    "name",
    "label_zh",
    "label_en",
    "type",
    "unit",
    "code_system",
    "allowed",
    "min",
    "max",
    "required",
    "phi",
    "mcode",
    "derived",
    "codes",
    "description",
    "identifier",
]


@dataclass(frozen=True)
class Field:
    """One dictionary field of one standard table."""

    modality: str
    table: str
    name: str
    label_zh: str
    label_en: str
    type: str
    required: str = "optional"
    phi: str = "none"
    unit: str = ""
    code_system: str = ""
    allowed: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    mcode: str = ""
    derived: bool = False
    codes: str = ""  # name of a code list in codes.yaml
    description: str = ""
    identifier: str = ""  # for direct fields: one of IDENTIFIER_KINDS
    # default map of source values to allowed values (a tuple of pairs: Field stays hashable)
    values: tuple[tuple[str, str], ...] = ()

    @property
    def is_identifier(self) -> bool:
        """A direct identifier (``phi: direct``): dropped or pseudonymized, never written."""
        return self.phi == "direct"

    @property
    def value_map(self) -> dict[str, str]:
        """The field's default value map (source value -> standard value)."""
        return dict(self.values)


def _as_text(s: pd.Series) -> pd.Series:
    return s if isinstance(s.dtype, pd.StringDtype) else s.astype("string[pyarrow]")


@dataclass(frozen=True)
class CodeList:
    """A shipped code list: a format pattern plus the valid codes (code -> label, group)."""

    name: str
    pattern: str
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    extensions: int = 0

    def valid(self, values: pd.Series) -> pd.Series:
        """True where a (non-missing) value is well-formed and listed; missing values give True."""
        s = _as_text(values).str.strip().str.upper()
        present = s.notna() & (s != "")
        formed = s.str.match(self.pattern).fillna(False).astype(bool)
        listed = s.isin(list(self.codes))
        if self.extensions:
            # a national / -CM extension of a listed code: C34.1 -> C34.10, C34.101
            for width in sorted({len(c) for c in self.codes}):
                head = s.str.slice(0, width)
                tail = s.str.slice(width)
                ext = head.isin(list(self.codes)) & tail.str.fullmatch(rf"[0-9]{{1,{self.extensions}}}").fillna(False)
                listed |= ext.astype(bool)
        return (~present) | (formed & listed)

    def well_formed(self, values: pd.Series) -> pd.Series:
        """Per value: empty, or matching the code list's pattern (case-insensitive, trimmed)."""
        s = _as_text(values).str.strip().str.upper()
        return (s.isna() | (s == "") | s.str.match(self.pattern).fillna(False)).astype(bool)

    def group_of(self, values: pd.Series) -> pd.Series:
        """The group (e.g. histology of a morphology code) of each value, missing when unlisted."""
        mapping = {k: v[1] for k, v in self.codes.items()}
        from ..io.readers import map_values

        return map_values(_as_text(values).str.strip(), mapping)


def _read_yaml(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


_FIRST = ("clinical", "pathology", "exposure")


@cache
def modalities() -> list[str]:
    """Modalities with a dictionary file: every ``<modality>.yaml`` here with ``modality`` and ``groups``
    keys (code lists, unit tables and marker lists share the folder but are not dictionaries)."""
    found = []
    for entry in resources.files(__package__).iterdir():
        if not entry.name.endswith(".yaml"):
            continue
        doc = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        if isinstance(doc, dict) and "groups" in doc and doc.get("modality") == entry.name.removesuffix(".yaml"):
            found.append(doc["modality"])
    return [m for m in _FIRST if m in found] + sorted(m for m in found if m not in _FIRST)


@cache
def _fields(modality: str) -> tuple[Field, ...]:
    if modality not in modalities():
        msg = f"no data dictionary for modality {modality!r}; expected one of {', '.join(modalities())}"
        raise ConfigError(msg)
    doc = _read_yaml(f"{modality}.yaml")
    out: list[Field] = []
    for table, group in doc["groups"].items():
        for raw in group["fields"]:
            where = f"dictionary/{modality}.yaml: groups.{table}: field {raw.get('name')!r}"
            if raw.get("type") not in TYPES:
                raise ConfigError(f"{where}: type {raw.get('type')!r} is not one of {', '.join(TYPES)}")
            if raw.get("required", "optional") not in REQUIRED_LEVELS:
                raise ConfigError(f"{where}: required must be one of {', '.join(REQUIRED_LEVELS)}")
            if raw.get("phi", "none") not in PHI_CLASSES:
                raise ConfigError(f"{where}: phi must be one of {', '.join(PHI_CLASSES)}")
            ident = str(raw.get("identifier") or ("other" if raw.get("phi") == "direct" else ""))
            if ident and ident not in IDENTIFIER_KINDS:
                raise ConfigError(f"{where}: identifier {ident!r} is not one of {', '.join(IDENTIFIER_KINDS)}")
            if ident and raw.get("phi") != "direct":
                raise ConfigError(f"{where}: identifier is only for phi: direct fields")
            rng = raw.get("range") or [None, None]
            values = tuple((str(k), str(v)) for k, v in (raw.get("values") or {}).items())
            allowed = tuple(str(a) for a in raw.get("allowed", ()) or ())
            off = sorted({v for _, v in values if allowed and v not in allowed})
            if off:
                raise ConfigError(
                    f"{where}: values map to {', '.join(off)}, not one of the allowed values ({', '.join(allowed)})"
                )
            out.append(
                Field(
                    modality=modality,
                    table=table,
                    name=raw["name"],
                    label_zh=raw.get("label_zh", ""),
                    label_en=raw.get("label_en", ""),
                    type=raw["type"],
                    required=raw.get("required", "optional"),
                    phi=raw.get("phi", "none"),
                    unit=str(raw.get("unit", "")),
                    code_system=raw.get("code_system", ""),
                    allowed=allowed,
                    min=rng[0],
                    max=rng[1],
                    mcode=str(raw.get("mcode", "")),
                    derived=bool(raw.get("derived", False)),
                    codes=raw.get("codes", ""),
                    description=raw.get("description", ""),
                    identifier=ident,
                    values=values,
                )
            )
    return tuple(out)


def fields(modality: str, table: str | None = None) -> list[Field]:
    """Dictionary fields of a modality (optionally of one of its tables), in file order."""
    return [f for f in _fields(modality) if table is None or f.table == table]


def tables(modality: str) -> list[str]:
    """Standard tables of a modality, in file order."""
    return list(dict.fromkeys(f.table for f in _fields(modality)))


def version(modality: str) -> str:
    """The version of a modality's dictionary file (its ``version:`` key)."""
    return str(_read_yaml(f"{modality}.yaml").get("version", ""))


def load(modality: str | None = None) -> pd.DataFrame:
    """The dictionary as one tidy table (one row per field and table).

    Parameters
    ----------
    modality
        One modality, or None for every modality with a dictionary.
    """
    mods = [modality] if modality else modalities()
    rows = []
    for m in mods:
        for f in fields(m):
            row = {c: getattr(f, c) for c in COLUMNS}
            row["allowed"] = list(f.allowed)
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


CHECKLIST = [
    "table",
    "name",
    "label_zh",
    "label_en",
    "type",
    "unit",
    "code_system",
    "allowed",
    "range",
    "required",
    "phi",
    "mcode",
]


def _range(lo: float | None, hi: float | None) -> str:
    def fmt(v: float | None) -> str:
        return "" if v is None or pd.isna(v) else f"{v:g}"

    return "" if not fmt(lo) and not fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def checklist(modality: str | None = None) -> pd.DataFrame:
    """The dictionary as the reports show it (the standard data checklist): allowed values joined,
    the plausible range as 'min–max'."""
    df = load(modality)
    df = df.assign(
        allowed=df["allowed"].map(lambda a: ", ".join(a)),
        range=[_range(lo, hi) for lo, hi in zip(df["min"], df["max"], strict=True)],
    )
    return df[["modality", *CHECKLIST]]


_COMMON = {
    "patient": "Patient pseudonym (keyed HMAC of site + admission number)",
    "site": "Site id",
    "specimen": "Specimen token (keyed HMAC of the hospital specimen number)",
    "sample": "Sample token (keyed HMAC of the hospital sample id)",
}


@cache
def describe(column: str) -> str:
    """A one-line description of an output column, for datapackage.json
    (``bundle.write_datapackage(describe=dictionary.describe)``); "" when unknown."""
    if column in _COMMON:
        return _COMMON[column]
    name, relative = (column.removesuffix("_days"), True) if column.endswith("_days") else (column, False)
    for m in modalities():
        for f in fields(m):
            if f.name == name and f.phi != "direct":
                unit = " [d since diagnosis]" if relative else (f" [{f.unit}]" if f.unit else "")
                return f"{f.label_en} ({f.label_zh}){unit}"
    return ""


@cache
def codes(name: str) -> CodeList:
    """A shipped code list: ``icd10``, ``icdo3_topography`` or ``icdo3_morphology``."""
    doc = _read_yaml("codes.yaml")
    if name not in doc or name == "ajcc8_lung":
        raise ConfigError(f"no code list {name!r} in dictionary/codes.yaml")
    raw = doc[name]
    parsed: dict[str, tuple[str, str]] = {}
    for code, val in raw["codes"].items():
        if isinstance(val, list):
            parsed[str(code)] = (str(val[0]), str(val[1]))
        else:
            parsed[str(code)] = (str(val), "")
    return CodeList(name=name, pattern=raw["pattern"], codes=parsed, extensions=int(raw.get("extensions", 0)))


@cache
def _stage_table() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    doc = _read_yaml("codes.yaml")["ajcc8_lung"]
    m1 = {str(k): str(v) for k, v in doc["m1"].items()}
    m0: dict[tuple[str, str], str] = {}
    for t, row in doc["m0"].items():
        for n, stage in zip(("N0", "N1", "N2", "N3"), row, strict=True):
            if stage is not None:
                m0[(str(t), n)] = str(stage)
    return m1, m0


def stage_table() -> pd.DataFrame:
    """The AJCC 8th edition lung table as data: one row per (T, N, M) with the stage group(s)."""
    m1, m0 = _stage_table()
    rows = [{"t": t, "n": n, "m": "M0", "stage_group": s} for (t, n), s in m0.items()]
    rows += [{"t": "any", "n": "any", "m": m, "stage_group": s} for m, s in m1.items()]
    return pd.DataFrame(rows)


_T = re.compile(r"^(?:Y?[CP])?T(X|0|IS|1MI|1A|1B|1C|1|2A|2B|2|3|4)$")
_N = re.compile(r"^(?:Y?[CP])?N(X|0|1|2|3)$")
_M = re.compile(r"^(?:Y?[CP])?M(X|0|1A|1B|1C|1)$")
_STAGE = re.compile(r"^(?:STAGE\s*)?(OC|0|IVA|IVB|IV|IIIA|IIIB|IIIC|III|IIA|IIB|II|IA1|IA2|IA3|IA|IB|I)$")


def _norm(s: pd.Series, rx: re.Pattern[str], prefix: str) -> pd.Series:
    u = _as_text(s).str.strip().str.upper().str.replace(" ", "", regex=False)
    body = u.str.extract(rx, expand=False)
    out = prefix + body.str.replace("IS", "is", regex=False).str.replace("MI", "mi", regex=False).str.replace(
        "A", "a", regex=False
    ).str.replace("B", "b", regex=False).str.replace("C", "c", regex=False)
    return out.astype(s.dtype if isinstance(s.dtype, pd.StringDtype) else "string")


def normalize_tnm(s: pd.Series, axis: str) -> pd.Series:
    """'cT1a', 't1a', 'pT1A' -> 'T1a'; 'cN2' -> 'N2'; unrecognised values -> missing."""
    rx = {"t": _T, "n": _N, "m": _M}[axis.lower()]
    return _norm(s, rx, axis.upper())


def normalize_stage(s: pd.Series) -> pd.Series:
    """'Stage IIIA', 'iiia', 'IIIa' -> 'IIIA'; unrecognised values are returned unchanged."""
    u = _as_text(s).str.strip().str.upper()
    body = u.str.extract(_STAGE, expand=False)
    return body.fillna(_as_text(s).str.strip()).astype(u.dtype)


def stage_group(t: pd.Series, n: pd.Series, m: pd.Series) -> pd.Series:
    """Expected AJCC 8th edition stage group(s) ('a|b' when ambiguous) from normalized T, N, M.

    Missing where the table defines no stage (TX N1, M unknown ...).
    """
    m1, m0 = _stage_table()
    from ..io.readers import map_values

    key = _as_text(t).fillna("") + "|" + _as_text(n).fillna("")
    m0_map = {f"{tt}|{nn}": s for (tt, nn), s in m0.items()}
    from_m0 = map_values(key, m0_map)
    ms = _as_text(m)
    from_m1 = map_values(ms, m1)
    return from_m0.where((ms == "M0").fillna(False), from_m1)
