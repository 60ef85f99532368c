"""clca.scenarios — seed scenarios, culture adaptation, norm-based generation and imports (METHOD stage 1)."""

from clca.scenarios.config import ScenariosConfig
from clca.scenarios.generate import (
    ScenarioGenerationSummary,
    adapt_scenarios,
    load_seed_scenarios,
    scenarios_from_norms,
    seed_scenarios_for,
)
from clca.scenarios.importers import import_scenarios, imported_scenarios_for
from clca.scenarios.schema import Participant, Scenario

__all__ = [
    "Participant",
    "Scenario",
    "ScenarioGenerationSummary",
    "ScenariosConfig",
    "adapt_scenarios",
    "import_scenarios",
    "imported_scenarios_for",
    "load_seed_scenarios",
    "scenarios_from_norms",
    "seed_scenarios_for",
]
