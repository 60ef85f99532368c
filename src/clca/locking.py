"""One process per output: an exclusive advisory lock on an output folder (or output file) for a whole command.

Two `clca evaluate` on one `--out`, or two `clca run` on one run directory, would each write every record. The
lock is `fcntl.flock` on a lock file (`.clca.lock` inside a folder, `.<name>.lock` beside an output file), so the
OS releases it when the holder exits or crashes — no stale locks to clean up. The holder writes its PID into the
file, and a second process stops with one line naming the folder and that PID. The lock file stays behind (removing
it would let a third process lock a new file while the second still holds the old one).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clca.errors import ClcaError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; commands run unguarded
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".clca.lock"
_PID_WIDTH = 12  # the PID is written in place, padded, so rewriting it never needs a new block on a full disk


class OutputLocked(ClcaError):
    """Another process holds the lock on this output."""


@contextmanager
def lock_output_dir(folder: str | Path, *, main_process_only: bool = False) -> Iterator[None]:
    """Hold the exclusive lock of an output folder (created if missing) for the duration of the block.

    Args:
        folder: the output folder or run directory.
        main_process_only: under torchrun every rank runs the same command on the same folder; only rank 0
            (the `RANK` environment variable) takes the lock.

    Raises:
        OutputLocked: another process holds it (the message names the folder and that process's PID).
    """
    folder = Path(folder)
    if main_process_only and os.environ.get("RANK", "0") != "0":
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / LOCK_NAME, f"output folder {folder}"):
        yield


@contextmanager
def lock_output_file(path: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of an output file (`.<name>.lock` beside it) for the duration of the block.

    Args:
        path: the output file (e.g. a stage's JSONL).

    Raises:
        OutputLocked: another process holds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f".{path.name}.lock"), f"output file {path}"):
        yield


@contextmanager
def _locked(lock_path: Path, what: str) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fd = _open_lock_file(lock_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            raise OutputLocked(
                f"{what} is in use by another clca process (PID {holder}) — wait for it to finish or stop it, then "
                f"rerun; two processes on one output would write every record twice (lock: {lock_path})"
            ) from None
        _write_pid(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _open_lock_file(lock_path: Path) -> int:
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        # a read-only file system: lock the existing file read-only, so the command fails where it writes,
        # with the error it always gave
        if exc.errno in {errno.EROFS, errno.EACCES} and lock_path.is_file():
            return os.open(lock_path, os.O_RDONLY)
        raise


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, _PID_WIDTH, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _write_pid(fd: int) -> None:
    try:
        os.pwrite(fd, f"{os.getpid():<{_PID_WIDTH - 1}}\n".encode("ascii"), 0)
    except OSError:  # read-only or full: the PID is only for the message, the lock is held either way
        pass
