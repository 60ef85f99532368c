"""Role-play runner against a real local OpenAI-compatible HTTP server with scripted agents."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from builders_roleplay import GOAL_A, GOAL_B, SECRET_A, SECRET_B, make_scenario, speaker_of, turn_of
from clca.jsonl import JsonlStore
from clca.layout import summary_path
from clca.llm import load_backend
from clca.roleplay import Conversation, RoleplayConfig, agent_messages, run_roleplay
from clca.testing import BatchOnly
from clca.testing.openai_server import FaultPlan, OpenAICompatServer
from clca.testing.scripted import stable_content


def backend_for(server: OpenAICompatServer):
    return load_backend(f"openai:test-model@{server.base_url}", cache=False, max_retries=0, retry_backoff_s=0.01)


def chatty(body: dict) -> str:
    return f"ACTION: speak\n{speaker_of(body)} says something at turn {turn_of(body)}."


def test_agents_see_only_their_own_goal_and_secret(tmp_path) -> None:
    with OpenAICompatServer(responder=chatty) as server:
        run_roleplay([make_scenario("s1"), make_scenario("s2")], tmp_path / "c.jsonl", backend_for(server),
                     config=RoleplayConfig(max_turns=4))
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 2 * 2 * 4  # 2 scenarios × 2 conversations × 4 turns
    for body in bodies:
        text = json.dumps(body)
        if speaker_of(body) == "Li":
            assert GOAL_A in text and SECRET_A in text
            assert GOAL_B not in text and SECRET_B not in text
        else:
            assert GOAL_B in text and SECRET_B in text
            assert GOAL_A not in text and SECRET_A not in text
        # both public profiles and the culture paragraph are there
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        assert "retired nurse" in system and "teacher" in system
        assert "China" in system and "hierarchical" in system


def test_history_is_given_from_each_agents_own_perspective() -> None:
    from clca.roleplay.schema import Turn

    scenario = make_scenario()
    turns = [Turn(index=0, speaker=0, speaker_name="Li Wei", action="speak", text="Hello Auntie."),
             Turn(index=1, speaker=1, speaker_name="Mei Chen", action="non-verbal", text="smiles")]
    li = agent_messages(scenario, 0, turns, "China", "desc")
    assert [m.role for m in li] == ["system", "user", "assistant", "user"]
    assert li[2].content == "ACTION: speak\nHello Auntie."
    assert "Mei (non-verbal): smiles" in li[3].content and "Your turn, Li." in li[3].content
    mei = agent_messages(scenario, 1, turns[:1], "China", "desc")
    assert [m.role for m in mei] == ["system", "user"]
    assert 'Li says: "Hello Auntie."' in mei[1].content and "You speak first" not in mei[1].content


def test_stop_rules_leave_idle_and_max_turns(tmp_path) -> None:
    def responder(body: dict) -> str:
        scenario = "leave" if "[leave]" in json.dumps(body) else "idle" if "[idle]" in json.dumps(body) else "long"
        if scenario == "leave" and speaker_of(body) == "Mei":
            return "ACTION: leave\nI must go now, goodbye."
        if scenario == "idle" and turn_of(body) >= 1:
            return "" if turn_of(body) % 2 else "ACTION: none"
        return chatty(body)

    out = tmp_path / "c.jsonl"
    with OpenAICompatServer(responder=responder) as server:
        summary = run_roleplay([make_scenario("leave"), make_scenario("idle"), make_scenario("long")], out,
                               backend_for(server), config=RoleplayConfig(max_turns=6, conversations_per_scenario=1))
    by_id = {c.id: c for c in JsonlStore(out, Conversation).read()}
    leave, idle, long = by_id["leave#0"], by_id["idle#0"], by_id["long#0"]
    assert leave.termination == "leave" and [t.action for t in leave.turns] == ["speak", "leave"]
    assert leave.turns[1].text == "I must go now, goodbye."
    assert idle.termination == "idle" and len(idle.turns) == 3  # speak, then two consecutive no-ops
    assert idle.turns[1].parse_error == "empty output" and idle.turns[2].parse_error is None
    assert long.termination == "max_turns" and [t.speaker for t in long.turns] == [0, 1, 0, 1, 0, 1]
    assert [t.speaker_name for t in long.turns[:2]] == ["Li Wei", "Mei Chen"]
    assert long.turns[0].raw.startswith("ACTION: speak")
    assert summary.terminations == {"leave": 1, "idle": 1, "max_turns": 1}
    assert json.loads(summary_path(out).read_text())["conversations"] == 3


def test_lockstep_one_batch_per_turn_index(tmp_path) -> None:
    scenarios = [make_scenario(f"s{i}") for i in range(6)]
    with OpenAICompatServer(responder=chatty, latency_s=0.05) as server:
        run_roleplay(scenarios, tmp_path / "c.jsonl", backend_for(server), config=RoleplayConfig(max_turns=3))
        turn_order = [turn_of(r.body) for r in server.requests]
        max_in_flight = server.max_in_flight
    assert turn_order == sorted(turn_order)  # every turn-t request before any turn-(t+1) request
    assert Counter(turn_order) == {0: 12, 1: 12, 2: 12}
    assert max_in_flight > 1  # the batch reaches the server concurrently


def test_seeds_are_deterministic_and_distinct_per_sample(tmp_path) -> None:
    with OpenAICompatServer(responder=chatty) as server:
        run_roleplay([make_scenario()], tmp_path / "a.jsonl", backend_for(server),
                     config=RoleplayConfig(max_turns=2, conversations_per_scenario=3, seed=7))
        run_roleplay([make_scenario()], tmp_path / "b.jsonl", backend_for(server),
                     config=RoleplayConfig(max_turns=2, conversations_per_scenario=3, seed=7))
        request_seeds = [r.body["seed"] for r in server.requests]
    a = JsonlStore(tmp_path / "a.jsonl", Conversation).read()
    b = JsonlStore(tmp_path / "b.jsonl", Conversation).read()
    assert [c.seed for c in a] == [c.seed for c in b]
    assert len({c.seed for c in a}) == 3
    assert len(set(request_seeds)) == 6 and sorted(request_seeds[:6]) == sorted(request_seeds[6:])
    prov = a[0].agent_provenance[0]
    assert prov.seed == a[0].seed and prov.sampling["top_p"] == 0.7 and prov.model.backend == "openai"
    assert {p.name for p in prov.prompts} == {"roleplay_agent_system.v1", "roleplay_opening.v1", "roleplay_other_turn.v1"}


def test_persistent_backend_failure_ends_the_conversation_with_error(tmp_path) -> None:
    faults = FaultPlan(by_request=lambda body: "500" if "[broken]" in json.dumps(body) and turn_of(body) == 1 else None)
    out = tmp_path / "c.jsonl"
    with OpenAICompatServer(responder=chatty, faults=faults) as server:
        summary = run_roleplay([make_scenario("ok"), make_scenario("broken")], out, backend_for(server),
                               config=RoleplayConfig(max_turns=4, conversations_per_scenario=1))
    by_id = {c.id: c for c in JsonlStore(out, Conversation).read()}
    assert by_id["ok#0"].termination == "max_turns" and len(by_id["ok#0"].turns) == 4
    broken = by_id["broken#0"]
    assert broken.termination == "error" and len(broken.turns) == 1
    assert "turn 1" in broken.error and "500" in broken.error
    assert summary.terminations == {"max_turns": 1, "error": 1}
    # retry_errors regenerates only the failed conversation once the server is healthy again
    with OpenAICompatServer(responder=chatty) as server:
        summary = run_roleplay([make_scenario("ok"), make_scenario("broken")], out, backend_for(server),
                               config=RoleplayConfig(max_turns=4, conversations_per_scenario=1, retry_errors=True))
        assert {turn_of(r.body) for r in server.requests} == {0, 1, 2, 3} and server.calls == 4
    assert summary.terminations == {"max_turns": 2} and summary.conversations == 2


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path) -> None:
    out = tmp_path / "c.jsonl"
    scenarios = [make_scenario(f"s{i}") for i in range(3)]

    def leave_early(body: dict) -> str:  # s0 ends after 2 turns, so it is written before the others finish
        if "[s0]" in json.dumps(body) and speaker_of(body) == "Mei":
            return "ACTION: leave\nBye."
        return chatty(body)

    class Interrupt(Exception):
        pass

    def interrupt(conversation: Conversation) -> None:
        raise Interrupt(conversation.id)

    config = RoleplayConfig(max_turns=4)
    with OpenAICompatServer(responder=leave_early) as server:
        with pytest.raises(Interrupt):
            run_roleplay(scenarios, out, backend_for(server), config=config, on_conversation=interrupt)
    first = [c.id for c in JsonlStore(out, Conversation).read()]
    # s0#0 and s0#1 both end at turn 2, in either order; answers arriving together are written in one append
    assert first and set(first) <= {"s0#0", "s0#1"}
    # a fresh server counts the rerun's calls only (requests the interrupted run had in flight may still land)
    with OpenAICompatServer(responder=leave_early) as server:
        summary = run_roleplay(scenarios, out, backend_for(server), config=config)
        calls_second_run = len(server.requests)
    ids = [c.id for c in JsonlStore(out, Conversation).read()]
    assert ids == [f"s{i}#{k}" for i in range(3) for k in range(2)]  # canonical order after the resume
    assert summary.skipped_existing == len(first) and summary.generated == 6 - len(first)
    # unfinished s0 conversations (2 turns each) + four 4-turn conversations; finished ones are not redone
    assert calls_second_run == 2 * (2 - len(first)) + 4 * 4


def test_pipelined_and_lockstep_advancing_write_identical_files(tmp_path) -> None:
    """HTTP backends advance each conversation as its answers arrive, local ones in lockstep batches; with a
    deterministic server both give the same records in the canonical order, early leavers included."""
    scenarios = [make_scenario(f"s{i}") for i in range(5)]

    def mixed(body: dict) -> str:  # s1 and s3 end early: conversations finish out of order
        if any(f"[s{i}]" in json.dumps(body) for i in (1, 3)) and turn_of(body) >= 2:
            return "ACTION: leave\nGoodbye."
        return chatty(body)

    config = RoleplayConfig(max_turns=5, group_size=3)
    with OpenAICompatServer(responder=mixed, latency_s=0.01) as server:
        pipelined, lockstep = backend_for(server), BatchOnly(backend_for(server))
        assert pipelined.supports_submit and not lockstep.supports_submit
        run_roleplay(scenarios, tmp_path / "pipelined.jsonl", pipelined, config=config)
        run_roleplay(scenarios, tmp_path / "lockstep.jsonl", lockstep, config=config)
    conversations = JsonlStore(tmp_path / "pipelined.jsonl", Conversation).read()
    lockstep_conversations = JsonlStore(tmp_path / "lockstep.jsonl", Conversation).read()
    # identical but for the creation timestamps
    assert [stable_content(c) for c in conversations] == [stable_content(c) for c in lockstep_conversations]
    assert [c.id for c in conversations] == [f"s{i}#{k}" for i in range(5) for k in range(2)]
    assert Counter(c.termination for c in conversations) == {"max_turns": 6, "leave": 4}


def test_pipelined_runs_keep_a_bounded_window_so_conversations_finish_all_along(tmp_path) -> None:
    """With more conversations than the window (max(group_size, 2 × concurrency) = 4 here), later ones start only
    as earlier ones end: when the first conversation is written, only the window's 4 have started."""
    scenarios = [make_scenario(f"s{i:02d}") for i in range(12)]
    started_when_first_written: list[int] = []

    with OpenAICompatServer(responder=chatty, latency_s=0.01) as server:
        def on_conversation(_: Conversation) -> None:
            if not started_when_first_written:
                started = {m for r in server.requests for m in re.findall(r"\[s\d\d\]", json.dumps(r.body))}
                started_when_first_written.append(len(started))

        backend = load_backend(f"openai:m@{server.base_url}", cache=False, concurrency=2)
        run_roleplay(scenarios, tmp_path / "c.jsonl", backend,
                     config=RoleplayConfig(max_turns=4, conversations_per_scenario=1, group_size=4),
                     on_conversation=on_conversation)
    assert started_when_first_written[0] == 4
    assert [c.id for c in JsonlStore(tmp_path / "c.jsonl", Conversation).read()] == [f"s{i:02d}#0" for i in range(12)]


def test_ctrl_c_stops_at_once_with_a_resume_hint_and_the_rerun_completes(tmp_path) -> None:
    """SIGINT during a pipelined role-play: requests in flight are cancelled, finished conversations stay, exit
    130 with one line saying how to resume; the rerun adds exactly the missing conversations."""
    scenarios_path, out = tmp_path / "scenarios.jsonl", tmp_path / "c.jsonl"
    JsonlStore(scenarios_path, type(make_scenario())).write_all(
        [make_scenario(f"s{i}") for i in range(8)])

    def staggered(body: dict) -> str:  # s0 leaves at once, the others talk for 6 turns
        if "[s0]" in json.dumps(body):
            return "ACTION: leave\nBye."
        return chatty(body)

    env = {**os.environ, "CLCA_PROGRESS": "0", "CLCA_CACHE_DIR": str(tmp_path / "cache")}
    with OpenAICompatServer(responder=staggered, latency_s=0.3) as server:
        command = [sys.executable, "-m", "clca.cli.main", "roleplay", "--scenarios", str(scenarios_path), "--out",
                   str(out), "--model", f"openai:m@{server.base_url}", "--set", "max_turns=6"]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while not (out.is_file() and out.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        stopped_after = time.monotonic() - started
        first = [c.id for c in JsonlStore(out, Conversation).read()]
        rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "rerun the same command to resume" in stderr
    assert stopped_after < 5  # not after the remaining turns (5 × 0.3 s at least)
    assert first and set(first) <= {"s0#0", "s0#1"}  # only the early leavers had finished
    assert rerun.returncode == 0, rerun.stderr
    ids = [c.id for c in JsonlStore(out, Conversation).read()]
    assert ids == [f"s{i}#{k}" for i in range(8) for k in range(2)]


def test_cli_bad_input_is_one_line_exit_2(tmp_path) -> None:
    bad = tmp_path / "scenarios.jsonl"
    bad.write_text('{"id": "x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "clca.cli.main", "roleplay", "--scenarios", str(bad), "--out", str(tmp_path / "o.jsonl")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "scenarios.jsonl:1" in lines[0]


def test_cli_roleplay_judge_intents_end_to_end(tmp_path) -> None:
    from clca.testing.scripted import ScriptedResponder

    scenarios = tmp_path / "scenarios.jsonl"
    JsonlStore(scenarios, type(make_scenario())).append([make_scenario("s1"), make_scenario("s2")])
    env_python = [sys.executable, "-m", "clca.cli.main"]
    with OpenAICompatServer(responder=ScriptedResponder(bad_quality_every=2)) as server:
        model = ["--model", f"openai:test-model@{server.base_url}"]
        steps = [
            ["roleplay", "--scenarios", str(scenarios), "--out", str(tmp_path / "c.jsonl"), "--set", "max_turns=4"],
            ["judge", "--conversations", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "j.jsonl")],
            ["intents", "--conversations", str(tmp_path / "c.jsonl"), "--judgements", str(tmp_path / "j.jsonl"),
             "--out", str(tmp_path / "i.jsonl")],
        ]
        summaries = []
        for step in steps:
            proc = subprocess.run([*env_python, *step, *model], capture_output=True, text=True, timeout=120,
                                  env={**__import__("os").environ, "CLCA_CACHE_DIR": str(tmp_path / "cache")})
            assert proc.returncode == 0, proc.stderr
            summaries.append(json.loads(proc.stdout))
    assert summaries[0]["conversations"] == 4
    assert summaries[1]["conversations"] == 4 and 0 < summaries[1]["kept"] < 4
    assert summaries[2]["conversations"] == summaries[1]["kept"] and summaries[2]["intents"] > 0
    assert (tmp_path / "i.summary.json").is_file()
