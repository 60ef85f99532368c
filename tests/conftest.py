"""Shared fixtures. Tests read the reference data from ../shared/data beside the checkout (never copied into the
repo) and pass its files to the package explicitly: the package itself never looks for it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# A 2-core CI machine can take more than Hypothesis's default 200 ms for one example; a slow example is not a
# failure here (speed targets live in benchmarks/).
settings.register_profile("clca", deadline=None)
settings.load_profile("clca")

os.environ.setdefault("CLCA_PROGRESS", "0")  # no progress bars in test logs
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any torch import: see clca/llm/__init__.py
# A developer's own registered WVS files or CLCA_WVS_FILE must not leak into tests: a private, empty registry.
os.environ["CLCA_DATA_DIR"] = tempfile.mkdtemp(prefix="clca-test-data-")
os.environ.pop("CLCA_WVS_FILE", None)

SHARED_DATA = Path(os.environ.get("CLCA_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data {SHARED_DATA} is not present beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def deu_microdata(shared_data) -> Path:
    """Real DEU respondents with demographics (1,528), for tests that evaluate on respondents."""
    return shared_data / "wvs_found" / "microdata" / "dataspi_spy-playground_v5.0" / "DEU.csv"


@pytest.fixture(scope="session")
def embedded_backend():
    """The real embedded model (SmolLM2-135M-Instruct), loaded once per test session, response cache off."""
    from clca.llm import ModelConfig, open_backend

    backend = open_backend(ModelConfig(spec="embedded", cache=False))
    yield backend
    backend.close()
