"""User-facing errors.

Anything a user can fix (bad input file, unknown key, unreachable server) is raised as a `ClcaError`.
The CLI prints its message as one line and exits with code 2; no traceback unless `--debug`.
The message must name the file/field and say how to fix it.
"""

from __future__ import annotations


class ClcaError(Exception):
    """An error the user can fix; its message is shown verbatim as one line."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: multi-line messages break the "one clear line" contract of the CLI.
        super().__init__(" ".join(str(message).split()))


class ConfigError(ClcaError):
    """Invalid configuration (YAML syntax, unknown key, wrong type)."""


class InputDataError(ClcaError):
    """An input data file (scenarios, WVS CSV, …) is missing, malformed or incomplete."""


class BackendError(ClcaError):
    """A model backend cannot be created or does not support the requested operation."""
