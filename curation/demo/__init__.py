"""The demo cohort: a synthetic three-site lung-cancer cohort with planted defects.

``generate(out)`` writes one; ``default_cohort()`` returns a cached one (what notebooks use when
their ``cohort`` parameter is empty). Faker and the writers are imported only when generating.
"""

from __future__ import annotations

# Bound here so that the names are the functions, not the submodule ``curation.demo.generate``.
from .generate import default_cohort, generate

__all__ = ["default_cohort", "generate"]
