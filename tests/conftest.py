"""Shared fixtures. Tests read the reference data from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CLCA_PROGRESS", "0")  # no progress bars in test logs
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any torch import: see clca/llm/__init__.py

from clca.paths import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("reference data ../shared/data is not present beside the checkout")
    return path


@pytest.fixture(scope="session")
def embedded_backend():
    """The real embedded model (SmolLM2-135M-Instruct), loaded once per test session, response cache off."""
    from clca.llm import ModelConfig, open_backend

    backend = open_backend(ModelConfig(spec="embedded", cache=False))
    yield backend
    backend.close()
