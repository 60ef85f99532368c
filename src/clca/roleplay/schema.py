"""Conversation records produced by two-agent role-play."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.records import Provenance
from clca.resumable import read_input
from clca.scenarios.schema import Scenario

Action = Literal["none", "non-verbal", "speak", "leave"]
Termination = Literal["leave", "idle", "max_turns", "error"]


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    speaker: Literal[0, 1]  # index into scenario.participants
    speaker_name: str
    action: Action
    text: str  # what was said / done ("" for action "none")
    raw: str | None = None  # the raw model output the turn was parsed from
    parse_error: str | None = None  # set when the output did not follow the format and a fallback was used


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str  # f"{scenario.id}#{sample_index}"
    scenario: Scenario  # a full copy: downstream stages need no other file
    sample_index: int = Field(ge=0)
    seed: int
    turns: list[Turn]
    termination: Termination
    error: str | None = None  # set with termination "error": why the conversation could not continue
    agent_provenance: tuple[Provenance, Provenance]  # model/prompt/sampling for participant 0 and 1

    @property
    def culture(self) -> str:
        return self.scenario.culture


class RoleplaySummary(BaseModel):
    output: str
    scenarios: int
    conversations: int  # in the output file after this run
    generated: int  # written by this run
    skipped_existing: int
    terminations: dict[str, int]
    turns_mean: float
    words_per_turn_mean: float
    parse_errors: int
    seconds: float


def load_conversations(path: str | Path) -> list[Conversation]:
    """The conversations `clca roleplay` wrote; a missing or empty file is one clear error."""
    return read_input(path, Conversation, what="conversations", produced_by="clca roleplay")
