"""Shared fixtures. Every fixture is synthetic: no real patient data anywhere in tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = Path(os.environ.get("CURATION_REAL_DATA", SHARED / "data" / "real"))


@pytest.fixture
def real_data() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real sample data not found at {REAL} (set CURATION_REAL_DATA)")
    return REAL


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CURATION_TEST_SECRET", "0123456789abcdef0123456789abcdef")
    return "CURATION_TEST_SECRET"
