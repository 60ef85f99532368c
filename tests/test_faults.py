"""Faults survived: role-play → judge → intents through a real local server that fails ~30% of calls at random.

The server (clca.testing.OpenAICompatServer) answers with the deterministic scripted responder and injects, by a
seeded random plan, every fault real servers produce now and then: 429 with Retry-After, 500, 503, slow answers
that run into the client timeout, connections dropped mid-body, truncated JSON and empty `choices`.
A fault-free run of the same data is the reference: with retries, the faulty run must give the same records;
with too few retries, items that still fail must be recorded as failures with a reason — never lost, never
duplicated, never silently turned into an answer.
"""

from __future__ import annotations

from collections import Counter

import pytest

from clca.intents import IntentsConfig, run_intents
from clca.intents.schema import ConversationIntents
from clca.jsonl import JsonlStore
from clca.judge import JudgeConfig, Judgement, run_judge
from clca.llm import ModelConfig, open_backend
from clca.roleplay import Conversation, RoleplayConfig, run_roleplay
from clca.scenarios.generate import load_seed_scenarios
from clca.testing.openai_server import FAULT_KINDS, FaultPlan, OpenAICompatServer
from clca.testing.scripted import ScriptedResponder, stable_content

N_SCENARIOS = 5  # × 2 conversations per scenario = 10 conversations
FAULT_RATE = 0.3


def backend(server: OpenAICompatServer, *, max_retries: int):
    return open_backend(ModelConfig(spec=f"openai:scripted@{server.base_url}", cache=False, max_retries=max_retries,
                                    retry_backoff_s=0.005, timeout_s=0.5, concurrency=8))


def run_chain(tmp, server: OpenAICompatServer, *, max_retries: int) -> dict[str, list]:
    scenarios = load_seed_scenarios()[:N_SCENARIOS]
    model = backend(server, max_retries=max_retries)
    conversations, judgements, intents = tmp / "conversations.jsonl", tmp / "judgements.jsonl", tmp / "intents.jsonl"
    run_roleplay(scenarios, conversations, model, config=RoleplayConfig(max_turns=6, group_size=4))
    run_judge(conversations, judgements, model, config=JudgeConfig(mode="generate", group_size=4))
    run_intents(conversations, intents, model, config=IntentsConfig(kind_mode="generate", group_size=4),
                judgements_path=judgements)
    return {
        "conversations": JsonlStore(conversations, Conversation).read(),
        "judgements": JsonlStore(judgements, Judgement).read(),
        "intents": JsonlStore(intents, ConversationIntents).read(),
    }


def content(record) -> dict:
    """What must not depend on faults: the whole record minus timestamps, latencies and attempt counts."""
    return stable_content(record)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list]:
    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        return run_chain(tmp_path_factory.mktemp("reference"), server, max_retries=0)


def faulty_plan(seed: int) -> FaultPlan:
    return FaultPlan(rate=FAULT_RATE, kinds=FAULT_KINDS, seed=seed, retry_after=0.01, slow_delay_s=1.0)


def assert_no_duplicates(records: dict[str, list]) -> None:
    for name, items in records.items():
        ids = [r.id for r in items]
        assert len(ids) == len(set(ids)), f"duplicated {name}: {Counter(ids).most_common(3)}"


def test_reference_run_is_complete_and_nontrivial(reference) -> None:
    conversations, judgements, intents = reference["conversations"], reference["judgements"], reference["intents"]
    assert len(conversations) == 2 * N_SCENARIOS
    assert all(c.termination != "error" and len(c.turns) >= 2 for c in conversations)
    assert {j.id for j in judgements} == {c.id for c in conversations}
    kept = {j.id for j in judgements if j.keep}
    assert 0 < len(kept) < len(judgements)  # the scripted judge drops some: the filter is exercised
    assert {i.id for i in intents} == kept
    assert all(t.intent and t.kind for i in intents for t in i.intents)


def test_30_percent_faults_with_retries_give_the_reference_records(tmp_path, reference) -> None:
    with OpenAICompatServer(responder=ScriptedResponder(), faults=faulty_plan(seed=11)) as server:
        records = run_chain(tmp_path, server, max_retries=8)
        faults = Counter(r.fault for r in server.requests if r.fault)
        calls = server.calls
    print(f"\nfaults survived: {sum(faults.values())} of {calls} calls ({dict(faults)})")
    assert sum(faults.values()) / calls > 0.2 and len(faults) == len(FAULT_KINDS), faults  # every kind happened
    assert_no_duplicates(records)
    for name in ("conversations", "judgements", "intents"):
        assert [content(r) for r in sorted(records[name], key=lambda r: r.id)] == \
            [content(r) for r in sorted(reference[name], key=lambda r: r.id)], name


def test_30_percent_faults_without_enough_retries_record_every_failure(tmp_path, reference) -> None:
    """One retry: some items still fail. Each is either produced (then equal to the reference) or recorded as a
    failure with a reason; the set of ids is complete and nothing is duplicated."""
    with OpenAICompatServer(responder=ScriptedResponder(), faults=faulty_plan(seed=5)) as server:
        records = run_chain(tmp_path, server, max_retries=1)
    assert_no_duplicates(records)
    reference_by_id = {name: {r.id: r for r in items} for name, items in reference.items()}

    conversations = records["conversations"]
    assert {c.id for c in conversations} == set(reference_by_id["conversations"])
    failed_conversations = [c for c in conversations if c.termination == "error"]
    for c in conversations:
        if c.termination == "error":
            assert c.error, c.id
        else:
            assert content(c) == content(reference_by_id["conversations"][c.id])

    judgements = records["judgements"]
    assert {j.id for j in judgements} == {c.id for c in conversations}
    failed_parts = 0
    for j in judgements:
        for part in ("quality", "cultural_alignment", "meta"):
            if getattr(j, part) is None and c_ok(conversations, j.id):
                assert j.failures.get(part), (j.id, part)  # never a silent None
                failed_parts += 1
        assert not j.keep or j.quality is not None  # a failed part is never turned into a "good" verdict

    kept = {j.id for j in judgements if j.keep}
    assert {i.id for i in records["intents"]} == kept
    failed_turns = 0
    for item in records["intents"]:
        for turn in item.intents:
            if turn.intent is None or turn.kind is None:
                assert turn.error, (item.id, turn.turn_index)
                failed_turns += 1
    total_failures = len(failed_conversations) + failed_parts + failed_turns
    print(f"\nrecorded failures: {len(failed_conversations)} conversations, {failed_parts} judge parts, "
          f"{failed_turns} intent turns")
    assert total_failures > 0  # with one retry at a 30% fault rate some items must fail: the path is exercised


def c_ok(conversations: list[Conversation], conversation_id: str) -> bool:
    return next(c for c in conversations if c.id == conversation_id).termination != "error"
