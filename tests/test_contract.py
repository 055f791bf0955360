"""Every registered modality keeps the contract of curation.modalities.base: a SPEC, the six steps with
keyword-only ``ctx``, a notebook, needs that are registered, and an options model that accepts what
the demo cohort says about it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from curation.modalities import registry
from curation.modalities.base import EVERY, Modality, ModalitySpec, NoOptions, Options
from curation.run import notebooks_dir

NAMES = registry.names()
# step -> its positional parameters (ctx is keyword-only in every step)
STEPS = {
    "load": ["sources"],
    "standardize": ["data"],
    "checks": ["data"],
    "figures": ["data", "results"],
    "write": ["data"],
    "identifiers": ["sources"],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo cohort (every modality's generator), for its options."""
    from curation.demo import generate

    return generate(tmp_path_factory.mktemp("contract") / "demo", patients=30, seed=5)


def test_the_builtin_steps_are_registered() -> None:
    assert {
        "clinical",
        "pathology",
        "exposure",
        "lab",
        "genomics",
        "imaging",
        "immune",
        "crossmodal",
        "collection_report",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_spec(name: str) -> None:
    spec = registry.spec(name)
    assert isinstance(spec, ModalitySpec) and spec.name == name
    assert spec.label and isinstance(spec.label, str)
    assert isinstance(spec.formats, tuple) and all(isinstance(f, str) and f for f in spec.formats)
    assert spec.stage in ("source", "cohort")
    assert bool(spec.formats) == (spec.stage == "source"), "a source step reads formats, a cohort step none"
    assert isinstance(spec.needs, tuple) and name not in spec.needs
    assert set(registry.needs(name)) <= set(NAMES)  # every need registered (EVERY expanded)
    assert EVERY not in registry.needs(name)
    assert isinstance(spec.options, type) and issubclass(spec.options, Options)
    assert spec.options.model_config.get("extra") == "forbid"  # an unknown key gets a did-you-mean
    if spec.stage == "cohort":
        assert spec.options is NoOptions


@pytest.mark.parametrize("name", NAMES)
def test_options_are_described_and_have_defaults(name: str) -> None:
    model = registry.spec(name).options
    model()  # every field has a default: a source without `options:` is valid
    for field, info in model.model_fields.items():
        assert info.description, f"{name} option {field!r} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_steps(name: str) -> None:
    mod = registry.get(name)
    for step, positional in STEPS.items():
        fn = getattr(mod, step, None)
        assert callable(fn), f"{name} has no {step}()"
        params = inspect.signature(fn).parameters
        assert [p.name for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional, (name, step)
        assert params["ctx"].kind is inspect.Parameter.KEYWORD_ONLY, (name, step)
    members = {n for n in dir(Modality) if not n.startswith("_")} - {"SPEC"}
    assert members == set(STEPS), "the test follows the Protocol"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_exists(name: str) -> None:
    assert (notebooks_dir() / registry.spec(name).notebook).is_file()


def test_options_models_accept_the_demo_cohort(demo: Path) -> None:
    from curation import load_cohort
    from curation.modalities import sources_of

    cohort = load_cohort(demo)
    seen = set()
    for name in cohort.sources:
        for src in sources_of(cohort, name):
            assert isinstance(src.options, registry.spec(name).options)
            seen.add(name)
    assert {"clinical", "genomics", "imaging", "immune"} <= seen
    # what the demo sets is read back typed
    imaging = sources_of(cohort, "imaging")[0].options
    assert imaging.export is True
    assert sources_of(cohort, "immune")[0].options.samples
    assert sources_of(cohort, "genomics")[0].options.reference == "GRCh38"
