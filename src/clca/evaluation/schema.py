"""Records and results of a WVS evaluation: one `EvalRecord` per persona × question, `RunMetrics`
(metrics.json) per evaluation folder and `Comparison` (compare.json) per pair of folders. The report and
`clca run`'s headline read these types, never raw dictionaries.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.evaluation.config import Mode


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalRecord(_Strict):
    id: str  # "<persona_id>|<question_id>"
    persona_id: str
    question: str
    country: str
    strategy: str
    mode: Mode
    country_only: bool
    prompt_hash: str
    message_hashes: list[str] = Field(default_factory=list)  # the prompt's messages, by id in messages.jsonl
    raw_output: str | None = None
    option_logprobs: dict[str, float] | None = None
    option_probs: dict[str, float] | None = None
    prediction: int | None = None  # None = invalid answer
    invalid_reason: str | None = None
    truth: int | None = None  # the respondent's own valid answer, when known


class PromptMessage(_Strict):
    """One message text a model read (messages.jsonl; shared by every record whose prompt contains it)."""

    id: str  # sha256 of role and content
    role: str
    content: str


class Answer(_Strict):
    """What a model answered to one prompt: the answer fields of `EvalRecord`."""

    raw_output: str | None = None
    option_logprobs: dict[str, float] | None = None
    option_probs: dict[str, float] | None = None
    prediction: int | None = None
    invalid_reason: str | None = None


class AnswerFailure(_Strict):
    """A prompt the backend could not answer (after its retries): recorded as a failure, never as an answer."""

    failure: str


class MetricValue(_Strict):
    value: float | None
    ci95: tuple[float, float] | None = None


class Resampling(_Strict):
    """How the confidence intervals were made, so a reader can judge them."""

    method: str  # e.g. "two-way bootstrap, percentile interval"
    units: str  # what was resampled: "personas x questions"
    n_personas: int
    n_questions: int
    resamples: int
    seed: int
    scope: str  # what a verdict generalises over (questions only, with few personas)
    weights: str = "none"
    ci_level: float = 0.95


class MetricSettings(_Strict):
    kl_epsilon: float
    kl_log_base: str = "e (nats)"
    js_log_base: int = 2
    emd: str = "W1 on codes rescaled to [0,1]; nominal: total variation"
    accuracy: str = "exact match with the respondent's own valid answer, mean over questions, then personas"
    weighting: str = "none (every respondent counts once)"


class QuestionMetrics(_Strict):
    kl: float
    js: float
    emd: float
    invalid_rate: float
    category: str
    model_distribution: dict[str, float]
    survey_distribution: dict[str, float]
    option_labels: dict[str, str] = Field(default_factory=dict)  # code → the option's wording
    survey_n_valid: int | None = None
    survey_missing_shares: dict[str, float] = Field(default_factory=dict)
    variant: str | None = None  # e.g. "3-point": asked and scored on the scale this country fielded


class ReferenceRow(_Strict):
    kl: float
    js: float
    emd: float
    invalid_rate: float
    accuracy: float | None = None


class RunMetrics(_Strict):
    """metrics.json of one evaluation folder."""

    culture: str
    strategy: str
    mode: Mode
    model: dict[str, Any]
    n_personas: int
    personas_excluded_for_failures: int
    persona_mode: str
    human_source: str
    distribution: Literal["answers", "samples", "probabilities"]  # the protocol forming the model's distribution
    model_distribution: str  # that protocol in words
    settings: MetricSettings
    resampling: Resampling | None  # None: no intervals (bootstrap off or a single unit)
    overall: dict[str, MetricValue]
    overall_mean_probability: dict[str, MetricValue] | None = None  # logprob mode: mean option probabilities
    by_category: dict[str, dict[str, float]]  # questionnaire block → mean metrics
    protocols: dict[str, dict[str, float | None]] = Field(default_factory=dict)  # see clca.evaluation.protocols
    invalid_answers: int
    failures: int
    per_question: dict[str, QuestionMetrics]
    reference_rows: dict[str, ReferenceRow]
    skipped_questions: dict[str, str] = Field(default_factory=dict)
    scale_variants: dict[str, str] = Field(default_factory=dict)  # question → variant asked in this country


Verdict = Literal["a better", "b better", "no significant difference", "not testable"]


class MetricComparison(_Strict):
    a: float | None
    b: float | None
    a_minus_b: float | None
    ci95: tuple[float, float] | None
    lower_is_better: bool
    verdict: Verdict
    reason: str = ""  # why "not testable", or what a verdict generalises over
    differing_questions: int | None = None  # questions on which A and B differ at all


class Comparison(_Strict):
    """compare.json: a paired comparison of two evaluations of the same personas and questions."""

    a: str
    b: str
    a_model: dict[str, Any]
    b_model: dict[str, Any]
    n_personas: int
    n_questions: int
    distribution: str
    resampling: Resampling
    metrics: dict[str, MetricComparison]


class EvalSummary(_Strict):
    """What `run_evaluation` returns (the headline of metrics.json)."""

    out_dir: str
    culture: str
    strategy: str
    mode: Mode
    n_personas: int
    persona_mode: str
    n_questions_scored: int
    skipped_questions: dict[str, str]
    overall: dict[str, MetricValue]
    invalid_answers: int
    failures: int
    distribution: str
    resampling: Resampling | None
