"""Crash proofs: `kill -9` of `clca run` at seeded random moments, rerun after each; the final artifacts equal an
uninterrupted run's (same ids, same content minus timestamps/latencies) and no torn JSONL line survives.

Fast version: the data-generation stages (culture → scenarios (adapt) → role-play → judge → intents) on the real
local server with the deterministic scripted responder; each `clca run` is stopped when the dataset stage starts
(training and evaluation on the embedded model are the full benchmark's job: benchmarks/crash_resume.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clca.testing.openai_server import OpenAICompatServer
from clca.testing.scripted import ScriptedResponder, jsonl_artifacts, torn_tails

DATA_STAGES = ("culture", "scenarios", "roleplay", "judge", "intents")


def write_config(tmp: Path, name: str, base_url: str) -> Path:
    config = {
        "name": name, "runs_dir": str(tmp / "runs"), "cultures": ["DEU"],
        "models": {"default": {"spec": f"openai:scripted@{base_url}", "cache": False, "retry_backoff_s": 0.01},
                   "student": {"spec": "embedded"}},
        "scenarios": {"source": "adapt", "n": 3},
        "roleplay": {"max_turns": 6, "conversations_per_scenario": 2, "group_size": 2},
        "judge": {"mode": "generate", "group_size": 2},
        "intents": {"kind_mode": "generate", "group_size": 1},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def stage_status(run_dir: Path) -> dict[str, str]:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):  # not written yet (it is written atomically, so never half-written)
        return {}
    return {key.split("/")[-1]: stage["status"] for key, stage in manifest.get("stages", {}).items()}


def data_stages_done(run_dir: Path) -> bool:
    status = stage_status(run_dir)
    return all(status.get(stage) == "done" for stage in DATA_STAGES)


def run_until(config: Path, run_dir: Path, kill_after_s: float | None) -> str:
    """Start `clca run`; SIGKILL it after `kill_after_s` seconds, or as soon as the data stages are done (the
    dataset stage is where this test's scope ends). Returns what stopped it."""
    env = {**os.environ, "CLCA_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "clca.cli.main", "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    try:
        while proc.poll() is None:
            if kill_after_s is not None and time.monotonic() - started >= kill_after_s:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return "killed"
            if data_stages_done(run_dir):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return "data stages done"
            if time.monotonic() - started > 300:
                raise AssertionError("clca run did not finish the data stages in 300 s")
            time.sleep(0.02)
        stderr = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"clca run exited by itself (rc {proc.returncode}) before the data stages were done: "
                             f"{stderr[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def server():
    with OpenAICompatServer(responder=ScriptedResponder(), latency_s=0.02) as srv:
        yield srv


@pytest.fixture(scope="module")
def reference(tmp_path_factory, server) -> tuple[dict, float]:
    tmp = tmp_path_factory.mktemp("reference")
    config = write_config(tmp, "reference", server.base_url)
    started = time.monotonic()
    assert run_until(config, tmp / "runs" / "reference", None) == "data stages done"
    return jsonl_artifacts(tmp / "runs" / "reference"), time.monotonic() - started


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_artifacts(tmp_path, server, reference):
    expected, reference_seconds = reference
    assert all(expected.get(f"DEU/{stage}/{stage}.jsonl") for stage in ("scenarios", "intents"))
    assert expected["DEU/roleplay/conversations.jsonl"] and expected["DEU/judge/judgements.jsonl"]
    run_dir = tmp_path / "runs" / "crashed"
    config = write_config(tmp_path, "crashed", server.base_url)
    rng = random.Random(7)
    kills, stopped_in = 0, []
    for _ in range(4):  # a seeded schedule of kills spread over the whole data-generation window
        if run_until(config, run_dir, rng.uniform(0.3, reference_seconds)) == "killed":
            kills += 1
            running = [stage for stage, status in stage_status(run_dir).items() if status == "running"]
            stopped_in.append(running[0] if running else "startup/between stages")
            assert torn_tails(run_dir) == [], "a complete JSONL line is corrupt after kill -9"
    print(f"\nkills: {kills}, stopped in: {stopped_in}")
    assert kills >= 2
    assert run_until(config, run_dir, None) == "data stages done"

    got = jsonl_artifacts(run_dir)  # raises on any torn line
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert sorted(map(json.dumps, got[name])) == sorted(map(json.dumps, expected[name])), name
        ids = [r["id"] for r in got[name] if "id" in r]
        assert len(ids) == len(set(ids)), f"duplicated ids in {name}"
