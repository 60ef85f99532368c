"""Asking a model, the ways every stage needs: ask until the output parses, choose an option by log-probability,
and derive a reproducible per-item seed. Stages build their prompts and parsers; the asking lives here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from clca.jsonl import stable_hash
from clca.llm.base import Backend, GenerationRequest, ScoringFailure

T = TypeVar("T")

SEED_RANGE = 2**31  # seeds fit a signed 32-bit integer, which every backend accepts


def derive_seed(*parts: object) -> int:
    """A seed determined by `parts` alone (run seed, item id, turn …), stable across processes and machines.

    Args:
        *parts: JSON-serialisable values that identify the item.

    Returns:
        An integer in [0, 2**31).
    """
    return int(stable_hash(list(parts)), 16) % SEED_RANGE


@dataclass
class Attempted(Generic[T]):
    """Outcome of asking for a parseable answer up to N times."""

    value: T | None
    error: str | None
    raw: str | None
    attempts: int


def generate_with_retries(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    parse: Callable[[int, str | None], tuple[T | None, str | None]],
    max_attempts: int,
    retry_temperature: float,
) -> list[Attempted[T]]:
    """Generate all requests in one batch, re-ask (batched) those whose output `parse(i, text)` rejects.

    Re-asks sample with `retry_temperature` and a new seed, since a greedy re-ask would repeat itself. A backend
    failure (already retried inside the backend) is final: recorded with its error, not re-asked.

    Args:
        backend: the model to ask.
        requests: one request per item.
        parse: `parse(item index, text) -> (value, None)` or `(None, reason)`.
        max_attempts: asks per item before it counts as a failure.
        retry_temperature: sampling temperature of the re-asks.

    Returns:
        One `Attempted` per request, in order.
    """
    outcomes: list[Attempted[T]] = [Attempted(None, "not asked", None, 0) for _ in requests]
    todo = list(range(len(requests)))
    for attempt in range(1, max_attempts + 1):
        if not todo:
            break
        batch = [
            requests[i] if attempt == 1 else requests[i].model_copy(
                update={"temperature": retry_temperature, "seed": derive_seed(requests[i].seed, attempt)})
            for i in todo
        ]
        retry = []
        for i, result in zip(todo, backend.generate(batch), strict=True):
            if not result.ok:
                outcomes[i] = Attempted(None, f"backend error: {result.error}", result.text, attempt)
                continue
            value, error = parse(i, result.text)
            outcomes[i] = Attempted(value, error, result.text, attempt)
            if value is None:
                retry.append(i)
        todo = retry
    return outcomes


@dataclass(frozen=True)
class OptionChoice:
    """The option a model prefers among fixed answers, with the normalised probabilities of all of them."""

    index: int
    logprobs: list[float]
    probs: list[float]

    @property
    def probability(self) -> float:
        return self.probs[self.index]


def choose_option(logprobs: Sequence[float], n_options: int) -> OptionChoice | str:
    """Turn `score_options` output for one request into a choice, or the reason it cannot be used.

    Args:
        logprobs: the log-probability of each option (a `ScoringFailure` when the backend gave up).
        n_options: how many options were asked about.

    Returns:
        An `OptionChoice` (argmax, softmax over the options), or a failure reason string.
    """
    if isinstance(logprobs, ScoringFailure):
        return logprobs.error
    values = [float(x) for x in logprobs]
    if len(values) != n_options or not all(math.isfinite(x) for x in values):
        return f"backend returned unusable option scores {list(logprobs)!r}"
    top = max(values)
    exps = [math.exp(x - top) for x in values]
    total = sum(exps)
    probs = [e / total for e in exps]
    return OptionChoice(index=max(range(n_options), key=probs.__getitem__), logprobs=values, probs=probs)
