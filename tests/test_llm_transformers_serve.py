"""A third-party OpenAI-compatible server: `transformers serve` (CPU) with the embedded model's converted weights,
behind the openai backend — `clca models check`, and role-play → judge → intents in generate mode.

Needs transformers' serving extra (fastapi, uvicorn, openai): `pip install -e '.[serve]'`. Without it the tests
skip, saying so; CI installs the extra so that they run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from builders_roleplay import make_scenario
from clca.intents import IntentsConfig, run_intents
from clca.judge import JudgeConfig, run_judge
from clca.llm import load_backend
from clca.roleplay import RoleplayConfig, run_roleplay

SERVE_EXTRA = ("fastapi", "uvicorn", "openai")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in SERVE_EXTRA),
                       reason="transformers serve needs the 'serve' test extra (fastapi, uvicorn, openai): "
                              "pip install -e '.[serve]'"),
]
NO_LOGPROBS = "returned no prompt logprobs — this server does not give prompt logprobs"


@pytest.fixture(scope="module")
def served():
    """`transformers serve` on 127.0.0.1 with the embedded model; yields (model path, base URL)."""
    from clca.llm.weights import embedded_model_dir

    model = str(embedded_model_dir()[0])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = ("import sys; from transformers.cli.transformers import main; "
            f"sys.argv = ['transformers', 'serve', {model!r}, '--host', '127.0.0.1', '--port', '{port}', "
            "'--device', 'cpu']; main()")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"transformers serve did not start: {(server.stderr.read() or '')[-2000:]}")
                time.sleep(0.5)
        yield model, f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_models_check_generates_and_stops_scoring_with_one_clear_line(served):
    model, url = served
    proc = subprocess.run([sys.executable, "-m", "clca.cli.main", "models", "check", f"openai:{model}@{url}",
                           "--tokenizer", model, "--max-tokens", "8"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "CLCA_PROGRESS": "0"})
    assert "answer:" in proc.stdout and "tokens/s" in proc.stdout
    assert proc.returncode == 2 and NO_LOGPROBS in proc.stderr and "Traceback" not in proc.stderr


def test_roleplay_judge_and_intents_in_generate_mode(served, tmp_path):
    model, url = served
    backend = load_backend(f"openai:{model}@{url}", cache=False, max_retries=1, timeout_s=120)
    short = {"max_tokens": 12}
    run_roleplay([make_scenario("s1")], tmp_path / "c.jsonl", backend,
                 config=RoleplayConfig(max_turns=2, conversations_per_scenario=1, agent_a=short, agent_b=short))
    run_judge(tmp_path / "c.jsonl", tmp_path / "j.jsonl", backend,
              config=JudgeConfig(mode="generate", max_tokens=24, max_attempts=1, gate={"enabled": False},
                                 keep={"drop_parts": [], "on_failure": "keep"}))
    run_intents(tmp_path / "c.jsonl", tmp_path / "i.jsonl", backend,
                config=IntentsConfig(kind_mode="generate", max_tokens=12, max_attempts=1),
                judgements_path=tmp_path / "j.jsonl")
    backend.close()
    [conversation] = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert conversation["termination"] != "error" and all(t["raw"] for t in conversation["turns"])
    [judgement] = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert judgement["conversation_id"] == conversation["id"]
    assert set(judgement["raw"]) == {"quality", "cultural_alignment", "meta"}  # the server answered each part
    [intents] = [json.loads(line) for line in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert len(intents["intents"]) == len(conversation["turns"])
    assert intents["provenance"]["model"]["engine"] == "local"  # what transformers serve reports as owned_by
