"""Progress bars for long work (rich). Disabled automatically when stderr is not a terminal and CLCA_PROGRESS=0."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[callable]:
    """Yield `advance(n)`; shows a bar on stderr (plain periodic lines when not a terminal)."""
    if os.environ.get("CLCA_PROGRESS", "1") == "0" or total <= 0:
        yield lambda n=1: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=_console, transient=False, refresh_per_second=4) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
