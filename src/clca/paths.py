"""Well-known locations: the package data, the user cache and the user data folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir
from platformdirs import user_data_dir as platformdirs_user_data_dir

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"


def cache_dir() -> Path:
    """Root of clca's user cache (`CLCA_CACHE_DIR`, default `~/.cache/clca`)."""
    root = os.environ.get("CLCA_CACHE_DIR")
    path = Path(root).expanduser() if root else Path(user_cache_dir("clca", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path:
    """Where clca records user-registered data (`CLCA_DATA_DIR`, default the platform's user data folder).

    The package never looks beside the checkout for data: respondent files come only from what the user names
    (`--wvs-file`, a config key, `CLCA_WVS_FILE`, or `clca data add-wvs`).
    """
    root = os.environ.get("CLCA_DATA_DIR")
    path = Path(root).expanduser() if root else Path(platformdirs_user_data_dir("clca", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
