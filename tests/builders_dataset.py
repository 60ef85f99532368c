"""Records in the upstream stages' schemas, shared by the dataset and training tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

from clca.intents.schema import ConversationIntents, TurnIntent
from clca.jsonl import JsonlStore
from clca.judge.schema import Judgement, Verdict
from clca.records import Provenance
from clca.roleplay.schema import Conversation, Turn
from clca.scenarios.schema import Participant, Scenario

GOAL_0 = "Convince Li Wei to join the family business in Suzhou"
SECRET_0 = "Mei secretly borrowed money from the shop's savings"
GOAL_1 = "Politely decline the offer while keeping the family's goodwill"
SECRET_1 = "Wei has already accepted a job in Shanghai"

LINES = [
    (0, "speak", "Wei, thank you for coming to the teahouse. Please, have some Longjing tea first."),
    (1, "non-verbal", "bows slightly and accepts the cup with both hands"),
    (1, "speak", "Thank you, Auntie Mei. It is an honour to be invited."),
    (0, "speak", "Our shop needs a young person like you. Your father would be proud if you joined us."),
    (1, "speak", "I am grateful for your trust. May I think about it and discuss it with my parents?"),
    (0, "none", ""),
    (1, "leave", "Thank you again for the tea, Auntie."),
]


def scenario(idx: int = 0) -> Scenario:
    return Scenario(
        id=f"chn-{idx}", culture="CHN", setting="A quiet teahouse in Suzhou on a Sunday afternoon",
        relationship="family_member", source="adapted",
        participants=(
            Participant(first_name="Mei", last_name="Zhang", age=52, gender="woman", occupation="shop owner",
                        background="Runs a silk shop", goal=GOAL_0, secret=SECRET_0),
            Participant(first_name="Wei", last_name="Li", age=24, gender="man", occupation="engineer",
                        background="Recently graduated", goal=GOAL_1, secret=SECRET_1),
        ),
    )


def conversation(idx: int = 0, lines=LINES, termination: str = "leave") -> Conversation:
    sc = scenario(idx)
    turns = [
        Turn(index=i, speaker=s, speaker_name=sc.participants[s].first_name, action=a, text=t)
        for i, (s, a, t) in enumerate(lines)
    ]
    return Conversation(id=f"{sc.id}#0", scenario=sc, sample_index=0, seed=idx, turns=turns,
                        termination=termination, agent_provenance=(Provenance(), Provenance()))


def judgement(conv: Conversation, keep: bool) -> Judgement:
    verdict = Verdict(label="good" if keep else "bad", confidence="very confident")
    return Judgement(id=conv.id, conversation_id=conv.id, culture=conv.culture, quality=verdict,
                     cultural_alignment=Verdict(label="aligned", confidence="confident"), meta=verdict,
                     keep=keep, keep_reason="test")


def intents(conv: Conversation, skip: frozenset[int] = frozenset()) -> ConversationIntents:
    labels = []
    for turn in conv.turns:
        if turn.index in skip:
            labels.append(TurnIntent(turn_index=turn.index, speaker=turn.speaker, intent=None, kind=None,
                                     error="unparseable"))
        else:
            kind = "cultural" if turn.index % 2 == 0 else "generic"
            labels.append(TurnIntent(turn_index=turn.index, speaker=turn.speaker,
                                     intent=f"to show respect in turn {turn.index}", kind=kind))
    return ConversationIntents(id=conv.id, conversation_id=conv.id, culture=conv.culture, intents=labels)


def write_inputs(root: Path, n: int = 3, dropped: int = 1) -> dict[str, Path]:
    """n kept conversations plus `dropped` ones the judge dropped; returns the three input paths."""
    convs = [conversation(i) for i in range(n + dropped)]
    paths = {"conversations": root / "conversations.jsonl", "judgements": root / "judgements.jsonl",
             "intents": root / "intents.jsonl"}
    JsonlStore(paths["conversations"], Conversation).write_all(convs)
    JsonlStore(paths["judgements"], Judgement).write_all(judgement(c, keep=i < n) for i, c in enumerate(convs))
    JsonlStore(paths["intents"], ConversationIntents).write_all(intents(c) for c in convs[:n])
    return paths
