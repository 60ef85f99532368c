"""Circuit breakers per base URL, against real sockets: a port with nothing listening, a server stopped and
restarted on its port, a dead replica next to a live one, a Retry-After that pauses one replica."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from clca.errors import BackendError
from clca.llm import GenerationRequest, Message, load_backend
from clca.testing import Fault, FaultPlan, OpenAICompatServer

FAST = {"cache": False, "retry_backoff_s": 0.01, "timeout_s": 5.0}


def ask(text: str) -> GenerationRequest:
    return GenerationRequest(messages=[Message(role="user", content=text)])


def dead_url() -> str:
    """A base URL whose port has nothing listening (bound by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_connection_refused_stops_every_request_within_the_bound_with_one_line():
    url = dead_url()
    backend = load_backend(f"openai:m@{url}", down_after_s=1.0, concurrency=8, **FAST)
    started = time.monotonic()
    with pytest.raises(BackendError) as raised:
        backend.generate([ask(str(i)) for i in range(40)])
    elapsed = time.monotonic() - started
    print(f"\nrefused port: stopped after {elapsed:.2f} s (bound 1 s)")
    assert str(raised.value) == f"server {url}: connection refused for 1 s — is it running? rerun to resume"
    assert 1.0 <= elapsed < 4.0  # not before the bound, and not retry by retry afterwards (slack for a busy CI)

    futures = [backend.submit(ask(str(i))) for i in range(4)]  # role-play's path: each future raises the same
    for future in futures:
        with pytest.raises(BackendError, match="connection refused for 1 s"):
            future.result(timeout=10)
    backend.close()


def test_a_server_back_within_the_bound_answers_every_request_once_and_none_fails():
    """Killed after 10 calls (open connections cut), back on the same port 0.8 s later. Two retries could not
    outlast that by backing off 0.01 s; waiting on the circuit spends none, so every request succeeds."""
    with OpenAICompatServer(latency_s=0.01) as server:
        backend = load_backend(f"openai:m@{server.base_url}", down_after_s=10.0, concurrency=4, max_retries=2,
                               **FAST)
        outcome: dict = {}
        worker = threading.Thread(target=lambda: outcome.update(results=backend.generate(
            [ask(str(i)) for i in range(60)])))
        worker.start()
        while server.calls < 10:
            time.sleep(0.005)
        server.stop()
        down_at = time.monotonic()
        time.sleep(0.8)
        server.start()
        worker.join(timeout=30)
        backend.close()
    results = outcome["results"]
    assert [r.text for r in results] == [f"echo: {i}" for i in range(60)] and all(r.ok for r in results)
    answered_after = [r.received_at for r in server.requests if r.received_at > down_at]
    assert answered_after and min(answered_after) - down_at >= 0.8  # nothing reached it while it was down
    print(f"\nserver down 0.8 s: resumed {min(answered_after) - down_at:.2f} s after it stopped")


def test_a_dead_replica_leaves_the_rotation_and_the_live_one_carries_everything():
    with OpenAICompatServer() as live:
        backend = load_backend(f"openai:m@{dead_url()},{live.base_url}", down_after_s=60.0, concurrency=4,
                               max_retries=0, **FAST)
        started = time.monotonic()
        results = backend.generate([ask(str(i)) for i in range(40)])
        elapsed = time.monotonic() - started
        backend.close()
    assert all(r.ok for r in results) and live.calls == 40  # refusals spend no retry, even with max_retries=0
    print(f"\none of two replicas dead: 40 requests in {elapsed:.2f} s")
    assert elapsed < 5.0  # slack for a busy CI machine; the call counts prove the routing


def test_the_stage_stops_only_when_every_replica_is_down():
    first, second = dead_url(), dead_url()
    backend = load_backend(f"openai:m@{first},{second}", down_after_s=0.5, **FAST)
    with pytest.raises(BackendError, match=re.escape(f"servers {first}, {second}: connection refused for 0.5 s — "
                                                     "are they running? rerun to resume")):
        backend.generate([ask("x")])
    backend.close()


def test_retry_after_pauses_that_replica_as_a_whole():
    """A 429 asking for 1 s: the other replica takes every request meanwhile, instead of each request coming back
    to the paused one in turn."""
    with OpenAICompatServer(faults=FaultPlan(script={1: Fault("429", retry_after=1.0)})) as paused, \
            OpenAICompatServer() as other:
        backend = load_backend(f"openai:m@{paused.base_url},{other.base_url}", concurrency=1, **FAST)
        started = time.monotonic()
        results = backend.generate([ask(str(i)) for i in range(10)])
        elapsed = time.monotonic() - started
        backend.close()
    assert all(r.ok for r in results)
    assert paused.calls == 1 and other.calls == 10  # nobody went back to the paused replica
    assert elapsed < 3.0  # a loose bound only (busy CI machines): the call counts above carry the proof



def test_a_retry_after_beyond_the_cap_fails_that_request_instead_of_pausing_everything():
    """A server asking for an hour is treated as down for that request (recorded failure), not obeyed by all."""
    plan = FaultPlan(by_request=lambda body: Fault("429", retry_after=3600)
                     if body["messages"][0]["content"] == "doomed" else None)
    with OpenAICompatServer(faults=plan) as server:
        backend = load_backend(f"openai:m@{server.base_url}", concurrency=1, **FAST)
        started = time.monotonic()
        doomed, fine = backend.generate([ask("doomed"), ask("fine")])
        elapsed = time.monotonic() - started
        backend.close()
    assert not doomed.ok and "HTTP 429" in doomed.error and fine.ok and elapsed < 2
