"""Checks are declared once: every check id is written in one place, results and failures are built by
the runner, and failure frames are joined in one helper.

The declarations are collected at run time (every module of the package is imported and its
:class:`~curation.quality.Check` objects gathered, with the tabular modalities' shared lists), and
the source is read with :mod:`ast`, so strings in comments and docstrings do not count. The demo
generator is left out: its planted-defect log names the check that must catch each defect, an
expectation like a test's.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

import curation
from curation.modalities import registry
from curation.quality import Check

ROOT = Path(curation.__file__).parent
SKIP = ("demo",)  # planted-defect expectations name check ids on purpose
# results built outside a declaration, each with its reason
BUILT_BY_HAND = {
    "run/privacy.py": "the run's leak scan (privacy.leak_scan) is a result of the whole run, not a modality check",
    "run/runner.py": "the run's leak scan, before it moved to run/privacy.py",
    "modalities/__init__.py": "curate's error result for a check suite that crashed before any check ran",
}
TABULAR = ("clinical", "pathology", "exposure", "lab")


def _sources() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if p.relative_to(ROOT).parts[0] not in SKIP]


# parsed while the module is collected: CPython 3.11.7's AST builder can be left with a stale recursion depth by an
# earlier test, after which every ast.parse raises "SystemError: AST constructor recursion depth mismatch"
_TREES = {str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8")) for p in _sources()}


def _trees() -> dict[str, ast.Module]:
    return _TREES


def _strings() -> Counter[str]:
    """Every string literal of the package (f-strings: their literal parts), docstrings left out."""
    out: Counter[str] = Counter()
    for tree in _trees().values():
        docs = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                out[node.value] += 1
    return out


@cache
def _declared() -> list[Check]:
    """Every Check object the package declares at module level, by identity."""
    seen: dict[int, Check] = {}
    for info in pkgutil.walk_packages(curation.__path__, "curation."):
        if info.name.split(".")[1] in SKIP or info.name.endswith("__main__"):
            continue
        try:
            mod = importlib.import_module(info.name)
        except ImportError:  # an optional dependency missing: that module declares nothing we can see
            continue
        for value in vars(mod).values():
            for item in value if isinstance(value, tuple | list) else (value,):
                if isinstance(item, Check):
                    seen[id(item)] = item
    return list(seen.values())


def _run_lists() -> dict[str, list[Check]]:
    """What each modality runs, as far as it is known without data."""
    from curation.modalities import _tabular_checks as tc
    from curation.modalities import clinical, crossmodal, lab
    from curation.modalities.genomics import _qc
    from curation.modalities.imaging import IMAGE_CHECKS, READER_AGREEMENT, SERIES_CHECKS
    from curation.modalities.immune import _checks
    from curation.modalities.screening import CHECKS as SCREENING

    own = {name: list(registry.get(name).CHECKS) for name in TABULAR}
    own["clinical"] = [*clinical.code_checks(), *clinical.CHECKS]
    out = {name: tc.checks_for(name, own[name]) for name in TABULAR}
    out["screening"] = tc.checks_for("screening", SCREENING)
    out |= {
        "genomics": list(_qc.CHECKS),
        "immune": list(_checks.CHECKS),
        "crossmodal": list(crossmodal.CHECKS),
        "imaging": [*SERIES_CHECKS, *IMAGE_CHECKS, READER_AGREEMENT],
        "exports": [],
    }  # the exports step judges nothing: tests/export validates what it writes
    assert lab.check_range in [c.fn for c in out["lab"]]  # lab's own range check replaces the shared one
    return out


def test_every_registered_modality_declares_its_checks() -> None:
    lists = _run_lists()
    assert set(registry.names()) - {"collection_report"} <= set(lists)
    for name, checks in lists.items():
        ids = [c.id for c in checks]
        twice = [i for i, n in Counter(ids).items() if n > 1]
        assert not twice, f"{name} runs a check id twice: {twice}"


def test_every_check_id_is_written_once() -> None:
    """A declared id appears as a literal once per declaration, and never with its modality in front
    (the old way: the id in the spec tuple and again where the result was built)."""
    strings = _strings()
    declared = _declared()
    assert len(declared) > 60, "the declarations were not found"
    per_id = Counter(c.id for c in declared)
    literal = {c.id for c in declared if strings[c.id]}
    assert len(literal) > 40
    # at most once per declaration (a declaration derived with dataclasses.replace writes no id)
    twice = {i: strings[i] for i in literal if strings[i] > per_id[i]}
    assert not twice, f"check ids written more often than declared (id: times written): {twice}"
    ids = {c.id for c in declared} | {c.id for checks in _run_lists().values() for c in checks}
    prefixed = sorted(s for s in strings if "." in s and s.split(".", 1)[1] in ids)
    assert not prefixed, f"check ids written with their modality (declare them once instead): {prefixed}"


def test_fstring_ids_are_not_rebuilt_outside_declarations() -> None:
    """f"{NAME}.consistency.x" (a full id built again) is gone; decision keys built from an id stay."""
    ids = {c.id for c in _declared()}
    found = []
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and len(node.values) == 2:
                head, tail = node.values
                if (
                    isinstance(head, ast.FormattedValue)
                    and isinstance(tail, ast.Constant)
                    and str(tail.value).removeprefix(".") in ids
                ):
                    found.append(f"{path}:{node.lineno}")
    assert not found, f"full check ids built with f-strings: {found}"


def test_results_and_failures_are_built_by_the_runner_only() -> None:
    found = []
    for path, tree in _trees().items():
        if path.startswith("quality/") or path in BUILT_BY_HAND:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in ("make_result", "failures_frame", "error_result", "CheckResult") or any(
                    k.arg == "check_id" for k in node.keywords
                ):
                    found.append(f"{path}:{node.lineno} {name}")
    assert not found, f"results built outside quality.run: {found}"


def test_failure_frames_are_joined_in_one_place() -> None:
    pattern = re.compile(r"pd\.concat\([^\n]*\)\s+if\s+[^\n]*\s+else\s+None")
    where = [
        f"{p.relative_to(ROOT)}:{t.count(chr(10), 0, m.start()) + 1}"
        for p in _sources()
        for t in [p.read_text(encoding="utf-8")]
        for m in pattern.finditer(t)
    ]
    assert len(where) <= 1, f"`pd.concat(...) if ... else None` in {where}: use quality.model.concat_failures"


@pytest.mark.parametrize("name", TABULAR)
def test_tabular_modalities_run_the_shared_checks(name: str) -> None:
    from curation.modalities import _tabular_checks as tc
    from curation.quality.checks import SOURCE_EMPTY

    ids = {c.id for c in _run_lists()[name]}
    shared = {
        SOURCE_EMPTY,
        tc.MISSING_HEADER,
        tc.ALLOWED_VALUES,
        tc.TYPES,
        tc.RANGE,
        tc.UNMAPPED_COLUMNS,
        tc.FREE_TEXT_CHECK,
    }
    assert {c.id for c in shared} <= ids
    assert {c.id for c in tc.completeness_checks(name)} <= ids
