"""CLI commands of `clca.cultures`: `clca cultures list` and `clca cultures show <code>`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from clca.cultures.cards import HOFSTEDE_DIMENSIONS, HOFSTEDE_NAMES, culture_sources, get_culture, list_cultures

cultures_app = typer.Typer(help="Culture cards: Hofstede 6-D scores and Inglehart–Welzel position, in words.",
                           no_args_is_help=True)


@cultures_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table.")) -> None:
    """List every bundled culture (ISO 3166 alpha-3 code, name, languages, data available)."""
    cards = list_cultures()
    if as_json:
        for card in cards:
            typer.echo(card.model_dump_json())
        return
    table = Table("code", "name", "languages", *HOFSTEDE_DIMENSIONS, "IW year")
    for card in cards:
        h = card.hofstede or {}
        table.add_row(card.code, card.name, ", ".join(card.languages),
                      *[str(h.get(d, "")) if h.get(d) is not None else "–" for d in HOFSTEDE_DIMENSIONS],
                      str(card.inglehart_welzel.year) if card.inglehart_welzel else "–")
    Console().print(table)
    typer.echo(f"{len(cards)} cultures. Sources: `clca cultures show <code>`.")


@cultures_app.command("show")
def show_command(
    code: str = typer.Argument(..., help="ISO 3166 alpha-3 code, e.g. DEU"),
    as_json: bool = typer.Option(False, "--json", help="Print the card as JSON."),
) -> None:
    """Show one culture card: scores, their words and the description used in role-play prompts."""
    card = get_culture(code)
    if as_json:
        typer.echo(json.dumps(card.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{card.code} — {card.name} (languages: {', '.join(card.languages)})")
    if card.hofstede:
        typer.echo(f"Hofstede (matrix code {card.hofstede_code}):")
        for dim in HOFSTEDE_DIMENSIONS:
            score = card.hofstede.get(dim)
            word = card.hofstede_words.get(dim, "–")
            flag = "  [paper wording override]" if dim in card.overridden else ""
            typer.echo(f"  {HOFSTEDE_NAMES[dim]:<22} {score if score is not None else '–':>4}  {word}{flag}")
    if card.inglehart_welzel:
        iw = card.inglehart_welzel
        typer.echo(f"Inglehart–Welzel (IVS {iw.year}):")
        for axis, value in (("self_expression", iw.self_expression), ("secular_rational", iw.secular_rational)):
            flag = "  [paper wording override]" if axis in card.overridden else ""
            typer.echo(f"  {axis:<22} {value:+.3f}  {card.inglehart_welzel_words[axis]}{flag}")
    if card.names:
        typer.echo(f"Common names: {', '.join(card.names.female + card.names.male)}; "
                   f"family names: {', '.join(card.names.family)}")
    typer.echo(f"\nDescription: {card.description}")
    typer.echo("\nSources: " + " | ".join(culture_sources().values()))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    app.add_typer(cultures_app, name="cultures")
