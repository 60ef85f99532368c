"""Output folders clca owns: no command deletes or overwrites files it did not create.

A command that writes a whole folder (dataset build, training, evaluation) first claims it: a missing or empty
folder gets a marker file, `.clca-output`, and from then on is clca's own (reruns resume or replace its contents).
A non-empty folder without the marker belongs to the user and is refused in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from clca.errors import ConfigError
from clca.locking import LOCK_NAME  # the lock a command takes on its --out before claiming it

MARKER = ".clca-output"


def is_clca_output(path: str | Path) -> bool:
    """Whether `path` is a folder clca created (it holds the marker file, not a link to one)."""
    marker = Path(path) / MARKER
    return marker.is_file() and not marker.is_symlink()


def claim_output_dir(path: str | Path, kind: str) -> Path:
    """Create or reuse `path` as a clca output folder; refuse a user's non-empty folder.

    Args:
        path: the output folder a command was given.
        kind: what will be written there (e.g. "dataset"), recorded in the marker for humans.

    Returns:
        The folder as a Path; it exists and holds the marker when this returns.

    Raises:
        ConfigError: `path` is a file, or a non-empty folder clca did not create.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)[:200]!r} is a file, not a folder — give a new or empty folder")
    if path.is_dir() and not is_clca_output(path) and any(p.name != LOCK_NAME for p in path.iterdir()):
        raise ConfigError(
            f"--out {str(path)[:200]!r} is a non-empty folder that clca did not create; refusing to overwrite its "
            f"files — give a new or empty folder (for {kind} output from an older clca, add an empty {MARKER} file)"
        )
    path.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: several processes (DDP ranks) may claim the same new folder at once; the first one writes it
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"created_by": "clca", "kind": kind}) + "\n")
    return path
