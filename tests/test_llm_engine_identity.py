"""Engine identity in provenance: what an OpenAI-compatible server says about its engine (vLLM's `/version`, the
model's `owned_by`, the Server header) is part of the backend's identity, so of every record's provenance."""

from __future__ import annotations

import json

from clca.llm import GenerationRequest, Message, ModelIdentity, load_backend
from clca.llm.cache import cache_key
from clca.llm.engine import EngineInfo, combine, probe_engine
from clca.testing.openai_server import OpenAICompatServer

ASK = GenerationRequest(messages=[Message(role="user", content="hi")])


def test_a_vllm_like_server_reports_engine_and_version():
    with OpenAICompatServer(owned_by="vllm", engine_version="0.6.3.post1", server_header="uvicorn") as server:
        backend = load_backend(f"openai:test-model@{server.base_url}", cache=False)
        identity = backend.identity
        backend.close()
        url = server.base_url
    assert identity == ModelIdentity(backend="openai", model="test-model", server=url, engine="vllm",
                                     engine_version="0.6.3.post1")
    assert identity.model_dump(mode="json")["engine_version"] == "0.6.3.post1"


def test_without_version_endpoint_the_server_header_names_engine_and_version():
    with OpenAICompatServer(server_header="llama.cpp/b4567 extra") as server:
        assert probe_engine(server.base_url, "test-model", {}) == EngineInfo("llama.cpp", "b4567")


def test_owned_by_an_account_is_not_an_engine_and_an_unreachable_server_tells_nothing():
    with OpenAICompatServer(owned_by="system", server_header="cloudfront") as server:
        assert probe_engine(server.base_url, "test-model", {}) == EngineInfo("cloudfront", None)
    assert probe_engine("http://127.0.0.1:9/v1", "m", {}, timeout=1.0) == EngineInfo()


def test_replicas_on_different_versions_are_both_recorded():
    with OpenAICompatServer(owned_by="vllm", engine_version="0.6.3") as one, \
            OpenAICompatServer(owned_by="vllm", engine_version="0.7.0") as two:
        backend = load_backend(f"openai:test-model@{one.base_url},{two.base_url}", cache=False)
        assert (backend.identity.engine, backend.identity.engine_version) == ("vllm", "0.6.3 | 0.7.0")
        backend.close()
    assert combine([EngineInfo("vllm", "1"), EngineInfo(None, None)]) == EngineInfo("vllm", "1")


def test_the_engine_version_reaches_each_records_provenance_and_the_cache_key(tmp_path):
    from builders_roleplay import make_scenario
    from clca.roleplay import RoleplayConfig, run_roleplay

    with OpenAICompatServer(responder=lambda body: "ACTION: leave\nBye.", owned_by="vllm",
                            engine_version="0.6.3") as server:
        backend = load_backend(f"openai:test-model@{server.base_url}", cache=False)
        run_roleplay([make_scenario("s1")], tmp_path / "c.jsonl", backend,
                     config=RoleplayConfig(max_turns=2, conversations_per_scenario=1))
        backend.close()
    record = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
    model = record["agent_provenance"][0]["model"]
    assert (model["engine"], model["engine_version"]) == ("vllm", "0.6.3")
    upgraded = ModelIdentity(backend="openai", model="test-model", engine="vllm", engine_version="0.7.0")
    assert cache_key("generate", upgraded, ASK) != cache_key("generate", ModelIdentity(**model), ASK)


def test_local_identities_and_their_cache_keys_are_unchanged_by_the_engine_fields():
    identity = ModelIdentity(backend="hf", model="m", weights_sha256="a" * 64)
    assert "engine" not in identity.model_dump(mode="json")
    # the key this identity had before the engine fields existed (computed on the previous commit)
    assert cache_key("generate", identity, ASK) == "53c3ab4f91da107ccc5c251bcf50bcd1dd4723e85c4d4efe15e4700ef57f7bb1"
    # a server that reports nothing keeps its old keys too
    silent = ModelIdentity(backend="openai", model="test-model")
    assert cache_key("generate", silent, ASK) == "f20ffb9d3aa47e5cff8c86994a097f23b434dc1394ccc67a45440b352c00671a"
