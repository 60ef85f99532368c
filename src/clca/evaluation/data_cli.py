"""`clca data`: register the WVS respondent files the evaluation may use (`add-wvs`, `list`, `remove`)."""

from __future__ import annotations

from pathlib import Path

import typer

SETS = ("social-values", "q50")


def _coverage(available: list[str]) -> str:
    from clca.evaluation.questions import load_question_bank

    bank, have = load_question_bank(), set(available)
    return ", ".join(f"{name} {len(have & set(bank.sets[name]))}/{len(bank.sets[name])}" for name in SETS)


def register(app: typer.Typer) -> None:
    """Add `clca data …` to the root `clca` app."""
    data_app = typer.Typer(help="Respondent data for the evaluation: WVS wave 7 files you registered.",
                           no_args_is_help=True)

    @data_app.command("add-wvs")
    def add_wvs(file: Path = typer.Argument(..., help="Official WVS wave 7 CSV (cross-national or per-country).")
                ) -> None:
        """Validate a WVS file and record it (path, sha256, countries, questions); the file is not copied."""
        from clca.evaluation.registry import add_wvs_file, registry_path

        entry = add_wvs_file(file)
        countries = ", ".join(f"{c} ({n})" for c, n in entry.respondents.items())
        typer.echo(f"registered {entry.path} (sha256 {entry.sha256[:12]}) in {registry_path()}")
        typer.echo(f"  respondents: {countries}; demographics: {'yes' if entry.has_demographics else 'no'}")

    @data_app.command("list")
    def list_files() -> None:
        """Show the registered files and, per country, the respondents and question sets they cover."""
        from clca.evaluation.human import bundled_countries
        from clca.evaluation.registry import load_registry, registry_path

        registry = load_registry()
        if not registry.files:
            typer.echo(f"no WVS files registered ({registry_path()}) — `clca data add-wvs FILE` adds one")
        for entry in registry.files:
            typer.echo(f"{entry.path}  sha256 {entry.sha256[:12]}  added {entry.added_at}  "
                       f"demographics: {'yes' if entry.has_demographics else 'no'}")
            for country, n in entry.respondents.items():
                typer.echo(f"  {country}  {n} respondents  {_coverage(entry.questions.get(country, []))}")
        tables = bundled_countries()
        typer.echo("bundled tables (country-level distributions, no respondents): "
                   + "; ".join(f"{name} {len(countries)} countries" for name, countries in tables.items()))

    @data_app.command("remove")
    def remove(file: Path = typer.Argument(..., help="A registered file (as listed by `clca data list`).")) -> None:
        """Forget a registered file; the file itself is left alone."""
        from clca.evaluation.registry import remove_wvs_file

        entry = remove_wvs_file(file)
        typer.echo(f"removed {entry.path} from the registry")

    app.add_typer(data_app, name="data")
