"""Configuration of intent labelling (`clca intents`, the `intents` section of a run config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clca.config import StrictModel


class IntentsConfig(StrictModel):
    kind_mode: Literal["auto", "logprob", "generate"] = "auto"
    max_attempts: int = Field(3, ge=1, description="asks per turn before the intent counts as a failure")
    temperature: float = Field(0.0, ge=0.0)
    retry_temperature: float = Field(0.7, ge=0.0)
    max_tokens: int = Field(60, ge=1, description="intent sentence")
    seed: int = 0
    group_size: int = Field(32, ge=1, description="conversations labelled per batch (and per durable append)")
