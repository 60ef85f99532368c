"""LLM-as-judge filter of role-played conversations (METHOD stage 3)."""

from clca.judge.config import JudgeConfig, KeepRule
from clca.judge.parsing import parse_verdict
from clca.judge.runner import kept_conversation_ids, run_judge
from clca.judge.schema import Judgement, JudgeSummary, Verdict

__all__ = [
    "JudgeConfig",
    "JudgeSummary",
    "Judgement",
    "KeepRule",
    "Verdict",
    "kept_conversation_ids",
    "parse_verdict",
    "run_judge",
]
