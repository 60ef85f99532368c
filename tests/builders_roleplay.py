"""Shared builders for the data-generation tests (role-play, judge, intents). Holds no tests itself."""

from __future__ import annotations

from clca.records import Provenance
from clca.roleplay.schema import Conversation, Turn
from clca.scenarios.schema import Participant, Scenario

GOAL_A = "Convince Mei to join the school's volunteer programme this spring."
SECRET_A = "Li is moving to Shanghai next year and needs a successor."
GOAL_B = "Decline the request politely without making Li lose face."
SECRET_B = "Mei has a heart condition she hides from her neighbours."


def make_scenario(scenario_id: str = "s1", culture: str = "CHN") -> Scenario:
    return Scenario(
        id=scenario_id,
        culture=culture,
        setting="A teahouse in Suzhou on a Sunday afternoon.",
        relationship="acquaintance",
        participants=(
            Participant(first_name="Li", last_name="Wei", age=34, gender="man", occupation="teacher",
                        background="Earnest and talkative.", public_info="Teaches at the local school.",
                        goal=f"{GOAL_A} [{scenario_id}]", secret=SECRET_A),
            Participant(first_name="Mei", last_name="Chen", age=58, gender="woman", occupation="retired nurse",
                        background="Warm but private.", public_info="Volunteers at the temple.",
                        goal=f"{GOAL_B} [{scenario_id}]", secret=SECRET_B),
        ),
        source="seed",
    )


def make_conversation(
    scenario_id: str = "s1", texts: list[str] | None = None, termination: str = "max_turns", sample: int = 0,
    actions: list[str] | None = None,
) -> Conversation:
    scenario = make_scenario(scenario_id)
    texts = texts if texts is not None else ["Good afternoon, Auntie Mei.", "Ah, Teacher Li, please sit.",
                                             "May I ask you a favour?", "Of course."]
    actions = actions or ["speak"] * len(texts)
    turns = [
        Turn(index=i, speaker=i % 2, speaker_name=scenario.participants[i % 2].full_name, action=a,
             text=t if a != "none" else "")
        for i, (t, a) in enumerate(zip(texts, actions, strict=True))
    ]
    return Conversation(id=f"{scenario_id}#{sample}", scenario=scenario, sample_index=sample, seed=1, turns=turns,
                        termination=termination, error="backend down" if termination == "error" else None,
                        agent_provenance=(Provenance(), Provenance()))


def system_prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "system")


def whole_prompt(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def speaker_of(body: dict) -> str:
    """'Li' or 'Mei': whose agent a role-play request is for."""
    return "Li" if system_prompt(body).startswith("You are Li ") else "Mei"


def turn_of(body: dict) -> int:
    """Turn index of a role-play request, from its history (own turns = assistant messages)."""
    own = sum(m["role"] == "assistant" for m in body["messages"])
    return 2 * own + (0 if speaker_of(body) == "Li" else 1)
