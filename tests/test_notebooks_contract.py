"""Every notebook keeps the house contract: a parseable parameters cell, thin cells, no outputs."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# every code cell parsed while the module is collected (see tests/quality/test_declarations.py: CPython 3.11.7's
# AST builder can be left broken by an earlier test)
CELL_TREES = {
    path: {c.source: ast.parse(c.source) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"}
    for path in NOTEBOOKS
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_parameters_cell_parses(path: Path) -> None:
    params = pm.inspect_notebook(str(path))
    assert set(params) == {"cohort", "out"}
    for p in params.values():
        assert p["inferred_type_name"] == "str" and p["default"] == '""' and p["help"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_thin_and_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for cell in code:
        assert not cell.get("outputs"), f"{path.name}: committed with outputs"
        assert len(cell.source.splitlines()) <= 15, f"{path.name}: a cell longer than 15 lines belongs in curation/"
        tree = CELL_TREES[path][cell.source]
        banned = (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Try)
        assert not any(isinstance(n, banned) for n in ast.walk(tree)), f"{path.name}: logic in a notebook cell"
