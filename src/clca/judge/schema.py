"""Judge records: quality, cultural alignment and meta-judgement of a conversation, plus the keep decision."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.judge.gate import GateResult
from clca.records import Provenance

Confidence = Literal["very confident", "confident", "not sure"]


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str  # quality: good|bad; culture: aligned|not aligned; meta: good|bad
    confidence: Confidence
    reason: str = ""  # the judge's explanation (meta: its critique of the two judgements)


class Judgement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str  # == conversation id
    conversation_id: str
    culture: str
    quality: Verdict | None = None  # None = could not be parsed after retries (see failures)
    cultural_alignment: Verdict | None = None
    meta: Verdict | None = None
    failures: dict[str, str] = Field(default_factory=dict)  # part ("quality"|"cultural_alignment"|"meta") → reason
    raw: dict[str, str] = Field(default_factory=dict)  # part → the judge's last raw answer (audit / prompt debugging)
    attempts: dict[str, int] = Field(default_factory=dict)  # part → how many times it was asked
    keep: bool
    keep_reason: str  # which rule decided ("gate <check>: …" when the quality gate rejected it)
    gate: GateResult | None = None  # the deterministic gate's result (None: conversation ended in error)
    provenance: Provenance = Field(default_factory=Provenance)


class JudgeSummary(BaseModel):
    output: str
    mode: str
    conversations: int  # judgements in the output file after this run
    judged_now: int
    skipped_existing: int
    kept: int
    dropped: int
    kept_ratio: float | None
    keep_reasons: dict[str, int]
    breakdown: dict[str, dict[str, dict[str, int]]]  # part → label → confidence → count
    failures: dict[str, int]  # part → conversations where it could not be parsed
    error_conversations: int  # role-play ended in error; not judged
    gate_rejected: int = 0  # rejected by the quality gate; not sent to the LLM judge
    gate_rejections: dict[str, int] = Field(default_factory=dict)  # gate check → conversations it failed
    seconds: float
