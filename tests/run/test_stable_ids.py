"""Executed notebooks keep no random ids: two runs differ only in times and durations."""

from __future__ import annotations

import uuid

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from curation.run.executors import stable_ids


def _executed() -> nbformat.NotebookNode:
    """A notebook as papermill and plotly/ipywidgets leave it: every id freshly random."""
    div, slider, layout = str(uuid.uuid4()), uuid.uuid4().hex, uuid.uuid4().hex
    html = f'<div id="{div}" class="plotly-graph-div"></div><script>Plotly.newPlot("{div}", [])</script>'
    cells = [
        new_code_cell('cohort = "c"', metadata={"tags": ["injected-parameters"]}),
        new_code_cell("fig", outputs=[new_output("display_data", data={"text/html": html})]),
        new_code_cell(
            "w",
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "application/vnd.jupyter.widget-view+json": {
                            "model_id": slider,
                            "version_major": 2,
                            "version_minor": 0,
                        },
                        "text/plain": "FloatSlider()",
                    },
                )
            ],
        ),
    ]
    for i, cell in enumerate(cells[1:]):
        cell.id = f"cell-{i}"  # the notebook's own cells keep their committed ids
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "version_major": 2,
            "version_minor": 0,
            "state": {
                slider: {"model_name": "FloatSliderModel", "state": {"layout": f"IPY_MODEL_{layout}"}},
                layout: {"model_name": "LayoutModel", "state": {}},
            },
        }
    }
    return nb


def test_random_ids_become_the_same_in_two_runs() -> None:
    a, b = stable_ids(_executed(), "lab"), stable_ids(_executed(), "lab")
    assert nbformat.writes(a) == nbformat.writes(b)
    nbformat.validate(a)
    text = nbformat.writes(a)
    state = a.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    slider = a.cells[2].outputs[0].data["application/vnd.jupyter.widget-view+json"]["model_id"]
    layout = state[slider]["state"]["layout"].removeprefix("IPY_MODEL_")
    assert set(state) == {slider, layout}  # references still resolve
    div = str(a.cells[1].outputs[0].data["text/html"]).split('id="')[1].split('"')[0]
    assert text.count(div) == 2 and uuid.UUID(div).version == 4
    assert a.cells[0].id == "injected-parameters-0"
