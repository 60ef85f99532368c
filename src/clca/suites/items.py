"""From a dataset row to a `SuiteItem`, per row format. A row that cannot be read (missing column, malformed
selections, an unknown gold label) is skipped with its reason, never guessed; the manifest counts the skips.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from clca.countries import COUNTRY_NAMES, country_name
from clca.errors import ConfigError
from clca.suites.schema import SuiteItem
from clca.suites.selections import parse_options, parse_selections
from clca.suites.tasks import TaskSpec

# Names the datasets use for countries whose clca name differs (Pew: "Britain", "S. Korea"; others: "Czech Republic").
_ALIASES = {
    "britain": "GBR", "great britain": "GBR", "uk": "GBR", "england": "GBR", "us": "USA", "usa": "USA",
    "united states of america": "USA", "america": "USA", "s korea": "KOR", "korea": "KOR",
    "republic of korea": "KOR", "czech republic": "CZE", "czech rep": "CZE", "hong kong sar": "HKG",
    "russian federation": "RUS", "viet nam": "VNM", "turkiye": "TUR", "the netherlands": "NLD",
    "holland": "NLD", "macau": "MAC", "iran islamic republic of": "IRN",
}
_BY_NAME = {re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip(): iso for iso, name in COUNTRY_NAMES.items()}


def match_country(name: object) -> str | None:
    """The ISO3 code of a dataset's country name ("Germany", "south_korea", "Britain"), or None if unknown."""
    if not isinstance(name, str):
        return None
    key = re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip()
    return _BY_NAME.get(key) or _ALIASES.get(key) or (key.upper() if key.upper() in COUNTRY_NAMES else None)


def _country(name: object) -> str:
    return match_country(name) or str(name).strip()


def display_name(country: str) -> str:
    """The English name of an ISO3 code, or a dataset's own name made readable ("south_korea" → "South Korea")."""
    return country_name(country) if country in COUNTRY_NAMES else country.replace("_", " ").title()


def _text(row: dict[str, Any], task: TaskSpec, role: str) -> str:
    value = row.get(task.column(role))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"column {task.column(role)!r} is missing or empty")
    return value.strip()


def _source_id(row: dict[str, Any], task: TaskSpec) -> str | None:
    value = row.get(task.column("id"))
    return None if value is None else str(value)


def _gold_label(row: dict[str, Any], task: TaskSpec) -> int:
    value = row.get(task.column("gold"))
    key = str(value).strip()
    labels = list(task.option_labels)
    mapped = task.gold_values.get(key.casefold(), key) if task.gold_values else key
    if mapped not in labels:
        raise ValueError(f"gold value {value!r} is not one of {labels}")
    return labels.index(mapped)


def _globalopinionqa(row: dict[str, Any], task: TaskSpec, culture: str | None) -> SuiteItem | None:
    if culture is None:
        raise ConfigError("suite globalopinionqa needs --culture: its reference is one country's answers")
    selections, error = parse_selections(row.get(task.column("selections")))
    if error:
        raise ValueError(error)
    options, error = parse_options(row.get(task.column("options")))
    if error:
        raise ValueError(error)
    shares = next((v for k, v in selections.items() if match_country(k) == culture), None)
    if shares is None:
        return None  # the question was not asked in this country
    if len(shares) != len(options) or len(options) > 26:
        raise ValueError(f"{len(shares)} shares for {len(options)} options")
    total = sum(shares)
    if total <= 0:
        raise ValueError("the country's shares sum to 0")
    labels = list(string.ascii_uppercase[:len(options)])
    return SuiteItem(id="", country=culture, labels=labels, human=[s / total for s in shares],
                     source_id=str(row.get(task.column("source"), "")) or None,
                     variables={"question": _text(row, task, "question"),
                                "options": list(zip(labels, options, strict=True))})


def _normad(row: dict[str, Any], task: TaskSpec, culture: str | None) -> SuiteItem | None:
    country = _country(row.get(task.column("country")))
    if culture is not None and country != culture:
        return None
    return SuiteItem(id="", source_id=_source_id(row, task), country=country, labels=list(task.option_labels),
                     gold=_gold_label(row, task),
                     variables={"story": _text(row, task, "story"), "country_name": display_name(country)})


def _culturalbench_easy(row: dict[str, Any], task: TaskSpec, culture: str | None) -> SuiteItem | None:
    country = _country(row.get(task.column("country")))
    if culture is not None and country != culture:
        return None
    labels = list(task.option_labels)
    options = [_text(row, task, f"option_{label.lower()}") for label in labels]
    return SuiteItem(id="", source_id=_source_id(row, task), country=country, labels=labels,
                     gold=_gold_label(row, task),
                     variables={"question": _text(row, task, "question"),
                                "options": list(zip(labels, options, strict=True))})


def _culturalbench_hard(row: dict[str, Any], task: TaskSpec, culture: str | None) -> SuiteItem | None:
    country = _country(row.get(task.column("country")))
    if culture is not None and country != culture:
        return None
    return SuiteItem(id="", source_id=_source_id(row, task), country=country, labels=list(task.option_labels),
                     gold=_gold_label(row, task),
                     variables={"question": _text(row, task, "question"),
                                "statement": _text(row, task, "statement")})


_ADAPTERS: dict[str, Callable[[dict[str, Any], TaskSpec, str | None], SuiteItem | None]] = {
    "globalopinionqa": _globalopinionqa, "normad": _normad, "culturalbench-easy": _culturalbench_easy,
    "culturalbench-hard": _culturalbench_hard,
}


def build_items(rows: list[dict[str, Any]], task: TaskSpec, culture: str | None,
                limit: int | None = None) -> tuple[list[SuiteItem], dict[str, str]]:
    """The suite's items for `culture` (None = every country), and the rows skipped with their reasons.

    Args:
        rows: the dataset's rows in order.
        task: the suite's task file.
        culture: ISO3 code, or None.
        limit: keep the first N items.

    Returns:
        (items with ids "row-<index>", {row id: why it was skipped}).
    """
    adapter = _ADAPTERS[task.row_format]
    items, skipped = [], {}
    for index, row in enumerate(rows):
        try:
            item = adapter(row, task, culture)
        except ValueError as exc:
            skipped[f"row-{index}"] = str(exc)
            continue
        if item is not None:
            items.append(item.model_copy(update={"id": f"row-{index}"}))
        if limit is not None and len(items) >= limit:
            break
    return items, skipped
