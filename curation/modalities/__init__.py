"""Modalities: one module each, found through the registry, driven the same way by :func:`curate`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import CohortConfig
from ..decisions import replay as decisions_replay
from ..deid.keys import keyring_for
from ..errors import ConfigError
from ..io.bundle import Bundle
from ..quality import CheckResult, Dimension, Threshold, error_result, failures_of, results_frame, sites_frame
from . import registry
from .base import Context, ModalityData, ModalitySpec, Source
from .registry import load_cohort

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..deid.registry import IdentifierRegistry
    from ..deid.text import Scrubber

__all__ = [
    "Context",
    "Curated",
    "ModalityData",
    "ModalitySpec",
    "Source",
    "cohort_identifiers",
    "collect_identifiers",
    "curate",
    "make_context",
    "make_scrubber",
    "provenance",
    "registry",
    "sources_of",
    "write_outputs",
]

log = logging.getLogger(__name__)


def make_context(config: CohortConfig, *, out: str | Path | None = None) -> Context:
    """The run context of ``config``: thresholds, decisions and the output bundle (``out`` or the configured one)."""
    thresholds = {k: Threshold(v.warn, v.fail) for k, v in config.thresholds.items()}
    bundle = Bundle(Path(out) if out else config.output_dir)
    decisions_path = bundle.path("decisions.yaml")
    decisions: dict[str, Any] = {}
    if decisions_path.is_file():
        import yaml

        decisions = yaml.safe_load(decisions_path.read_text(encoding="utf-8")) or {}
    return Context(
        config=config, keyring=keyring_for(config), bundle=bundle, thresholds=thresholds, decisions=decisions
    )


def sources_of(config: CohortConfig, name: str) -> list[Source[Any]]:
    """The sources of one modality: key, files, and ``options`` validated by its ``SPEC.options``."""
    return [
        Source(
            f"{name}[{i}]",
            src,
            config.source_files(name, i),
            registry.source_options(name, src.options, where=f"sources.{name}[{i}]"),
        )
        for i, src in enumerate(config.sources.get(name, []))
    ]


@dataclass
class Curated:
    """Result of running one modality end to end: what a notebook displays."""

    spec: ModalitySpec
    data: ModalityData
    results: list[CheckResult]
    ctx: Context = field(repr=False)
    written: list[Path] = field(default_factory=list)
    # the curator decisions of this step (quality/decisions/<name>.parquet): applied, flagged, what each changed
    decisions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=decisions_replay.COLUMNS), repr=False)

    @property
    def checks(self) -> pd.DataFrame:
        """One row per check (quality/checks.parquet)."""
        return results_frame(self.results)

    @property
    def checks_by_site(self) -> pd.DataFrame:
        """The checks' per-site breakdowns (quality/checks_by_site.parquet): where, not how many checks."""
        return sites_frame(self.results)

    @property
    def failures(self) -> pd.DataFrame:
        """All failing records of all checks."""
        return failures_of(self.results)

    @property
    def ledger(self) -> pd.DataFrame:
        """The record counts of each stage of each source (in, accepted, quarantined, excluded)."""
        return self.data.ledger.frame()

    @property
    def quarantine(self) -> pd.DataFrame:
        """The records set aside, with their reason codes."""
        return self.data.quarantine.frame()

    def summary(self) -> pd.DataFrame:
        """Checks by dimension and verdict, the first thing a reviewer reads."""
        df = self.checks
        if df.empty:
            return pd.DataFrame()
        return df.pivot_table(index="dimension", columns="verdict", values="check_id", aggfunc="count", fill_value=0)

    def figures(self) -> dict[str, go.Figure]:
        """The modality's figures, by title."""
        return registry.get(self.spec.name).figures(self.data, self.results, ctx=self.ctx)

    def __repr__(self) -> str:
        """One line (the dataclass repr printed every table and object: ~56 KB)."""
        from collections import Counter

        verdicts = Counter(str(r.verdict) for r in self.results)
        tables = ", ".join(f"{k} {len(v)}" for k, v in self.data.tables.items() if hasattr(v, "__len__"))
        return (
            f"<Curated {self.spec.name}: "
            + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
            + f"; tables: {tables or 'none'}; {len(self.written)} file(s) written>"
        )


def curate(
    name: str, cohort: str | Path | CohortConfig, *, out: str | Path | None = None, write: bool = True
) -> Curated:
    """Load, standardize, check and write one modality; the body of every modality notebook.

    Parameters
    ----------
    name
        A registered modality (or cohort step such as ``crossmodal``).
    cohort
        cohort.yaml, or a loaded config. Notebooks resolve their empty default (the bundled demo
        cohort) with :func:`curation.notebook.cohort_or_demo` before calling this.
    out
        The bundle folder; default the cohort's ``output``.
    write
        Write the outputs and quality tables to the bundle.

    Raises
    ------
    ConfigError
        No cohort given, or cohort.yaml is wrong.
    MissingInput
        The modality reads what another step writes (``SPEC.needs``) and that step has not written
        it into this bundle yet; the message names the step to run first.
    """
    from ..deid.logs import install_redacting_handler

    # notebook kernels and pool workers log through the same redacting filter as the CLI
    install_redacting_handler(level=logging.WARNING, set_filters=False)
    if not cohort:
        msg = (
            f"curate({name!r}): no cohort given; pass the path of cohort.yaml (for the bundled demo "
            'cohort: curation.notebook.cohort_or_demo(""))'
        )
        raise ConfigError(msg)
    config = cohort if isinstance(cohort, CohortConfig) else load_cohort(cohort)
    ctx = make_context(config, out=out)
    mod = registry.get(name)
    # decisions.yaml beside cohort.yaml: thresholds, settings and value maps set on ctx before anything runs
    replay = decisions_replay.prepare(config, ctx, modality=name, module=getattr(mod, "__name__", ""))
    data = mod.load(sources_of(config, name), ctx=ctx)
    if mod.SPEC.stage == "source":
        # free text is scrubbed with every identifier of the cohort, not only this modality's: a
        # pathology report names the patient's relatives, a DICOM description another patient.
        # A cohort step reads de-identified outputs only: it has nothing to scrub.
        ctx.identifiers = cohort_identifiers(config, ctx=ctx, own=(name, data.identifiers))
        ctx.scrubber = make_scrubber(config, ctx.identifiers)
    data = mod.standardize(data, ctx=ctx)
    if not data.standardized:
        msg = f"{name}: standardize() did not mark its data as de-identified; refusing to go on"
        raise RuntimeError(msg)
    replay.release(data)  # what each release did (released records re-enter while the modality standardizes)
    # records and items a curator excluded leave the outputs, counted in the ledger (non-tabular: the modality's hook)
    replay.exclude(data, getattr(mod, "exclude", None), ctx=ctx)
    replay.relabel(data, getattr(mod, "relabel", None), ctx=ctx)  # label corrections (immune: per cluster)
    # cohort.yaml thresholds are applied where the checks run (quality.run), once: the modality's
    # checks get them from ctx, the ledger's here
    try:
        results = list(mod.checks(data, ctx=ctx))
    except Exception as exc:  # noqa: BLE001 - a crashing check suite is an error verdict, not a pass
        results = [error_result(f"{name}.checks", name, Dimension.CONFORMANCE, exc=exc)]
    if data.ledger.entries:  # a step that moved no record (the collection report) has nothing to reconcile
        results.append(data.ledger.check(thresholds=ctx.thresholds))
    results += replay.check()
    replay.compare(data, results, ctx=ctx)  # what each setting changed: its check run again without it
    curated = Curated(mod.SPEC, data, results, ctx, decisions=replay.frame(results))
    if write:
        curated.written = write_outputs(curated)
    print(provenance(curated, replay), flush=True)  # noqa: T201 - the one line a notebook shows of where it ran
    return curated


def provenance(curated: Curated, replay: decisions_replay.Replay) -> str:
    """One line: cohort (DEMO when it is the bundled demo), inputs, output folder, decisions applied.

    Names only (the cohort file, the bundle folder) and counts of input files: paths and source
    file names can hold identifiers or machine details that a reviewer's page must not show.
    """
    config, name = curated.ctx.config, curated.spec.name
    demo = " DEMO" if (config.base_dir / "defects.json").is_file() and "demo" in config.cohort.name.lower() else ""
    n_sources = len(config.sources.get(name) or [])
    n_files = sum(len(config.source_files(name, i)) for i in range(n_sources))
    inputs = f"{n_files} input path(s) in {n_sources} source(s)" if n_sources else "the bundle"
    n_flagged = len(replay.stale) + len(replay.listed) + len(replay.refused)
    flagged = f", {n_flagged} flagged for review" if n_flagged else ""
    return (
        f"{name}: cohort {config.cohort.name!r}{demo} ({config.path.name}); inputs: {inputs}; "
        f"output: {curated.ctx.bundle.root.name}/ ({len(curated.written)} file(s) written); "
        f"decisions applied: {len(replay.applied)}{flagged}"
    )


def write_outputs(curated: Curated) -> list[Path]:
    """The modality's own outputs plus its quality tables, all through the bundle."""
    name, b = curated.spec.name, curated.ctx.bundle
    written = list(registry.get(name).write(curated.data, ctx=curated.ctx))
    written.append(b.write_parquet(f"quality/checks/{name}.parquet", curated.checks))
    written.append(b.write_parquet(f"quality/checks_by_site/{name}.parquet", curated.checks_by_site))
    written.append(b.write_parquet(f"quality/failures/{name}.parquet", curated.failures))
    written.append(b.write_parquet(f"quality/quarantine/{name}.parquet", curated.quarantine))
    written.append(b.write_parquet(f"quality/ledger/{name}.parquet", curated.ledger))
    written.append(b.write_parquet(f"quality/decisions/{name}.parquet", curated.decisions))
    return written


def collect_identifiers(config: CohortConfig, name: str, *, ctx: Context | None = None) -> IdentifierRegistry:
    """Raw identifiers in one modality's sources, through its ``identifiers(sources, *, ctx)`` hook.

    The hook returns what ``load`` would note, cheaply (headers, sample sheets and identifier
    columns; no pixels, no count matrices). The values stay in memory and are never written or
    logged. Used for the cohort-wide registry (:func:`cohort_identifiers`) and the run's leak scan.
    """
    ctx = ctx or make_context(config)
    return registry.get(name).identifiers(sources_of(config, name), ctx=ctx)


def cohort_identifiers(
    config: CohortConfig, *, ctx: Context | None = None, own: tuple[str, IdentifierRegistry] | None = None
) -> IdentifierRegistry:
    """Every raw identifier of every source of every modality of the cohort (memory only).

    Parameters
    ----------
    config
        The cohort.
    ctx
        A context to reuse (keyring, bundle); default a new one.
    own
        ``(modality, registry)`` already collected by that modality's own ``load``: not read twice.

    A modality whose identifiers cannot be read (a broken source) is logged by name and skipped:
    its own notebook reports the problem, and the run's leak scan, which collects the identifiers
    again, fails closed when they are missing.
    """
    from ..deid.registry import IdentifierRegistry

    ctx = ctx or make_context(config)
    out = IdentifierRegistry()
    for name in registry.names():
        if not config.sources.get(name):
            continue
        if own is not None and own[0] == name:
            out.merge(own[1])
            continue
        try:
            out.merge(collect_identifiers(config, name, ctx=ctx))
        except Exception as exc:  # noqa: BLE001 - another modality's broken source must not stop this one
            log.warning(
                "identifiers of %s could not be collected (%s); free text is scrubbed without them",
                name,
                type(exc).__name__,
            )
    return out


def make_scrubber(config: CohortConfig, identifiers: IdentifierRegistry | None) -> Scrubber:
    """The cohort's free-text scrubber: its identifier registry, declared ID shapes, name detection."""
    from ..deid.text import Scrubber

    return Scrubber(identifiers, mrn_patterns=config.id_patterns, names=config.privacy.detect_names)
