"""Replica affinity over several base URLs, against two real local servers: a conversation's turns all reach one
server (its prefix cache), conversations spread over both, and a server that is down hands its conversations to
the other without any request failing."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter, defaultdict

from builders_roleplay import make_scenario, speaker_of, turn_of
from clca.llm import GenerationRequest, Message, load_backend
from clca.roleplay import RoleplayConfig, run_roleplay
from clca.testing.openai_server import OpenAICompatServer

FAST = {"cache": False, "retry_backoff_s": 0.01, "timeout_s": 5.0, "max_retries": 1}


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def turn(conversation: str, t: int) -> GenerationRequest:
    return GenerationRequest(messages=[Message(role="user", content=f"{conversation} turn {t}")],
                             routing_key=conversation)


def conversations_seen(server: OpenAICompatServer) -> Counter:
    return Counter(r.body["messages"][0]["content"].split(" turn ")[0] for r in server.requests)


def test_every_turn_of_a_conversation_reaches_the_same_server_and_both_servers_get_conversations():
    with OpenAICompatServer() as one, OpenAICompatServer() as two:
        backend = load_backend(f"openai:m@{one.base_url},{two.base_url}", concurrency=8, **FAST)
        for t in range(4):  # turn by turn, as role-play sends them
            results = [f.result(timeout=10) for f in [backend.submit(turn(f"c{i}", t)) for i in range(30)]]
            assert all(r.ok for r in results)
        backend.close()
        on_one, on_two = conversations_seen(one), conversations_seen(two)
    assert not set(on_one) & set(on_two)  # no conversation was split across servers
    assert set(on_one) | set(on_two) == {f"c{i}" for i in range(30)}
    assert all(n == 4 for n in (on_one + on_two).values())
    assert 5 <= len(on_one) <= 25  # sha256 rendezvous spreads 30 keys; 5..25 holds with probability > 0.999


def test_the_same_key_goes_to_the_same_server_whatever_the_order_of_the_urls():
    with OpenAICompatServer() as one, OpenAICompatServer() as two:
        for urls in (f"{one.base_url},{two.base_url}", f"{two.base_url},{one.base_url}"):
            backend = load_backend(f"openai:m@{urls}", **FAST)
            backend.generate([turn(f"c{i}", 0) for i in range(12)])
            backend.close()
        seen_one = [r.body["messages"][0]["content"] for r in one.requests]
    first, second = seen_one[: len(seen_one) // 2], seen_one[len(seen_one) // 2:]
    assert sorted(first) == sorted(second)


def test_with_one_server_down_every_conversation_goes_to_the_other_and_none_fails():
    with OpenAICompatServer() as live:
        backend = load_backend(f"openai:m@{dead_url()},{live.base_url}", concurrency=4, down_after_s=5.0, **FAST)
        results = [backend.submit(turn(f"c{i}", t)).result(timeout=10) for i in range(12) for t in range(3)]
        backend.close()
        assert all(r.ok for r in results)
        assert sum(conversations_seen(live).values()) == 36


def test_a_server_that_stops_hands_its_conversations_over_and_gets_them_back_when_it_returns():
    with OpenAICompatServer() as one, OpenAICompatServer() as two:
        backend = load_backend(f"openai:m@{one.base_url},{two.base_url}", down_after_s=10.0, **FAST)
        keys = [f"c{i}" for i in range(20)]
        backend.generate([turn(k, 0) for k in keys])
        pinned_to_one = set(conversations_seen(one))
        one.stop()
        assert all(r.ok for r in backend.generate([turn(k, 1) for k in keys]))
        assert pinned_to_one and pinned_to_one <= set(conversations_seen(two))
        one.start()  # back on its port; its circuit closes at the next probe
        one.reset_stats()
        two.reset_stats()
        for t in range(2, 12):
            backend.generate([turn(k, t) for k in keys])
            if set(conversations_seen(one)) == pinned_to_one:
                break
        backend.close()
        assert set(conversations_seen(one)) == pinned_to_one


def test_roleplay_keeps_each_conversation_on_one_replica(tmp_path):
    """Both agents' turns of a conversation go to the server its id hashes to."""
    def chatty(body: dict) -> str:
        return f"ACTION: speak\n{speaker_of(body)} says something at turn {turn_of(body)}."

    scenarios = [make_scenario(f"s{i}") for i in range(12)]
    with OpenAICompatServer(responder=chatty) as one, OpenAICompatServer(responder=chatty) as two:
        backend = load_backend(f"openai:test-model@{one.base_url},{two.base_url}", **FAST)
        run_roleplay(scenarios, tmp_path / "c.jsonl", backend,
                     config=RoleplayConfig(max_turns=4, conversations_per_scenario=1))
        backend.close()
        where: dict[str, set[str]] = defaultdict(set)
        for name, server in (("one", one), ("two", two)):
            for request in server.requests:
                where[re.search(r"\[(s\d+)\]", json.dumps(request.body)).group(1)].add(name)
        turns = len(one.requests) + len(two.requests)
    assert turns == 12 * 4
    assert all(len(servers) == 1 for servers in where.values()), where
    assert {next(iter(s)) for s in where.values()} == {"one", "two"}
