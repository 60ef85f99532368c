"""Two-agent role-play of culture-adapted scenarios (METHOD stage 2)."""

from clca.roleplay.parsing import ParsedTurn, parse_turn
from clca.roleplay.runner import (
    AgentSampling,
    RoleplayConfig,
    RoleplaySummary,
    agent_messages,
    conversation_seed,
    load_scenarios,
    resolve_culture,
    run_roleplay,
    summary_path,
)
from clca.roleplay.schema import Conversation, Turn

__all__ = [
    "AgentSampling",
    "Conversation",
    "ParsedTurn",
    "RoleplayConfig",
    "RoleplaySummary",
    "Turn",
    "agent_messages",
    "conversation_seed",
    "load_scenarios",
    "resolve_culture",
    "parse_turn",
    "run_roleplay",
    "summary_path",
]
