"""LoRA training on the real embedded model: the loss falls, an interrupted run resumes from its checkpoint, and
the saved adapter loads through the backend spec and changes the model's option probabilities."""

from __future__ import annotations

import csv
import json

import pytest

from builders_dataset import LINES, write_inputs
from clca.errors import ConfigError
from clca.llm import ModelConfig, OptionScoringRequest, open_backend
from clca.llm.base import Message
from clca.training.config import DatasetConfig, TrainConfig
from clca.training.dataset import build_dataset
from clca.training.trainer import train

pytestmark = pytest.mark.slow


def test_config_presets_resolve_and_overrides_win():
    paper = TrainConfig().resolved()
    assert (paper.lora_r, paper.lora_alpha, paper.lora_dropout) == (4, 0.1, 0.5)
    assert paper.target_modules == ["q_proj", "v_proj"] and paper.batch_size == 8 and paper.num_epochs == 3
    standard = TrainConfig(preset="standard", lora_r=8).resolved()
    assert standard.lora_r == 8 and standard.lora_alpha == 32 and len(standard.target_modules) == 4
    with pytest.raises(ValueError):
        TrainConfig(batch_size=8, per_device_batch_size=3)
    with pytest.raises(ConfigError, match="student"):
        from clca.training.student import parse_student_spec

        parse_student_spec("openai:gpt-4o@http://127.0.0.1:1")


def test_train_lowers_loss_resumes_and_adapter_changes_option_scores(tmp_path, embedded_backend):
    paths = write_inputs(tmp_path, n=1, dropped=0)
    build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(tasks="dialogue", max_length=224),
                  judgements_path=paths["judgements"])
    out = tmp_path / "adapter"
    # Both examples in every step, a high learning rate: a few steps must visibly fit them.
    cfg = TrainConfig(preset="standard", batch_size=2, per_device_batch_size=2, learning_rate=3e-3,
                      max_steps=3, save_steps=3, seed=1)
    first = train(tmp_path / "ds", out, cfg)
    assert first.global_step == 3 and first.resumed_from is None
    assert first.last_loss < first.first_loss - 0.2, (first.first_loss, first.last_loss)
    assert (out / "checkpoints" / "checkpoint-3").is_dir()

    # "Interrupted" run continued to more steps: it starts from checkpoint-3, not from scratch.
    second = train(tmp_path / "ds", out, cfg.model_copy(update={"max_steps": 4}))
    assert second.resumed_from.endswith("checkpoint-3") and second.global_step == 4
    with open(out / "loss.csv", newline="") as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh)]
    assert steps == [1, 2, 3, 4]  # the curve holds the steps of both sessions, none twice

    for name in ("adapter_config.json", "adapter_model.safetensors", "loss.png", "README.md", "summary.json"):
        assert (out / name).is_file(), name
    recorded = json.loads((out / "training_config.json").read_text())
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert recorded["data_sha256"] == manifest["data_sha256"]
    assert recorded["config"]["lora_r"] == 16 and recorded["seed"] == 1
    assert second.adapter_spec in (out / "README.md").read_text()

    # The adapter loads through the backend spec and shifts probability towards the trained replies.
    request = OptionScoringRequest(
        messages=[Message(role="system", content=json.loads(
            (tmp_path / "ds" / "preview.jsonl").read_text().splitlines()[0])["messages"][0]["content"]),
            Message(role="user", content="(The conversation begins.)")],
        options=[LINES[0][2], "Hello. What do you want?"],
    )
    base = embedded_backend.score_options([request])[0]
    with open_backend(ModelConfig(spec=second.adapter_spec, cache=False)) as tuned_backend:
        tuned = tuned_backend.score_options([request])[0]
    assert tuned[0] - base[0] > 1.0, (base, tuned)  # the trained first reply became much more likely
    assert (tuned[0] - tuned[1]) > (base[0] - base[1])


def test_two_process_ddp_run_on_cpu(tmp_path):
    """`clca train` unchanged under torchrun: 2 gloo processes share the global batch; rank 0 writes the adapter."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    paths = write_inputs(tmp_path, n=1, dropped=0)
    build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(tasks="dialogue", max_length=160),
                  judgements_path=paths["judgements"])
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "CLCA_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "clca.cli.main", "train", "--dataset", str(tmp_path / "ds"),
         "--out", str(tmp_path / "out"), "--preset", "standard", "--max-steps", "1",
         "--set", "batch_size=2", "--set", "per_device_batch_size=1"],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("adapter spec:") == 1  # reported once, by the main process
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # the trainer itself saw a 2-process job (clca refuses to train when it does not: on CPU, each process used to
    # train its own replica as "rank 0", and all of them raced to write the outputs)
    assert summary["world_size"] == 2 and summary["global_step"] == 1
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
