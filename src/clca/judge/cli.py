"""`clca judge`: LLM-as-judge filter of conversations; `clca judge calibrate`: its agreement with a labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from clca.cli.common import open_model, print_json
from clca.config import load_config
from clca.errors import ConfigError
from clca.locking import lock_output_file

judge_app = typer.Typer(invoke_without_command=True, add_completion=False,
                        help="Judge conversations (`clca judge --conversations … --out …`), or `calibrate`.")


@judge_app.callback()
def judge(
    ctx: typer.Context,
    conversations: Path | None = typer.Option(None, "--conversations",
                                              help="Conversation JSONL (from `clca roleplay`)."),
    out: Path | None = typer.Option(None, "--out", help="Judgement JSONL to write (appended; reruns resume)."),
    config: Path | None = typer.Option(None, "--config", help="YAML with JudgeConfig keys."),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set mode=logprob."),
    model: str = typer.Option("embedded", "--model", help="Backend spec of the judge."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
) -> None:
    """Judge quality, cultural alignment and a meta-judgement; print the kept ratio and breakdown."""
    if ctx.invoked_subcommand is not None:
        return
    if conversations is None or out is None:
        raise ConfigError("clca judge needs --conversations and --out (or run `clca judge calibrate`)")
    from clca.judge import JudgeConfig, run_judge
    from clca.roleplay import load_conversations

    cfg = load_config(JudgeConfig, config, overrides)
    load_conversations(conversations)  # validate input before loading any model
    backend = open_model(model, api_key_env)
    try:
        with lock_output_file(out):
            summary = run_judge(conversations, out, backend, cfg)
    finally:
        backend.close()
    print_json(summary)

@judge_app.command("calibrate")
def calibrate_command(
    model: str = typer.Option("embedded", "--model", help="Backend spec of the judge."),
    mode: str | None = typer.Option(None, "--mode", help="generate | logprob (default: the config's)."),
    labelled: Path | None = typer.Option(None, "--labelled", help="Labelled JSONL (default: the bundled set)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N labelled conversations."),
    config: Path | None = typer.Option(None, "--config", help="YAML with JudgeConfig keys."),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set keep.on_failure=keep."),
    out: Path | None = typer.Option(None, "--out", help="Also write the report as JSON here."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
) -> None:
    """Run the gate and the judge over the labelled set; print accuracy, Cohen's kappa and confusion per part."""
    from clca.judge import JudgeConfig
    from clca.judge.calibrate import calibrate, format_report, load_calibration_set

    cfg = load_config(JudgeConfig, config, [*overrides, *([f"mode={mode}"] if mode else [])])
    items = load_calibration_set(labelled)[:limit]  # validate input before loading any model
    backend = open_model(model, api_key_env)
    try:
        report = calibrate(items, backend, cfg)
    finally:
        backend.close()
    if out is not None:
        out.write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    typer.echo(format_report(report))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    app.add_typer(judge_app, name="judge")
