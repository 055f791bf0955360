"""Fixtures of the export tests: the synthetic bundle of :mod:`.bundle_fixture`, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .bundle_fixture import make_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("export") / "bundle")


@pytest.fixture(scope="session")
def relative_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("export-rel") / "bundle", relative=True)
