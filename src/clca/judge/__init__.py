"""LLM-as-judge filter of role-played conversations (METHOD stage 3)."""

from clca.judge.parsing import parse_verdict
from clca.judge.runner import (
    Attempted,
    JudgeConfig,
    JudgeSummary,
    KeepRule,
    generate_with_retries,
    kept_conversation_ids,
    load_conversations,
    run_judge,
)
from clca.judge.schema import Judgement, Verdict

__all__ = [
    "Attempted",
    "JudgeConfig",
    "JudgeSummary",
    "Judgement",
    "KeepRule",
    "Verdict",
    "generate_with_retries",
    "kept_conversation_ids",
    "load_conversations",
    "parse_verdict",
    "run_judge",
]
