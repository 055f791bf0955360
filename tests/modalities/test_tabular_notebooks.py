"""The clinical, pathology and exposure notebooks run under papermill on a tiny cohort."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from .tabular_fixture import make_cohort

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clinical", "pathology", "exposure"])
def test_notebook_runs(tmp_path: Path, name: str) -> None:
    import papermill as pm

    cohort = make_cohort(tmp_path)
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        parameters={"cohort": str(cohort), "out": str(tmp_path / "bundle")},
    )
    nb = nbformat.read(out, as_version=4)
    kinds = {o.get("output_type") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])}
    assert "error" not in kinds
    # what the cells hold and show; papermill's timings in the metadata can hold any digits
    # ("duration": 5.100101 once matched the planted ID's 00101)
    blob = json.dumps([{k: v for k, v in c.items() if k != "metadata"} for c in nb.cells], ensure_ascii=False)
    assert "application/vnd.plotly.v1+json" in blob
    assert "00101" not in blob and "110101195505010099" not in blob


def test_notebooks_are_thin_and_committed_without_outputs() -> None:
    for name in ("clinical", "pathology", "exposure"):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].metadata.get("tags") == ["parameters"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
        src = "\n".join(c.source for c in code)
        assert not re.search(r"^\s*(def |for |while |try:)", src, flags=re.M)
        assert all(len(c.source.splitlines()) <= 15 for c in code)
