"""Configuration of the LLM-as-judge filter (`clca judge`, the `judge` section of a run config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clca.config import StrictModel
from clca.judge.gate import GateConfig
from clca.judge.parsing import NEGATIVE_LABEL, Part
from clca.judge.schema import Confidence, Verdict


class KeepRule(StrictModel):
    """Drop a conversation when any part in `drop_parts` has its negative label (bad / not aligned) with a
    confidence in `drop_confidences`. Paper: quality or meta "bad" with "very confident".

    `on_failure` decides conversations where a part named in `drop_parts` could not be judged (parse failure):
    `drop` (default — an unjudged conversation is not trusted) or `keep`. Failures of other parts are ignored.
    """

    drop_parts: list[Part] = Field(default_factory=lambda: ["quality", "meta"])
    drop_confidences: list[Confidence] = Field(default_factory=lambda: ["very confident"])
    on_failure: Literal["drop", "keep"] = "drop"

    def decide(self, verdicts: dict[Part, Verdict | None]) -> tuple[bool, str]:
        for part in self.drop_parts:
            v = verdicts.get(part)
            if v is not None and v.label == NEGATIVE_LABEL[part] and v.confidence in self.drop_confidences:
                return False, f"{part} {v.label} ({v.confidence})"
        failed = [p for p in self.drop_parts if verdicts.get(p) is None]
        if failed:
            if self.on_failure == "drop":
                return False, f"unjudged: {', '.join(failed)} (on_failure=drop)"
            return True, f"kept despite unjudged {', '.join(failed)} (on_failure=keep)"
        return True, "passed"


class JudgeConfig(StrictModel):
    mode: Literal["generate", "logprob"] = "generate"
    keep: KeepRule = Field(default_factory=KeepRule)
    max_attempts: int = Field(3, ge=1, description="generate mode: asks per part before it counts as a failure")
    temperature: float = Field(0.0, ge=0.0, description="first ask (greedy by default)")
    retry_temperature: float = Field(0.7, ge=0.0, description="re-asks after an unparseable answer")
    max_tokens: int = Field(200, ge=1)
    very_confident_p: float = Field(0.9, gt=0.5, le=1.0, description="logprob mode")
    confident_p: float = Field(0.7, gt=0.5, le=1.0, description="logprob mode")
    seed: int = 0
    group_size: int = Field(64, ge=1, description="conversations judged per batch (and per durable append)")
    gate: GateConfig = Field(default_factory=GateConfig)  # deterministic checks before the LLM judge
