"""`clca report RUN_DIR`: regenerate a run's report from its artifacts (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(run_dir: Path = typer.Argument(..., help="a run directory made by `clca run`")) -> None:
        """Regenerate report.md and report.html of a run from its artifacts."""
        from clca.report.build import write_report

        for path in write_report(run_dir):
            typer.echo(str(path))
