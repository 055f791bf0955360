"""The quality package's public API follows the house conventions (as scanpy's test_package_structure
does): ``__all__`` complete, every public function, class and method documented, at most three
positional parameters, and no flag passed by position."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest

MODULES = [
    "curation.quality",
    "curation.quality.model",
    "curation.quality.checks",
    "curation.quality.ledger",
    "curation.quality.reasons",
]


def _public(modname: str) -> dict[str, Any]:
    mod = importlib.import_module(modname)
    return {
        n: v
        for n, v in vars(mod).items()
        if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == modname
    }


def _functions(modname: str) -> list[tuple[str, Callable[..., Any]]]:
    out = []
    for name, v in _public(modname).items():
        if inspect.isfunction(v):
            out.append((name, v))
        else:
            out += [(f"{name}.{m}", f) for m, f in vars(v).items() if not m.startswith("_") and inspect.isfunction(f)]
    return out


@pytest.mark.parametrize("modname", MODULES)
def test_all_is_complete_and_exists(modname: str) -> None:
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    assert names is not None, f"{modname} has no __all__"
    assert not [n for n in names if not hasattr(mod, n)]
    assert not sorted(set(_public(modname)) - set(names)), f"{modname}: public names missing from __all__"


@pytest.mark.parametrize("modname", MODULES)
def test_everything_public_is_documented(modname: str) -> None:
    missing = [n for n, v in _public(modname).items() if not (inspect.getdoc(v) or "").strip()]
    for name, cls in ((n, v) for n, v in _public(modname).items() if inspect.isclass(v)):
        for m, f in vars(cls).items():
            fn = f.fget if isinstance(f, property) else f
            if not m.startswith("_") and inspect.isfunction(fn) and not (fn.__doc__ or "").strip():
                missing.append(f"{name}.{m}")
    assert not missing, f"{modname}: undocumented {missing}"


@pytest.mark.parametrize("modname", MODULES)
def test_options_are_keyword_only(modname: str) -> None:
    bad = []
    for name, fn in _functions(modname):
        params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) > 3:
            bad.append(f"{name}: {len(positional)} positional parameters")
        bad += [
            f"{name}: flag {p.name} by position"
            for p in positional
            if p.annotation in (bool, "bool") or isinstance(p.default, bool)
        ]
    assert not bad, bad
