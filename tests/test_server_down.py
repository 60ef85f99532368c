"""A server that is not there, or goes away for a while, under real stages: `clca run` against a refused port stops
with one line within the bound and resumes once the server is up; a role-play whose server is restarted mid-run
records every conversation exactly once, equal to an uninterrupted run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import yaml

from clca.jsonl import JsonlStore
from clca.llm import ModelConfig, open_backend
from clca.roleplay import Conversation, RoleplayConfig, run_roleplay
from clca.scenarios.generate import load_seed_scenarios
from clca.testing.openai_server import OpenAICompatServer
from clca.testing.scripted import ScriptedResponder, stable_content

BOUND_S = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clca(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "CLCA_PROGRESS": "0"}, timeout=300)


def test_clca_run_against_a_refused_port_stops_within_the_bound_and_the_rerun_resumes(tmp_path) -> None:
    port = free_port()
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "name": "down", "runs_dir": str(tmp_path / "runs"), "cultures": ["DEU"],
        "models": {"default": {"spec": f"openai:scripted@http://127.0.0.1:{port}/v1", "cache": False,
                               "down_after_s": BOUND_S, "retry_backoff_s": 0.01}},
        "scenarios": {"source": "seeds", "n": 3},
        "roleplay": {"max_turns": 4, "conversations_per_scenario": 2, "group_size": 2},
    }), encoding="utf-8")
    started = time.monotonic()
    result = clca("run", "--config", str(config), "--only", "culture")
    assert result.returncode == 0, result.stderr
    for stage in ("scenarios", "roleplay"):
        started = time.monotonic()
        result = clca("run", "--config", str(config), "--only", stage)
    elapsed = time.monotonic() - started
    print(f"\nclca run --only roleplay against a refused port: exit {result.returncode} after {elapsed:.1f} s "
          f"(bound {BOUND_S:g} s, interpreter start included)")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: server http://127.0.0.1:{port}/v1: connection refused for {BOUND_S:g} s — is it "
                      "running? rerun to resume"], result.stderr
    assert BOUND_S <= elapsed < BOUND_S + 20

    with OpenAICompatServer(responder=ScriptedResponder(), port=port):
        result = clca("run", "--config", str(config), "--only", "roleplay")
    assert result.returncode == 0, result.stderr
    conversations = JsonlStore(tmp_path / "runs" / "down" / "DEU" / "roleplay" / "conversations.jsonl",
                               Conversation).read()
    assert len(conversations) == 6 and len({c.id for c in conversations}) == 6
    assert all(c.termination != "error" for c in conversations)


def roleplay_through(server: OpenAICompatServer, out, *, restart_after_calls: int | None) -> list[Conversation]:
    """Role-play 5 scenarios (10 conversations) through `server`; optionally kill it after some calls and bring
    it back on its port 0.6 s later."""
    backend = open_backend(ModelConfig(spec=f"openai:scripted@{server.base_url}", cache=False, max_retries=2,
                                       retry_backoff_s=0.01, timeout_s=5.0, concurrency=8, down_after_s=10.0))
    worker = threading.Thread(target=run_roleplay, args=(load_seed_scenarios()[:5], out, backend),
                              kwargs={"config": RoleplayConfig(max_turns=6, group_size=4)})
    worker.start()
    if restart_after_calls is not None:
        while server.calls < restart_after_calls and worker.is_alive():
            time.sleep(0.002)
        server.stop()
        time.sleep(0.6)
        server.start()
        server.restarted_at = time.monotonic()
    worker.join(timeout=120)
    backend.close()
    return JsonlStore(out, Conversation).read()


def test_a_roleplay_whose_server_restarts_within_the_bound_records_every_conversation_once(tmp_path) -> None:
    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        reference = roleplay_through(server, tmp_path / "reference.jsonl", restart_after_calls=None)
        calls = server.calls
    with OpenAICompatServer(responder=ScriptedResponder(), latency_s=0.005) as server:
        restarted = roleplay_through(server, tmp_path / "restarted.jsonl", restart_after_calls=calls // 2)
    ids = Counter(c.id for c in restarted)
    assert ids == Counter(c.id for c in reference) and max(ids.values()) == 1
    assert all(c.termination != "error" for c in restarted)
    assert any(r.received_at > server.restarted_at for r in server.requests)  # the restart was mid-run
    assert sorted(map(stable_content, restarted), key=str) == sorted(map(stable_content, reference), key=str)
