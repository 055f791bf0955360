"""Which notebooks a run executes, in which order: every registered step ordered by ``SPEC.needs``.

A step runs when the cohort gives it sources (``SPEC.stage == "source"``), or when it reads the
other steps' outputs (``"cohort"``: cross-modality checks, the collection report) and its notebook
exists. A step runs after the steps it needs (a topological order of ``SPEC.needs``; a need this
cohort has no sources for is not waited on); the runner starts a notebook as soon as those have
ended, so independent steps share the workers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..config import CohortConfig
from ..errors import ConfigError
from ..modalities import registry
from ..modalities.base import ModalitySpec
from .executors import NotebookJob

__all__ = ["members", "notebooks_dir", "order", "plan"]

log = logging.getLogger(__name__)


def notebooks_dir() -> Path:
    """Where the notebooks live: $CURATION_NOTEBOOKS, the source checkout, or package data."""
    env = os.environ.get("CURATION_NOTEBOOKS")
    if env:
        return Path(env)
    pkg = Path(__file__).resolve().parents[1]
    checkout = pkg.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    return pkg / "notebooks"


def members(config: CohortConfig, *, notebooks: Path | None = None) -> list[str]:
    """The steps of this cohort's runs: modalities with sources, then cohort steps with a notebook.

    A modality with sources must import (its error stops the run before anything runs); a cohort
    step whose module does not import is left out with a warning (it is nobody's source).
    """
    nb_dir = notebooks or notebooks_dir()
    out = []
    for name in registry.names():
        if config.sources.get(name):
            if registry.spec(name).stage == "source":  # (a cohort step given sources is a config error)
                out.append(name)
            continue
        spec = _spec_or_none(name)
        if spec is not None and spec.stage == "cohort" and (nb_dir / spec.notebook).is_file():
            out.append(name)
    return out


def _spec_or_none(name: str) -> ModalitySpec | None:
    try:
        return registry.spec(name)
    except Exception as exc:  # noqa: BLE001 - a step this cohort does not use must not stop the run
        log.warning("step %s could not be imported (%s); it is skipped", name, type(exc).__name__)
        return None


def order(names: list[str]) -> list[list[str]]:
    """``names`` in levels: each step after every step of ``names`` it needs (``SPEC.needs``).

    Within a level, steps are in report order (``SPEC.order``). A need outside ``names`` (a step
    without sources in this cohort) is not waited on.

    Raises
    ------
    ConfigError
        A need is not a registered step, or steps need each other in a circle (the message names it).
    """
    within = set(names)
    needs = {n: [m for m in registry.needs(n) if m in within] for n in names}
    level: dict[str, int] = {}
    for name in names:
        _level(name, needs, level, [])
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in registry.ordered(names):
        out[level[name]].append(name)
    return out


def _level(name: str, needs: dict[str, list[str]], level: dict[str, int], path: list[str]) -> int:
    if name in level:
        return level[name]
    if name in path:
        circle = " -> ".join([*path[path.index(name) :], name])
        msg = f"steps need each other in a circle ({circle}); remove one of these SPEC.needs"
        raise ConfigError(msg)
    path.append(name)
    level[name] = 1 + max((_level(m, needs, level, path) for m in needs[name]), default=-1)
    path.pop()
    return level[name]


def plan(
    config: CohortConfig,
    *,
    out: Path,
    only: list[str] | None = None,
    notebooks: Path | None = None,
    cell_timeout_s: int | None = None,
) -> list[list[NotebookJob]]:
    """Notebook runs in levels of ``SPEC.needs``: a job's needs are in earlier levels (``job.needs``).

    Parameters
    ----------
    config
        The cohort.
    out
        The bundle folder.
    only
        Run only these steps (their needs are then expected in the bundle from an earlier run).
    notebooks
        Folder of the notebooks; default :func:`notebooks_dir`.
    cell_timeout_s
        Time limit of one notebook cell.

    Raises
    ------
    ConfigError
        ``only`` names something that is not a step of this cohort; a need is not registered; steps
        need each other in a circle.
    """
    nb_dir = notebooks or notebooks_dir()
    allowed = members(config, notebooks=nb_dir)
    if only:
        unknown = [m for m in only if m not in allowed]
        if unknown:
            msg = (
                f"--only {unknown[0]}: not a modality with sources in {config.path.name}; "
                f"choose from {', '.join(allowed) or '(none)'}"
            )
            raise ConfigError(msg)
    levels = order(allowed)  # the whole cohort's order: a circle is an error even in a partial run
    chosen = [n for n in allowed if not only or n in only]
    params = {"cohort": str(config.path), "out": str(out)}

    def job(name: str) -> NotebookJob:
        spec = registry.spec(name)
        waits = tuple(m for m in registry.needs(name) if m in chosen)
        return NotebookJob(
            name=name,
            title=f"{spec.label} · {config.cohort.name}",
            notebook=nb_dir / spec.notebook,
            output=out / "reports" / f"{name}.ipynb",
            html=out / "reports" / f"{name}.html",
            parameters=params,
            cwd=config.base_dir,
            cell_timeout_s=cell_timeout_s,
            needs=waits,
        )

    stages = [[job(n) for n in level if n in chosen] for level in levels]
    return [s for s in stages if s]
