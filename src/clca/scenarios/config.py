"""Configuration of scenario generation (`clca scenarios adapt | from-norms`)."""

from __future__ import annotations

from pydantic import Field

from clca.config import StrictModel


class ScenariosConfig(StrictModel):
    n: int | None = Field(
        None, ge=1,
        description="scenarios to produce; None = one per seed/norm. Above the number of seeds, seeds are reused "
                    "with sample suffixes (-s1, -s2, …) and different sampling seeds",
    )
    max_repairs: int = Field(2, ge=0, description="repair prompts after an invalid answer, before a Failure")
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(700, ge=16, description="per answer; a full scenario JSON is ~300-500 tokens")
    seed: int = Field(0, description="selects/shuffles the seeds and derives every request's sampling seed")
    batch_size: int = Field(16, ge=1, description="items per backend.generate call; results are saved per batch")
