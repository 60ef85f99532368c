"""clca.cultures — culture cards (Hofstede 6-D + Inglehart–Welzel position, verbalised for prompts)."""

from clca.cultures.cards import (
    CultureCard,
    InglehartWelzel,
    culture_sources,
    get_culture,
    list_cultures,
    resolve_culture,
)

__all__ = ["CultureCard", "InglehartWelzel", "culture_sources", "get_culture", "list_cultures", "resolve_culture"]
