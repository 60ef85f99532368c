"""Judge runner against a real local OpenAI-compatible server with scripted verdicts."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from builders_roleplay import make_conversation, whole_prompt
from clca.errors import BackendError, InputDataError
from clca.jsonl import JsonlStore
from clca.judge import JudgeConfig, Judgement, KeepRule, kept_conversation_ids, run_judge
from clca.layout import summary_path
from clca.llm import load_backend
from clca.roleplay import Conversation
from clca.testing.openai_server import OpenAICompatServer


def backend_for(server: OpenAICompatServer):
    return load_backend(f"openai:test-model@{server.base_url}", cache=False, max_retries=0, retry_backoff_s=0.01)


def part_of(body: dict) -> str:
    prompt = whole_prompt(body)
    if "reviewing two judgements" in prompt:
        return "meta"
    if "culturally aligned" in prompt:
        return "cultural_alignment"
    return "quality"


def conv_of(body: dict) -> str:
    prompt = whole_prompt(body)
    return next(tag for tag in ("good", "badq", "badmeta", "garbled", "flaky", "unsure") if f"[{tag}]" in prompt)


def write_conversations(path, ids: list[str], **kwargs) -> None:
    JsonlStore(path, Conversation).append(make_conversation(i, **kwargs) for i in ids)


def scripted(counter: Counter):
    def responder(body: dict) -> str:
        conv, part = conv_of(body), part_of(body)
        counter[(conv, part)] += 1
        if conv == "badq" and part == "quality":
            return "**LABEL:** Bad\n**CONFIDENCE:** Very confident\n**REASON:** The last turns repeat."
        if conv == "badmeta" and part == "meta":
            return '{"label": "bad", "confidence": "very confident", "critique": "Both missed the loop."}'
        if conv == "garbled" and part == "quality":
            return "I'm sorry, I cannot evaluate this."
        if conv == "flaky" and part == "quality" and counter[(conv, part)] == 1:
            return "LABEL: splendid"
        if conv == "unsure" and part == "quality":
            return "LABEL: bad\nCONFIDENCE: not sure\nREASON: hard to tell."
        if part == "cultural_alignment":
            return "LABEL: aligned\nCONFIDENCE: confident\nREASON: polite and indirect."
        if part == "meta":
            return "CRITIQUE: Both judgements are reasonable.\nLABEL: good\nCONFIDENCE: confident"
        return "LABEL: good\nCONFIDENCE: very confident\nREASON: coherent."

    return responder


def test_verdicts_keep_rule_retries_failures_and_summary(tmp_path) -> None:
    conversations, out = tmp_path / "c.jsonl", tmp_path / "j.jsonl"
    write_conversations(conversations, ["good", "badq", "badmeta", "garbled", "flaky", "unsure"])
    counter: Counter = Counter()
    with OpenAICompatServer(responder=scripted(counter)) as server:
        summary = run_judge(conversations, out, backend_for(server), JudgeConfig(max_attempts=2))
        meta_prompts = [whole_prompt(r.body) for r in server.requests if part_of(r.body) == "meta"]
    by_id = {j.id: j for j in JsonlStore(out, Judgement).read()}

    good = by_id["good#0"]
    assert good.keep and good.keep_reason == "passed"
    assert (good.quality.label, good.quality.confidence, good.quality.reason) == ("good", "very confident", "coherent.")
    assert good.cultural_alignment.label == "aligned" and good.meta.reason == "Both judgements are reasonable."
    assert not by_id["badq#0"].keep and by_id["badq#0"].keep_reason == "quality bad (very confident)"
    assert not by_id["badmeta#0"].keep and by_id["badmeta#0"].keep_reason == "meta bad (very confident)"
    assert by_id["unsure#0"].keep  # bad but "not sure": the paper's rule keeps it

    garbled = by_id["garbled#0"]  # never parseable: None + reason + raw, asked max_attempts times, dropped
    assert garbled.quality is None and "no quality label" in garbled.failures["quality"]
    assert garbled.raw["quality"] == "I'm sorry, I cannot evaluate this." and garbled.attempts["quality"] == 2
    assert counter[("garbled", "quality")] == 2
    assert not garbled.keep and garbled.keep_reason.startswith("unjudged: quality")

    flaky = by_id["flaky#0"]  # unparseable once, then fine
    assert flaky.quality.label == "good" and flaky.attempts["quality"] == 2 and not flaky.failures

    # the meta-judge sees both judgements, and a failed part as "no judgement"
    assert any("good (very confident). coherent." in p and "aligned (confident)" in p for p in meta_prompts)
    assert any("no judgement" in p for p in meta_prompts)

    assert summary.kept == 3 and summary.dropped == 3 and summary.kept_ratio == 0.5
    assert summary.failures == {"quality": 1}
    assert summary.breakdown["quality"]["bad"] == {"very confident": 1, "not sure": 1}
    assert summary.keep_reasons["passed"] == 3
    assert json.loads(summary_path(out).read_text())["kept_ratio"] == 0.5
    assert kept_conversation_ids(out) == {"good#0", "flaky#0", "unsure#0"}
    prov = good.provenance
    assert prov.model.backend == "openai" and {p.name for p in prov.prompts} >= {"judge_quality.v1", "judge_meta.v1"}


def test_failure_policy_keep_and_error_conversations(tmp_path) -> None:
    conversations, out = tmp_path / "c.jsonl", tmp_path / "j.jsonl"
    write_conversations(conversations, ["garbled"])
    JsonlStore(conversations, Conversation).append([make_conversation("good", termination="error")])
    with OpenAICompatServer(responder=scripted(Counter())) as server:
        config = JudgeConfig(max_attempts=1, keep=KeepRule(on_failure="keep"))
        summary = run_judge(conversations, out, backend_for(server), config)
        asked = {conv_of(r.body) for r in server.requests}
    assert asked == {"garbled"}  # the errored conversation is not sent to the judge
    by_id = {j.id: j for j in JsonlStore(out, Judgement).read()}
    assert by_id["garbled#0"].keep and "on_failure=keep" in by_id["garbled#0"].keep_reason
    assert not by_id["good#0"].keep and by_id["good#0"].keep_reason == "conversation ended with an error"
    assert summary.error_conversations == 1


def test_resume_skips_judged_conversations(tmp_path) -> None:
    conversations, out = tmp_path / "c.jsonl", tmp_path / "j.jsonl"
    write_conversations(conversations, ["good", "badq", "unsure"])

    class Stop(Exception):
        pass

    def stop(_j: Judgement) -> None:
        raise Stop

    with OpenAICompatServer(responder=scripted(Counter())) as server:
        with pytest.raises(Stop):
            run_judge(conversations, out, backend_for(server), JudgeConfig(group_size=1), on_judgement=stop)
        assert [j.id for j in JsonlStore(out, Judgement).read()] == ["good#0"]
        server.reset_stats()
        summary = run_judge(conversations, out, backend_for(server), JudgeConfig(group_size=1))
        assert "good" not in {conv_of(r.body) for r in server.requests}
    ids = [j.id for j in JsonlStore(out, Judgement).read()]
    assert sorted(ids) == ["badq#0", "good#0", "unsure#0"]
    assert summary.judged_now == 2 and summary.skipped_existing == 1


def test_logprob_mode_needs_a_scoring_backend(tmp_path) -> None:
    conversations = tmp_path / "c.jsonl"
    write_conversations(conversations, ["good"])
    with OpenAICompatServer(responder=scripted(Counter())) as server:  # no scorer: no prompt logprobs
        with pytest.raises(BackendError, match="mode: generate"):
            run_judge(conversations, tmp_path / "j.jsonl", backend_for(server), JudgeConfig(mode="logprob"))


def test_missing_input_is_a_clear_error(tmp_path) -> None:
    with OpenAICompatServer() as server, pytest.raises(InputDataError, match="clca roleplay"):
        run_judge(tmp_path / "nope.jsonl", tmp_path / "j.jsonl", backend_for(server))
