"""No machine path in the executed notebooks kept in the bundle, nor in what the pages show."""

from __future__ import annotations

from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook, new_output

from curation.report.paths import clean_notebook, scrub


def test_scrub_shortens_absolute_paths_and_keeps_urls_and_dates() -> None:
    text = (
        "/home/zhang/site/.venv/lib/x.py:12: UserWarning; see file:///tmp/b/c.html, "
        "C:\\Users\\li\\e.txt, http://www.w3.org/2000/svg, 2024/01/05, n/a, assets/plotly.min.js"
    )
    got = scrub(text)
    assert "/home" not in got and "/tmp" not in got and "Users" not in got and "zhang" not in got
    assert "…/x.py:12" in got and "http://www.w3.org/2000/svg" in got and "2024/01/05" in got
    assert "assets/plotly.min.js" in got


def test_clean_notebook_rewrites_parameters_relative_to_the_cohort(tmp_path: Path) -> None:
    base, out = tmp_path / "cohort", tmp_path / "cohort" / "out"
    nb = new_notebook(
        cells=[
            new_code_cell(f'cohort = "{base}/cohort.yaml"\nout = "{out}"', metadata={"tags": ["injected-parameters"]}),
            new_code_cell("x", outputs=[new_output("stream", name="stderr", text=f"{tmp_path}/secret/name.py:1: W")]),
        ]
    )
    nb.metadata["papermill"] = {
        "parameters": {"cohort": f"{base}/cohort.yaml", "out": str(out)},
        "input_path": "/repo/notebooks/clinical.ipynb",
        "output_path": f"{out}/reports/x.ipynb",
        "environment_variables": {"HOME": "/root"},
    }
    clean_notebook(nb, base=base, out=out, name="clinical")
    text = str(nb)
    assert str(tmp_path) not in text and "/repo" not in text and "/root" not in text
    assert nb.metadata["papermill"]["parameters"] == {"cohort": "cohort.yaml", "out": "out"}
    assert nb.cells[0].source == 'cohort = "cohort.yaml"\nout = "out"\n'
    assert nb.metadata["papermill"]["input_path"] == "clinical.ipynb"
