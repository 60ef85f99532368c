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
    language: str = Field(
        "en", description="en | native (the culture card's language) | a BCP-47 tag with a translation file: "
        "everything the model reads — persona, question, options, answer instruction — is in that language")
    allow_unreviewed_translation: bool = Field(
        False, description="accept a translation file with unreviewed or flagged items (e.g. fresh from `clca "
        "translate`); its numbers are then not publishable")
    weights: Literal["none", "wvs"] = Field(
        "none", description="none: every respondent counts once (the paper's choice, and comparable with its "
        "numbers); wvs: the survey's W_WEIGHT in the human shares, the personas' weights and the resampling")
    battery_form: Literal["list", "per_item"] = Field(
        "list", description="Q7-Q17: one 'choose up to five' list as the questionnaire asks it, or 11 yes/no items")
    country_samples: int = Field(
        20, ge=1, le=1000, description="country-only prompts in generate mode: answers sampled per question "
        "(without respondents; with respondents each persona samples one)")
    sample_temperature: float = Field(1.0, gt=0.0, le=2.0, description="temperature of those sampled answers")
    kl_epsilon: float = Field(KL_EPSILON, gt=0, lt=0.1, description="additive smoothing of KL (both sides)")
    bootstrap_resamples: int = Field(1000, ge=0, le=MAX_RESAMPLES, description="0 = no confidence intervals")
    chunk_size: int = Field(64, ge=1, description="distinct prompts per checkpoint")

    @field_validator("culture")
    @classmethod
    def _country(cls, value: str) -> str:
        return normalise_country(value)

    def distribution(self, country_only: bool) -> Literal["answers", "samples", "probabilities"]:
        """How the model's distribution is formed. A person answers once, so personas with demographics give
        greedy answers (the paper); a country-only prompt stands for a whole country, so it gives a distribution:
        option probabilities in logprob mode (Cao et al. 2025), sampled answers in generate mode."""
        if not country_only:
            return "answers"
        return "probabilities" if self.mode == "logprob" else "samples"

    def fingerprint_fields(self) -> dict[str, Any]:
        """What must match for a resumed run to reuse existing records."""
        return self.model_dump(mode="json", exclude={"bootstrap_resamples", "chunk_size"})
