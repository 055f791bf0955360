"""The identifiers of every configured source, reloaded in the pool for the leak scan (memory only)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from ..deid.registry import IdentifierRegistry
from .executors import JobResult, collect_identifiers_job

__all__ = ["IdentifierReloads", "identifier_sizes", "identifier_values"]


class IdentifierReloads:
    """The identifiers of every configured source, reloaded in the pool for the leak scan.

    The leak scan covers the whole bundle, so it needs the identifiers of every configured source, not
    only of the notebooks run now. Reloading them is fed to the pool only when a worker would otherwise
    idle (the tail of a stage, beside the single cross-modality step), or first of all when a re-run
    needs the registry's fingerprint to decide what it may reuse.
    """

    def __init__(self, executor: Any, cohort: str, names: list[str], *, jobs: int) -> None:
        self.executor, self.cohort, self.jobs = executor, cohort, jobs
        self.queue = list(names)
        self.futures: dict[str, Future[tuple[Any, float]]] = {}
        self.load_s: dict[str, float] = {}  # per modality, in the workers
        self._collected: tuple[set[str], dict[str, str]] | None = None

    def feed(self, running: set[Future[JobResult]]) -> None:
        """Submit reloads while fewer than ``jobs`` tasks are busy."""
        busy = sum(not f.done() for f in running) + sum(not f.done() for f in self.futures.values())
        while self.queue and busy < self.jobs:
            name = self.queue.pop(0)
            self.futures[name] = self.executor.submit(collect_identifiers_job, self.cohort, name)
            busy += 1

    def submit_rest(self) -> None:
        """Submit every reload not fed yet (the notebooks have ended)."""
        while self.queue:
            name = self.queue.pop(0)
            self.futures[name] = self.executor.submit(collect_identifiers_job, self.cohort, name)

    def collect(self, merged: IdentifierRegistry, *, say: Any) -> tuple[set[str], dict[str, str]]:
        """The identifier values found (merged into ``merged`` too), and modality -> why its could not be.

        Collected once: a second call returns the first call's answer.
        """
        if self._collected is not None:
            return self._collected
        identifiers: set[str] = set()
        missing: dict[str, str] = {}
        for name, fut in self.futures.items():
            try:
                found, self.load_s[name] = fut.result()
                identifiers |= identifier_values(found)
                merged.merge(found)
            except Exception as exc:  # noqa: BLE001 - fail closed later: the bundle cannot be called clean
                missing[name] = f"{type(exc).__name__} while collecting them"
                say(
                    f"  leak scan: could not collect the identifiers of {name} ({type(exc).__name__}); "
                    "the bundle will not be called clean"
                )
        self._collected = identifiers, missing
        return self._collected


def identifier_values(found: IdentifierRegistry) -> set[str]:
    """The strings the leak scan searches, from what a modality's ``identifiers()`` hook returned."""
    return {str(v) for v in found.scan_values() if v is not None}


def identifier_sizes(found: IdentifierRegistry) -> dict[str, int]:
    """Identifiers per class (``sizes()`` of the registry)."""
    return {str(k): int(n) for k, n in found.sizes().items()}
