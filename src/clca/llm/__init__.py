"""clca.llm — model backends behind one interface.

    from clca.llm import ModelConfig, open_backend
    backend = open_backend(ModelConfig(spec="embedded"))        # or "hf:…", "openai:model@url"
    results = backend.generate([GenerationRequest(messages=[Message(role="user", content="Hi")])])
    scores = backend.score_options([OptionScoringRequest(messages=[...], options=["yes", "no"])])
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make torch on CPU 5-10x slower as soon as another process competes for
# the cores (measured: a SmolLM2 forward pass 0.5 s → 4 s on 2 shared cores); sleeping waiters cost little when
# the machine is idle. Only effective if torch is not imported yet; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from clca.llm.base import (  # noqa: E402
    Backend,
    GenerationRequest,
    GenerationResult,
    Message,
    ModelIdentity,
    OptionScoringRequest,
    ScoringFailure,
)
from clca.llm.config import ModelConfig  # noqa: E402
from clca.llm.spec import ACCEPTED_FORMS, BackendSpec, parse_spec  # noqa: E402

__all__ = [
    "ACCEPTED_FORMS",
    "Backend",
    "BackendSpec",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "ModelConfig",
    "ModelIdentity",
    "OptionScoringRequest",
    "ScoringFailure",
    "load_backend",
    "open_backend",
    "parse_spec",
]


def open_backend(cfg: ModelConfig) -> Backend:
    """THE way to get a backend: parses `cfg.spec`, loads the model / connects, and adds the response cache
    unless `cfg.cache` is False."""
    spec = parse_spec(cfg.spec)
    if spec.kind == "openai":
        from clca.llm.openai_backend import OpenAIBackend

        backend: Backend = OpenAIBackend(spec, cfg)
    else:
        from clca.llm.local import load_local

        backend = load_local(spec, cfg)
    if cfg.cache:
        from clca.llm.cache import CachedBackend

        backend = CachedBackend(backend)
    return backend


def load_backend(spec: str, **options) -> Backend:
    """Shorthand: `load_backend("embedded", cache=False, batch_size=4)` == `open_backend(ModelConfig(...))`."""
    from clca.config import validate

    return open_backend(validate(ModelConfig, {"spec": spec, **options}, f"model options for {spec!r}"))
