"""Security management of a bundle: verification, the audit trail, owner-only modes, versioned runs
and encrypted transfer packages.

Public API: :func:`verify_bundle` (``curation verify``), :func:`runs` (``curation history``), and the
modules :mod:`~curation.security.audit`, :mod:`~curation.security.access`,
:mod:`~curation.security.history`.
"""

from __future__ import annotations

from .history import runs
from .verify import Verification, verify_bundle

__all__ = ["Verification", "runs", "verify_bundle"]
