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


def test_inline_images_survive_whole_and_paths_beside_them_are_still_shortened() -> None:
    """base64 holds "/" and letters: a PNG whose payload reads like a path (or holds the home folder) must
    not be cut, or the reviewer sees a broken image; the path next to it is still shortened."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64), 7).save(buf, format="PNG")
    payload = base64.b64encode(buf.getvalue()).decode()
    # a payload with path-like runs, as real slice thumbnails have them
    tricky = payload[:40] + "+/o7K8ucNOdf/BVu3eQK/root/x" + payload[40:]
    img = '<img src="data:image/png;base64,{}">'
    html = img.format(payload) + img.format(tricky) + " /home/ana/cohort/raw.csv"
    out = scrub(html, {"/root": "~"})
    assert f"data:image/png;base64,{payload}" in out
    assert f"data:image/png;base64,{tricky}" in out
    assert "/home/ana" not in out and "…/raw.csv" in out
    got = out.split("base64,", 1)[1].split('"', 1)[0]
    Image.open(io.BytesIO(base64.b64decode(got, validate=True))).load()
