"""What `clca translate` reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TranslateSummary(BaseModel):
    """The run's outcome, printed by the CLI."""

    model_config = ConfigDict(extra="forbid")
    language: str
    output: str
    segments: int  # texts sent for translation (an option list counts once)
    failed: int  # segments whose forward or back translation failed after retries
    flagged_items: list[str]  # file items an automatic check flagged (review these first)
    round_trip_threshold: float
    mean_round_trip: float | None  # mean chrF over the segments that were back-translated
