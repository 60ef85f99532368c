"""Two-agent role-play of culture-adapted scenarios (METHOD stage 2)."""

from clca.roleplay.config import AgentSampling, RoleplayConfig
from clca.roleplay.parsing import ParsedTurn, parse_turn
from clca.roleplay.runner import agent_messages, conversation_seed, load_scenarios, run_roleplay
from clca.roleplay.schema import Conversation, RoleplaySummary, Turn, load_conversations

__all__ = [
    "AgentSampling",
    "Conversation",
    "ParsedTurn",
    "RoleplayConfig",
    "RoleplaySummary",
    "Turn",
    "agent_messages",
    "conversation_seed",
    "load_conversations",
    "load_scenarios",
    "parse_turn",
    "run_roleplay",
]
