"""Config loading, crash-safe JSONL, prompt templates and the CLI's error contract."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from clca.config import StrictModel, apply_overrides, load_config
from clca.errors import ConfigError, InputDataError
from clca.jsonl import JsonlStore, stable_hash
from clca.prompts import load_template


class Inner(StrictModel):
    max_turns: int = 10
    top_p: float = 0.7


class Outer(StrictModel):
    name: str = "x"
    roleplay: Inner = Inner()


class Rec(BaseModel):
    id: str
    value: int


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_config_loads_and_overrides(tmp_path):
    cfg = load_config(Outer, write(tmp_path / "c.yaml", "name: run1\nroleplay:\n  max_turns: 4\n"),
                      ["roleplay.top_p=0.9"])
    assert cfg.name == "run1" and cfg.roleplay.max_turns == 4 and cfg.roleplay.top_p == 0.9


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path / "c.yaml", "roleplay:\n  max_turn: 4\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Outer, path)
    assert "roleplay.max_turn" in str(exc.value) and str(path) in str(exc.value)


def test_wrong_type_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="roleplay.max_turns"):
        load_config(Outer, write(tmp_path / "a.yaml", "roleplay: {max_turns: many}\n"))
    with pytest.raises(ConfigError, match="line 2.*invalid YAML"):
        load_config(Outer, write(tmp_path / "b.yaml", "name: a\n  bad: [\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, write(tmp_path / "c.yaml", "- a\n- b\n"))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["roleplay.max_turns"])


def test_yaml_never_executes_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where `touch pwned` would write if the tag were executed
    path = write(tmp_path / "evil.yaml", "name: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(Outer, path)
    assert not (tmp_path / "pwned").exists()


def test_jsonl_append_read_keys(tmp_path):
    store = JsonlStore(tmp_path / "out.jsonl", Rec)
    store.append([Rec(id="a", value=1), Rec(id="b", value=2)])
    store.append([Rec(id="c", value=3)])
    assert [r.id for r in store.read()] == ["a", "b", "c"]
    assert store.keys() == {"a", "b", "c"}


def test_jsonl_torn_tail_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "out.jsonl"
    store = JsonlStore(path, Rec)
    store.append([Rec(id="a", value=1)])
    with open(path, "ab") as fh:  # what a kill -9 in the middle of a write leaves behind
        fh.write(b'{"id": "b", "val')
    assert [r.id for r in store.read()] == ["a"]
    store.append([Rec(id="b", value=2)])
    assert [r.id for r in store.read()] == ["a", "b"]
    assert path.read_text().count("\n") == 2


def test_jsonl_corrupt_middle_line_is_a_clear_error(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a", "value": 1}\n{"id": "b"}\n')
    with pytest.raises(InputDataError, match=r"out.jsonl:2: field 'value'"):
        JsonlStore(path, Rec).read()


def test_jsonl_survives_kill_during_appends(tmp_path):
    """A writer killed with SIGKILL mid-stream leaves only whole records (or a torn tail that read() drops)."""
    path = tmp_path / "out.jsonl"
    script = textwrap.dedent(f"""
        from pydantic import BaseModel
        from clca.jsonl import JsonlStore
        class Rec(BaseModel):
            id: str
            value: int
        store = JsonlStore({str(path)!r}, Rec)
        i = 0
        while True:
            store.append([Rec(id=str(i), value=i)])
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 30
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 2000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    records = JsonlStore(path, Rec).read()
    assert len(records) > 10
    assert [r.value for r in records] == list(range(len(records)))


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_prompt_templates_are_versioned_hashed_and_strict():
    import hashlib

    import jinja2

    from clca.prompts import TEMPLATE_DIR

    paths = sorted(TEMPLATE_DIR.glob("*.j2"))
    assert len(paths) >= 10
    for path in paths:
        assert re.fullmatch(r"[a-z_]+\.v\d+", path.stem), f"template name without a version: {path.name}"
        template = load_template(path.stem)
        assert template.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(jinja2.UndefinedError):  # a missing variable never renders as an empty string
        load_template("roleplay_agent_system.v1").render()
    with pytest.raises(KeyError, match="unknown prompt template"):
        load_template("does_not_exist.v1")


def test_cli_version_and_one_line_error(tmp_path):
    clca = [sys.executable, "-m", "clca.cli.main"]
    out = subprocess.run([*clca, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("clca ")
    bad = write(tmp_path / "bad.yaml", "name: [unclosed\n")
    res = subprocess.run([*clca, "run", "--config", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len([line for line in res.stderr.splitlines() if line.strip()]) == 1
    assert str(bad) in res.stderr
