"""`BatchOnly(backend)`: a backend seen through `generate`/`score_options` only, as a local model is.

Callers that pipeline requests through `submit` (role-play with an HTTP backend) fall back to lockstep batches;
tests and benchmarks use it to compare the two ways of advancing against the same server.
"""

from __future__ import annotations

from collections.abc import Sequence

from clca.llm.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    ModelIdentity,
    OptionScoringRequest,
    ProgressCallback,
)


class BatchOnly(Backend):
    supports_submit = False  # and max_in_flight stays 1: what a caller sees of a local model

    def __init__(self, inner: Backend):
        self.inner, self.spec = inner, inner.spec

    @property
    def identity(self) -> ModelIdentity:
        return self.inner.identity

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        return self.inner.generate(requests, progress)

    def score_options(
        self, requests: Sequence[OptionScoringRequest], progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        return self.inner.score_options(requests, progress)

    def close(self) -> None:
        self.inner.close()
