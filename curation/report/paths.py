"""No machine path in what a reviewer or a recipient of the bundle reads.

papermill stores the notebook's parameters (the absolute paths of cohort.yaml and the bundle) in its
injected cell and in the notebook's metadata, with the input and output paths of the run; warnings and
tracebacks quote file paths. :func:`clean_notebook` rewrites the parameters relative to the cohort
file and :func:`scrub` shortens any other absolute path in the outputs to its last part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["clean_notebook", "relative", "scrub"]

# An absolute POSIX path of two parts or more not inside a URL or a word, a file:// URL, a Windows path.
_POSIX = re.compile(r"(?<![\w.:/\\~-])~?/(?:[^\s\"'<>:/\\|]+/)+[^\s\"'<>:/\\|]*")
_FILE_URL = re.compile(r"file://[^\s\"'<>]+")
_WINDOWS = re.compile(r"(?<![\w])[A-Za-z]:\\(?:[^\s\"'<>:\\|]+\\)*[^\s\"'<>:\\|]*")
# An inline image (data URL): base64 holds "/" and letters, so a path rule would cut it (and break the image)
_DATA_URL = re.compile(r"(data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,[A-Za-z0-9+/=\s]*)")


def relative(path: str | Path, base: Path) -> str:
    """``path`` relative to the cohort folder ``base`` (``out``, ``raw/siteA``); outside it, its name only."""
    p = Path(path)
    try:
        rel = os.path.relpath(p, base)
    except ValueError:  # another drive
        return p.name
    return Path(rel).as_posix() if not rel.startswith("..") else p.name


def _last(match: re.Match[str]) -> str:
    text = match.group(0).rstrip("/\\")
    tail = re.split(r"[/\\]", text)[-1]
    return f"…/{tail}" if tail else "…"


def scrub(text: str, roots: Mapping[str, str] | None = None) -> str:
    """``text`` with known folders replaced by their labels (``roots``: absolute folder -> label, e.g.
    the bundle -> ``""``) and any other absolute path shortened to ``…/<last part>``; data URLs (inline
    images) are left whole."""
    if "base64," in text:
        parts = _DATA_URL.split(text)  # odd items are the data URLs
        return "".join(p if i % 2 else _scrub_paths(p, roots) for i, p in enumerate(parts))
    return _scrub_paths(text, roots)


def _scrub_paths(text: str, roots: Mapping[str, str] | None) -> str:
    for root, label in sorted((roots or {}).items(), key=lambda kv: -len(kv[0])):
        if root and root != "/":
            text = text.replace(root.rstrip("/") + "/", label + ("/" if label else "")).replace(root, label or ".")
    text = _FILE_URL.sub(lambda m: _last(m), text)
    text = _WINDOWS.sub(_last, text)
    return _POSIX.sub(_last, text)


def _scrub_value(value: Any, roots: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return scrub(value, roots)
    if isinstance(value, list):
        return [_scrub_value(v, roots) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, roots) for k, v in value.items()}
    return value


def clean_notebook(nb: Any, *, base: Path, out: Path, name: str = "") -> Any:
    """An executed notebook without machine paths (in place; returned for chaining).

    The injected parameters and ``metadata.papermill`` name cohort.yaml and the bundle relative to
    the cohort file; the notebook's own input and output paths become ``<name>.ipynb`` and
    ``reports/<name>.ipynb``; outputs (text, HTML, tracebacks) have other paths shortened.
    """
    base, out = Path(base), Path(out)
    params = {"cohort": relative(base / "cohort.yaml", base), "out": relative(out, base)}
    pm = nb.metadata.get("papermill")
    if pm is not None:
        given = pm.get("parameters") or {}
        cohort = given.get("cohort")
        params["cohort"] = relative(cohort, base) if cohort else params["cohort"]
        pm["parameters"] = {k: params.get(k, v) for k, v in given.items()}
        stem = name or Path(str(pm.get("input_path") or "notebook")).stem
        pm["input_path"] = f"{stem}.ipynb"
        pm["output_path"] = f"reports/{stem}.ipynb"
        pm.pop("environment_variables", None)
    roots = {
        str(out.resolve()): relative(out, base),
        str(out): relative(out, base),
        str(base.resolve()): "",
        str(base): "",
        str(Path.home()): "~",
    }
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = "".join(f"{k} = {v!r}\n" for k, v in params.items()).replace("'", '"')
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            for key in ("text", "traceback", "evalue"):
                if key in output:
                    output[key] = _scrub_value(output[key], roots)
            if "data" in output:
                output["data"] = {
                    k: (_scrub_value(v, roots) if k.startswith("text/") else v) for k, v in output["data"].items()
                }
    return nb
