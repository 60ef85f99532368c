"""`clca` entry point. Each stage package contributes its commands through `<stage>.cli.register(app)`.

Errors a user can fix (`ClcaError`) print as one line on stderr with exit code 2 and no traceback;
`clca --debug …` shows the traceback.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import re
import signal
import sys
import threading
import warnings

import typer
from rich.console import Console
from rich.text import Text

from clca import __version__, interrupts
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
    "clca.evaluation.data_cli",
    "clca.translate.cli",
    "clca.report.cli",
    "clca.pipeline.cli",
]

err_console = Console(stderr=True)
_state = {"debug": False, "terminated": False}

# Terminal escape sequences (CSI, OSC such as hyperlinks and window titles, other ESC pairs), remaining C0/C1 control
# characters and bidi overrides: a server's or file's text must not move the cursor, recolour or reorder the screen.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]|"
                      r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """`text` safe to print: control sequences removed (rich markup is never interpreted by `say_error`).

    Args:
        text: a message that may hold text from servers, files or paths.

    Returns:
        The text without terminal control sequences.
    """
    return _CONTROL.sub("", text)


def say_error(message: str) -> None:
    """Print `error: <message>` on stderr as one line, the message literal (no markup, no escape sequences)."""
    err_console.print(Text("error: ", style="bold red") + Text(plain(message)), highlight=False, soft_wrap=True)

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


def _quiet_third_party_output() -> None:
    """Keep the terminal for clca's own progress bars and results.

    The model-loading bars of transformers / huggingface_hub and deprecation warnings that libraries raise about
    each other's internals are not actionable for a user; `--debug` shows them.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is first imported
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # "Saving the dataset", map and filter bars
    os.environ.setdefault("TQDM_DISABLE", "1")  # bars drawn with tqdm directly (GGUF conversion, shard writing)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\.|$)")


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler or `kill`) stops like Ctrl-C: what is written stays, and the resume hint is printed."""
    _state["terminated"] = True
    raise KeyboardInterrupt


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    interrupts.install()
    if not debug:
        _quiet_third_party_output()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except ClcaError as exc:
        if debug:
            raise
        say_error(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:
        # Disk full, read-only or forbidden output paths, missing files: the user fixes the environment, not the code,
        # so one line naming the path (files already written stay as they are; rerun to resume).
        if debug:
            raise
        say_error(_os_error_line(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C inside a command into a silent exit 130
            _interrupted()
        raise


def _interrupted() -> None:
    what = "terminated (SIGTERM)" if _state["terminated"] else "interrupted"
    err_console.print(Text(f"{what} — rerun the same command to resume where it stopped"), highlight=False)
    sys.exit(143 if _state["terminated"] else 130)


_OS_ERROR_HINTS = {
    errno.ENOSPC: "free disk space (or point runs_dir / --out elsewhere) and rerun the same command to resume",
    errno.EDQUOT: "free space within your quota and rerun the same command to resume",
    errno.EROFS: "the file system is read-only — choose a writable output directory",
    errno.EACCES: "check the permissions or choose another output directory",
    errno.EPERM: "check the permissions or choose another output directory",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file path, not a directory",
    errno.ENOTDIR: "a component of the path is a file, not a directory",
}


def _os_error_line(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else "(unknown path)"
    if getattr(exc, "filename2", None):
        where = f"{where} -> {exc.filename2}"
    what = exc.strerror or str(exc)
    hint = _OS_ERROR_HINTS.get(exc.errno or -1)
    return f"{what}: {where}" + (f" — {hint}" if hint else "")


if __name__ == "__main__":
    main()
