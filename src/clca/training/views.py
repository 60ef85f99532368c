"""The three training views of a conversation, as chat messages (no tokenizer involved yet).

- participant views (`participant_0`, `participant_1`): the model plays one participant. The system prompt
  describes the setting, both participants' public profiles, and the goal and secret of the participant being
  trained — never the other participant's goal or secret. That participant's turns are assistant messages; the
  other participant's turns are user messages.
- intent view (`intent`): no role-play. The system prompt gives the setting and both public profiles (no goals or
  secrets: intents are inferred from behaviour, as an observer would). The conversation is fed turn by turn as
  user messages; after each labelled turn the assistant states that turn's intent and whether it is generic or
  cultural. One multi-turn example per conversation: each answer sees exactly the conversation so far, and the
  shared prefix is encoded once instead of once per turn.

Rendering decisions (documented in the training README):
- a view whose first message would be the assistant's (the trained participant speaks first) gets a neutral user
  message "(The conversation begins.)" first, because several chat templates require a user turn before the first
  assistant turn;
- actions: speak → the text; non-verbal → "*text*"; leave → "text [leaves]" / "[leaves]"; none → "[does nothing]";
- consecutive turns of the same side are merged into one message (templates such as Mistral's require strict
  user/assistant alternation); trailing user messages after the last assistant message are dropped (no loss on
  them, so they would only cost compute);
- turns whose intent label failed are shown as context but not answered; unlabelled trailing turns are dropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from clca.intents.schema import ConversationIntents
from clca.llm.base import Message
from clca.prompts import load_template
from clca.records import PromptRef
from clca.roleplay.schema import Conversation, Turn

ViewName = Literal["participant_0", "participant_1", "intent"]
Task = Literal["dialogue", "intent"]

DIALOGUE_SYSTEM = "train_dialogue_system.v1"
TURN = "train_turn.v1"
OPENING = "train_opening.v1"
INTENT_SYSTEM = "train_intent_system.v1"
INTENT_TURN = "train_intent_turn.v1"
INTENT_ANSWER = "train_intent_answer.v1"
TEMPLATES = [DIALOGUE_SYSTEM, TURN, OPENING, INTENT_SYSTEM, INTENT_TURN, INTENT_ANSWER]


class View(BaseModel):
    """One training example before tokenisation."""

    model_config = ConfigDict(extra="forbid")
    id: str  # f"{conversation_id}/{view}"
    conversation_id: str
    culture: str
    task: Task
    view: ViewName
    messages: list[Message]


def template_refs() -> list[PromptRef]:
    return [PromptRef(**load_template(name).provenance()) for name in TEMPLATES]


def render_turn(turn: Turn) -> str:
    return load_template(TURN).render(action=turn.action, text=turn.text.strip())


def _merge_same_role(messages: list[Message]) -> list[Message]:
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role and message.role != "system":
            merged[-1] = Message(role=message.role, content=merged[-1].content + "\n" + message.content)
        else:
            merged.append(message)
    return merged


def _drop_trailing_user(messages: list[Message]) -> list[Message]:
    end = len(messages)
    while end and messages[end - 1].role == "user":
        end -= 1
    return messages[:end]


def participant_view(conversation: Conversation, speaker: Literal[0, 1]) -> View | None:
    """The view in which the model plays participant `speaker`; None when that participant never acted."""
    scenario = conversation.scenario
    me, other = scenario.participants[speaker], scenario.participants[1 - speaker]
    system = load_template(DIALOGUE_SYSTEM).render(
        me=me, other=other, setting=scenario.setting, relationship=scenario.relationship.replace("_", " "),
        participants=scenario.participants,
    )
    messages = [Message(role="system", content=system)]
    for turn in conversation.turns:
        role = "assistant" if turn.speaker == speaker else "user"
        messages.append(Message(role=role, content=render_turn(turn)))
    messages = _drop_trailing_user(_merge_same_role(messages))
    if len(messages) < 2:
        return None
    if messages[1].role == "assistant":
        messages.insert(1, Message(role="user", content=load_template(OPENING).render()))
    name: ViewName = "participant_0" if speaker == 0 else "participant_1"
    return View(id=f"{conversation.id}/{name}", conversation_id=conversation.id, culture=conversation.culture,
                task="dialogue", view=name, messages=messages)


def intent_view(conversation: Conversation, intents: ConversationIntents) -> View | None:
    """The intent-prediction view; None when no turn has a usable intent label."""
    scenario = conversation.scenario
    labels = {i.turn_index: i for i in intents.intents if i.intent and i.intent.strip() and i.kind is not None}
    system = load_template(INTENT_SYSTEM).render(
        setting=scenario.setting, relationship=scenario.relationship.replace("_", " "),
        participants=scenario.participants,
    )
    messages = [Message(role="system", content=system)]
    pending: list[dict[str, str]] = []  # turns shown since the last answer
    for turn in conversation.turns:
        pending.append({"speaker_name": turn.speaker_name, "rendered": render_turn(turn)})
        label = labels.get(turn.index)
        if label is None:
            continue
        question = load_template(INTENT_TURN).render(turns=pending, last_speaker=turn.speaker_name)
        answer = load_template(INTENT_ANSWER).render(intent=label.intent.strip(), kind=label.kind)
        messages += [Message(role="user", content=question), Message(role="assistant", content=answer)]
        pending = []
    if len(messages) < 3:
        return None
    return View(id=f"{conversation.id}/intent", conversation_id=conversation.id, culture=conversation.culture,
                task="intent", view="intent", messages=messages)
