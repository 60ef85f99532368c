"""Safe readers for GlobalOpinionQA's Python-repr columns, never `eval`.

`selections` holds `defaultdict(<class 'list'>, {'Country': [p1, p2, …], …})` and `options` a list repr such as
`['Very good', 'Somewhat good', …]`. Both are read with `ast.literal_eval` (literals only: no names, calls or
attribute access are ever evaluated) after the one known wrapper is stripped, then checked for shape. Every reader
returns `(value, None)` or `(None, reason)`; none raises on any input.
"""

from __future__ import annotations

import ast
import math
import re
import warnings

MAX_REPR_CHARS = 200_000  # the largest selections cell in the dataset is a few kB; refuse pathological input
_DEFAULTDICT = re.compile(r"^\s*defaultdict\(\s*<class\s+'list'>\s*,\s*(?P<body>.*)\)\s*$", re.S)


def _literal(text: str) -> tuple[object, str | None]:
    if len(text) > MAX_REPR_CHARS:
        return None, f"longer than {MAX_REPR_CHARS} characters"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # "invalid decimal literal" on malformed numbers
            return ast.literal_eval(text.strip()), None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        return None, f"not a Python literal ({type(exc).__name__})"


def parse_selections(text: object) -> tuple[dict[str, list[float]] | None, str | None]:
    """Country → answer shares from a `selections` cell.

    Args:
        text: the cell (a `defaultdict(<class 'list'>, {...})` repr, or a plain dict repr).

    Returns:
        `(shares by country, None)` with finite, non-negative shares per country, or `(None, reason)`.
    """
    if not isinstance(text, str):
        return None, f"selections is {type(text).__name__}, not text"
    match = _DEFAULTDICT.match(text)
    value, error = _literal(match.group("body") if match else text)
    if error:
        return None, f"selections: {error}"
    if not isinstance(value, dict) or not value:
        return None, "selections: not a non-empty mapping of country to shares"
    out: dict[str, list[float]] = {}
    for country, shares in value.items():
        if not isinstance(country, str) or not country.strip():
            return None, f"selections: country key {country!r} is not a name"
        if not isinstance(shares, list | tuple) or not shares:
            return None, f"selections: {country!r} has no list of shares"
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in shares):
            return None, f"selections: {country!r} has a non-numeric share"
        floats = [float(x) for x in shares]
        if not all(math.isfinite(x) and x >= 0 for x in floats):
            return None, f"selections: {country!r} has a negative or non-finite share"
        out[country.strip()] = floats
    return out, None


def parse_options(text: object) -> tuple[list[str] | None, str | None]:
    """The answer options from an `options` cell (a list repr of strings).

    Args:
        text: the cell.

    Returns:
        `(options, None)` with at least two non-empty strings, or `(None, reason)`.
    """
    if isinstance(text, list | tuple):
        value: object = list(text)
    elif isinstance(text, str):
        value, error = _literal(text)
        if error:
            return None, f"options: {error}"
    else:
        return None, f"options is {type(text).__name__}, not text"
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None, "options: not a list of at least two options"
    if not all(isinstance(x, str) and x.strip() for x in value):
        return None, "options: every option must be non-empty text"
    return [x.strip() for x in value], None
