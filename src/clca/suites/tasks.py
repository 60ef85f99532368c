"""Task files (`suites/tasks/<name>.yaml`), in the manner of lm-evaluation-harness: where the data comes from,
which columns hold what, the prompt template, the options the model chooses from and the metric.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from clca.errors import ConfigError
from clca.prompts import load_template
from clca.records import PromptRef

TASK_DIR = Path(__file__).resolve().parent / "tasks"
SYSTEM_TEMPLATE = "suite_system.v1"  # names the culture when `context: country`

RowFormat = Literal["globalopinionqa", "normad", "culturalbench-easy", "culturalbench-hard"]


class TaskSpec(BaseModel):
    """One suite, as its task file declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str
    hub: str = Field(description="hub dataset name for `datasets.load_dataset`")
    hub_config: str | None = None
    split: str
    license: str
    measures: str
    row_format: RowFormat = Field(description="how a row becomes an item (clca.suites.items)")
    columns: dict[str, str] = Field(description="role → the dataset's column name")
    template: str = Field(description="prompt template (clca/prompts/templates/<template>.j2)")
    option_labels: Literal["letters"] | list[str] = Field(description="what the model answers with")
    gold_values: dict[str, str] = Field(default_factory=dict, description="the dataset's gold value → option label")
    metric: Literal["accuracy", "distribution"]
    max_tokens: int = Field(8, ge=1)

    def column(self, role: str) -> str:
        return self.columns.get(role, role)

    def prompt_refs(self, with_system: bool) -> list[PromptRef]:
        names = ([SYSTEM_TEMPLATE] if with_system else []) + [self.template]
        return [PromptRef(**load_template(n).provenance()) for n in names]


def task_names() -> list[str]:
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


@cache
def load_task(name: str) -> TaskSpec:
    """The task file of suite `name`.

    Args:
        name: e.g. "globalopinionqa".

    Returns:
        The validated task specification.
    """
    path = TASK_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"suite {name!r} is unknown — choose one of {', '.join(task_names())}")
    return TaskSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
