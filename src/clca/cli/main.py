"""`clca` entry point. Each stage package contributes its commands through `<stage>.cli.register(app)`.

Errors a user can fix (`ClcaError`) print as one line on stderr with exit code 2 and no traceback;
`clca --debug …` shows the traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer
from rich.console import Console

from clca import __version__
from clca.errors import ClcaError

# Stage packages in pipeline order; each has `cli.register(app)`.
STAGE_CLI_MODULES = [
    "clca.llm.cli",
    "clca.cultures.cli",
    "clca.scenarios.cli",
    "clca.roleplay.cli",
    "clca.judge.cli",
    "clca.intents.cli",
    "clca.training.cli",
    "clca.evaluation.cli",
    "clca.report.cli",
    "clca.pipeline.cli",
]

err_console = Console(stderr=True)
_state = {"debug": False}

app = typer.Typer(
    name="clca",
    help="Cultural-learning-based culture adaptation of language models, evaluated on the World Values Survey.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clca {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


for _module in STAGE_CLI_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except ClcaError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted — rerun the same command to resume where it stopped", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
