"""Well-known locations: the user cache and the shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"


def cache_dir() -> Path:
    """Root of clca's user cache (`CLCA_CACHE_DIR`, default `~/.cache/clca`)."""
    root = os.environ.get("CLCA_CACHE_DIR")
    path = Path(root).expanduser() if root else Path(user_cache_dir("clca", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path | None:
    """The reference data folder (`CLCA_SHARED_DATA`, else `../shared/data` beside the checkout).

    Returns None when absent: the reference data is third-party and never shipped in the package.
    """
    env = os.environ.get("CLCA_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(PACKAGE_DIR.parents[2] / "shared" / "data")  # <checkout>/../shared/data
    candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None
