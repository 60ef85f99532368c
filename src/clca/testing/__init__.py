"""Test helpers that are real components (not mocks): a local OpenAI-compatible HTTP server."""

from clca.testing.batch_only import BatchOnly
from clca.testing.openai_server import (
    FAULT_KINDS,
    Fault,
    FaultPlan,
    OpenAICompatServer,
    RecordedRequest,
    default_responder,
    transformers_scorer,
)

__all__ = ["BatchOnly", "FAULT_KINDS", "Fault", "FaultPlan", "OpenAICompatServer", "RecordedRequest",
           "default_responder", "transformers_scorer"]
