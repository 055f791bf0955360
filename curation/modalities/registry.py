"""Name -> modality module, found through the ``curation.modalities`` entry-point group.

Third-party packages add a modality by declaring an entry point in that group; nothing in the
runner or in other modalities changes. Modules are imported on first use only.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import cast

from ..errors import ConfigError
from .base import Modality, ModalitySpec

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
    "crossmodal": "curation.modalities.crossmodal",
}


@cache
def _targets() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    out = {**_BUILTIN, **found}
    return {name: target for name, target in out.items() if importlib.util.find_spec(target.split(":")[0])}


def names() -> list[str]:
    """Registered modality names (alphabetical; imports nothing)."""
    return sorted(_targets())


def ordered(selected: list[str] | None = None) -> list[str]:
    """Modality names in report order (imports each module to read its SPEC)."""
    return sorted(selected if selected is not None else names(), key=lambda n: (spec(n).order, n))


@cache
def get(name: str) -> Modality:
    target = _targets().get(name)
    if target is None:
        raise ConfigError(f"unknown modality {name!r}; registered: {', '.join(sorted(_targets()))}")
    module: ModuleType = importlib.import_module(target.split(":")[0])
    return cast(Modality, module)


def spec(name: str) -> ModalitySpec:
    return get(name).SPEC
