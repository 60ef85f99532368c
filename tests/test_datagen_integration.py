"""seeds → role-play → judge → intents with the real embedded model (SmolLM2-135M) on 2 scenarios, with resume."""

from __future__ import annotations

import pytest

from clca.cultures import resolve_culture
from clca.intents import ConversationIntents, IntentsConfig, run_intents
from clca.jsonl import JsonlStore
from clca.judge import JudgeConfig, Judgement, run_judge
from clca.judge.gate import GateConfig
from clca.roleplay import Conversation, RoleplayConfig, agent_messages, run_roleplay
from clca.scenarios import load_seed_scenarios

pytestmark = pytest.mark.slow


class Interrupted(Exception):
    pass


def test_seeds_to_intents_with_the_embedded_model(tmp_path, embedded_backend) -> None:
    # Two bundled seeds, placed in a real culture so the culture paragraph is exercised (as adapted ones would be).
    scenarios = [s.model_copy(update={"culture": "CHN"}) for s in load_seed_scenarios()[:2]]
    conversations_path = tmp_path / "conversations.jsonl"
    # Tiny on purpose (CI budget): 2 turns of at most 16 tokens; group_size=1 so that the interrupted run has
    # generated only the first conversation when it is stopped.
    config = RoleplayConfig(max_turns=2, conversations_per_scenario=1, group_size=1, agent_a={"max_tokens": 16},
                            agent_b={"max_tokens": 16})

    def interrupt(conversation: Conversation) -> None:
        raise Interrupted(conversation.id)

    with pytest.raises(Interrupted):  # killed after the first conversation is durably written
        run_roleplay(scenarios, conversations_path, embedded_backend, config=config, on_conversation=interrupt)
    first_ids = [c.id for c in JsonlStore(conversations_path, Conversation).read()]
    assert len(first_ids) == 1

    summary = run_roleplay(scenarios, conversations_path, embedded_backend, config=config)
    conversations = JsonlStore(conversations_path, Conversation).read()
    ids = [c.id for c in conversations]
    assert sorted(ids) == sorted(f"{s.id}#0" for s in scenarios) and len(set(ids)) == len(ids)
    assert ids[0] == first_ids[0]  # kept, not regenerated
    assert summary.generated == 1 and summary.skipped_existing == 1

    culture = resolve_culture("CHN")
    for c in conversations:
        assert c.termination in ("leave", "idle", "max_turns")  # no backend error
        assert 1 <= len(c.turns) <= 2
        assert [t.speaker for t in c.turns] == [i % 2 for i in range(len(c.turns))]
        assert all(t.raw is not None for t in c.turns)
        assert c.agent_provenance[0].model.backend == "embedded" and c.agent_provenance[0].seed == c.seed
        # private information: every prompt an agent got holds its own goal and never the other's
        for t in c.turns:
            me, other = c.scenario.participants[t.speaker], c.scenario.participants[1 - t.speaker]
            prompt = "\n".join(m.content for m in agent_messages(c.scenario, t.speaker, c.turns[: t.index], *culture))
            assert me.goal in prompt and other.goal not in prompt
            assert not other.secret or other.secret not in prompt

    judgements_path = tmp_path / "judgements.jsonl"
    # the 135M model's conversations do not pass the quality gate (README, judge); this test is about the judge
    ungated = JudgeConfig(mode="logprob", gate=GateConfig(enabled=False))
    judge_summary = run_judge(conversations_path, judgements_path, embedded_backend, ungated)
    judgements = JsonlStore(judgements_path, Judgement).read()
    assert {j.id for j in judgements} == set(ids)
    for j in judgements:  # log-prob choice always yields a label: no parse failures
        assert j.quality and j.cultural_alignment and j.meta and not j.failures
        assert j.quality.label in ("good", "bad") and j.cultural_alignment.label in ("aligned", "not aligned")
    assert judge_summary.kept + judge_summary.dropped == 2

    intents_path = tmp_path / "intents.jsonl"
    # No judge filter here (the "no filter" ablation path) so that intents run even if the tiny judge drops both.
    intents_summary = run_intents(conversations_path, intents_path, embedded_backend,
                                  IntentsConfig(max_tokens=16, max_attempts=1))
    records = JsonlStore(intents_path, ConversationIntents).read()
    assert {r.id for r in records} == set(ids)
    labelled_turns = sum(t.action != "none" for c in conversations for t in c.turns)
    assert intents_summary.turns == labelled_turns
    assert intents_summary.kind_mode == "logprob"
    for r in records:
        for item in r.intents:
            assert (item.intent is None) == (item.error is not None and item.error.startswith("intent"))
            if item.intent is not None:
                assert item.kind in ("generic", "cultural")  # log-prob kind never fails
