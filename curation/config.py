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
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from ._config_models import (
    CohortInfo,
    ConsentConfig,
    DatesConfig,
    ExecutorConfig,
    ExportsConfig,
    ExportTarget,
    PrivacyConfig,
    ReportConfig,
    ReportLanguage,
    SecretConfig,
    SecurityConfig,
    Site,
    SourceConfig,
    ThresholdOverride,
    TimelinessConfig,
    WithdrawnPatient,
    _Strict,
)
from .errors import ConfigError

__all__ = [
    "CohortConfig",
    "CohortInfo",
    "ConsentConfig",
    "DatesConfig",
    "ExecutorConfig",
    "ExportTarget",
    "ExportsConfig",
    "PrivacyConfig",
    "ReportConfig",
    "ReportLanguage",
    "SecretConfig",
    "SecurityConfig",
    "Site",
    "SourceCheck",
    "SourceConfig",
    "ThresholdOverride",
    "TimelinessConfig",
    "WithdrawnPatient",
    "format_error",
    "load_cohort",
]


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
        "fails crossmodal.completeness.required_modalities",
    )
    security: SecurityConfig = SecurityConfig()
    consent: ConsentConfig = ConsentConfig()
    exports: ExportsConfig = ExportsConfig()
    options: dict[str, Any] = Field(default_factory=dict, description="run-wide options (e.g. demo: true)")
    value_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="dictionary field (or modality.field) -> {source value: standard value}, for every source; "
        "matched after NFKC and case-folding, after a source's own `values`, before the dictionary's "
        "defaults",
    )

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
                    msg = f'value_maps.{fld}: a key or value read as true/false; quote it ("yes": "yes", "N": "no")'
                    raise ValueError(msg)
            out[fld] = {str(k): str(val) for k, val in mapping.items()}
        return out

    # set by load_cohort, not part of the YAML
    _path: Path | None = None

    @property
    def path(self) -> Path:
        """The cohort.yaml this configuration was loaded from."""
        if self._path is None:
            raise ConfigError("cohort config was not loaded from a file; use load_cohort(path)")
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder of cohort.yaml: relative paths in it are relative to this folder."""
        return self.path.parent

    def resolve(self, p: str | Path) -> Path:
        """``p`` as an absolute path (``~`` expanded; relative to the folder of cohort.yaml)."""
        p = Path(p).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def output_dir(self) -> Path:
        """The output bundle's folder (``output`` of cohort.yaml, resolved)."""
        return self.resolve(self.output)

    def source_files(self, modality: str, index: int) -> list[Path]:
        """The files a source names (its path or glob pattern, resolved), sorted."""
        src = self.sources[modality][index]
        pattern = str(self.resolve(src.path))
        if glob.has_magic(pattern):
            return sorted(Path(p) for p in glob.glob(pattern, recursive=True))
        return [Path(pattern)] if Path(pattern).exists() else []

    def checksum(self) -> str:
        """SHA-256 of cohort.yaml's bytes (recorded in run.json and the audit trail)."""
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
        "int_parsing": "is not a valid integer",
        "int_type": "is not a valid integer",
        "int_from_float": "is not a whole number",
        "float_parsing": "is not a valid number",
        "float_type": "is not a valid number",
        "bool_parsing": "is not true or false",
        "bool_type": "is not true or false",
        "string_type": "is not text",
        "dict_type": "is not a mapping (key: value)",
        "list_type": "is not a list",
        "tuple_type": "is not a list",
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


def format_error(
    name: str, err: Mapping[str, Any], *, root: type[BaseModel] | None = None, at: tuple[str | int, ...] = ()
) -> str:
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


def load_cohort(
    path: str | Path, *, check_paths: bool = True, check_sources: SourceCheck | None = None
) -> CohortConfig:
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
                    "fix the path (relative paths are relative to cohort.yaml)"
                )
            matched.append((f"sources.{modality}[{i}]", str(src.sheet if src.sheet is not None else 0), files))
    problems += _shared_sources(matched, name)
    declared = [(f"privacy.id_patterns[{i}]", p) for i, p in enumerate(cfg.privacy.id_patterns)]
    declared += [
        (f"sites[{j}].id_patterns[{i}]", p) for j, site in enumerate(cfg.sites) for i, p in enumerate(site.id_patterns)
    ]
    for key, pattern in declared:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            problems.append(
                f"{name}: {key}: {pattern!r} is not a valid regular expression ({exc}); fix it "
                "(YAML single quotes keep backslashes, e.g. 'ZY\\d{7}')"
            )
            continue
        if rx.match(""):
            problems.append(
                f"{name}: {key}: {pattern!r} matches empty text and would cut everywhere; "
                "make it match at least one character"
            )
    for check_id, t in cfg.thresholds.items():
        if t.warn > t.fail:
            problems.append(
                f"{name}: thresholds.{check_id}: warn {t.warn} is above fail {t.fail}; warn must be <= fail"
            )
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
            problems.append(
                f"{where}: {', '.join(map(repr, off))} not one of the allowed values "
                f"({', '.join(sorted(allowed))}); map to one of them"
            )
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
    return [
        f"{name}: {a} and {b}: the same file is configured as two sources ({n} path(s) in common); "
        f"each file (each sheet of a workbook) feeds one source: narrow or remove the path of one of them"
        for (a, b), n in shared.items()
    ]


def _real(path: Path, folders: dict[str, str]) -> str:
    """``realpath`` with the folder part cached (a DICOM glob names thousands of files per folder)."""
    folder, base = os.path.split(os.path.abspath(path))
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    if os.path.islink(path):
        return os.path.realpath(path)
    return os.path.join(folders[folder], base)
