"""CLI commands of `clca.scenarios`: `clca scenarios adapt | from-norms | import | seeds`."""

from __future__ import annotations

from pathlib import Path

import typer

from clca.cli.common import open_model, print_json
from clca.locking import lock_output_file

scenarios_app = typer.Typer(help="Culture-adapted scenarios: adapt seeds, generate from norms, import.",
                            no_args_is_help=True)

CONFIG_HELP = "YAML with ScenariosConfig keys (n, max_repairs, temperature, top_p, max_tokens, seed, batch_size)."


def _config(config: Path | None, overrides: list[str], n: int | None, seed: int | None):
    from clca.config import load_config
    from clca.scenarios.config import ScenariosConfig

    extra = [f"n={n}"] if n is not None else []
    extra += [f"seed={seed}"] if seed is not None else []
    return load_config(ScenariosConfig, config, [*overrides, *extra])


@scenarios_app.command("adapt")
def adapt_command(
    culture: str = typer.Option(..., "--culture", help="ISO 3166 alpha-3 code, e.g. DEU (`clca cultures list`)."),
    out: Path = typer.Option(..., "--out", help="Scenario JSONL to write (appended; reruns resume)."),
    n: int | None = typer.Option(None, "--n", help="How many scenarios (default: one per seed)."),
    seeds: Path | None = typer.Option(None, "--seeds", help="Seed scenario JSONL (default: the bundled seeds)."),
    model: str = typer.Option("embedded", "--model", help="Backend spec, e.g. openai:gpt-4o@https://…/v1."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (seed selection and sampling)."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set max_repairs=1."),
) -> None:
    """Rewrite generic seed scenarios so they are coherent in a culture (METHOD stage 1)."""
    from clca.cultures import get_culture
    from clca.scenarios.generate import adapt_scenarios, load_seed_scenarios

    card = get_culture(culture)
    cfg = _config(config, overrides, n, seed)
    seed_list = load_seed_scenarios(seeds)  # validate inputs before loading a model
    with open_model(model, api_key_env) as backend, lock_output_file(out):
        print_json(adapt_scenarios(seed_list, card, backend, out, config=cfg))


@scenarios_app.command("from-norms")
def from_norms_command(
    norms: Path = typer.Option(..., "--norms", help="Text file, one social norm per line (# comments allowed)."),
    culture: str = typer.Option(..., "--culture", help="ISO 3166 alpha-3 code, e.g. MEX."),
    out: Path = typer.Option(..., "--out", help="Scenario JSONL to write (appended; reruns resume)."),
    n: int | None = typer.Option(None, "--n", help="Use at most this many norms (default: all)."),
    model: str = typer.Option("embedded", "--model", help="Backend spec."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (sampling)."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override."),
) -> None:
    """Write new culture-specific scenarios from social norms (the paper's Social-Chemistry path)."""
    from clca.cultures import get_culture
    from clca.scenarios.generate import read_norms, scenarios_from_norms

    card = get_culture(culture)
    cfg = _config(config, overrides, n, seed)
    read_norms(norms)  # validate before loading a model
    with open_model(model, api_key_env) as backend, lock_output_file(out):
        print_json(scenarios_from_norms(norms, card, backend, out, config=cfg))


@scenarios_app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="Sotopia EnvironmentProfile/AgentProfile JSON(L) or CLCA scenario JSONL."),
    out: Path = typer.Option(..., "--out", help="Scenario JSONL to write (new ids appended)."),
    culture: str | None = typer.Option(None, "--culture", help="Culture to assign (default: from the file, "
                                                                "else 'generic')."),
) -> None:
    """Convert scenarios from Sotopia or the CLCA release into clca's scenario JSONL."""
    from clca.jsonl import JsonlStore
    from clca.scenarios.importers import import_scenarios
    from clca.scenarios.schema import Scenario

    scenarios = import_scenarios(path, culture)
    store = JsonlStore(out, Scenario)
    existing = store.keys()
    new = [s for s in scenarios if s.id not in existing]
    store.append(new)
    print_json({"input": str(path), "output": str(out), "read": len(scenarios), "written": len(new),
                "skipped_existing": len(scenarios) - len(new)})


@scenarios_app.command("seeds")
def seeds_command(out: Path | None = typer.Option(None, "--out", help="Copy the bundled seeds to this JSONL.")) -> None:
    """List the bundled culture-neutral seed scenarios (id, domain, setting)."""
    from clca.jsonl import JsonlStore
    from clca.scenarios.generate import load_seed_scenarios
    from clca.scenarios.schema import Scenario

    seeds = load_seed_scenarios()
    if out is not None:
        JsonlStore(out, Scenario).write_all(seeds)
        typer.echo(f"wrote {len(seeds)} seed scenarios to {out}")
        return
    for s in seeds:
        typer.echo(f"{s.id}\t{s.domain}\t{s.setting[:90]}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    app.add_typer(scenarios_app, name="scenarios")
