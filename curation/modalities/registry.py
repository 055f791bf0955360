"""Name -> modality module, found through the ``curation.modalities`` entry-point group.

Third-party packages add a modality by declaring an entry point in that group; nothing in the
runner or in other modalities changes. Modules are imported on first use only.

The registry also owns what a cohort.yaml may say about a modality: :func:`check_sources` (a
registered modality, one of its formats, options its ``SPEC.options`` model accepts), which
:func:`load_cohort` passes to :func:`curation.config.load_cohort`; and :func:`needs` (the steps a
step reads from the bundle), from which the runner orders its notebooks.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from pydantic import ValidationError

from ..config import CohortConfig, format_error
from ..config import load_cohort as _read_cohort
from ..errors import ConfigError
from .base import EVERY, Modality, ModalitySpec, Options

__all__ = ["check_sources", "load_cohort", "names", "needs", "ordered", "source_options", "spec"]

GROUP = "curation.modalities"

# Built-in modalities, so a source checkout works before `pip install -e .` registers entry points.
_BUILTIN = {
    "exposure": "curation.modalities.exposure",
    "clinical": "curation.modalities.clinical",
    "pathology": "curation.modalities.pathology",
    "lab": "curation.modalities.lab",
    "genomics": "curation.modalities.genomics",
    "imaging": "curation.modalities.imaging",
    "immune": "curation.modalities.immune",
    "screening": "curation.modalities.screening",
    "crossmodal": "curation.modalities.crossmodal",
    "collection_report": "curation.modalities.collection_report",
    "exports": "curation.export.step",
}


@cache
def _targets() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    out = {**_BUILTIN, **found}
    return {name: target for name, target in out.items() if importlib.util.find_spec(target.split(":")[0])}


def names() -> list[str]:
    """Registered modality names (alphabetical; imports no modality module)."""
    return sorted(_targets())


def ordered(selected: list[str] | None = None) -> list[str]:
    """Modality names in report order (imports each module to read its SPEC)."""
    return sorted(selected if selected is not None else names(), key=lambda n: (spec(n).order, n))


@cache
def get(name: str) -> Modality:
    """The module of a registered modality (imported on first use).

    Raises
    ------
    ConfigError
        ``name`` is not registered; the message lists the registered names.
    """
    target = _targets().get(name)
    if target is None:
        raise ConfigError(f"unknown modality {name!r}; registered: {', '.join(sorted(_targets()))}")
    module: ModuleType = importlib.import_module(target.split(":")[0])
    return cast(Modality, module)


def spec(name: str) -> ModalitySpec:
    """The ``SPEC`` of a registered modality."""
    return get(name).SPEC


def needs(name: str) -> list[str]:
    """The steps ``name`` reads from the bundle, :data:`~curation.modalities.base.EVERY` expanded.

    ``EVERY`` stands for every other registered step that does not itself need ``EVERY`` (the
    collection report reads them all); expanding it imports no module that fails to import.

    Raises
    ------
    ConfigError
        A need is not a registered step (the message names the step and the need).
    """
    declared = spec(name).needs
    known = names()
    out: list[str] = []
    for need in declared:
        if need == EVERY:
            out += [n for n in known if n != name and n not in out and not _needs_every(n)]
            continue
        if need not in known:
            hint = difflib.get_close_matches(need, known, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"registered: {', '.join(known)}"
            msg = f"{name}: SPEC.needs names {need!r}, which is not a registered step; {fix}"
            raise ConfigError(msg)
        if need != name and need not in out:
            out.append(need)
    return out


def _needs_every(name: str) -> bool:
    try:
        return EVERY in spec(name).needs
    except Exception:  # noqa: BLE001 - a module that does not import is needed by nobody: it cannot run
        return False


# --------------------------------------------------------------------------- cohort.yaml


def source_options(name: str, raw: Mapping[str, Any], *, where: str = "") -> Options:
    """One source's ``options:`` validated by the modality's ``SPEC.options`` model.

    Parameters
    ----------
    name
        The modality.
    raw
        The mapping under ``options:`` in cohort.yaml.
    where
        The key path shown in an error, e.g. ``sources.imaging[0]``.

    Raises
    ------
    ConfigError
        One line per bad option: key path, value, what is expected (an unknown key: did you mean).
    """
    try:
        return _validate_options(name, raw)
    except ValidationError as exc:
        at = (*_path_of(where or f"sources.{name}"), "options")
        model = spec(name).options
        msg = "\n".join(format_error("cohort.yaml", e, root=model, at=at) for e in exc.errors())
        raise ConfigError(msg) from None


def _validate_options(name: str, raw: Mapping[str, Any]) -> Options:
    return spec(name).options.model_validate(dict(raw))


def _path_of(where: str) -> tuple[str | int, ...]:
    """``sources.imaging[0]`` -> ("sources", "imaging", 0)."""
    out: list[str | int] = []
    for part in where.replace("]", "").split("."):
        head, *idx = part.split("[")
        out += [head, *(int(i) for i in idx)]
    return tuple(out)


def check_sources(config: CohortConfig, name: str) -> list[str]:
    """What cohort.yaml says about each modality, checked against the registry.

    Every key under ``sources`` is a registered modality that reads sources (``SPEC.stage ==
    "source"``), every source's ``format`` is one of ``SPEC.formats``, and its ``options`` validate
    against ``SPEC.options``. One line per problem, naming the file (``name``), key, value and fix.
    """
    problems: list[str] = []
    known = names()
    for modality, sources in config.sources.items():
        if modality not in known:
            hint = difflib.get_close_matches(modality, known, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"expected one of {', '.join(known)}"
            problems.append(f"{name}: sources.{modality}: unknown modality; {fix}")
            continue
        sp = spec(modality)
        if sp.stage != "source":
            problems.append(
                f"{name}: sources.{modality}: this step reads the other modalities' outputs "
                "and takes no sources; remove the key"
            )
            continue
        for i, src in enumerate(sources):
            where = f"{name}: sources.{modality}[{i}]"
            if src.format not in sp.formats:
                problems.append(f"{where}.format: {src.format!r} is not one of {', '.join(sp.formats)}")
            try:
                _validate_options(modality, src.options)
            except ValidationError as exc:
                at = ("sources", modality, i, "options")
                problems += [format_error(name, e, root=sp.options, at=at) for e in exc.errors()]
    problems += _check_required(config, name, known)
    return problems


def _check_required(config: CohortConfig, name: str, known: list[str]) -> list[str]:
    """``required_modalities`` names registered modalities that read sources, each once."""
    problems: list[str] = []
    readers = [m for m in known if _stage_or_none(m) == "source"]
    seen: set[str] = set()
    for i, modality in enumerate(config.required_modalities):
        where = f"{name}: required_modalities[{i}]: {modality!r}"
        if modality in seen:
            problems.append(f"{where} is listed twice; list each modality once")
        elif modality not in readers:
            hint = difflib.get_close_matches(modality, readers, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"expected one of {', '.join(readers)}"
            problems.append(f"{where} is not a modality that reads sources; {fix}")
        seen.add(modality)
    return problems


def _stage_or_none(modality: str) -> str | None:
    try:
        return spec(modality).stage
    except Exception:  # noqa: BLE001 - a plugin that does not import reads nothing here
        return None


def load_cohort(path: str | Path, *, check_paths: bool = True) -> CohortConfig:
    """Read and validate a cohort.yaml, modality sources included (formats, options).

    Parameters
    ----------
    path
        The cohort.yaml.
    check_paths
        Also check that every source path matches a file or folder.

    Raises
    ------
    ConfigError
        With one line per problem: file, key path, bad value, expected value or fix.
    """
    return _read_cohort(path, check_paths=check_paths, check_sources=check_sources)
