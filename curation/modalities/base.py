"""The modality contract: the same small surface for tables, DICOM indexes and AnnData.

A modality is a module with a ``SPEC`` and six functions::

    load(sources, *, ctx)            -> ModalityData   # raw; may still hold identifiers
    standardize(data, *, ctx)        -> ModalityData   # identifiers stop here
    checks(data, *, ctx)             -> list[CheckResult]
    figures(data, results, *, ctx)   -> dict[str, plotly Figure]
    write(data, *, ctx)              -> list[Path]     # through ctx.bundle (atomic, checksummed)
    identifiers(sources, *, ctx)     -> IdentifierRegistry   # raw identifiers, cheaply, memory only

``SPEC.options`` is the pydantic model of a source's ``options:`` in cohort.yaml (validated when the
cohort loads; ``Source.options`` is the validated instance). ``SPEC.needs`` names the steps whose
outputs the modality reads from the bundle: the runner runs those first, and the modality never
re-runs them. Heavy imports (pydicom, scanpy) stay inside the functions so that the registry can
import every module cheaply. :func:`curation.modalities.curate` drives the steps the same way for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..quality import CheckResult, Ledger, Quarantine

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..config import CohortConfig, SourceConfig
    from ..deid.keys import Keyring
    from ..deid.registry import IdentifierRegistry
    from ..deid.text import Scrubber
    from ..io.bundle import Bundle
    from ..quality import Threshold

__all__ = ["Context", "Modality", "ModalityData", "ModalitySpec", "NoOptions", "Options", "Source"]


class Options(BaseModel):
    """Base of a modality's source options (``sources.<modality>[i].options`` in cohort.yaml).

    Every field has a default and a description; an unknown key is refused (with a "did you mean"),
    and a value of the wrong type is named with its key when the cohort loads.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, config: CohortConfig, modality: str) -> list[Self]:
        """The options of every source of ``modality``, for steps that hold no :class:`Source` (checks,
        standardize); cohort.yaml was validated when it loaded."""
        return [cls.model_validate(src.options) for src in config.sources.get(modality, [])]


class NoOptions(Options):
    """A step whose sources take no options (or that takes no sources)."""


EVERY = "*"  # in SPEC.needs: every other registered step that does not itself need EVERY


@dataclass(frozen=True)
class ModalitySpec:
    """What the registry, the runner and the reports need to know about a modality."""

    name: str
    label: str
    formats: tuple[str, ...]
    notebook: str
    dictionary: str | None = None
    outputs: tuple[str, ...] = ("parquet",)
    extra: str | None = None
    order: int = 50
    description: str = ""
    # "source": reads raw exports named in cohort.yaml; "cohort": takes no sources and reads the
    # other steps' outputs from the bundle (the cross-modality step, the collection report)
    stage: str = "source"
    # steps whose outputs this one reads from the bundle (EVERY: all the others); the runner runs
    # them first (a need this cohort has no sources for is skipped)
    needs: tuple[str, ...] = ()
    # the pydantic model of a source's `options:`
    options: type[Options] = NoOptions


OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass
class Source(Generic[OptionsT]):
    """One configured source with its resolved files, its validated options and its position in cohort.yaml."""

    key: str  # e.g. "clinical[0]": used in quarantine and ledger rows, never a raw file name
    config: SourceConfig
    files: list[Path]
    options: OptionsT  # SPEC.options validated (``config.options`` is the raw mapping of cohort.yaml)

    @property
    def site(self) -> str:
        """The site this source comes from (empty for a single-site cohort)."""
        return self.config.site or ""


def _registry() -> IdentifierRegistry:
    from ..deid.registry import IdentifierRegistry

    return IdentifierRegistry()


@dataclass
class ModalityData:
    """What flows between the steps of one modality.

    ``tables`` are standard tables (pandas), ``objects`` anything else (AnnData, a DICOM index).
    ``identifiers`` are the raw identifiers seen while loading (typed: names, IDs, phones ...), kept
    in memory only, for free-text scrubbing and the leak scan; they are never written.
    """

    modality: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    quarantine: Quarantine = field(init=False)
    ledger: Ledger = field(init=False)
    identifiers: IdentifierRegistry = field(default_factory=lambda: _registry(), repr=False)
    standardized: bool = False

    def __post_init__(self) -> None:
        self.quarantine = Quarantine(self.modality)
        self.ledger = Ledger(self.modality)


@dataclass
class Context:
    """Everything a modality step may use; passed explicitly, never global."""

    config: CohortConfig
    keyring: Keyring
    bundle: Bundle
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    decisions: dict[str, Any] = field(default_factory=dict)
    # the cohort-wide identifier registry (every source of every modality; memory only) and the
    # free-text scrubber built from it; set by curate() before standardize runs
    identifiers: IdentifierRegistry | None = field(default=None, repr=False)
    scrubber: Scrubber | None = field(default=None, repr=False)

    @property
    def site_ids(self) -> list[str]:
        """The ids of the cohort's sites, in cohort.yaml order."""
        return [s.id for s in self.config.sites]


class Modality(Protocol):
    """What the registry returns: a module (or any object) with a SPEC and the six steps."""

    SPEC: ModalitySpec

    def load(self, sources: list[Source[Any]], *, ctx: Context) -> ModalityData:
        """Read the sources as they are (raw tables and objects); bad records go to the quarantine."""
        ...

    def standardize(self, data: ModalityData, *, ctx: Context) -> ModalityData:
        """De-identify, map to the dictionary and type the values; every dropped record is counted."""
        ...

    def checks(self, data: ModalityData, *, ctx: Context) -> list[CheckResult]:
        """Run the modality's declared checks (``quality.run``) on the standardized data."""
        ...

    def figures(self, data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
        """The report's figures by name (plotly), built from de-identified data only."""
        ...

    def write(self, data: ModalityData, *, ctx: Context) -> list[Path]:
        """Write the standardized tables and files into the bundle; return what was written."""
        ...

    def identifiers(self, sources: list[Source[Any]], *, ctx: Context) -> IdentifierRegistry:
        """Every identifier value the sources hold (names, numbers, dates), for the cohort's scrubber."""
        ...
