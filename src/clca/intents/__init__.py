"""Per-turn intent labels of kept conversations (METHOD stage 4)."""

from clca.intents.config import IntentsConfig
from clca.intents.parsing import parse_intent, parse_kind
from clca.intents.runner import run_intents
from clca.intents.schema import ConversationIntents, IntentsSummary, TurnIntent

__all__ = [
    "ConversationIntents",
    "IntentsConfig",
    "IntentsSummary",
    "TurnIntent",
    "parse_intent",
    "parse_kind",
    "run_intents",
]
