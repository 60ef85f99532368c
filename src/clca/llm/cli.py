"""CLI commands of `clca.llm`: `clca models check <spec>`."""

from __future__ import annotations

import time

import typer

from clca.errors import BackendError


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    models = typer.Typer(help="Model backends: check that a spec loads, answers and scores.", no_args_is_help=True)
    models.command("check")(check)
    app.add_typer(models, name="models")


def check(
    spec: str = typer.Argument("embedded", help="embedded | hf:<path or name>[+adapter=PATH] | openai:<model>@<url>"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="environment variable holding the API key (openai)"),
    tokenizer: str = typer.Option(None, "--tokenizer", help="HF tokenizer for openai option scoring"),
    max_tokens: int = typer.Option(32, "--max-tokens", min=1),
    skip_scoring: bool = typer.Option(False, "--skip-scoring", help="do not test score_options"),
) -> None:
    """Load a backend, answer one prompt, score two options; print load time and tokens/s."""
    from clca.config import validate
    from clca.llm import GenerationRequest, Message, ModelConfig, OptionScoringRequest, ScoringFailure, open_backend

    cfg = validate(ModelConfig, {"spec": spec, "api_key_env": api_key_env, "tokenizer": tokenizer, "cache": False,
                                 "max_retries": 2, "down_after_s": 5}, "clca models check")
    started = time.perf_counter()
    backend = open_backend(cfg)
    load_s = time.perf_counter() - started
    identity = backend.identity
    typer.echo(f"backend:   {identity.backend}  model: {identity.model}")
    if identity.weights_sha256:
        typer.echo(f"weights:   sha256 {identity.weights_sha256[:16]}…")
    if identity.engine or identity.engine_version:
        typer.echo(f"engine:    {identity.engine or '?'} {identity.engine_version or '(version not reported)'}")
    if identity.adapter:
        typer.echo(f"adapter:   {identity.adapter} (sha256 {(identity.adapter_sha256 or '')[:16]}…)")
    typer.echo(f"load time: {load_s:.2f} s")
    question = [Message(role="user", content="What is the capital of France? Answer in one sentence.")]
    with backend:
        [result] = backend.generate([GenerationRequest(messages=question, max_tokens=max_tokens)])
        if not result.ok:
            raise BackendError(f"{spec}: generation failed: {result.error}")
        rate = (result.completion_tokens or 0) / result.latency_s if result.latency_s > 0 else float("nan")
        typer.echo(f"answer:    {result.text.strip()!r} ({result.finish_reason})")
        typer.echo(f"speed:     {result.completion_tokens} tokens in {result.latency_s:.2f} s = {rate:.1f} tokens/s")
        if not skip_scoring:
            options = ["Paris.", "London."]
            started = time.perf_counter()
            [scores] = backend.score_options([OptionScoringRequest(messages=question, options=options)])
            elapsed = time.perf_counter() - started
            if isinstance(scores, ScoringFailure):
                raise BackendError(f"{spec}: option scoring failed: {scores.error}")
            shown = ", ".join(f"{o!r}: {s:.3f}" for o, s in zip(options, scores, strict=True))
            typer.echo(f"scores:    {shown} (log-prob, {elapsed:.2f} s)")
    typer.echo("ok")
