"""`clca run --config FILE`: the whole pipeline, resumable."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Option(..., "--config", "-c", help="run config YAML (see configs/)"),
        set_: list[str] = typer.Option([], "--set", help="override a config key, e.g. --set roleplay.max_turns=8"),
        only: str | None = typer.Option(None, "--only", help="run just this stage (its inputs must be done)"),
        start_from: str | None = typer.Option(None, "--from", help="rerun this stage and every stage after it"),
        force: list[str] = typer.Option([], "--force", help="rerun this stage even if it is done (repeatable)"),
    ) -> None:
        """Run culture cards → scenarios → role-play → judge → intents → dataset → training → evaluation → report.

        Rerunning the same command resumes: finished stages are skipped, a half-finished stage continues.
        """
        from clca.pipeline.api import run_pipeline

        manifest, run_dir = run_pipeline(config, overrides=set_, only=only, start_from=start_from, force=force)
        report = run_dir / "report.md"
        if report.is_file():
            from clca.pipeline.api import headline

            typer.echo(headline(run_dir))
            typer.echo(f"report: {report}  (HTML: {run_dir / 'report.html'})")
