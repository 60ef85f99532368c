"""Intent labelling against a real local OpenAI-compatible server with scripted answers."""

from __future__ import annotations

import json

import pytest

from builders_roleplay import make_conversation, whole_prompt
from clca.errors import InputDataError
from clca.intents import ConversationIntents, IntentsConfig, run_intents
from clca.jsonl import JsonlStore
from clca.judge import Judgement
from clca.layout import summary_path
from clca.llm import load_backend
from clca.roleplay import Conversation
from clca.testing.openai_server import OpenAICompatServer


def backend_for(server: OpenAICompatServer):
    return load_backend(f"openai:test-model@{server.base_url}", cache=False, max_retries=0, retry_backoff_s=0.01)


def responder(body: dict) -> str:
    prompt = whole_prompt(body)
    if prompt.startswith("Intent of a speaker"):  # the generic/cultural question
        intent = prompt.split('"')[1]
        if "humbly" in intent:
            return "cultural"
        if "greet" in intent:
            return "Generic."
        return "hmm, hard to say"
    last_turn = prompt.split("Conversation so far:")[1].split("What is")[0].strip().splitlines()[-1]
    if "favour" in last_turn:
        return "I'm sorry, but I cannot determine the intent."
    if "Auntie" in last_turn:
        return 'Intent: "To greet Mei respectfully and humbly, as expected towards an elder in China."'
    if "sit" in last_turn:
        return "To greet Li and invite him to sit."
    return "To agree to listen."


def write_inputs(tmp_path, judged: dict[str, bool]):
    conversations, judgements = tmp_path / "c.jsonl", tmp_path / "j.jsonl"
    JsonlStore(conversations, Conversation).append(make_conversation(cid) for cid in judged)
    JsonlStore(judgements, Judgement).append(
        Judgement(id=f"{cid}#0", conversation_id=f"{cid}#0", culture="CHN", keep=keep, keep_reason="test")
        for cid, keep in judged.items()
    )
    return conversations, judgements


def test_kept_conversations_get_per_turn_intents_and_kinds(tmp_path) -> None:
    conversations, judgements = write_inputs(tmp_path, {"a": True, "b": False, "c": True})
    out = tmp_path / "i.jsonl"
    with OpenAICompatServer(responder=responder) as server:  # no scorer → kind_mode auto falls back to generate
        summary = run_intents(conversations, out, backend_for(server), IntentsConfig(max_attempts=2),
                              judgements_path=judgements)
        label_prompts = [whole_prompt(r.body) for r in server.requests if "What is" in whole_prompt(r.body)]
    records = {r.id: r for r in JsonlStore(out, ConversationIntents).read()}
    assert set(records) == {"a#0", "c#0"}  # b was dropped by the judge
    intents = records["a#0"].intents
    assert [i.turn_index for i in intents] == [0, 1, 2, 3] and [i.speaker for i in intents] == [0, 1, 0, 1]
    assert intents[0].intent == "To greet Mei respectfully and humbly, as expected towards an elder in China."
    assert intents[0].kind == "cultural"
    assert intents[1].kind == "generic"
    # turn 2: refusal twice → failure with reason and raw text, no kind
    assert intents[2].intent is None and intents[2].kind is None
    assert "refusal" in intents[2].error and "after 2 attempt" in intents[2].error
    assert intents[2].raw.startswith("I'm sorry")
    # turn 3: intent fine, kind unparseable → intent kept, kind None with reason
    assert intents[3].intent == "To agree to listen." and intents[3].kind is None and intents[3].error.startswith("kind:")
    assert records["a#0"].cultural_share == 0.5
    assert records["a#0"].provenance.sampling["kind_mode"] == "generate"

    # the labeller sees the conversation only up to the labelled turn, and no private goals/secrets
    first = next(p for p in label_prompts if "sit." not in p)
    assert "Auntie" in first and "favour" not in first
    assert all("Convince" not in p and "heart condition" not in p and "[a]" not in p for p in label_prompts)

    assert summary.conversations == 2 and summary.turns == 8 and summary.not_kept == 1
    assert summary.intents == 6 and summary.intent_failures == 2 and summary.kind_failures == 2
    assert summary.cultural == 2 and summary.generic == 2 and summary.cultural_share == 0.5
    assert json.loads(summary_path(out).read_text())["cultural_share"] == 0.5


def test_noop_turns_are_not_labelled_and_resume_skips_done(tmp_path) -> None:
    conversations, out = tmp_path / "c.jsonl", tmp_path / "i.jsonl"
    JsonlStore(conversations, Conversation).append([
        make_conversation("x", texts=["Hello from the x table.", "", "Of course."], actions=["speak", "none", "speak"]),
        make_conversation("y"),
        make_conversation("z", termination="error"),
    ])

    class Stop(Exception):
        pass

    def stop(_r: ConversationIntents) -> None:
        raise Stop

    with OpenAICompatServer(responder=responder) as server:
        with pytest.raises(Stop):
            run_intents(conversations, out, backend_for(server), IntentsConfig(group_size=1), on_conversation=stop)
        server.reset_stats()
        summary = run_intents(conversations, out, backend_for(server), IntentsConfig(group_size=1))
        assert all("x table" not in whole_prompt(r.body) for r in server.requests)  # x was not labelled again
    records = {r.id: r for r in JsonlStore(out, ConversationIntents).read()}
    assert sorted(records) == ["x#0", "y#0"]  # no judgements file: all but the errored conversation
    assert [i.turn_index for i in records["x#0"].intents] == [0, 2]
    assert summary.labelled_now == 1 and summary.skipped_existing == 1 and summary.not_kept == 1


def test_conversations_without_judgement_are_an_error(tmp_path) -> None:
    conversations, judgements = write_inputs(tmp_path, {"a": True})
    JsonlStore(conversations, Conversation).append([make_conversation("late")])
    with OpenAICompatServer(responder=responder) as server:
        with pytest.raises(InputDataError, match="no judgement"):
            run_intents(conversations, tmp_path / "i.jsonl", backend_for(server), judgements_path=judgements)
        with pytest.raises(InputDataError, match="judgements file not found"):
            run_intents(conversations, tmp_path / "i.jsonl", backend_for(server),
                        judgements_path=tmp_path / "missing.jsonl")
