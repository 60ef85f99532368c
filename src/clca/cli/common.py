"""What every stage command shares: opening a model named on the command line and printing a summary."""

from __future__ import annotations

import json

import typer
from pydantic import BaseModel

from clca.llm.base import Backend


def open_model(spec: str, api_key_env: str | None) -> Backend:
    """Open a backend from a spec given on the command line (pipeline configs give full ModelConfig sections).

    Args:
        spec: the backend spec (`embedded`, `hf:…`, `openai:model@url`).
        api_key_env: the name of the environment variable holding the API key, if any.

    Returns:
        The opened backend (close it when done).
    """
    from clca.config import validate
    from clca.llm import ModelConfig, open_backend

    return open_backend(validate(ModelConfig, {"spec": spec, "api_key_env": api_key_env}, f"--model {spec!r}"))


def print_json(data: object) -> None:
    """Print a command's result as indented JSON on stdout (pydantic models are dumped first)."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
