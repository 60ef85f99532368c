"""The one backend interface every stage talks to.

A backend answers batches of chat requests (`generate`) and scores candidate replies (`score_options`).
Failures are data: a request that failed after retries comes back as a `GenerationResult` with `error` set and
`text=None` — never as an empty string pretending to be an answer.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    content: str


# Anti-repetition controls; unset (None) ones are left out of a request's dump, so cache keys of requests that do
# not use them stay what they were before these fields existed.
PENALTY_FIELDS = ("repetition_penalty", "no_repeat_ngram_size", "frequency_penalty", "presence_penalty")


class GenerationRequest(BaseModel):
    """One chat completion request. `temperature=0` means greedy decoding.

    Anti-repetition controls (None = off): `repetition_penalty` (transformers semantics: the logit of every token
    already in prompt or output is divided by it when positive, multiplied when negative; OpenAI-compatible
    servers such as vLLM take it as an extension), `no_repeat_ngram_size` (local models only: no n-gram of prompt
    plus output occurs twice), `frequency_penalty` / `presence_penalty` (OpenAI semantics: logit minus penalty ×
    count / minus penalty once present, over the output; local models apply them the same way).
    """

    model_config = ConfigDict(extra="forbid")
    messages: list[Message]
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    repetition_penalty: float | None = Field(None, gt=0.0)
    no_repeat_ngram_size: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    # Replica affinity (several base URLs): requests with the same key go to the same server, so a conversation's
    # turns reuse that server's prefix cache. Routing only: left out of dumps, so never part of a cache key.
    routing_key: str | None = Field(None, exclude=True)

    @model_serializer(mode="wrap")
    def _drop_unset_penalties(self, handler):
        data = handler(self)
        for name in PENALTY_FIELDS:
            if data.get(name, 0) is None:
                del data[name]
        return data


FinishReason = Literal["stop", "length", "error"]


class GenerationResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None
    finish_reason: FinishReason
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    error: str | None = None  # set (and text None) when the call failed after retries
    attempts: int = 1
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    @classmethod
    def failure(cls, error: str, latency_s: float = 0.0, attempts: int = 1) -> GenerationResult:
        return cls(text=None, finish_reason="error", error=error, latency_s=latency_s, attempts=attempts)


class ScoringFailure(list):
    """What `score_options` returns for a request it gave up on (e.g. a server that kept failing through all
    retries): one NaN per option — so no caller can mistake it for scores — and `error`, the reason to record."""

    def __init__(self, n_options: int, error: str):
        super().__init__([math.nan] * n_options)
        self.error = error

    def __repr__(self) -> str:
        return f"ScoringFailure({len(self)}, {self.error!r})"


class OptionScoringRequest(BaseModel):
    """Score each option string as the assistant's complete reply to `messages`."""

    model_config = ConfigDict(extra="forbid")
    messages: list[Message]
    options: list[str] = Field(min_length=1)


class ModelIdentity(BaseModel):
    """What a cache key and an artifact's provenance need to know about a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str  # "embedded" | "hf" | "openai"
    model: str  # path, repo name or served model name
    weights_sha256: str | None = None  # hash of the weights file(s) when local
    adapter: str | None = None  # adapter path
    adapter_sha256: str | None = None
    server: str | None = None  # served models: base URL(s), so two servers with one model name never share answers
    # OpenAI-compatible servers: the engine and its version as the server reports them (vLLM's /version, the
    # model's owned_by, the Server header); engine upgrades change outputs, so they are part of the identity
    engine: str | None = None
    engine_version: str | None = None

    @model_serializer(mode="wrap")
    def _drop_unknown_engine(self, handler):
        """Unset engine fields are left out, so identities (and cache keys) of local models stay what they were."""
        data = handler(self)
        for name in ("engine", "engine_version"):
            if data.get(name, 0) is None:
                del data[name]
        return data


ProgressCallback = Callable[[int], None]  # called with the number of newly finished items


class Backend(ABC):
    """Interface of every model backend. Implementations: embedded, hf, openai (see `clca.llm.load_backend`)."""

    spec: str

    @property
    @abstractmethod
    def identity(self) -> ModelIdentity: ...

    @abstractmethod
    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        """Answer a batch of requests; results are in request order, failures included."""

    @abstractmethod
    def score_options(
        self, requests: Sequence[OptionScoringRequest], progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        """Log-probability of each option as the whole assistant reply, summed over all its tokens.

        Returns one list per request, aligned with `request.options`; a request the backend gave up on after its
        retries comes back as a `ScoringFailure` (NaNs plus the reason) and the batch goes on. Raises
        `BackendError` when the backend cannot compute exact option log-probabilities at all.
        """

    #: True when `submit` works: the backend serves requests independently as they arrive (an HTTP server with
    #: continuous batching), so a caller with dependent requests — the next turn of a conversation — can send each
    #: as soon as its predecessor is answered instead of waiting for a whole batch. Local models batch instead.
    supports_submit: bool = False

    @property
    def max_in_flight(self) -> int:
        """How many requests the backend works on at once (an HTTP backend's `concurrency`); callers that pipeline
        through `submit` keep about twice that many items in progress."""
        return 1

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        """Start one request and return at once; the future resolves to its result (failures included, like
        `generate`). Only where `supports_submit` is true."""
        raise NotImplementedError(f"{type(self).__name__} answers requests in batches: use generate()")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, GPU memory)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
