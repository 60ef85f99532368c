"""Configuration of two-agent role-play (`clca roleplay`, the `roleplay` section of a run config)."""

from __future__ import annotations

from pydantic import Field

from clca.config import StrictModel


class AgentSampling(StrictModel):
    """Decoding of one agent. The paper samples with top_p 0.7 (temperature is not stated; ours)."""

    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(0.7, gt=0.0, le=1.0)
    max_tokens: int = Field(160, ge=1, description="per turn")
    repetition_penalty: float | None = Field(None, gt=0.0, description="local models (and vLLM): >1 discourages "
                                             "tokens already in prompt or output (transformers semantics)")
    no_repeat_ngram_size: int | None = Field(None, ge=1, description="local models: no n-gram occurs twice")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-compatible (and local)")
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-compatible (and local)")


class RoleplayConfig(StrictModel):
    max_turns: int = Field(10, ge=1, description="turns per conversation (both agents together)")
    max_idle_turns: int = Field(2, ge=1, description="stop after this many consecutive no-op turns")
    conversations_per_scenario: int = Field(2, ge=1)
    seed: int = 0
    agent_a: AgentSampling = Field(default_factory=AgentSampling)  # participant 0 (speaks first)
    agent_b: AgentSampling = Field(default_factory=AgentSampling)  # participant 1
    group_size: int = Field(
        64, ge=1, description="local models: conversations advanced in lockstep, one batch per turn; HTTP backends: "
        "at least this many conversations in progress (and at least twice the backend's concurrency)"
    )
    retry_errors: bool = Field(False, description="regenerate conversations that ended with termination 'error'")
