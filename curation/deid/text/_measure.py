"""Measuring the scrubber on labelled texts: recall per kind, the name detector's precision and recall."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ._common import _norm
from ._engine import Scrubber
from ._known import Known
from ._simple import _default


def _survives(phi: str, out: str) -> bool:
    n = min(len(phi), max(2, (len(phi) + 1) // 2))
    return any(phi[i : i + n] in out for i in range(len(phi) - n + 1))


def measure_recall(examples: Iterable[dict[str, Any]], *, scrubber: Scrubber | None = None) -> tuple[float, int, int]:
    """Recall of scrubbing on labelled examples.

    Each example is ``{"text": str, "known": [...], "phi": [...]}`` where ``phi`` lists every
    identifier string in ``text``. Strictly, an identifier counts as caught only when no piece
    of it half its length or longer (at least 2 characters) survives in the output, so a phone
    number with only its last digits removed is a miss.

    Returns
    -------
    (recall, caught, total)
    """
    sc = scrubber or _default()
    caught = total = 0
    for ex in examples:
        k = Known(ex.get("known") or ())
        out = _norm(sc.scrub(str(ex["text"]), known=k if k else None))
        for phi in ex.get("phi") or ():
            total += 1
            caught += not _survives(_norm(str(phi)), out)
    return (caught / total if total else 1.0), caught, total


def evaluate(
    examples: Iterable[dict[str, Any]],
    scrubber: Scrubber,
    *,
    names_only: Callable[[str], list[tuple[int, int]]] | None = None,
) -> pd.DataFrame:
    """Recall per kind, and the name detector's precision and recall, on span-labelled examples.

    Each example is ``{"text": str, "spans": [{"start", "end", "kind"}, ...]}``. An identifier is
    caught when every one of its characters is inside a finding; a name finding is correct when
    it overlaps a labelled name.

    Parameters
    ----------
    examples
        Labelled texts.
    scrubber
        The scrubber measured (its registry decides the ``registry`` figures).
    names_only
        Name finder measured for precision and recall (default: the scrubber's detector, without
        the registry and the other detectors).

    Returns
    -------
    One row per kind (``kind``, ``n``, ``caught``, ``recall``) and a row ``name_detector`` with
    ``precision`` as well.
    """
    from ..names import NameDetector

    det = scrubber._detector or NameDetector()

    def default_names(t: str) -> list[tuple[int, int]]:
        f = _norm(t)
        return det.find(f) + det.find_pinyin(f)

    find_names = names_only or default_names
    per: dict[str, list[int]] = {}
    tp_names = n_pred = n_gold = caught_gold = 0
    for ex in examples:
        text = ex["text"]
        found = scrubber.findings(text)
        covered = bytearray(len(text))
        for f in found:
            covered[f.start : f.end] = b"\x01" * (f.end - f.start)
        golds = ex.get("spans") or []
        for g in golds:
            row = per.setdefault(g["kind"], [0, 0])
            row[0] += 1
            row[1] += all(covered[g["start"] : g["end"]])
        names = [g for g in golds if g["kind"] in ("name", "staff_name")]
        pred = find_names(text)
        n_pred += len(pred)
        tp_names += sum(any(a < g["end"] and g["start"] < b for g in names) for a, b in pred)
        n_gold += len(names)
        for g in names:
            mask = bytearray(len(text))
            for a, b in pred:
                mask[a:b] = b"\x01" * (b - a)
            caught_gold += all(mask[g["start"] : g["end"]])
    rows = [
        {"kind": k, "n": n, "caught": c, "recall": c / n if n else 1.0, "precision": float("nan")}
        for k, (n, c) in sorted(per.items())
    ]
    rows.append(
        {
            "kind": "name_detector",
            "n": n_gold,
            "caught": caught_gold,
            "recall": caught_gold / n_gold if n_gold else 1.0,
            "precision": tp_names / n_pred if n_pred else 1.0,
        }
    )
    return pd.DataFrame(rows)
