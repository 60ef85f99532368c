"""Anti-repetition sampling controls: hand-computed logit arithmetic, the embedded model obeying an n-gram ban,
OpenAI payloads, cache keys of requests without controls unchanged, role-play requests carrying the config."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from builders_roleplay import make_scenario
from clca.errors import BackendError
from clca.llm import GenerationRequest, Message, load_backend
from clca.llm.base import ModelIdentity
from clca.llm.cache import cache_key
from clca.llm.local import LocalBackend
from clca.roleplay.config import AgentSampling, RoleplayConfig
from clca.roleplay.runner import _Running, _TurnLogic
from clca.roleplay.schema import Turn
from clca.testing.openai_server import OpenAICompatServer

HELLO = [Message(role="user", content="Say hello.")]


def test_penalties_match_hand_computed_logits() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0])
    prompt, output = [0], [1, 1]
    rp = LocalBackend._penalise(logits, GenerationRequest(messages=HELLO, repetition_penalty=2.0), prompt, output)
    assert rp.tolist() == [1.0, -2.0, 0.5, 3.0]  # 2/2, -1×2; unseen tokens untouched
    fp = LocalBackend._penalise(
        logits, GenerationRequest(messages=HELLO, frequency_penalty=0.5, presence_penalty=0.1), prompt, output)
    assert fp.tolist() == pytest.approx([2.0, -1.0 - 2 * 0.5 - 0.1, 0.5, 3.0])  # output only, count 2
    ban = LocalBackend._penalise(logits, GenerationRequest(messages=HELLO, no_repeat_ngram_size=2), prompt, output)
    assert ban[1] == -math.inf and ban[[0, 2, 3]].tolist() == [2.0, 0.5, 3.0]  # (1, 1) occurred; ends in 1
    assert logits.tolist() == [2.0, -1.0, 0.5, 3.0]  # the caller's tensor is not modified


def test_unset_controls_leave_cache_keys_as_before() -> None:
    identity = ModelIdentity(backend="embedded", model="m")
    plain = GenerationRequest(messages=HELLO, max_tokens=8)
    # the key as it was computed before the controls existed: the request dump had exactly these fields
    before = {"format": 1, "op": "generate", "model": identity.model_dump(mode="json"),
              "request": {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8,
                          "temperature": 0.0, "top_p": 1.0, "seed": None, "stop": []}}
    blob = json.dumps(before, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert cache_key("generate", identity, plain) == hashlib.sha256(blob.encode()).hexdigest()
    penalised = plain.model_copy(update={"repetition_penalty": 1.3})
    assert cache_key("generate", identity, penalised) != cache_key("generate", identity, plain)


@pytest.mark.slow
def test_embedded_model_obeys_the_ngram_ban(embedded_backend) -> None:
    story = [Message(role="user", content="Repeat the word 'hello' twenty times.")]
    free, banned = embedded_backend.generate([
        GenerationRequest(messages=story, max_tokens=40),
        GenerationRequest(messages=story, max_tokens=40, no_repeat_ngram_size=3),
    ])
    tokenizer = embedded_backend.tokenizer

    def trigrams(text: str) -> list[tuple[int, ...]]:
        ids = embedded_backend.prompt_ids(story) + tokenizer(text, add_special_tokens=False).input_ids
        return [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]

    assert len(set(trigrams(free.text))) < len(trigrams(free.text))  # greedy really loops here
    grams, start = trigrams(banned.text), len(embedded_backend.prompt_ids(story)) - 2
    assert all(grams[i] not in grams[:i] for i in range(start, len(grams)))  # no trigram ending in the output recurs
    [penalised] = embedded_backend.generate([GenerationRequest(messages=story, max_tokens=40, repetition_penalty=1.5)])
    assert penalised.text != free.text


def test_openai_payload_carries_penalties_and_refuses_the_ngram_ban() -> None:
    seen: list[dict] = []

    def responder(body: dict) -> str:
        seen.append(body)
        return "hi"

    with OpenAICompatServer(responder) as server:
        backend = load_backend(f"openai:test-model@{server.base_url}", cache=False, max_retries=0)
        backend.generate([GenerationRequest(messages=HELLO, frequency_penalty=0.4, presence_penalty=0.2),
                          GenerationRequest(messages=HELLO)])
        with pytest.raises(BackendError, match="no_repeat_ngram_size works with local models only"):
            backend.generate([GenerationRequest(messages=HELLO, no_repeat_ngram_size=3)])
        backend.close()
    first, second = seen
    assert (first["frequency_penalty"], first["presence_penalty"]) == (0.4, 0.2)
    assert "repetition_penalty" not in first
    assert not {"frequency_penalty", "presence_penalty", "repetition_penalty"} & set(second)


def test_roleplay_requests_carry_each_agents_controls() -> None:
    config = RoleplayConfig(agent_a=AgentSampling(repetition_penalty=1.3, no_repeat_ngram_size=4),
                            agent_b=AgentSampling(frequency_penalty=0.5))
    logic = _TurnLogic(config, {"CHN": ("China", None)}, None, None)
    state = _Running(make_scenario(), 0, 7)
    first = logic.request(state)
    assert (first.repetition_penalty, first.no_repeat_ngram_size, first.frequency_penalty) == (1.3, 4, None)
    state.turns.append(Turn(index=0, speaker=0, speaker_name="Li Wei", action="speak", text="Good afternoon."))
    second = logic.request(state)
    assert (second.repetition_penalty, second.no_repeat_ngram_size, second.frequency_penalty) == (None, None, 0.5)
    assert "frequency_penalty" in config.model_dump()["agent_b"]  # in the config, hence in stage fingerprints
