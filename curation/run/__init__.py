"""Running a cohort: plan notebook runs, execute them with papermill, assemble the bundle.

Public API: :func:`run_cohort` (what ``curation run`` and ``curation demo`` call),
:class:`RunOutcome`, :class:`NotebookStatus`, :func:`make_executor`.
"""

from __future__ import annotations

from .executors import NotebookJob, make_executor
from .plan import notebooks_dir, plan
from .runner import NotebookStatus, RunOutcome, exit_status, run_cohort

__all__ = [
    "NotebookJob",
    "NotebookStatus",
    "RunOutcome",
    "exit_status",
    "make_executor",
    "notebooks_dir",
    "plan",
    "run_cohort",
]
