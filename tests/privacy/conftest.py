"""Fixtures and message helpers of the privacy tests (messages never quote an identifier)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from .bytescan import Searcher, redact
from .corpus import SEED, Corpus, build


@pytest.fixture(scope="session")
def planted_corpus() -> Corpus:
    return build(SEED, planted=True)


@pytest.fixture(scope="session")
def control_corpus() -> Corpus:
    return build(SEED, planted=False)


def where_planted(corpus: Corpus, index: int, searcher: Searcher) -> str:
    """``#12 mobile, planted in text:lab:raw/ZJ/检验/LIS导出.tsv:结果:row3 ...`` with paths redacted."""
    value = corpus.truth.values[index]
    places = [redact(p, searcher) for p in corpus.truth.places(value)]
    shown = ", ".join(places[:4]) + (f" (+{len(places) - 4} more)" if len(places) > 4 else "")
    return f"#{index} {corpus.truth.kind(value)} (in {shown})"


def explain(corpus: Corpus, findings: Iterable[Any], *, one_based: bool = False, limit: int = 40) -> str:
    """One line per finding: the output file, where in it, and the planted identifier's index and kind.

    ``findings`` are :class:`bytescan.Finding` (``index``, 0-based) or the project's ``LeakHit``
    (``identifier``, 1-based: ``one_based=True``).
    """
    searcher = Searcher(corpus.truth.values)
    lines = []
    for f in findings:
        idx = (f.identifier - 1) if one_based else f.index
        where = getattr(f, "location", None) or getattr(f, "where", "")
        what = where_planted(corpus, idx, searcher) if idx >= 0 else "file not readable by its format"
        lines.append(f"  {redact(f.path, searcher)} [{redact(str(where), searcher)}]: {what}")
    more = len(lines) - limit
    return "\n".join(lines[:limit]) + (f"\n  ... and {more} more" if more > 0 else "")


def check(ok: object, message: str) -> None:
    """Fail with ``message`` alone: no traceback and no assertion introspection, which would print
    the compared values (identifiers). Messages name identifiers by index and paths redacted."""
    if not ok:
        pytest.fail(message, pytrace=False)
