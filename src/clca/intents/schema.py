"""Per-turn intent labels of a kept conversation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.records import Provenance

IntentKind = Literal["generic", "cultural"]


class TurnIntent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turn_index: int = Field(ge=0)
    speaker: Literal[0, 1]
    intent: str | None  # one short sentence; None when labelling failed (see error)
    kind: IntentKind | None
    error: str | None = None
    raw: str | None = None


class ConversationIntents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str  # == conversation id
    conversation_id: str
    culture: str
    intents: list[TurnIntent]
    provenance: Provenance = Field(default_factory=Provenance)

    @property
    def cultural_share(self) -> float | None:
        labelled = [i for i in self.intents if i.kind is not None]
        return sum(i.kind == "cultural" for i in labelled) / len(labelled) if labelled else None


class IntentsSummary(BaseModel):
    output: str
    kind_mode: str
    conversations: int  # in the output file after this run
    labelled_now: int
    skipped_existing: int
    not_kept: int  # conversations the judge dropped (or that ended in error) — not labelled
    turns: int
    intents: int  # turns with an intent
    intent_failures: int
    kind_failures: int
    cultural: int
    generic: int
    cultural_share: float | None  # cultural / (cultural + generic)
    seconds: float
