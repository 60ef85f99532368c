"""Spec parsing and `clca models check` (run as a real subprocess against the local server)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clca.errors import BackendError
from clca.llm import load_backend, parse_spec
from clca.testing import OpenAICompatServer


@pytest.mark.parametrize(
    ("spec", "kind", "model", "adapter", "urls"),
    [
        ("embedded", "embedded", None, None, ()),
        ("embedded+adapter=/tmp/a b", "embedded", None, "/tmp/a b", ()),
        ("hf:HuggingFaceTB/SmolLM2-360M-Instruct", "hf", "HuggingFaceTB/SmolLM2-360M-Instruct", None, ()),
        ("hf:/models/x+adapter=runs/lora", "hf", "/models/x", "runs/lora", ()),
        ("openai:gpt-4o-mini@https://api.openai.com/v1", "openai", "gpt-4o-mini", None,
         ("https://api.openai.com/v1",)),
        ("openai:org/model@http://a:8000/v1/, http://b:8000/v1", "openai", "org/model", None,
         ("http://a:8000/v1", "http://b:8000/v1")),
        ("openai:name@v2@http://a/v1", "openai", "name@v2", None, ("http://a/v1",)),
    ],
)
def test_valid_specs(spec, kind, model, adapter, urls):
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.adapter, parsed.base_urls) == (kind, model, adapter, urls)


@pytest.mark.parametrize(
    "spec",
    ["", "gpt4", "embeded", "embedded+lora=x", "embedded+adapter=", "hf:", "openai:model",
     "openai:@http://a/v1", "openai:m@ftp://a", "openai:m@http://a/v1+adapter=x", "hf:m+lora=x"],
)
def test_bad_specs_name_the_spec_and_the_accepted_forms(spec):
    with pytest.raises(BackendError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert repr(spec) in message and "accepted forms" in message and "\n" not in message


def test_bad_option_value_is_a_config_error():
    from clca.errors import ConfigError

    with pytest.raises(ConfigError, match="concurrency"):
        load_backend("openai:m@http://127.0.0.1:9/v1", concurrency=0)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def test_models_check_against_a_server():
    with OpenAICompatServer(responder=lambda body: "Paris is the capital of France.") as srv:
        done = run_cli("models", "check", f"openai:m@{srv.base_url}", "--skip-scoring")
    assert done.returncode == 0, done.stderr
    assert "Paris is the capital of France." in done.stdout and "tokens/s" in done.stdout
    assert "load time" in done.stdout and done.stdout.strip().endswith("ok")


def test_models_check_errors_are_one_line_exit_2():
    done = run_cli("models", "check", "nonsense:spec")
    assert done.returncode == 2
    assert "accepted forms" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
