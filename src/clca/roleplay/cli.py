"""`clca roleplay`: two-agent role-play of scenarios into conversations."""

from __future__ import annotations

from pathlib import Path

import typer

from clca.cli.common import open_model, print_json
from clca.config import load_config
from clca.locking import lock_output_file


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""

    @app.command("roleplay")
    def roleplay(
        scenarios: Path = typer.Option(..., "--scenarios", help="Scenario JSONL (from `clca scenarios`)."),
        out: Path = typer.Option(..., "--out", help="Conversation JSONL to write (appended; reruns resume)."),
        config: Path | None = typer.Option(None, "--config", help="YAML with RoleplayConfig keys."),
        overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set max_turns=6."),
        model: str = typer.Option("embedded", "--model", help="Backend spec of both agents (agent A)."),
        model_b: str | None = typer.Option(None, "--model-b", help="Backend spec of agent B (default: --model)."),
        api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    ) -> None:
        """Role-play every scenario (2 conversations each by default); resumes an interrupted run."""
        from clca.roleplay import RoleplayConfig, load_scenarios, run_roleplay

        cfg = load_config(RoleplayConfig, config, overrides)
        scenario_list = load_scenarios(scenarios)  # validate input before loading any model
        agent_a = open_model(model, api_key_env)
        agent_b = open_model(model_b, api_key_env) if model_b and model_b != model else None
        try:
            with lock_output_file(out):
                summary = run_roleplay(scenario_list, out, agent_a, agent_b, cfg)
        finally:
            agent_a.close()
            if agent_b is not None:
                agent_b.close()
        print_json(summary)
