"""Configuration of one WVS evaluation (`clca evaluate`; the run config's `evaluation` section builds one per
culture and strategy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from clca.config import StrictModel
from clca.countries import normalise_country
from clca.evaluation.metrics import KL_EPSILON

Mode = Literal["generate", "logprob"]

MAX_RESAMPLES = 100_000  # bootstrap matrices are resamples × personas floats: bound what one command can ask for


class EvalConfig(StrictModel):
    culture: str = Field("DEU", description="ISO 3166 alpha-3 code of the society whose answers are the reference")
    questions: str | list[str] = Field("social-values", description="set name, category, ids (comma-separated)")
    personas: int = Field(1000, ge=1, description="respondents sampled without replacement")
    strategy: str = Field("persona", description="prompting strategy: persona | cultural | anthropological")
    mode: Mode = Field("generate", description="generate: greedy answer parsed; logprob: exact option probs")
    seed: int = Field(0, ge=0, description="seed of persona sampling and of the bootstrap")
    wvs_file: Path | None = Field(None, description="official WVS wave 7 CSV (cross-national or per-country)")
    human_source: Literal["auto", "bundled"] = Field("auto", description="bundled = ignore respondent files")
    kl_epsilon: float = Field(KL_EPSILON, gt=0, lt=0.1, description="additive smoothing of KL (both sides)")
    bootstrap_resamples: int = Field(1000, ge=0, le=MAX_RESAMPLES, description="0 = no confidence intervals")
    chunk_size: int = Field(64, ge=1, description="distinct prompts per checkpoint")

    @field_validator("culture")
    @classmethod
    def _country(cls, value: str) -> str:
        return normalise_country(value)

    def fingerprint_fields(self) -> dict[str, Any]:
        """What must match for a resumed run to reuse existing records."""
        return self.model_dump(mode="json", exclude={"bootstrap_resamples", "chunk_size"})
