"""Output locks, with a real second process holding them: a command on a locked folder or file stops with one line
naming it and the holder's PID (exit 2); the lock goes away with its holder, even when it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from clca.locking import LOCK_NAME, OutputLocked, lock_output_dir, lock_output_file
from clca.outdir import MARKER, claim_output_dir

HOLD = textwrap.dedent("""
    import sys
    from clca.locking import lock_output_dir, lock_output_file
    kind, path = sys.argv[1], sys.argv[2]
    with (lock_output_dir if kind == "dir" else lock_output_file)(path):
        print("locked", flush=True)
        sys.stdin.read()  # hold until the test closes our stdin (or kills us)
""")


@pytest.fixture
def holder():
    """Start a process holding the lock of a folder ("dir") or file ("file"); yields its Popen."""
    started: list[subprocess.Popen] = []

    def start(kind: str, path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, kind, str(path)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.stdin.close()
            process.wait(timeout=30)


def clca(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "CLCA_PROGRESS": "0"}, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_second_evaluate_on_a_locked_folder_exits_2_naming_the_folder_and_the_holder(tmp_path, holder) -> None:
    out = tmp_path / "eval"
    claim_output_dir(out, "evaluation")  # as the first clca process did before taking the lock
    process = holder("dir", out)
    result = clca("evaluate", "--culture", "DEU", "--questions", "Q1", "--mode", "generate", "--out", str(out),
                  "--model", "openai:m@http://127.0.0.1:9/v1")
    line = one_error_line(result)
    assert f"output folder {out} is in use by another clca process (PID {process.pid})" in line, line
    assert sorted(p.name for p in out.iterdir()) == [MARKER, LOCK_NAME]  # the second process wrote nothing


def test_a_second_clca_run_on_a_locked_run_directory_exits_2_and_runs_once_the_holder_is_gone(tmp_path,
                                                                                              holder) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"name": "locked", "runs_dir": str(tmp_path / "runs"), "cultures": ["DEU"],
                                      "scenarios": {"source": "seeds", "n": 2}}), encoding="utf-8")
    run_dir = tmp_path / "runs" / "locked"
    process = holder("dir", run_dir)
    line = one_error_line(clca("run", "--config", str(config), "--only", "culture"))
    assert f"output folder {run_dir} is in use by another clca process (PID {process.pid})" in line, line
    assert not (run_dir / "manifest.json").exists()

    process.send_signal(signal.SIGKILL)  # a crashed holder: the OS releases its lock
    process.wait(timeout=30)
    result = clca("run", "--config", str(config), "--only", "culture")
    assert result.returncode == 0, result.stderr
    assert (run_dir / "DEU" / "culture" / "culture.json").is_file()


def test_a_second_roleplay_on_a_locked_output_file_exits_2(tmp_path, holder) -> None:
    scenarios, out = tmp_path / "seeds.jsonl", tmp_path / "conversations.jsonl"
    assert clca("scenarios", "seeds", "--out", str(scenarios)).returncode == 0
    process = holder("file", out)
    line = one_error_line(clca("roleplay", "--scenarios", str(scenarios), "--out", str(out),
                               "--model", "openai:m@http://127.0.0.1:9/v1"))
    assert f"output file {out} is in use by another clca process (PID {process.pid})" in line, line
    assert not out.exists()


def test_locks_in_one_process_exclude_each_other_and_are_released_on_exit(tmp_path) -> None:
    with lock_output_dir(tmp_path / "a"):
        with pytest.raises(OutputLocked, match=f"PID {os.getpid()}"), lock_output_dir(tmp_path / "a"):
            pass
        with lock_output_dir(tmp_path / "b"), lock_output_file(tmp_path / "a" / "x.jsonl"):
            pass  # other folders and files are independent
    with lock_output_dir(tmp_path / "a"):  # released at the end of the block
        pass


def test_under_torchrun_only_rank_0_takes_the_lock(tmp_path, monkeypatch) -> None:
    with lock_output_dir(tmp_path, main_process_only=True):
        monkeypatch.setenv("RANK", "1")
        with lock_output_dir(tmp_path, main_process_only=True):
            pass
        with pytest.raises(OutputLocked):
            with lock_output_dir(tmp_path):
                pass


def test_a_file_written_twice_by_an_older_version_reads_one_record_per_id_and_says_so(tmp_path, caplog) -> None:
    """What two unlocked `clca evaluate` left behind: every record twice (interleaved). Readers keep the first of
    each and warn, naming the file."""
    from pydantic import BaseModel

    from clca.jsonl import JsonlStore

    class Item(BaseModel):
        id: str
        value: int

    path = tmp_path / "records.jsonl"
    store = JsonlStore(path, Item)
    store.append([Item(id="a", value=1), Item(id="b", value=2), Item(id="a", value=3), Item(id="c", value=4),
                  Item(id="b", value=5)])
    with caplog.at_level("WARNING", logger="clca.jsonl"):
        assert [(r.id, r.value) for r in store.read()] == [("a", 1), ("b", 2), ("c", 4)]
    assert f"{path}: 2 duplicate records (2 ids, e.g. 'a')" in caplog.text and "keeping the first" in caplog.text
    caplog.clear()
    JsonlStore(tmp_path / "clean.jsonl", Item).append([Item(id="a", value=1)])
    assert len(JsonlStore(tmp_path / "clean.jsonl", Item).read()) == 1 and not caplog.text
