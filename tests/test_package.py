"""The package's public API follows the house conventions across every public module (as scanpy's
test_package_structure does): ``__all__`` present, complete and existing; every public function,
class, method and property documented; at most three positional parameters and no flag by position.
And no source file longer than 600 lines (split along the seams, issue 12).

Modules not yet in line are listed in NOT_YET with what is left; the list only shrinks: a module
listed there that already conforms fails the test, so the entry is removed when the module is fixed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import curation

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600

# module -> what is still to do (brought in line module by module; remove an entry once it conforms)
NOT_YET: dict[str, str] = {
    # a lasting exception, not a to-do: Babel calls extractors with four positional arguments, and ntext is
    # positional-only so that its **values may use any name
    "curation.report.i18n": "positional parameters: extract_yaml/extract_notebook take the four arguments Babel passes "
    "to extractors; ntext is positional-only so its **values may use any name",
}


def public_modules() -> list[str]:
    """Every module of the package whose dotted path has no private (underscore) part."""
    return sorted(
        m.name
        for m in pkgutil.walk_packages(curation.__path__, "curation.")
        if not any(p.startswith("_") for p in m.name.split(".")[1:])
    )


def _public(mod: Any) -> dict[str, Any]:
    return {
        n: v
        for n, v in vars(mod).items()
        if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == mod.__name__
    }


def _methods(cls: type) -> list[tuple[str, Callable[..., Any]]]:
    out = []
    for m, f in vars(cls).items():
        fn = f.fget if isinstance(f, property) else f
        if not m.startswith("_") and inspect.isfunction(fn):
            out.append((m, fn))
    return out


def problems(modname: str) -> list[str]:
    """What in ``modname`` breaks the conventions (empty when it conforms)."""
    mod = importlib.import_module(modname)
    public = _public(mod)
    found: list[str] = []
    names = getattr(mod, "__all__", None)
    if names is None:
        found.append("no __all__")
    else:
        found += [f"__all__ names {n}, which does not exist" for n in names if not hasattr(mod, n)]
        found += [f"{n} is public but not in __all__" for n in sorted(set(public) - set(names))]
    functions: list[tuple[str, Callable[..., Any]]] = []
    for name, v in public.items():
        if not (inspect.getdoc(v) or "").strip():
            found.append(f"{name} has no docstring")
        if inspect.isfunction(v):
            functions.append((name, v))
        else:
            for m, fn in _methods(v):
                if not (fn.__doc__ or "").strip():
                    found.append(f"{name}.{m} has no docstring")
                functions.append((f"{name}.{m}", fn))
    for name, fn in functions:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) > 3:
            found.append(f"{name} takes {len(positional)} positional parameters (at most 3; the rest keyword-only)")
        found += [
            f"{name} takes the flag {p.name} by position"
            for p in positional
            if p.annotation in (bool, "bool") or isinstance(p.default, bool)
        ]
    return found


@pytest.mark.parametrize("modname", public_modules())
def test_public_api_conventions(modname: str) -> None:
    found = problems(modname)
    if modname in NOT_YET:
        assert found, f"{modname} conforms now: remove it from NOT_YET"
        pytest.xfail(f"not yet in line ({NOT_YET[modname]}): " + "; ".join(found[:5]))
    assert not found, f"{modname}: " + "; ".join(found)


def test_not_yet_names_real_modules() -> None:
    assert not set(NOT_YET) - set(public_modules())


def test_no_source_file_is_longer_than_600_lines() -> None:
    long = {}
    for folder in ("curation", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES:
                long[str(path.relative_to(ROOT))] = n
    assert not long, f"files over {MAX_LINES} lines (split them along their seams): {long}"
