"""CLI commands of `clca.training`: `clca dataset build` and `clca train`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from clca.config import apply_overrides, load_yaml, validate
from clca.locking import lock_output_dir
from clca.outdir import claim_output_dir

dataset_app = typer.Typer(help="Build the multi-task training dataset from role-play, judge and intent records.",
                          no_args_is_help=True)


def _section(config_path: Path | None, section: str, overrides: list[str] | None,
             flags: dict[str, Any]) -> dict[str, Any]:
    """Config values: the YAML file (its `section:` mapping if it has one), then flags, then `--set` overrides."""
    data: dict[str, Any] = load_yaml(config_path) if config_path else {}
    if isinstance(data.get(section), dict):
        data = data[section]
    data.update({k: v for k, v in flags.items() if v is not None})
    return apply_overrides(data, overrides)


@dataset_app.command("build")
def build_cmd(
    conversations: Path = typer.Option(..., "--conversations", help="role-play output (conversations.jsonl)"),
    out: Path = typer.Option(..., "--out", help="output folder (data/, preview.jsonl, manifest.json)"),
    judgements: Path | None = typer.Option(None, "--judgements", help="judge output (needed for --data kept)"),
    intents: Path | None = typer.Option(None, "--intents", help="intents output (needed for the intent task)"),
    tasks: str | None = typer.Option(None, "--tasks", help="dialogue | intent | both"),
    data: str | None = typer.Option(None, "--data", help="kept (judge-filtered) | unfiltered (ablation)"),
    student: str | None = typer.Option(None, "--student", help="backend spec whose chat template is used"),
    config: Path | None = typer.Option(None, "--config", help="YAML file (a `dataset:` section or flat keys)"),
    overrides: list[str] | None = typer.Option(None, "--set", help="KEY=VALUE override, e.g. intent_weight=0.5"),
) -> None:
    """Turn kept conversations into participant-view and intent-view SFT examples for the student."""
    from clca.training.config import DatasetConfig
    from clca.training.dataset import build_dataset

    values = _section(config, "dataset", overrides, {"tasks": tasks, "data": data, "student": student})
    cfg = validate(DatasetConfig, values, str(config) if config else "options")
    with lock_output_dir(claim_output_dir(out, "dataset")):  # claimed first: no lock file in a user's folder
        manifest = build_dataset(conversations, out, cfg, judgements_path=judgements, intents_path=intents)
    counts = manifest.counts
    typer.echo(
        f"{manifest.examples} examples ({counts.get('dialogue_examples', 0)} dialogue, "
        f"{counts.get('intent_examples', 0)} intent) from {counts.get('conversations_used', 0)} of "
        f"{counts.get('conversations_read', 0)} conversations; {manifest.tokens} tokens, "
        f"{manifest.label_tokens} trained, {manifest.truncated} truncated → {out}"
    )


def train_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="folder written by `clca dataset build`"),
    out: Path = typer.Option(..., "--out", help="output folder for the adapter, config, loss curve, model card"),
    student: str | None = typer.Option(None, "--student", help="embedded | hf:<path or name>"),
    preset: str | None = typer.Option(None, "--preset", help="paper | standard"),
    max_steps: int | None = typer.Option(None, "--max-steps", help="stop after N optimiser steps"),
    config: Path | None = typer.Option(None, "--config", help="YAML file (a `train:` section or flat keys)"),
    overrides: list[str] | None = typer.Option(None, "--set", help="KEY=VALUE override, e.g. lora_r=8"),
) -> None:
    """LoRA-fine-tune the student on a built dataset (resumes from the newest checkpoint in --out)."""
    from clca.training.config import TrainConfig
    from clca.training.trainer import train

    values = _section(config, "train", overrides, {"student": student, "preset": preset, "max_steps": max_steps})
    cfg = validate(TrainConfig, values, str(config) if config else "options")
    # claimed first (no lock file in a user's folder); every torchrun rank runs this command
    with lock_output_dir(claim_output_dir(out, "adapter"), main_process_only=True):
        summary = train(dataset, out, cfg)
    if os.environ.get("RANK", "0") != "0":  # under torchrun/accelerate only the main process reports
        return
    loss = f"loss {summary.first_loss:.3f} → {summary.last_loss:.3f}, " if summary.first_loss is not None else ""
    typer.echo(f"step {summary.global_step}, {loss}{summary.tokens_per_s:.0f} tokens/s → adapter spec: "
               f"{summary.adapter_spec}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    app.add_typer(dataset_app, name="dataset")
    app.command("train")(train_cmd)
