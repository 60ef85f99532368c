"""Scenario records — the Sotopia episode format (environment + two agent profiles) plus culture and provenance."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.records import Provenance

Relationship = Literal["stranger", "know_by_name", "acquaintance", "friend", "romantic_relationship", "family_member"]
ScenarioSource = Literal["seed", "adapted", "norm", "sotopia", "clca"]


class Participant(BaseModel):
    """One side of the interaction (Sotopia AgentProfile fields + the private social goal)."""

    model_config = ConfigDict(extra="forbid")
    first_name: str = Field(min_length=1)
    last_name: str = ""
    age: int | None = Field(None, ge=0, le=120)
    gender: str = ""
    occupation: str = ""
    background: str = ""  # background and personality
    public_info: str = ""
    secret: str = ""  # private: only this participant's agent sees it
    goal: str = Field(min_length=1)  # private social goal: only this participant's agent sees it

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    culture: str  # ISO 3166 alpha-3, or "generic" for the bundled culture-neutral seeds
    domain: str = ""  # e.g. "family duties", "hospitality"
    setting: str = Field(min_length=1)
    relationship: Relationship = "acquaintance"
    participants: tuple[Participant, Participant]
    source: ScenarioSource
    source_scenario_id: str | None = None  # the seed/imported scenario this one was adapted from
    norm: str | None = None  # the social norm it was generated from (from-norms)
    provenance: Provenance = Field(default_factory=Provenance)


class ScenarioGenerationSummary(BaseModel):
    output: str
    failures_output: str
    culture: str
    requested: int  # items this call asked for (after capping/cycling)
    produced: int  # valid scenarios written by this run
    failed: int  # Failure records written by this run
    skipped_done: int  # already in the output or failures file from an earlier run
    repaired: int  # of `produced`, how many needed at least one repair prompt
    total_in_output: int  # scenarios in the output file after this run
    notes: list[str] = []
    seconds: float
