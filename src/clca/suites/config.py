"""Configuration of one suite evaluation (`clca evaluate --suite NAME`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from clca.config import StrictModel
from clca.countries import normalise_country
from clca.evaluation.config import MAX_RESAMPLES
from clca.evaluation.metrics import KL_EPSILON


class SuiteConfig(StrictModel):
    suite: str = Field(..., description="task name: globalopinionqa | normad | culturalbench | culturalbench-hard")
    culture: str | None = Field(
        None, description="ISO3 country whose items are asked (GlobalOpinionQA: whose answers are the reference); "
        "None = every country the suite has (not for GlobalOpinionQA)")
    data: Path | None = Field(None, description="local copy: csv/json/jsonl/parquet file, a data folder or a "
                              "`save_to_disk` folder; None = the hub dataset named in the task file")
    mode: Literal["generate", "logprob"] = Field(
        "logprob", description="logprob: option probabilities (score_options); generate: greedy answer, parsed")
    context: Literal["country", "none"] = Field(
        "country", description="country: the system prompt names the culture; none: no system prompt")
    limit: int | None = Field(None, ge=1, description="first N items only (after the country filter)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap and of generation")
    kl_epsilon: float = Field(KL_EPSILON, gt=0, lt=0.1, description="additive smoothing of KL (both sides)")
    bootstrap_resamples: int = Field(1000, ge=0, le=MAX_RESAMPLES, description="0 = no confidence intervals")
    chunk_size: int = Field(32, ge=1, description="items per durable append")

    @field_validator("culture")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else normalise_country(value)

    def fingerprint_fields(self) -> dict[str, Any]:
        """What must match for a resumed run to reuse existing records."""
        return self.model_dump(mode="json", exclude={"bootstrap_resamples", "chunk_size", "data"})
