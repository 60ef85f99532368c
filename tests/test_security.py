"""Secret hygiene and safe configs: the API key comes only from the environment and is never written anywhere;
config loading never executes code; names from user input cannot escape the run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from clca.testing.openai_server import OpenAICompatServer
from clca.testing.scripted import ScriptedResponder

SECRET = "sk-test-7f3c9a1e5b2d4c6f8a0e1b3d5f7a9c2e"  # a distinctive value to search for


def clca(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_api_key_only_from_env_and_never_written(tmp_path) -> None:
    cache_dir = tmp_path / "cache"  # the response cache is ON: it must not store the key either
    env = {**os.environ, "CLCA_PROGRESS": "0", "CLCA_CACHE_DIR": str(cache_dir), "MY_LLM_KEY": SECRET}
    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        config = {
            "name": "secrets", "runs_dir": str(tmp_path / "runs"), "cultures": ["DEU"],
            "models": {"default": {"spec": f"openai:scripted@{server.base_url}", "api_key_env": "MY_LLM_KEY"}},
            "scenarios": {"source": "adapt", "n": 2},
            "roleplay": {"max_turns": 4, "conversations_per_scenario": 1},
            "judge": {"mode": "generate"}, "intents": {"kind_mode": "generate"},
        }
        path = tmp_path / "secrets.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        outputs = []
        for stage in ("culture", "scenarios", "roleplay", "judge", "intents"):
            result = clca("--debug", "run", "--config", str(path), "--only", stage, cwd=tmp_path, env=env)
            assert result.returncode == 0, result.stderr[-2000:]
            outputs += [result.stdout, result.stderr]
        # the key did reach the server, as a bearer token, on every request
        assert server.requests and all(r.authorization == f"Bearer {SECRET}" for r in server.requests)

        # a missing key variable is a one-line error naming the variable, not a silent unauthenticated call
        env_without = {k: v for k, v in env.items() if k != "MY_LLM_KEY"}
        result = clca("run", "--config", str(path), "--only", "scenarios", "--force", "scenarios", cwd=tmp_path,
                      env=env_without)
        assert result.returncode == 2 and "MY_LLM_KEY" in result.stderr and "Traceback" not in result.stderr

    scanned = 0
    for root in (tmp_path / "runs", cache_dir):
        for file in root.rglob("*"):
            if file.is_file():
                scanned += 1
                assert SECRET.encode() not in file.read_bytes(), f"API key written to {file}"
    assert scanned >= 8 and any(cache_dir.rglob("*.sqlite*"))
    for text in outputs:  # stdout/stderr of --debug runs (debug logging on)
        assert SECRET not in text


def test_config_loading_never_executes_code(tmp_path) -> None:
    marker = tmp_path / "pwned"
    payloads = [
        f'!!python/object/apply:os.system ["touch {marker}"]',
        f'name: !!python/object/apply:os.system ["touch {marker}"]\ncultures: [DEU]\n',
        "name: x\ncultures: [DEU]\nmodels: {default: {spec: 'hf:os.system'}}\n"
        f"train: {{preset: \"__import__('os').system('touch {marker}')\"}}\n",
    ]
    env = {**os.environ, "CLCA_PROGRESS": "0"}
    for payload in payloads:
        path = tmp_path / "evil.yaml"
        path.write_text(payload, encoding="utf-8")
        result = clca("run", "--config", str(path), cwd=tmp_path, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-1500:]
        assert not marker.exists(), "loading a config executed code"


def test_names_from_user_input_cannot_escape_the_run_directory(tmp_path) -> None:
    env = {**os.environ, "CLCA_PROGRESS": "0"}
    base = {"name": "ok", "runs_dir": str(tmp_path / "runs"), "cultures": ["DEU"],
            "models": {"default": {"spec": "openai:m@http://127.0.0.1:9/v1"}}}
    for change, needle in (({"name": "../escape"}, "not a safe name"), ({"name": "/tmp/abs"}, "not a safe name"),
                           ({"name": "a/b"}, "not a safe name"), ({"cultures": ["../DEU"]}, "../DEU")):
        path = tmp_path / "names.yaml"
        path.write_text(yaml.safe_dump({**base, **change}), encoding="utf-8")
        result = clca("run", "--config", str(path), cwd=tmp_path, env=env)
        assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "escape").exists() and not Path("/tmp/abs").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.jsonl"))
