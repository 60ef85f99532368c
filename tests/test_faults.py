"""Faults survived: role-play → judge → intents through a real local server that fails ~30% of calls at random.

The server (clca.testing.OpenAICompatServer) answers with the deterministic scripted responder and injects, by a
seeded random plan, every fault real servers produce now and then: 429 with Retry-After, 500, 503, slow answers
that run into the client timeout, connections dropped mid-body, truncated JSON and empty `choices`.
A fault-free run of the same data is the reference: with retries, the faulty run must give the same records;
with too few retries, items that still fail must be recorded as failures with a reason — never lost, never
duplicated, never silently turned into an answer.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from clca.errors import InputDataError
from clca.intents import IntentsConfig, run_intents
from clca.intents.schema import ConversationIntents
from clca.jsonl import JsonlStore
from clca.judge import JudgeConfig, Judgement, run_judge
from clca.llm import ModelConfig, open_backend
from clca.llm.weights import embedded_model_dir
from clca.roleplay import Conversation, RoleplayConfig, run_roleplay
from clca.scenarios.generate import load_seed_scenarios
from clca.testing.openai_server import FAULT_KINDS, FaultPlan, OpenAICompatServer
from clca.testing.scripted import (
    ScriptedResponder,
    jsonl_artifacts,
    scripted_scorer,
    stable_content,
    torn_tails,
)

N_SCENARIOS = 5  # × 2 conversations per scenario = 10 conversations
FAULT_RATE = 0.3


def backend(server: OpenAICompatServer, *, max_retries: int):
    return open_backend(ModelConfig(spec=f"openai:scripted@{server.base_url}", cache=False, max_retries=max_retries,
                                    retry_backoff_s=0.005, timeout_s=0.5, concurrency=8))


def run_chain(tmp, server: OpenAICompatServer, *, max_retries: int) -> dict[str, list]:
    scenarios = load_seed_scenarios()[:N_SCENARIOS]
    model = backend(server, max_retries=max_retries)
    conversations, judgements, intents = tmp / "conversations.jsonl", tmp / "judgements.jsonl", tmp / "intents.jsonl"
    run_roleplay(scenarios, conversations, model, config=RoleplayConfig(max_turns=6, group_size=4))
    run_judge(conversations, judgements, model, config=JudgeConfig(mode="generate", group_size=4))
    label = lambda: run_intents(conversations, intents, model, config=IntentsConfig(kind_mode="generate", group_size=4),
                                judgements_path=judgements)
    if any(j.keep for j in JsonlStore(judgements, Judgement).read()):
        label()
    else:  # faults cost every kept conversation a judge part (which order of calls meets them varies by run)
        with pytest.raises(InputDataError, match="the judge kept none"):
            label()
    return {
        "conversations": JsonlStore(conversations, Conversation).read(),
        "judgements": JsonlStore(judgements, Judgement).read(),
        "intents": JsonlStore(intents, ConversationIntents).read(),
    }


def content(record) -> dict:
    """What must not depend on faults: the whole record minus timestamps, latencies and attempt counts."""
    return stable_content(record)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list]:
    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        return run_chain(tmp_path_factory.mktemp("reference"), server, max_retries=0)


def faulty_plan(seed: int) -> FaultPlan:
    return FaultPlan(rate=FAULT_RATE, kinds=FAULT_KINDS, seed=seed, retry_after=0.01, slow_delay_s=1.0)


def assert_no_duplicates(records: dict[str, list]) -> None:
    for name, items in records.items():
        ids = [r.id for r in items]
        assert len(ids) == len(set(ids)), f"duplicated {name}: {Counter(ids).most_common(3)}"


def test_reference_run_is_complete_and_nontrivial(reference) -> None:
    conversations, judgements, intents = reference["conversations"], reference["judgements"], reference["intents"]
    assert len(conversations) == 2 * N_SCENARIOS
    assert all(c.termination != "error" and len(c.turns) >= 2 for c in conversations)
    assert {j.id for j in judgements} == {c.id for c in conversations}
    kept = {j.id for j in judgements if j.keep}
    assert 0 < len(kept) < len(judgements)  # the scripted judge drops some: the filter is exercised
    assert {i.id for i in intents} == kept
    assert all(t.intent and t.kind for i in intents for t in i.intents)


def test_30_percent_faults_with_retries_give_the_reference_records(tmp_path, reference) -> None:
    with OpenAICompatServer(responder=ScriptedResponder(), faults=faulty_plan(seed=11)) as server:
        records = run_chain(tmp_path, server, max_retries=12)
        faults = Counter(r.fault for r in server.requests if r.fault)
        calls = server.calls
    print(f"\nfaults survived: {sum(faults.values())} of {calls} calls ({dict(faults)})")
    assert sum(faults.values()) / calls > 0.2 and len(faults) == len(FAULT_KINDS), faults  # every kind happened
    assert_no_duplicates(records)
    for name in ("conversations", "judgements", "intents"):
        assert [content(r) for r in sorted(records[name], key=lambda r: r.id)] == \
            [content(r) for r in sorted(reference[name], key=lambda r: r.id)], name


def test_30_percent_faults_without_enough_retries_record_every_failure(tmp_path, reference) -> None:
    """One retry: some items still fail. Each is either produced (then equal to the reference) or recorded as a
    failure with a reason; the set of ids is complete and nothing is duplicated."""
    with OpenAICompatServer(responder=ScriptedResponder(), faults=faulty_plan(seed=5)) as server:
        records = run_chain(tmp_path, server, max_retries=1)
    assert_no_duplicates(records)
    reference_by_id = {name: {r.id: r for r in items} for name, items in reference.items()}

    conversations = records["conversations"]
    assert {c.id for c in conversations} == set(reference_by_id["conversations"])
    failed_conversations = [c for c in conversations if c.termination == "error"]
    for c in conversations:
        if c.termination == "error":
            assert c.error, c.id
        else:
            assert content(c) == content(reference_by_id["conversations"][c.id])

    judgements = records["judgements"]
    assert {j.id for j in judgements} == {c.id for c in conversations}
    failed_parts = 0
    for j in judgements:
        for part in ("quality", "cultural_alignment", "meta"):
            if getattr(j, part) is None and c_ok(conversations, j.id):
                assert j.failures.get(part), (j.id, part)  # never a silent None
                failed_parts += 1
        assert not j.keep or j.quality is not None  # a failed part is never turned into a "good" verdict

    kept = {j.id for j in judgements if j.keep}
    assert {i.id for i in records["intents"]} == kept
    failed_turns = 0
    for item in records["intents"]:
        for turn in item.intents:
            if turn.intent is None or turn.kind is None:
                assert turn.error, (item.id, turn.turn_index)
                failed_turns += 1
    total_failures = len(failed_conversations) + failed_parts + failed_turns
    print(f"\nrecorded failures: {len(failed_conversations)} conversations, {failed_parts} judge parts, "
          f"{failed_turns} intent turns")
    assert total_failures > 0  # with one retry at a 30% fault rate some items must fail: the path is exercised


# ------------------------------------------------------------------- logprob mode (prompt log-probabilities)

def run_logprob_chain(tmp, server: OpenAICompatServer, conversations: list[Conversation], *,
                      max_retries: int) -> dict[str, list]:
    """Judge and intent kinds by `score_options` (`/v1/completions` echo + logprobs), over given conversations."""
    model = open_backend(ModelConfig(spec=f"openai:scripted@{server.base_url}", cache=False, max_retries=max_retries,
                                     retry_backoff_s=0.005, timeout_s=0.5, concurrency=8,
                                     tokenizer=str(embedded_model_dir()[0])))  # the chat template only
    path, judgements, intents = tmp / "conversations.jsonl", tmp / "judgements.jsonl", tmp / "intents.jsonl"
    JsonlStore(path, Conversation).write_all(conversations)
    run_judge(path, judgements, model, config=JudgeConfig(mode="logprob", group_size=4))
    if any(j.keep for j in JsonlStore(judgements, Judgement).read()):  # else intents stops: nothing to label
        run_intents(path, intents, model, config=IntentsConfig(kind_mode="logprob", group_size=4),
                    judgements_path=judgements)
    model.close()
    return {"judgements": JsonlStore(judgements, Judgement).read(),
            "intents": JsonlStore(intents, ConversationIntents).read()}


def test_logprob_judge_and_intents_through_30_percent_faults(tmp_path, reference) -> None:
    """Option scoring fails per item too: with retries the records equal a fault-free run; with none, every item
    is produced (equal to the reference) or recorded as failed with the reason — never scored as 0 or dropped."""
    conversations = reference["conversations"]
    with OpenAICompatServer(responder=ScriptedResponder(), scorer=scripted_scorer) as server:
        clean = run_logprob_chain(tmp_path / "clean", server, conversations, max_retries=0)
    assert any(j.keep for j in clean["judgements"]) and all(
        j.quality is not None for j in clean["judgements"])
    with OpenAICompatServer(responder=ScriptedResponder(), scorer=scripted_scorer,
                            faults=faulty_plan(seed=3)) as server:
        survived = run_logprob_chain(tmp_path / "retried", server, conversations, max_retries=12)
    for name in ("judgements", "intents"):
        assert [content(r) for r in survived[name]] == [content(r) for r in clean[name]], name

    with OpenAICompatServer(responder=ScriptedResponder(), scorer=scripted_scorer,
                            faults=faulty_plan(seed=4)) as server:
        failing = run_logprob_chain(tmp_path / "failing", server, conversations, max_retries=0)
    assert_no_duplicates(failing)
    clean_judgements = {j.id: j for j in clean["judgements"]}
    failed_parts = 0
    assert {j.id for j in failing["judgements"]} == set(clean_judgements)
    for j in failing["judgements"]:
        for part in ("quality", "cultural_alignment", "meta"):
            got, want = getattr(j, part), getattr(clean_judgements[j.id], part)
            if got is None and want is not None:
                assert "attempts failed" in j.failures.get(part, ""), (j.id, part, j.failures)
                failed_parts += 1
            elif part != "meta" or not j.failures:  # the meta prompt shows the other parts' verdicts
                assert got == want, (j.id, part)
    failed_kinds = sum(1 for item in failing["intents"] for t in item.intents
                       if t.intent is not None and t.kind is None and "attempts failed" in (t.error or ""))
    print(f"\nlogprob mode, no retries: {failed_parts} judge parts and {failed_kinds} intent kinds recorded failed")
    assert failed_parts > 0


def c_ok(conversations: list[Conversation], conversation_id: str) -> bool:
    return next(c for c in conversations if c.id == conversation_id).termination != "error"


# ------------------------------------------------------------------------------------------------ disk faults

def _can_mount_tmpfs(path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(path)], capture_output=True)
    if ok.returncode == 0:
        subprocess.run(["umount", str(path)], capture_output=True)
    return ok.returncode == 0


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A REAL tiny file system (tmpfs, 40 KiB) to fill up; needs root (skipped otherwise — see the injected
    variant below, which runs everywhere)."""
    mount_point = tmp_path / "mnt"
    if not _can_mount_tmpfs(mount_point):
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def clca_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "CLCA_PROGRESS": "0"}, timeout=300)


def data_generation_config(tmp_path, runs_dir, base_url: str):
    config = {
        "name": "disk", "runs_dir": str(runs_dir), "cultures": ["DEU"],
        "models": {"default": {"spec": f"openai:scripted@{base_url}", "cache": False}},
        "scenarios": {"source": "adapt", "n": 3},
        "roleplay": {"max_turns": 6, "conversations_per_scenario": 2, "group_size": 2},
        "judge": {"mode": "generate", "group_size": 2},
        "intents": {"kind_mode": "generate", "group_size": 1},
    }
    path = tmp_path / "disk.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_real_full_disk_and_read_only_disk_give_one_line_errors_and_keep_artifacts(tmp_path, tiny_tmpfs) -> None:
    runs = tiny_tmpfs / "runs"
    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        config = data_generation_config(tmp_path, runs, server.base_url)
        for stage in ("culture", "scenarios", "roleplay", "judge", "intents"):
            result = clca_cli("run", "--config", str(config), "--only", stage)
            if result.returncode != 0:
                break
        # 40 KiB cannot hold the role-play, judge and intents records: the disk fills up on the way
        assert_one_line_error(result, "No space left on device", str(runs))
        assert torn_tails(runs) == []  # every complete line is intact; a torn tail is dropped on resume
        json.loads((runs / "disk" / "manifest.json").read_text())  # written atomically: still whole
        scenarios_before = (runs / "disk" / "DEU" / "scenarios" / "scenarios.jsonl").read_bytes()
        assert scenarios_before.count(b"\n") == 3

        # Read-only: remount, ask to redo the scenarios; one line, and nothing already there is touched.
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
        before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
        result = clca_cli("run", "--config", str(config), "--only", "scenarios", "--force", "scenarios")
        assert_one_line_error(result, "Read-only file system", str(runs))
        assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()} == before

        # More room: the same command resumes and finishes; nothing lost, nothing duplicated.
        subprocess.run(["mount", "-o", "remount,rw,size=4m", str(tiny_tmpfs)], check=True)
        for stage in ("roleplay", "judge", "intents"):
            result = clca_cli("run", "--config", str(config), "--only", stage)
            assert result.returncode == 0, result.stderr[-2000:]
    artifacts = jsonl_artifacts(runs / "disk")
    assert (runs / "disk" / "DEU" / "scenarios" / "scenarios.jsonl").read_bytes() == scenarios_before
    conversations = artifacts["DEU/roleplay/conversations.jsonl"]
    assert len(conversations) == 6 and len({c["id"] for c in conversations}) == 6
    assert {j["id"] for j in artifacts["DEU/judge/judgements.jsonl"]} == {c["id"] for c in conversations}


@pytest.mark.parametrize("error_number", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_injected_disk_errors_are_one_line_naming_the_file(tmp_path, monkeypatch, capsys, error_number) -> None:
    """Where no tmpfs can be mounted (not root): the error is injected at fsync — the last step of every durable
    write — and the CLI still prints one line naming the file, exit 2; the earlier file is untouched."""
    from clca.cli import main as cli_main

    out = tmp_path / "seeds.jsonl"
    monkeypatch.setattr(sys, "argv", ["clca", "scenarios", "seeds", "--out", str(out)])
    with pytest.raises(SystemExit):
        cli_main.main()
    good = out.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(error_number, os.strerror(error_number))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert os.strerror(error_number) in err and "seeds.jsonl" in err
    assert out.read_bytes() == good and not out.with_name("seeds.jsonl.tmp").exists()
