"""No import circle in the package: the modules form layers (config below the registry, the registry
below curate, the runner and the reports on top), checked from the source with ``ast``.

An edge ``a -> b`` is an import of ``b`` in ``a`` at module level (``TYPE_CHECKING`` blocks left out:
they never run). Importing ``x.y.z`` also runs the packages ``x.y`` and ``x``, so those are edges too,
except the packages ``a`` itself sits in (Python has imported them before ``a``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "curation"


@cache
def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package)."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


# Parsed while the module is collected, before any test runs: on CPython 3.11.7, ast.parse later in a
# session can raise "SystemError: AST constructor recursion depth mismatch" once hypothesis has changed
# the recursion limit inside a test (a CPython bug fixed in later 3.11 releases), not a fault of the code.
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, (path, _) in modules().items()}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: list[ast.stmt], *, lazy: bool) -> Iterator[ast.stmt]:
    """Import statements that run when the module runs (``lazy``: also those inside functions)."""
    for node in body:
        if isinstance(node, ast.If) and _type_checking(node):
            yield from _statements(node.orelse, lazy=lazy)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not lazy:
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            sub = getattr(node, field, None)
            if isinstance(sub, list):
                yield from _statements([s for s in sub if isinstance(s, ast.stmt | ast.excepthandler)], lazy=lazy)


def imports(name: str, *, lazy: bool = False) -> set[str]:
    """The modules of the package that importing ``name`` runs directly (see the module docstring)."""
    known = modules()
    _, is_package = known[name]
    here = name.split(".") if is_package else name.split(".")[:-1]
    targets: set[str] = set()
    body = TREES[name].body
    for node in _statements(body, lazy=lazy):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
            continue
        assert isinstance(node, ast.ImportFrom)
        base = ".".join([*here[: len(here) - node.level + 1], node.module or ""]) if node.level else node.module or ""
        base = base.rstrip(".")
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in known else base)
    out = set()
    for target in targets:
        if not target.startswith(PACKAGE):
            continue
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # the packages above it run first
            mod = ".".join(parts[:i])
            if mod in known and mod != name and not name.startswith(mod + "."):
                out.add(mod)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_imports() -> None:
    """The walker itself: relative, absolute and parent-package edges, TYPE_CHECKING left out."""
    got = imports("curation.modalities.registry")
    assert {"curation.config", "curation.errors", "curation.modalities.base"} <= got
    assert "curation.modalities" not in got  # its own package ran first
    assert "curation.config" not in imports("curation.deid.keys")  # only under TYPE_CHECKING
    assert "curation.modalities" in imports("curation.run.runner")  # the package of the registry runs too
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    graph = {name: imports(name) for name in modules()}
    found = cycles(graph)
    assert not found, "import circles (module-level imports): " + "; ".join(" <-> ".join(c) for c in found)


# Circles through imports inside functions, each with its reason; a circle not listed fails, and so does a
# listed one that is gone (remove it here).
LAZY_CIRCLES = {
    frozenset(
        {"curation.io.readers", "curation.io.delimited", "curation.io.excel", "curation.io.values"}
    ): "read_table dispatches to the format readers inside the function; they import its types (RawTable, STR)",
}


def test_no_import_circle_even_inside_functions() -> None:
    graph = {name: imports(name, lazy=True) for name in modules()}
    found = {frozenset(c): c for c in cycles(graph)}
    new = [c for key, c in found.items() if key not in LAZY_CIRCLES]
    assert not new, "import circles (imports inside functions included): " + "; ".join(" <-> ".join(c) for c in new)
    gone = [sorted(key) for key in LAZY_CIRCLES if key not in found]
    assert not gone, f"no longer a circle, remove from LAZY_CIRCLES: {gone}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        (
            "curation.config",
            ("curation.modalities", "curation.deid", "curation.run", "curation.report", "curation.demo"),
        ),
        ("curation.errors", ("curation",)),
        ("curation.deid.keys", ("curation.config", "curation.modalities")),
        ("curation.modalities", ("curation.demo", "curation.run", "curation.notebook")),
        ("curation.modalities.registry", ("curation.demo", "curation.run")),
        ("curation.report.collection", ("curation.demo", "curation.run")),
    ],
)
def test_layers_hold_inside_functions_too(module: str, forbidden: tuple[str, ...]) -> None:
    """A lazy import is still an arrow: the lower layers reach no higher one, not even inside a function
    (config knows no modality; the demo default is resolved by the notebook layer, not by curate)."""
    reached = imports(module, lazy=True)
    bad = sorted({m for m in reached for f in forbidden if m == f or m.startswith(f + ".")})
    assert not bad, f"{module} imports {bad}"
