"""The loop every item-by-item stage runs: skip what is done, work through the rest in groups, append each group
durably, summarise. A stage supplies its items, how to key them and how to produce one group; the loop owns
resuming, progress and durability, so a crash loses at most the group in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from clca import interrupts
from clca.errors import InputDataError
from clca.jsonl import JsonlStore, write_json_atomic
from clca.layout import failures_path, summary_path
from clca.progress import progress_bar
from clca.records import Failure

Item = TypeVar("Item")
Rec = TypeVar("Rec", bound=BaseModel)


@dataclass
class Produced(Generic[Rec]):
    """What one group of items gave: records, and failures for the items that could not be produced."""

    records: list[Rec] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


class StageOutput(Generic[Rec]):
    """A stage's output file (`<name>.jsonl`), its failures file and its summary file beside it.

    `failures_done`: whether an item recorded as a failure counts as done on resume (scenario generation: a model
    that could not write a valid scenario will not on a rerun either), or is retried (evaluation: the server that
    failed may be back).
    """

    def __init__(self, out_path: str | Path, record_type: type[Rec], *, failures_done: bool = True,
                 failures_file: str | Path | None = None):
        self.path = Path(out_path)
        self.records: JsonlStore[Rec] = JsonlStore(self.path, record_type)
        self.failures: JsonlStore[Failure] = JsonlStore(failures_file or failures_path(self.path), Failure)
        self.failures_done = failures_done

    def done(self) -> set[str]:
        """Ids already produced (and, with `failures_done`, already given up on)."""
        done = self.records.keys()
        if self.failures.exists():
            if self.failures_done:
                done |= self.failures.keys()
            else:
                self.failures.write_all([])  # pending again: this run records only those that fail again
        return done

    def append(self, produced: Produced[Rec]) -> None:
        self.records.append(produced.records)
        if produced.failures:
            self.failures.append(produced.failures)

    def write_summary(self, summary: BaseModel, **extra: object) -> None:
        write_json_atomic(summary_path(self.path), {**summary.model_dump(mode="json"), **extra})


def run_groups(
    pending: Sequence[Item],
    produce: Callable[[list[Item]], Produced[Rec]],
    output: StageOutput[Rec],
    *,
    group_size: int,
    description: str,
    on_record: Callable[[Rec], None] | None = None,
) -> None:
    """Produce `pending` items group by group, appending each group's records before starting the next.

    Args:
        pending: the items not done yet, in output order.
        produce: makes the records (and failures) of one group.
        output: where they go.
        group_size: items per group (and per durable append).
        description: the progress bar's label.
        on_record: called with every record after it is durably written.
    """
    with progress_bar(len(pending), description) as advance:
        for start in range(0, len(pending), group_size):
            interrupts.check()
            group = list(pending[start:start + group_size])
            produced = produce(group)
            output.append(produced)
            advance(len(group))
            if on_record is not None:
                for record in produced.records:
                    on_record(record)


def read_input(path: str | Path, record_type: type[Rec], *, what: str, produced_by: str) -> list[Rec]:
    """An upstream stage's records; a missing or empty file is one clear error naming who should have made it.

    Args:
        path: the JSONL file.
        record_type: its record type.
        what: what the records are, for the message ("conversations").
        produced_by: the command that writes the file ("clca roleplay").

    Returns:
        The records, in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: {what} file not found — run `{produced_by}` first or check the path")
    records = JsonlStore(path, record_type).read()
    if not records:
        raise InputDataError(f"{path}: no {what} in this file — `{produced_by}` produced nothing; see its summary "
                             f"({summary_path(path).name}) and failures beside it")
    return records


def unique(records: Iterable[Rec], key: Callable[[Rec], str] = lambda r: r.id) -> list[Rec]:  # type: ignore[attr-defined]
    """The first record of each id (older files may hold a duplicate from two runs on one folder)."""
    seen: set[str] = set()
    out = []
    for record in records:
        if key(record) not in seen:
            seen.add(key(record))
            out.append(record)
    return out
