"""cohort.yaml: the one configuration file of a cohort run, validated by pydantic.

Errors are :class:`~curation.errors.ConfigError` with a message that names the file, the key path,
the bad value and what is expected, e.g.
``cohort.yaml: sources.imaging[0].format: 'dicm' is not one of dicom, dicomdir, zip``.

This module knows no modality: what a modality accepts (its formats, its ``options`` model) is checked
by the modality registry, which passes its check in (:func:`curation.modalities.registry.load_cohort`,
also :func:`curation.load_cohort`). :func:`load_cohort` here checks everything else.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CohortInfo(_Strict):
    name: str = Field(description="short cohort name, used in report titles")
    description: str = ""


class Site(_Strict):
    id: str = Field(description="site code used in sources and reports, e.g. A")
    name: str = ""
    region: str = Field("", description="province or region (a quasi-identifier for k-anonymity)")
    id_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions of this site's local identifier shapes (MRN, admission, "
                    "pathology numbers), removed from free text wherever they appear")


class PrivacyConfig(_Strict):
    """How free text is scrubbed (identifier fields are always removed)."""

    id_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions of identifier shapes used by every site, as sites[].id_patterns")
    detect_names: bool = Field(
        True, description="also remove Chinese and pinyin person names no source lists (name detector)")


class SourceConfig(_Strict):
    """One raw export feeding one modality."""

    path: str = Field(description="file, folder or glob, relative to cohort.yaml")
    format: str
    site: str | None = None
    table: str | None = Field(None, description="standard table this source feeds, when a modality has several")
    encoding: str = Field("auto", description="auto, utf-8, utf-8-sig, gb18030, gbk ...")
    sheet: str | int | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="source header -> dictionary field")
    values: dict[str, dict[str, str]] = Field(default_factory=dict,
                                              description="field -> {source value: standard value}")
    missing: dict[str, str] = Field(default_factory=dict, description="null token -> missing reason")
    options: dict[str, Any] = Field(default_factory=dict, description="modality-specific options")


class SecretConfig(_Strict):
    """Where the pseudonymization key comes from; never the key itself."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> SecretConfig:
        if bool(self.env) == bool(self.file):
            msg = ("give exactly one of secret.env (an environment variable name) "
                   "or secret.file (a key file path)")
            raise ValueError(msg)
        return self


class DatesConfig(_Strict):
    mode: Literal["shift", "relative"] = Field(
        "shift", description="shift: per-patient keyed shift; relative: days since diagnosis")
    max_shift_days: int = Field(365, ge=1, le=3650)


class ThresholdOverride(_Strict):
    warn: float = Field(0.0, ge=0, le=1)
    fail: float = Field(0.0, ge=0, le=1)
    author: str = Field("", description="who decided this override (recorded in the bundle's audit trail)")
    reason: str = Field("", description="why (recorded in the bundle's audit trail)")


class SecurityConfig(_Strict):
    """Who may read the bundle (curation.security)."""

    group: str | None = Field(
        None, description="a group that may read the bundle (folders 0750, files 0640 with that group); "
                          "default: owner-only (folders 0700, files 0600)")


class WithdrawnPatient(_Strict):
    """A patient whose consent is withdrawn, by the raw identifier the site's exports carry."""

    site: str = Field("", description="the site whose exports carry the id")
    id: str = Field(description="MRN or admission number as the site exports it (quote it: leading zeros)")
    modalities: list[str] = Field(default_factory=list, description="withdrawn from these modalities only; "
                                                                    "default every modality")
    date: str = Field("", description="date of the withdrawal (recorded)")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ConsentConfig(_Strict):
    """Consent withdrawn: those patients are excluded from every modality at load (curation.security.consent)."""

    withdrawn: list[WithdrawnPatient] = Field(default_factory=list)
    table: str | None = Field(None, description="CSV of withdrawals (columns site, id; optional modalities, date), "
                                                "relative to cohort.yaml")


class ExecutorConfig(_Strict):
    kind: Literal["local", "dask"] = "local"
    jobs: int = Field(2, ge=1, le=256)
    address: str | None = Field(None, description="dask scheduler address when kind is dask")
    timeout_s: int = Field(1800, ge=10, description="time limit of one notebook cell (papermill applies it per cell)")


ExportTarget = Literal["fhir", "omop", "cbioportal", "cellxgene"]


class ExportsConfig(_Strict):
    """Which interoperability exports a run writes into the bundle (``exports/<target>/``)."""

    targets: list[ExportTarget] = Field(
        default_factory=list, description="fhir, omop, cbioportal, cellxgene; `exports: [fhir, omop]` is short for "
                                          "`exports: {targets: [fhir, omop]}`")
    panel_size_mb: float | None = Field(
        None, gt=0, description="territory of the sequencing panel in megabases, for TMB (mutations per Mb) in the "
                                "cBioPortal export; TMB is left empty without it")
    assay: str = Field(
        "EFO:0009922", pattern=r"^EFO:\d{7}$",
        description="EFO term of the single-cell assay for the CELLxGENE export (default 10x 3' v3)")

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, v: Any) -> Any:
        return {"targets": v} if isinstance(v, list) else v


class TimelinessConfig(_Strict):
    """Timeliness targets, in days: each source modality's timeliness check measures a turnaround or a
    currency against one of them (the check named in each description). A record over its target is
    late, not wrong."""

    pathology_report_days: int = Field(
        10, ge=0, le=3650, description="pathology report at most this many days after specimen collection "
                                       "(pathology.timeliness.report_delay)")
    sequencing_turnaround_days: int = Field(
        21, ge=0, le=3650, description="sequencing report at most this many days after the sample was collected "
                                       "(genomics.timeliness.turnaround)")
    questionnaire_days: int = Field(
        90, ge=0, le=3650, description="exposure questionnaire within this many days of diagnosis, before or after "
                                       "(exposure.timeliness.questionnaire_age)")
    imaging_study_days: int = Field(
        90, ge=0, le=3650, description="imaging study at most this many days before diagnosis: an older one does not "
                                       "show the tumour at diagnosis (imaging.timeliness.study_age)")
    single_cell_processing_days: int = Field(
        2, ge=0, le=3650, description="single-cell library made at most this many days after the sample was "
                                      "collected (immune.timeliness.processing_delay)")
    followup_interval_days: int = Field(
        180, ge=1, le=3650, description="a living patient's last contact at most this many days before the data "
                                        "cutoff; older is lost to follow-up (clinical.timeliness.followup_currency)")
    entry_days: int = Field(
        365, ge=0, le=3650, description="EMR record entered at most this many days after diagnosis "
                                        "(clinical.timeliness.entry_delay)")
    data_cutoff: date | None = Field(
        None, description="the date follow-up is current to, YYYY-MM-DD (default: the latest last contact of the "
                          "cohort)")


ReportLanguage = Literal["zh", "en", "both"]


class ReportConfig(_Strict):
    """How the reviewer reports read (curation.report)."""

    language: ReportLanguage = Field(
        "both", description="zh (Chinese), en (English) or both (a switch on every page, offline, no reload; "
                            "the PDF prints both)")
    purpose: str = Field("", description="why the data are collected (the collection report's first section)")
    period: str = Field("", description="the collection period, e.g. 2019-01 to 2023-12 (default: the range of "
                                        "diagnosis dates in the data, as shifted)")
    retention: str = Field("", description="how long the bundle is kept and where it is archived (collection report)")
    corrective_actions: str = Field(
        "corrective_actions.yaml", description="file beside cohort.yaml of corrective actions per failing check "
                                               "(owner, action, due, status), read by every run")


class CohortConfig(_Strict):
    cohort: CohortInfo
    sites: list[Site] = Field(default_factory=list)
    dictionary_version: str = "1.0"
    sources: dict[str, list[SourceConfig]] = Field(default_factory=dict)
    output: str = "out"
    secret: SecretConfig
    dates: DatesConfig = DatesConfig()  # pydantic copies model defaults per instance
    thresholds: dict[str, ThresholdOverride] = Field(default_factory=dict)
    privacy: PrivacyConfig = PrivacyConfig()
    executor: ExecutorConfig = ExecutorConfig()
    report: ReportConfig = ReportConfig()
    timeliness: TimelinessConfig = TimelinessConfig()
    required_modalities: list[str] = Field(
        default_factory=list,
        description="modalities every clinical patient must have (e.g. [pathology, exposure]); a patient missing one "
                    "fails crossmodal.completeness.required_modalities")
    security: SecurityConfig = SecurityConfig()
    consent: ConsentConfig = ConsentConfig()
    exports: ExportsConfig = ExportsConfig()
    options: dict[str, Any] = Field(default_factory=dict, description="run-wide options (e.g. demo: true)")
    value_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="dictionary field (or modality.field) -> {source value: standard value}, for every source; "
                    "matched after NFKC and case-folding, after a source's own `values`, before the dictionary's "
                    "defaults")

    @field_validator("value_maps", mode="before")
    @classmethod
    def _value_maps_as_text(cls, v: Any) -> Any:
        """YAML reads ``1: male`` with an integer key: value maps are text, so numbers become text;
        ``yes``/``no`` read as booleans are refused (their text is lost), with the fix."""
        if not isinstance(v, dict):
            return v
        out: dict[Any, Any] = {}
        for fld, mapping in v.items():
            if not isinstance(mapping, dict):
                out[fld] = mapping
                continue
            for k, val in mapping.items():
                if isinstance(k, bool) or isinstance(val, bool):
                    msg = (f"value_maps.{fld}: a key or value read as true/false; quote it (\"yes\": \"yes\", "
                           "\"N\": \"no\")")
                    raise ValueError(msg)
            out[fld] = {str(k): str(val) for k, val in mapping.items()}
        return out

    # set by load_cohort, not part of the YAML
    _path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            raise ConfigError("cohort config was not loaded from a file; use load_cohort(path)")
        return self._path

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: str | Path) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output)

    def source_files(self, modality: str, index: int) -> list[Path]:
        src = self.sources[modality][index]
        pattern = str(self.resolve(src.path))
        if glob.has_magic(pattern):
            return sorted(Path(p) for p in glob.glob(pattern, recursive=True))
        return [Path(pattern)] if Path(pattern).exists() else []

    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def id_patterns(self) -> list[str]:
        """Every declared identifier shape (cohort-wide and per site), validated at load."""
        return [*self.privacy.id_patterns, *(p for site in self.sites for p in site.id_patterns)]


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _find_model(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for 'did you mean' on unknown keys)."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fld = model.model_fields.get(part)
        if fld is not None:  # otherwise a mapping key such as a modality name: same model below
            model = _find_model(fld.annotation)
    return model


def _keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts: field names and their aliases."""
    out = set(model.model_fields)
    for fld in model.model_fields.values():
        choices = getattr(fld.validation_alias, "choices", None) or []
        out |= {c for c in choices if isinstance(c, str)}
    return sorted(out)


def _expected(err: Mapping[str, Any]) -> str:
    """What a value should have been, in words (pydantic's own text names Python types)."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    words = {
        "int_parsing": "is not a valid integer", "int_type": "is not a valid integer",
        "int_from_float": "is not a whole number", "float_parsing": "is not a valid number",
        "float_type": "is not a valid number", "bool_parsing": "is not true or false",
        "bool_type": "is not true or false", "string_type": "is not text", "dict_type": "is not a mapping (key: value)",
        "list_type": "is not a list", "tuple_type": "is not a list",
    }
    if kind in words:
        return words[kind]
    if kind == "literal_error":
        return f"is not one of {ctx.get('expected', '')}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        bound = next(iter(ctx.values()), "")
        return f"must be {bounds[kind]} {bound}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return str(err["msg"])


def format_error(name: str, err: Mapping[str, Any], *, root: type[BaseModel] | None = None,
                 at: tuple[str | int, ...] = ()) -> str:
    """One line for one pydantic error: file, key path, bad value, what is expected or the fix.

    Parameters
    ----------
    name
        The file name shown first (``cohort.yaml``).
    err
        One item of ``ValidationError.errors()``.
    root
        The model that was validated (default :class:`CohortConfig`), for "did you mean".
    at
        Where that model sits in the file, e.g. ``("sources", "imaging", 0, "options")``.
    """
    loc = tuple(err["loc"])
    where = _loc(at + loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        model = _model_at(loc, root or CohortConfig)
        known = _keys_of(model) if model else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"expected one of {', '.join(known) or '(no keys)'}"
        return f"{name}: {where}: unknown key; {fix}"
    if err["type"] == "missing":
        return f"{name}: {where}: required key is missing; add it (see templates/cohort.yaml)"
    value = err.get("input")
    shown = f" {value!r}" if isinstance(value, (str, int, float)) else ""
    return f"{name}: {where}:{shown} {_expected(err)}"


SourceCheck = Callable[["CohortConfig", str], list[str]]


def load_cohort(path: str | Path, *, check_paths: bool = True,
                check_sources: SourceCheck | None = None) -> CohortConfig:
    """Read and validate a cohort.yaml.

    Parameters
    ----------
    path
        The cohort.yaml.
    check_paths
        Also check that every source path matches a file or folder.
    check_sources
        What the modalities accept, called with the config and the file name; returns one problem per
        line. :func:`curation.load_cohort` passes the registry's (formats, options models); without it,
        sources are checked for what needs no modality (sites, paths, files given twice).

    Raises
    ------
    ConfigError
        With one line per problem: file, key path, bad value, expected value.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ConfigError(f"{path}: cohort file not found; create one with `curation init DIR`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{name}:{where}: YAML does not parse ({problem}); fix the syntax there") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text; save cohort.yaml as UTF-8") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a mapping of keys (cohort, sources, secret ...), got {type(raw).__name__}")
    try:
        cfg = CohortConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [format_error(name, e) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    cfg._path = path.resolve()
    problems = check_sources(cfg, name) if check_sources is not None else []
    problems += _check_sources(cfg, name, check_paths=check_paths) + _check_value_maps(cfg, name)
    if problems:
        raise ConfigError("\n".join(problems))
    return cfg


def _check_sources(cfg: CohortConfig, name: str, *, check_paths: bool) -> list[str]:
    """Sites, paths, files given twice, identifier patterns and thresholds: all a source needs checked
    that does not depend on its modality."""
    problems: list[str] = []
    site_ids = {s.id for s in cfg.sites}
    matched: list[tuple[str, str, list[Path]]] = []  # (source key, sheet, files and folders it names)
    for modality, sources in cfg.sources.items():
        for i, src in enumerate(sources):
            where = f"{name}: sources.{modality}[{i}]"
            if src.site is not None and site_ids and src.site not in site_ids:
                problems.append(f"{where}.site: {src.site!r} is not one of the sites ({', '.join(sorted(site_ids))})")
            files = cfg.source_files(modality, i) if check_paths else []
            if check_paths and not files:
                problems.append(
                    f"{where}.path: {src.path!r} matches no file or folder under {cfg.base_dir}; "
                    "fix the path (relative paths are relative to cohort.yaml)")
            matched.append((f"sources.{modality}[{i}]", str(src.sheet if src.sheet is not None else 0), files))
    problems += _shared_sources(matched, name)
    declared = [(f"privacy.id_patterns[{i}]", p) for i, p in enumerate(cfg.privacy.id_patterns)]
    declared += [(f"sites[{j}].id_patterns[{i}]", p) for j, site in enumerate(cfg.sites)
                 for i, p in enumerate(site.id_patterns)]
    for key, pattern in declared:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            problems.append(f"{name}: {key}: {pattern!r} is not a valid regular expression ({exc}); fix it "
                            "(YAML single quotes keep backslashes, e.g. 'ZY\\d{7}')")
            continue
        if rx.match(""):
            problems.append(f"{name}: {key}: {pattern!r} matches empty text and would cut everywhere; "
                            "make it match at least one character")
    for check_id, t in cfg.thresholds.items():
        if t.warn > t.fail:
            problems.append(
                f"{name}: thresholds.{check_id}: warn {t.warn} is above fail {t.fail}; warn must be <= fail")
    return problems


def _check_value_maps(cfg: CohortConfig, name: str) -> list[str]:
    """Every ``value_maps`` key is a dictionary field (``sex`` or ``clinical.sex``) and every value
    one of that field's allowed values (a map to a value outside them would be nulled anyway)."""
    from . import dictionary

    problems: list[str] = []
    by_name: dict[str, list[dictionary.Field]] = {}
    for m in dictionary.modalities():
        for f in dictionary.fields(m):
            by_name.setdefault(f.name, []).append(f)
            by_name.setdefault(f"{m}.{f.name}", []).append(f)
    for key, mapping in cfg.value_maps.items():
        where = f"{name}: value_maps.{key}"
        found = by_name.get(key)
        if not found:
            hint = difflib.get_close_matches(key, sorted(by_name), n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else "see `curation dictionary` for the fields"
            problems.append(f"{where}: not a dictionary field; {fix}")
            continue
        allowed = {a for f in found for a in f.allowed}
        off = sorted({v for v in mapping.values() if allowed and v not in allowed})
        if off:
            problems.append(f"{where}: {', '.join(map(repr, off))} not one of the allowed values "
                            f"({', '.join(sorted(allowed))}); map to one of them")
    return problems


def _shared_sources(matched: list[tuple[str, str, list[Path]]], name: str) -> list[str]:
    """Two sources that read the same file (or one a folder holding the other's file), and the same
    sheet of a workbook: its records would enter the run twice and read as duplicates. Sheets of one
    workbook are distinct sources. The message names both keys, never the file (a file or folder
    name can hold a patient's name or number)."""
    owner: dict[tuple[str, str], str] = {}
    resolved: list[tuple[str, str, list[str]]] = []
    folders: dict[str, str] = {}
    for key, sheet, files in matched:
        paths = [_real(f, folders) for f in files]
        resolved.append((key, sheet, paths))
        for p in paths:
            owner.setdefault((p, sheet), key)
    rank = {key: i for i, (key, _, _) in enumerate(matched)}
    shared: dict[tuple[str, str], int] = {}
    for key, sheet, paths in resolved:
        for p in paths:
            q, up = p, ""
            while q != up:  # the path itself, then every folder above it
                other = owner.get((q, sheet))
                if other is not None and other != key:
                    pair = (other, key) if rank[other] < rank[key] else (key, other)
                    shared[pair] = shared.get(pair, 0) + 1
                    break
                q, up = os.path.dirname(q), q
    return [f"{name}: {a} and {b}: the same file is configured as two sources ({n} path(s) in common); "
            f"each file (each sheet of a workbook) feeds one source: narrow or remove the path of one of them"
            for (a, b), n in shared.items()]


def _real(path: Path, folders: dict[str, str]) -> str:
    """``realpath`` with the folder part cached (a DICOM glob names thousands of files per folder)."""
    folder, base = os.path.split(os.path.abspath(path))
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    if os.path.islink(path):
        return os.path.realpath(path)
    return os.path.join(folders[folder], base)
