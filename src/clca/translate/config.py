"""Configuration of `clca translate`."""

from __future__ import annotations

from pydantic import Field

from clca.config import StrictModel

# chrF (character 1-6-grams, beta 2, 0-1) below this flags an item for review. Faithful back-translations of
# survey items typically score well above 0.6; a paraphrase of a two-word label can drop to ~0.5, a wrong
# sense (e.g. "Work" back as "Labour union") scores under 0.3. 0.5 errs on flagging too much, not too little.
DEFAULT_ROUND_TRIP_THRESHOLD = 0.5


class TranslateConfig(StrictModel):
    questions: str = Field("social-values,q50", description="question selection to translate (sets, categories, ids)")
    round_trip_threshold: float = Field(
        DEFAULT_ROUND_TRIP_THRESHOLD, ge=0.0, le=1.0,
        description="flag an item whose back-translation scores below this chrF against the English original")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy: a translation should not vary between runs")
    max_tokens: int = Field(400, ge=16, description="per translation; the longest stems are ~80 English words")
    seed: int = Field(0, description="sampling seed sent with every request")
