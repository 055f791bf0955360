"""A tiny fake cohort with two fake modalities, so runner tests need no real modality.

``fake`` curates a 6-row CSV through the real :func:`curation.curate` driver; ``boom``'s notebook
raises. Both are registered in the test process (for planning) and, by a setup cell, in the
notebook kernels (separate processes), as the only modalities.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FAKE_MODULE = '''
"""A fake modality for runner tests."""
import pandas as pd

from curation.modalities.base import ModalityData, ModalitySpec, Options
from curation.quality import Dimension, failures_frame, make_result


class FakeOptions(Options):
    leak: bool = False  # plants an identifier in the output, for the leak-scan test
    ids_fail: bool = False  # collecting identifiers fails, as a corrupt source would


SPEC = ModalitySpec(name=NAME, label=NAME.title(), formats=("csv",), notebook=NAME + ".ipynb", order=1,
                    options=FakeOptions)


def _read(sources):
    return pd.concat([pd.read_csv(f, dtype={"mrn": str}) for s in sources for f in s.files], ignore_index=True)


def load(sources, *, ctx):
    data = ModalityData(NAME)
    df = _read(sources)
    data.identifiers.add_many("mrn", df["mrn"])
    data.tables["raw"] = df
    data.objects["leak"] = any(s.options.leak for s in sources)
    return data


def identifiers(sources, *, ctx):
    if any(s.options.ids_fail for s in sources):
        raise RuntimeError("cannot read the identifiers (on purpose)")
    data = ModalityData(NAME)
    data.identifiers.add_many("mrn", _read(sources)["mrn"])
    return data.identifiers


def standardize(data, *, ctx):
    df = data.tables.pop("raw")
    df["patient"] = [ctx.keyring.patient(m, site="A") for m in df["mrn"]]
    data.tables[NAME] = df if data.objects.get("leak") else df.drop(columns=["mrn"])
    data.ledger.record("load", n_in=len(df), n_accepted=len(df))
    data.standardized = True
    return data


def checks(data, *, ctx):
    df = data.tables[NAME]
    bad = df[df["value"] < 0]
    return [make_result(NAME + ".plausibility.value", NAME, Dimension.ACCURACY, n_checked=len(df),
                        failures=failures_frame(NAME + ".plausibility.value", NAME, pseudonym=bad["patient"],
                                                row=bad.index, field="value", rule="value >= 0"))]


def figures(data, results, *, ctx):
    import plotly.express as px

    return {"values": px.histogram(data.tables[NAME], x="value")}


def write(data, *, ctx):
    return [ctx.bundle.write_parquet("data/" + NAME + "/" + NAME + ".parquet", data.tables[NAME])]
'''

FAKES = {"fake": "fakemod_a", "boom": "fakemod_b"}
MRNS = ["00012345", "00023456", "00034567", "00045678", "00056789", "00067890"]


def _notebook(name: str, modules: Path, *, raises: bool = False) -> nbformat.NotebookNode:
    # the kernel finds the fake modalities through their entry points, as it would a plug-in
    setup = f"import sys\nsys.path.insert(0, {str(modules)!r})"
    cells = [
        new_code_cell('cohort: str = ""\nout: str = ""', metadata={"tags": ["parameters"]}),
        new_markdown_cell(f"# {name}"),
        new_code_cell(setup),
        new_code_cell("import curation as cu\nfrom curation.report import review, show_all, show_table"),
    ]
    if raises:
        cells.append(new_code_cell('raise RuntimeError("this notebook fails on purpose")'))
    cells += [
        new_code_cell(f'run = cu.curate("{name}", cohort, out=out or None)'),
        new_code_cell("review(run)"),
        new_code_cell("run.checks[['check_id', 'verdict', 'n_failed']]"),
        new_code_cell("show_all(run.figures())"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def make_fake_cohort(
    root: Path, *, negative: bool = True, boom: bool = True, leak: bool = False, ids_fail: bool = False
) -> Path:
    """Write modules, notebooks, raw data, key and cohort.yaml under ``root``; return cohort.yaml."""
    modules = root / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "fakemod_a.py").write_text(f"NAME = 'fake'\n{FAKE_MODULE}", encoding="utf-8")
    (modules / "fakemod_b.py").write_text(f"NAME = 'boom'\n{FAKE_MODULE}", encoding="utf-8")
    # a plug-in distribution, so worker processes and kernels find the fakes through entry points
    dist = modules / "curation_fakes-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: curation-fakes\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[curation.modalities]\n" + "".join(f"{k} = {v}\n" for k, v in FAKES.items()), encoding="utf-8"
    )
    nbs = root / "notebooks"
    nbs.mkdir(exist_ok=True)
    nbformat.write(_notebook("fake", modules), nbs / "fake.ipynb")
    nbformat.write(_notebook("boom", modules, raises=True), nbs / "boom.ipynb")
    raw = root / "cohort" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    values = [3, 5, -1 if negative else 1, 7, 2, 4]
    rows = "mrn,value\n" + "".join(f"{m},{v}\n" for m, v in zip(MRNS, values, strict=True))
    for name in FAKES:  # one file per source: a file may feed only one source
        (raw / f"{name}.csv").write_text(rows, encoding="utf-8")
    (root / "cohort" / "keys").mkdir(exist_ok=True)
    key = root / "cohort" / "keys" / "test.key"
    key.write_text("ab" * 32, encoding="utf-8")
    key.chmod(0o600)  # a key readable by others is refused, as ssh does
    flags = [f"{k}: true" for k, on in (("leak", leak), ("ids_fail", ids_fail)) if on]
    options = f", options: {{{', '.join(flags)}}}" if flags else ""
    sources = f"  fake:\n    - {{path: raw/fake.csv, format: csv, site: A{options}}}\n"
    if boom:
        sources += "  boom:\n    - {path: raw/boom.csv, format: csv, site: A}\n"
    cohort = root / "cohort" / "cohort.yaml"
    cohort.write_text(
        textwrap.dedent("""\
        cohort: {name: Fake cohort, description: two fake modalities}
        sites: [{id: A, name: Site A}]
        secret: {file: keys/test.key}
        output: out
        sources:
        """)
        + sources,
        encoding="utf-8",
    )
    return cohort


def register_fakes(mp: pytest.MonkeyPatch, modules: Path) -> None:
    from curation.modalities import registry

    # only the fakes: the test must not depend on the real modalities (or their state of progress)
    mp.syspath_prepend(str(modules))
    mp.setattr(registry, "_targets", functools.cache(lambda: dict(FAKES)))
    mp.setattr(registry, "get", functools.cache(registry.get.__wrapped__))  # a fresh cache, restored after


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """One run of the fake cohort (fake passes its notebook but fails a check; boom raises)."""
    from curation.run import run_cohort

    root = tmp_path_factory.mktemp("fake")
    cohort = make_fake_cohort(root)
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:  # undone before the other tests of the session run
        register_fakes(mp, root / "modules")
        outcome = run_cohort(cohort, jobs=2, notebooks=root / "notebooks", progress=lines.append)
    outcome.progress_lines = lines  # type: ignore[attr-defined]
    return outcome, cohort


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Headless Debian chromium through Playwright; skips when either is missing."""
    exe = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if not exe:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # an earlier test of this process (pytest-xdist runs many files per worker) can leave the thread's
    # running-loop marker set; fixtures run synchronously, so it is stale, and Playwright's sync API
    # would refuse to start ("using Playwright Sync API inside the asyncio loop")
    asyncio._set_running_loop(None)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(exe), args=CHROMIUM_ARGS)
        yield b
        b.close()
