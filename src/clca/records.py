"""Record types shared by several stages: provenance and failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clca.llm.base import ModelIdentity


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PromptRef(BaseModel):
    """Which template produced a prompt (see `clca.prompts`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    sha256: str


class Provenance(BaseModel):
    """Where an LLM-produced record came from: enough to reproduce or audit it."""

    model_config = ConfigDict(extra="forbid")
    model: ModelIdentity | None = None
    prompts: list[PromptRef] = Field(default_factory=list)
    sampling: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    created_at: str = Field(default_factory=utc_now)


class Failure(BaseModel):
    """An item a stage could not produce. Stored in `<stage>.failures.jsonl`; counts as done on resume."""

    model_config = ConfigDict(extra="forbid")
    id: str  # the id the successful record would have had
    stage: str
    reason: str
    raw: str | None = None  # the last raw model output, for debugging the prompt or parser
    attempts: int = 1
    provenance: Provenance | None = None
