"""Items, records and results of a suite evaluation: one `SuiteRecord` per item (records.jsonl), `SuiteMetrics`
(metrics.json) per folder and `SuiteComparison` per pair of folders."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.evaluation.schema import MetricComparison, MetricValue


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuiteItem(_Strict):
    """One question of a suite, ready to prompt: what the template reads, the options and the reference."""

    id: str  # the row's position in the dataset ("row-17"): stable for the same data, which the manifest pins
    source_id: str | None = None  # the dataset's own id column, when it has one
    country: str  # ISO3 where clca knows the country, else the dataset's name for it
    variables: dict[str, Any]  # what the prompt template reads (question, story, option texts …)
    labels: list[str]  # the option labels the model answers with ("A", "yes", "True" …)
    gold: int | None = None  # accuracy suites: index of the correct label
    human: list[float] | None = None  # distribution suites: the country's answer shares over `labels`


class SuiteRecord(_Strict):
    id: str
    suite: str
    country: str
    mode: Literal["generate", "logprob"]
    prompt_hash: str
    labels: list[str]
    raw_output: str | None = None
    option_probs: list[float] | None = None  # logprob mode: softmax over the options
    prediction: int | None = None  # index into labels; None = invalid answer
    invalid_reason: str | None = None
    gold: int | None = None
    human: list[float] | None = None


class SuiteMetrics(_Strict):
    """metrics.json of one suite folder."""

    suite: str
    title: str
    license: str
    culture: str | None
    mode: str
    model: dict[str, Any]
    metric: Literal["accuracy", "distribution"]
    n_items: int
    failures: int
    invalid_answers: int
    overall: dict[str, MetricValue]
    by_country: dict[str, dict[str, float]] = Field(default_factory=dict)
    resampling: str  # what the intervals resample, in words
    settings: dict[str, Any] = Field(default_factory=dict)


class SuiteComparison(_Strict):
    """A paired comparison of two runs of one suite on the same items (e.g. CLCA vs its baseline)."""

    a: str
    b: str
    suite: str
    a_model: dict[str, Any]
    b_model: dict[str, Any]
    n_items: int
    resampling: str
    metrics: dict[str, MetricComparison]


class SuiteSummary(_Strict):
    out_dir: str
    suite: str
    culture: str | None
    mode: str
    n_items: int
    skipped_rows: int
    failures: int
    invalid_answers: int
    overall: dict[str, MetricValue]
