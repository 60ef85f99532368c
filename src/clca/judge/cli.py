"""`clca judge`: LLM-as-judge filter of conversations."""

from __future__ import annotations

from pathlib import Path

import typer

from clca.config import load_config
from clca.cli.common import open_model, print_json
from clca.locking import lock_output_file


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""

    @app.command("judge")
    def judge(
        conversations: Path = typer.Option(..., "--conversations", help="Conversation JSONL (from `clca roleplay`)."),
        out: Path = typer.Option(..., "--out", help="Judgement JSONL to write (appended; reruns resume)."),
        config: Path | None = typer.Option(None, "--config", help="YAML with JudgeConfig keys."),
        overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set mode=logprob."),
        model: str = typer.Option("embedded", "--model", help="Backend spec of the judge."),
        api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    ) -> None:
        """Judge quality, cultural alignment and a meta-judgement; print the kept ratio and breakdown."""
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
