"""Everything a report shows, gathered from a run's artifacts (no recomputation of model outputs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CultureDataStats(_Model):
    """The paper's Table 9 for one culture, plus the judge outcome breakdown."""

    culture: str
    scenarios: int
    scenario_failures: int = 0
    conversations: int
    conversation_errors: int = 0
    kept: int
    kept_ratio: float | None
    avg_turns: float | None  # over kept conversations
    avg_words_per_turn: float | None
    cultural_intent_share: float | None
    judge_breakdown: dict[str, int] = Field(default_factory=dict)
    # the funnel: generated (conversations) → passed the quality gate → kept by the judge → used in training
    passed_gate: int | None = None  # None: no gate verdicts recorded
    gate_action: str = ""  # "drop" (rejected conversations are never kept) or "record" (verdicts only)
    gate_rejections: dict[str, int] = Field(default_factory=dict)  # gate check → conversations it failed
    used_in_training: int | None = None  # None: not trained yet, or one adapter shared by several cultures


class SampleTurn(_Model):
    speaker: str
    action: str
    text: str
    intent: str | None = None
    intent_kind: str | None = None


class SampleConversation(_Model):
    conversation_id: str
    culture: str
    setting: str
    turns: list[SampleTurn]
    reason: str = ""  # why the judge (or the gate) kept or dropped it


class Estimate(_Model):
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class ResultRow(_Model):
    culture: str
    variant: str  # e.g. "persona (baseline)", "cultural prompting", "CLCA", "uniform", "majority"
    kind: str = "model"  # "model" | "reference"
    model: str = ""
    kl: Estimate
    jsd: Estimate
    emd: Estimate
    accuracy: Estimate
    invalid_rate: float | None = None
    n_personas: int | None = None
    n_questions: int | None = None
    skipped_questions: list[str] = Field(default_factory=list)
    distribution: str = ""  # how the model's answer distribution was formed (the protocol), in words
    resampling: str = ""  # what the intervals resampled, and how many units there were
    weighting: str = ""
    protocols: dict[str, dict[str, float | None]] = Field(default_factory=dict)  # the same records, other protocols
    scale_variants: dict[str, str] = Field(default_factory=dict)


class SuiteRow(_Model):
    """One model's result on one extra suite (GlobalOpinionQA, NormAd, CulturalBench)."""

    culture: str
    suite: str  # its title
    license: str
    variant: str  # "persona baseline" | "CLCA"
    metrics: dict[str, Estimate]
    n_items: int
    invalid_answers: int
    failures: int


class ComparisonRow(_Model):
    culture: str
    metric: str
    baseline: str
    candidate: str
    difference: float | None  # candidate − baseline
    ci_low: float | None
    ci_high: float | None
    verdict: str


class ReportData(_Model):
    run_name: str
    created_at: str
    cultures: list[str]
    models: dict[str, str] = Field(default_factory=dict)  # role → model id
    data_stats: list[CultureDataStats] = Field(default_factory=list)
    sample: SampleConversation | None = None  # one kept conversation
    rejected_sample: SampleConversation | None = None  # one dropped conversation, with the reason
    results: list[ResultRow] = Field(default_factory=list)
    comparisons: list[ComparisonRow] = Field(default_factory=list)
    suite_results: list[SuiteRow] = Field(default_factory=list)
    plots: dict[str, str] = Field(default_factory=dict)  # caption → PNG path relative to the report
    notes: list[str] = Field(default_factory=list)
