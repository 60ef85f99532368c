"""Scenario generation through real backends: the openai backend against a scripted local HTTP server, and the
embedded model."""

from __future__ import annotations

import json

import pytest

from clca.cultures import get_culture
from clca.jsonl import JsonlStore
from clca.layout import failures_path
from clca.llm import ModelConfig, open_backend
from clca.llm.base import Backend
from clca.records import Failure
from clca.scenarios import ScenariosConfig, adapt_scenarios, load_seed_scenarios, scenarios_from_norms
from clca.scenarios.schema import Scenario
from clca.testing.openai_server import FaultPlan, OpenAICompatServer


def valid_answer(setting: str, first: str = "Lukas") -> str:
    person = {"first_name": first, "last_name": "Becker", "age": 40, "gender": "man", "occupation": "engineer",
              "background": "Grew up in Leipzig.", "public_info": "Friendly.", "secret": "Owes money.",
              "goal": "Keep the peace."}
    return json.dumps({"setting": setting, "person1": person, "person2": {**person, "first_name": "Anna"}})


def scripted(script: dict[str, list[str]]):
    """A responder for `OpenAICompatServer`: the script maps a marker (text in the first user message) to the
    replies for attempt 0, 1, 2 … (attempt = assistant messages in the request = repair rounds before)."""

    def respond(body: dict) -> str:
        messages = body["messages"]
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        attempt = sum(m["role"] == "assistant" for m in messages)
        marker = next(k for k in script if k in first_user)
        return script[marker][min(attempt, len(script[marker]) - 1)]

    return respond


def chat_bodies(server: OpenAICompatServer) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def open_http_backend(base_url: str) -> Backend:
    return open_backend(ModelConfig(spec=f"openai:scripted@{base_url}", cache=False, max_retries=0))


@pytest.fixture()
def seeds():
    by_id = {s.id: s for s in load_seed_scenarios()}
    return [by_id[i] for i in ("seed-001", "seed-004", "seed-010", "seed-016")]


def test_adapt_well_formed_fenced_repaired_and_failed_then_resume(tmp_path, seeds):
    script = {
        seeds[0].setting: [valid_answer("A Kleingarten in Leipzig.")],  # well-formed JSON
        seeds[1].setting: ["Here you go:\n```json\n" + valid_answer("A tram in Munich.") + "\n```\nEnjoy!"],
        seeds[2].setting: ['{"setting": "An office", "person1": {"first_name": "Jonas"', valid_answer("Office.")],
        seeds[3].setting: ["I cannot do that.", "{not json}", '{"setting": "still no people"}'],
    }
    out = tmp_path / "deu.jsonl"
    cfg = ScenariosConfig(max_repairs=2, batch_size=3, seed=7)
    card = get_culture("DEU")
    with OpenAICompatServer(responder=scripted(script)) as server, open_http_backend(server.base_url) as backend:
        summary = adapt_scenarios(seeds, card, backend, out, config=cfg)
        assert (summary.requested, summary.produced, summary.failed, summary.skipped_done) == (4, 3, 1, 0)
        assert summary.repaired == 1
        n_requests = len(chat_bodies(server))
        assert n_requests == 1 + 1 + 2 + 3  # one per attempt

        scenarios = {s.source_scenario_id: s for s in JsonlStore(out, Scenario).read()}
        assert set(scenarios) == {seeds[0].id, seeds[1].id, seeds[2].id}
        first = scenarios[seeds[0].id]
        assert first.id == f"DEU-{seeds[0].id}" and first.culture == "DEU" and first.source == "adapted"
        assert first.setting == "A Kleingarten in Leipzig."
        assert first.relationship == seeds[0].relationship and first.domain == seeds[0].domain
        assert first.provenance.model.backend == "openai"
        assert [p.name for p in first.provenance.prompts] == ["scenario_adapt.v1"]
        assert first.provenance.sampling["temperature"] == cfg.temperature and first.provenance.seed is not None
        assert [p.name for p in scenarios[seeds[2].id].provenance.prompts] == ["scenario_adapt.v1",
                                                                              "scenario_repair.v1"]
        # The prompt carries the culture paragraph; the repair prompt carries the parse error.
        first_prompt = chat_bodies(server)[0]["messages"][0]["content"]
        assert card.description in first_prompt
        repair_prompts = [b["messages"][-1]["content"] for b in chat_bodies(server) if len(b["messages"]) > 1]
        assert any("invalid JSON" in p for p in repair_prompts)

        [failure] = JsonlStore(failures_path(out), Failure).read()
        assert failure.id == f"DEU-{seeds[3].id}" and failure.attempts == 3
        assert failure.raw == '{"setting": "still no people"}' and "person1" in failure.reason

        again = adapt_scenarios(seeds, card, backend, out, config=cfg)
        assert (again.produced, again.failed, again.skipped_done) == (0, 0, 4)
        assert len(chat_bodies(server)) == n_requests  # nothing re-asked
    assert len(out.read_text().splitlines()) == 3  # no duplicates
    assert json.loads((tmp_path / "deu.summary.json").read_text())["skipped_done"] == 4


def test_adapt_cycles_seeds_when_n_exceeds_them(tmp_path, seeds):
    script = {s.setting: [valid_answer(f"Place {i}")] for i, s in enumerate(seeds[:2])}
    out = tmp_path / "mex.jsonl"
    with OpenAICompatServer(responder=scripted(script)) as server, open_http_backend(server.base_url) as backend:
        summary = adapt_scenarios(seeds[:2], get_culture("MEX"), backend, out, n=5,
                                  config=ScenariosConfig(batch_size=2))
        assert summary.produced == 5 and summary.notes
        seeds_sent = {b["seed"] for b in chat_bodies(server)}
    ids = [s.id for s in JsonlStore(out, Scenario).read()]
    assert len(set(ids)) == 5 and sum(i.endswith("-s1") for i in ids) == 2 and sum(i.endswith("-s2") for i in ids) == 1
    assert len(seeds_sent) == 5  # each copy sampled with its own seed


def test_from_norms_with_relationship_repair(tmp_path):
    norms = tmp_path / "norms.txt"
    norms.write_text("It is expected to bring a small gift when visiting.\nYou should greet elders first.\n")
    ok = json.loads(valid_answer("A family home in Osaka."))
    script = {
        "bring a small gift": [json.dumps({**ok, "relationship": "friend"})],
        "greet elders first": [json.dumps({**ok, "relationship": "boss"}),
                               json.dumps({**ok, "relationship": "family member"})],
    }
    out = tmp_path / "jpn.jsonl"
    with OpenAICompatServer(responder=scripted(script)) as server, open_http_backend(server.base_url) as backend:
        summary = scenarios_from_norms(norms, get_culture("JPN"), backend, out, n=10)
        assert (summary.produced, summary.failed, summary.repaired) == (2, 0, 1)
        assert "capped" in summary.notes[0]
    by_norm = {s.norm: s for s in JsonlStore(out, Scenario).read()}
    assert by_norm["You should greet elders first."].relationship == "family_member"
    assert all(s.source == "norm" and s.culture == "JPN" and s.id.startswith("JPN-norm-") for s in by_norm.values())


def test_backend_error_becomes_failure(tmp_path, seeds):
    faults = FaultPlan(by_request=lambda body: "500")  # every request → HTTP 500; the backend makes no retries
    with OpenAICompatServer(faults=faults) as server, open_http_backend(server.base_url) as backend:
        summary = adapt_scenarios(seeds[:1], get_culture("GBR"), backend, tmp_path / "gbr.jsonl",
                                  config=ScenariosConfig(max_repairs=2))
    assert (summary.produced, summary.failed) == (0, 1)
    [failure] = JsonlStore(failures_path(tmp_path / "gbr.jsonl"), Failure).read()
    assert failure.reason.startswith("backend error") and failure.attempts == 1


@pytest.mark.slow
def test_adapt_with_embedded_model(tmp_path, embedded_backend):
    """The real small model: one seed, one short attempt (32 tokens keep CI time low; the answer is then almost
    surely cut off → a recorded Failure). Either outcome is legitimate, but it must be recorded with provenance."""
    seeds = load_seed_scenarios()[:1]
    out = tmp_path / "chn.jsonl"
    summary = adapt_scenarios(seeds, get_culture("CHN"), embedded_backend, out,
                              config=ScenariosConfig(max_repairs=0, max_tokens=32, temperature=0.0))
    assert summary.produced + summary.failed == 1
    if summary.failed:
        [failure] = JsonlStore(failures_path(out), Failure).read()
        assert failure.raw and failure.provenance.model.backend == "embedded"
    else:
        [scenario] = JsonlStore(out, Scenario).read()
        assert scenario.culture == "CHN" and scenario.provenance.model.backend == "embedded"
