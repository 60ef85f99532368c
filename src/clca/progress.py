"""Progress bars for long work (rich, on stderr). `CLCA_PROGRESS=0` switches them off (tests, logs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True)


def progress_enabled() -> bool:
    return os.environ.get("CLCA_PROGRESS", "1") != "0"


class Bar:
    """One progress bar that can be advanced and relabelled (e.g. with the latest loss) while it runs."""

    def __init__(self, total: int, description: str):
        self._progress: Progress | None = None
        if progress_enabled() and total > 0:
            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("eta"), TimeRemainingColumn()]
            self._progress = Progress(*columns, console=_console, transient=False, refresh_per_second=4)
            self._task = self._progress.add_task(description, total=total)
            self._progress.start()

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)` of a bar on stderr (nothing is shown when disabled or when there is nothing to do)."""
    bar = Bar(total, description)
    try:
        yield bar.advance
    finally:
        bar.close()
