"""Adapters served by name (vLLM --enable-lora --lora-modules DEU=DIR …): the CLCA evaluation of each culture
asks the server for that culture's adapter name, and provenance records the adapter directory `clca train` wrote
with its sha256."""

from __future__ import annotations

import json

import pytest

from clca.config import validate
from clca.errors import BackendError, ClcaError
from clca.llm import load_backend
from clca.llm.weights import adapter_sha256
from clca.pipeline.config import RunConfig
from clca.pipeline.context import RunContext
from clca.pipeline.stages import clca_eval_settings, clca_student, run_clca_eval
from clca.testing.openai_server import OpenAICompatServer


def write_adapter(directory, payload: bytes) -> None:
    """What `clca train` leaves in the adapter folder, as far as identity goes: its config and weights files."""
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (directory / "adapter_model.safetensors").write_bytes(payload)


def run_config(tmp_path, served_spec: str, cultures=("DEU", "MEX"), adapter="per_culture") -> RunConfig:
    return validate(RunConfig, {
        "name": "served", "runs_dir": str(tmp_path), "cultures": list(cultures), "adapter": adapter,
        "models": {"student_served": {"spec": served_spec, "cache": False, "max_retries": 0}},
        "evaluation": {"questions": "Q122", "human_source": "bundled", "country_samples": 2, "baselines": [],
                       "bootstrap_resamples": 0},
    }, "run config")


def test_each_cultures_evaluation_reaches_its_adapters_served_name_and_records_the_adapter(tmp_path):
    with OpenAICompatServer(responder=lambda body: "2", owned_by="vllm", engine_version="0.6.3",
                            served_names=("clca-DEU", "clca-MEX")) as server:
        config = run_config(tmp_path, f"openai:clca-{{culture}}@{server.base_url}")
        ctx = RunContext(config=config, run_dir=config.run_dir)
        for culture, payload in (("DEU", b"deu weights"), ("MEX", b"mex weights")):
            write_adapter(ctx.layout.adapter(culture), payload)
        results = {culture: run_clca_eval(ctx, culture) for culture in ("DEU", "MEX")}
        ctx.backends.close()
        url = server.base_url
        asked = [(r.body["model"], r.body["messages"][0]["content"]) for r in server.requests]
    assert {model for model, _ in asked} == {"clca-DEU", "clca-MEX"}
    for model, system in asked:  # each culture's prompts went to that culture's adapter
        assert ("Germany" in system) == (model == "clca-DEU") and ("Mexico" in system) == (model == "clca-MEX")
    for culture in ("DEU", "MEX"):
        identity = results[culture]["models"]["student+adapter"]
        adapter_dir = ctx.layout.adapter(culture).resolve()
        assert identity == {"backend": "openai", "model": f"clca-{culture}", "adapter": str(adapter_dir),
                            "adapter_sha256": adapter_sha256(adapter_dir), "weights_sha256": None,
                            "server": url, "engine": "vllm", "engine_version": "0.6.3"}
        manifest = json.loads((ctx.layout.clca_eval(culture) / "manifest.json").read_text())
        assert manifest["model"] == identity  # the provenance of the culture's evaluation records
    assert results["DEU"]["models"]["student+adapter"]["adapter_sha256"] != \
        results["MEX"]["models"]["student+adapter"]["adapter_sha256"]


def test_a_shared_adapter_is_served_under_one_name(tmp_path):
    config = run_config(tmp_path, "openai:clca-{adapter}@http://127.0.0.1:8000/v1", adapter="shared")
    ctx = RunContext(config=config, run_dir=config.run_dir)
    student = clca_student(ctx, "MEX")
    assert student.spec == "openai:clca-shared@http://127.0.0.1:8000/v1"
    assert student.served_adapter == str(ctx.layout.adapter("shared"))
    assert "student_served" in clca_eval_settings(ctx, "MEX")


@pytest.mark.parametrize("served, why", [
    ("openai:clca@http://h:8000/v1", "put {culture} where each adapter's served name goes"),
    ("hf:some/model", "must be an 'openai:' spec"),
])
def test_served_specs_that_cannot_route_are_refused_in_one_line(tmp_path, served, why):
    with pytest.raises(ClcaError, match=why.replace("{", r"\{").replace("}", r"\}")):
        run_config(tmp_path, served)


def test_served_adapter_is_for_servers_and_must_be_an_adapter_folder(tmp_path):
    with pytest.raises(ClcaError, match="served_adapter is for 'openai:' specs"):
        load_backend("embedded", served_adapter=str(tmp_path))
    with pytest.raises(BackendError, match="not a LoRA adapter directory"):
        load_backend("openai:m@http://127.0.0.1:9/v1", served_adapter=str(tmp_path), cache=False)


def test_without_student_served_the_local_student_loads_the_adapter_and_fingerprints_are_unchanged(tmp_path):
    config = validate(RunConfig, {"name": "local", "runs_dir": str(tmp_path), "cultures": ["DEU"]}, "run config")
    ctx = RunContext(config=config, run_dir=config.run_dir)
    assert set(clca_eval_settings(ctx, "DEU")) == {"evaluation", "student"}
    assert "served_adapter" not in clca_eval_settings(ctx, "DEU")["student"]
