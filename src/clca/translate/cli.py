"""`clca translate`: make a translation file for native-language evaluation with a teacher model."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def translate_command(
    language: str = typer.Option(..., "--language", help="BCP-47 tag of the target language, e.g. fr or pt-BR."),
    model: str = typer.Option(..., "--model", help="Teacher model spec, e.g. openai:gpt-4o@https://…/v1."),
    out: Path = typer.Option(..., "--out", help="Translation YAML to write."),
    language_name: str | None = typer.Option(None, "--language-name", help="English name of the language "
                                                                           "(default: from the culture cards)."),
    countries: str | None = typer.Option(None, "--countries", help="ISO3 codes to name in personas, comma-"
                                                                   "separated (default: cultures speaking it)."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    config: Path | None = typer.Option(None, "--config", help="YAML with TranslateConfig keys (questions, "
                                                              "round_trip_threshold, temperature, max_tokens, seed)."),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set questions=Q1,Q2."),
) -> None:
    """Translate the survey items, persona prompt and labels; flag items for review; write FILE (unreviewed)."""
    from clca.config import load_config, validate
    from clca.countries import normalise_country
    from clca.llm import ModelConfig, open_backend
    from clca.translate.config import TranslateConfig
    from clca.translate.run import translate_bank

    cfg = load_config(TranslateConfig, config, overrides)
    isos = [normalise_country(c) for c in countries.split(",")] if countries else None
    spec = validate(ModelConfig, {"spec": model, "api_key_env": api_key_env}, f"--model {model!r}")
    with open_backend(spec) as backend:
        summary = translate_bank(language, backend, out, cfg, language_name, isos)
    typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add `clca translate` to the root `clca` app."""
    app.command("translate")(translate_command)
