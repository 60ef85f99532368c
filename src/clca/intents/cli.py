"""`clca intents`: per-turn intent labels of kept conversations."""

from __future__ import annotations

from pathlib import Path

import typer

from clca.cli.common import open_model, print_json
from clca.config import load_config
from clca.locking import lock_output_file


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""

    @app.command("intents")
    def intents(
        conversations: Path = typer.Option(..., "--conversations", help="Conversation JSONL (from `clca roleplay`)."),
        judgements: Path | None = typer.Option(
            None, "--judgements", help="Judgement JSONL; only kept conversations are labelled (omit: label all)."
        ),
        out: Path = typer.Option(..., "--out", help="Intent JSONL to write (appended; reruns resume)."),
        config: Path | None = typer.Option(None, "--config", help="YAML with IntentsConfig keys."),
        overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set kind_mode=generate."),
        model: str = typer.Option("embedded", "--model", help="Backend spec of the labeller."),
        api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    ) -> None:
        """Label each turn's intent (one sentence) and whether it is generic or cultural."""
        from clca.intents import IntentsConfig, run_intents
        from clca.roleplay import load_conversations

        cfg = load_config(IntentsConfig, config, overrides)
        load_conversations(conversations)  # validate input before loading any model
        backend = open_model(model, api_key_env)
        try:
            with lock_output_file(out):
                summary = run_intents(conversations, out, backend, cfg, judgements_path=judgements)
        finally:
            backend.close()
        print_json(summary)
