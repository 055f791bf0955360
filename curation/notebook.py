"""What the notebooks' first cells call: their parameters resolved into a cohort and a bundle.

A notebook's ``cohort`` parameter may be empty: it then means the bundled demo cohort, generated on
first use (:func:`curation.demo.default_cohort`). That default is resolved here, once, for every
notebook; the package below (``curate``, the reports) always receives a cohort.yaml.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cohort_or_demo"]


def cohort_or_demo(cohort: str | Path) -> Path:
    """The cohort.yaml a notebook runs on: ``cohort``, or the bundled demo cohort when it is empty.

    Parameters
    ----------
    cohort
        The notebook's ``cohort`` parameter (papermill passes the run's cohort.yaml).

    Returns
    -------
    The path of cohort.yaml; for an empty parameter the demo's, generated into a cache folder
    on first use (``$CURATION_DEMO_CACHE`` or ``~/.cache/curation/``) and reused after.
    """
    if str(cohort).strip():
        return Path(cohort)
    from .demo import default_cohort

    return default_cohort()
