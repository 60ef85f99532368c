"""Rows of a suite's dataset through the `datasets` library: the hub dataset a task names, or a local copy.

Local copies (`--data PATH`): a csv / json / jsonl / parquet file, a folder of such files, or a folder written by
`Dataset.save_to_disk`. Nothing is bundled: GlobalOpinionQA's licence (CC-BY-NC-SA-4.0) forbids redistribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clca.errors import InputDataError
from clca.suites.tasks import TaskSpec

_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _local(path: Path, task: TaskSpec) -> Any:
    import datasets

    if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            split = task.split if task.split in loaded else next(iter(loaded))
            return loaded[split]
        return loaded
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _BUILDERS)
        if not files or len({_BUILDERS[p.suffix] for p in files}) != 1:
            raise InputDataError(f"{path}: expected csv, json, jsonl or parquet files of one kind (or a "
                                 "`save_to_disk` folder) — point --data at the dataset file")
        return datasets.load_dataset(_BUILDERS[files[0].suffix], data_files=[str(p) for p in files], split="train")
    if path.suffix not in _BUILDERS:
        raise InputDataError(f"{path}: unknown data format {path.suffix!r} — use csv, json, jsonl or parquet")
    return datasets.load_dataset(_BUILDERS[path.suffix], data_files=str(path), split="train")


def _hub(task: TaskSpec) -> Any:
    import datasets

    try:
        return datasets.load_dataset(task.hub, task.hub_config, split=task.split)
    except Exception as exc:  # offline, hub unreachable, gated, renamed: all end in the same advice
        raise InputDataError(
            f"suite {task.name}: cannot load {task.hub} from the Hugging Face hub ({type(exc).__name__}) — "
            f"download it where you have access and pass --data PATH (a csv/json/jsonl/parquet file or a "
            f"`save_to_disk` folder)") from None


def load_rows(task: TaskSpec, data: str | Path | None) -> tuple[list[dict[str, Any]], str]:
    """The dataset's rows, and where they came from (for the manifest).

    Args:
        task: the suite's task file.
        data: a local copy, or None for the hub dataset.

    Returns:
        (rows as dictionaries, source description).
    """
    if data is None:
        table, source = _hub(task), f"hub:{task.hub}" + (f"/{task.hub_config}" if task.hub_config else "")
    else:
        path = Path(data)
        if not path.exists():
            raise InputDataError(f"{path}: --data file or folder not found")
        try:
            table, source = _local(path, task), str(path)
        except InputDataError:
            raise
        except Exception as exc:  # a malformed file: datasets raises many kinds, each means the same to a user
            raise InputDataError(f"{path}: cannot read it as a {task.title} dataset "
                                 f"({type(exc).__name__}: {str(exc)[:200]})") from None
    return [dict(row) for row in table], source
