"""Culture cards: who a culture is, in numbers (Hofstede 6-D, Inglehart–Welzel map) and in words.

The words follow the paper's vocabulary (METHOD.md, "Culture descriptions used in the role-play prompt").
The strength bands are ours; they are documented here and tested:

Hofstede scores (0–100, a few exceed 100) — one band scheme for all six dimensions:
    score < 30 → strong low pole      ("highly equal", "highly collective", "highly risk-taking", …)
    30 ≤ score < 50 → moderate low pole   ("moderately equal", "moderately collective", …)
    50 ≤ score < 70 → moderate high pole  ("moderately hierarchical", "moderate uncertainty avoidance", …)
    score ≥ 70 → strong high pole     ("highly hierarchical", "high uncertainty avoidance", …)
  Masculinity has no second pole in the paper's vocabulary ("motivation for achievement and success"):
  < 30 "low", 30–70 "moderate", ≥ 70 "high achievement motivation".

Inglehart–Welzel position (IVS means; x = self-expression = −SurvSAgg, y = secular-rational = TradAgg),
each axis by its absolute value:
    |v| < 0.5 → "little" (x) / "slightly" (y);  0.5 ≤ |v| < 1.5 → "moderate" / "moderately";  ≥ 1.5 → "uttermost"
  Phrases copy the paper's: "little survival values", "moderate self-expression values", "uttermost
  self-expression" (the paper drops "values" here), "moderately secular", "uttermost secular".

With these bands 35 of the paper's 40 phrases for its five cultures (6 Hofstede + 2 IW each) come out as printed;
the five that cannot (the paper evidently used other score versions) are explicit overrides in
`PAPER_WORDING_OVERRIDES`, and every card lists its overridden dimensions in `overridden`.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from clca.countries import country_name
from clca.errors import ClcaError
from clca.paths import PACKAGE_DATA_DIR

CULTURE_TABLE_PATH = PACKAGE_DATA_DIR / "cultures" / "cultures.json"

HOFSTEDE_THRESHOLDS = (30, 50, 70)  # band edges: [0,30) [30,50) [50,70) [70,∞)
HOFSTEDE_WORDS: dict[str, tuple[str, str, str, str]] = {
    "pdi": ("highly equal", "moderately equal", "moderately hierarchical", "highly hierarchical"),
    "idv": ("highly collective", "moderately collective", "moderately individualistic", "highly individualistic"),
    "mas": ("low achievement motivation", "moderate achievement motivation", "moderate achievement motivation",
            "high achievement motivation"),
    "uai": ("highly risk-taking", "moderately risk-taking", "moderate uncertainty avoidance",
            "high uncertainty avoidance"),
    "lto": ("highly normative", "moderately normative", "moderately pragmatic", "highly pragmatic"),
    "ivr": ("highly restrained", "moderately restrained", "moderately indulgent", "highly indulgent"),
}
HOFSTEDE_DIMENSIONS = tuple(HOFSTEDE_WORDS)  # the order used in descriptions: pdi idv mas uai lto ivr
HOFSTEDE_NAMES = {
    "pdi": "power distance", "idv": "individualism", "mas": "masculinity", "uai": "uncertainty avoidance",
    "lto": "long-term orientation", "ivr": "indulgence",
}

IW_THRESHOLDS = (0.5, 1.5)  # on |value|: [0,0.5) little, [0.5,1.5) moderate, [1.5,∞) uttermost
IW_SELF_EXPRESSION_PHRASES = ("little {pole} values", "moderate {pole} values", "uttermost {pole}")
IW_SECULAR_PHRASES = ("slightly {pole}", "moderately {pole}", "uttermost {pole}")

# (culture, dimension) → the paper's phrase, where our bands on the shipped data give something else.
PAPER_WORDING_OVERRIDES: dict[tuple[str, str], str] = {
    # Hofstede 2015 matrix: CHN idv = 20 → "highly collective"; the paper prints "moderately collective".
    ("CHN", "idv"): "moderately collective",
    # JPN idv = 46 → "moderately collective"; the paper prints "moderately individualistic" (no midpoint between
    # 46 and MEX's 30 — also "moderately collective" in the paper — can be chosen without breaking other scores).
    ("JPN", "idv"): "moderately individualistic",
    # DEU idv = 67 → "moderately individualistic"; the paper prints "highly individualistic".
    ("DEU", "idv"): "highly individualistic",
    # DEU lto = 83 → "highly pragmatic"; the paper prints "moderately pragmatic" but "highly" for CHN 87 / JPN 88.
    ("DEU", "lto"): "moderately pragmatic",
    # IVS mean TradAgg for CHN 2018 = 0.369 → "slightly secular"; the paper (official map) prints "moderately".
    # Moving the band edge below 0.37 would turn CHN's self-expression 0.42 ("little survival") into "moderate".
    ("CHN", "secular_rational"): "moderately secular",
}


NAMES_WITH_ARTICLE = {"United Kingdom", "United States", "Netherlands", "Philippines"}


# BCP-47 tags of the card languages (used to pick a translation for `language: native`). Base tags from the
# IANA registry; a region or script is added where the written variety differs between the cultures we ship.
LANGUAGE_TAGS: dict[str, str] = {
    "Arabic": "ar", "Bengali": "bn", "Bulgarian": "bg", "Cantonese": "yue", "Croatian": "hr", "Czech": "cs",
    "Danish": "da", "Dutch": "nl", "English": "en", "Estonian": "et", "Filipino": "fil", "Finnish": "fi",
    "French": "fr", "German": "de", "Greek": "el", "Hindi": "hi", "Hungarian": "hu", "Indonesian": "id",
    "Irish": "ga", "Italian": "it", "Japanese": "ja", "Korean": "ko", "Latvian": "lv", "Lithuanian": "lt",
    "Luxembourgish": "lb", "Malay": "ms", "Maltese": "mt", "Mandarin Chinese": "zh", "Māori": "mi",
    "Norwegian": "no", "Persian": "fa", "Polish": "pl", "Portuguese": "pt", "Quechua": "qu", "Romanian": "ro",
    "Russian": "ru", "Serbian": "sr", "Slovak": "sk", "Slovene": "sl", "Spanish": "es", "Swedish": "sv",
    "Tamazight": "zgh", "Tamil": "ta", "Thai": "th", "Turkish": "tr", "Urdu": "ur", "Vietnamese": "vi",
}
REGIONAL_LANGUAGE_TAGS: dict[tuple[str, str], str] = {
    ("CHN", "Mandarin Chinese"): "zh-Hans", ("SGP", "Mandarin Chinese"): "zh-Hans",
    ("TWN", "Mandarin Chinese"): "zh-Hant", ("HKG", "Cantonese"): "yue-Hant",
    ("MEX", "Spanish"): "es-MX", ("ARG", "Spanish"): "es-AR", ("CHL", "Spanish"): "es-CL",
    ("COL", "Spanish"): "es-CO", ("SLV", "Spanish"): "es-SV", ("PER", "Spanish"): "es-PE",
    ("URY", "Spanish"): "es-UY", ("VEN", "Spanish"): "es-VE", ("ESP", "Spanish"): "es-ES",
    ("BRA", "Portuguese"): "pt-BR", ("PRT", "Portuguese"): "pt-PT",
}


def language_tags(code: str, languages: list[str]) -> list[str]:
    """BCP-47 tags for a culture's languages, in the card's order (the first is the culture's main language).

    Args:
        code: the culture's ISO 3166 alpha-3 code.
        languages: the card's language names.

    Returns:
        One tag per language name (names we have no tag for are skipped).
    """
    return [REGIONAL_LANGUAGE_TAGS.get((code, name), LANGUAGE_TAGS[name]) for name in languages
            if (code, name) in REGIONAL_LANGUAGE_TAGS or name in LANGUAGE_TAGS]


class InglehartWelzel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    year: int  # survey year of the latest IVS wave for this country
    self_expression: float  # map x: > 0 self-expression, < 0 survival values (= −SurvSAgg)
    secular_rational: float  # map y: > 0 secular-rational, < 0 traditional values (= TradAgg)
    ivs_key: str  # the country's key in the IVS files


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    female: list[str]
    male: list[str]
    family: list[str]
    family_name_first: bool = False


class CultureCard(BaseModel):
    """One culture. `description` is the paragraph the role-play system prompt embeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str  # ISO 3166 alpha-3
    name: str
    languages: list[str]
    language_tags: list[str] = []  # BCP-47, same order as `languages`
    hofstede_code: str | None = None
    hofstede: dict[str, int | None] | None = None  # pdi idv mas uai lto ivr; None where the matrix has no value
    inglehart_welzel: InglehartWelzel | None = None
    names: Names | None = None
    hofstede_words: dict[str, str] = {}
    inglehart_welzel_words: dict[str, str] = {}
    overridden: list[str] = []  # dimensions whose words are the paper's override, not our bands
    description: str


def hofstede_band(score: float) -> int:
    """0..3: index into `HOFSTEDE_WORDS[dim]`."""
    return sum(score >= edge for edge in HOFSTEDE_THRESHOLDS)


def hofstede_word(dimension: str, score: float) -> str:
    return HOFSTEDE_WORDS[dimension][hofstede_band(score)]


def _iw_band(value: float) -> int:
    return sum(abs(value) >= edge for edge in IW_THRESHOLDS)


def self_expression_words(value: float) -> str:
    pole = "self-expression" if value >= 0 else "survival"
    return IW_SELF_EXPRESSION_PHRASES[_iw_band(value)].format(pole=pole)


def secular_words(value: float) -> str:
    pole = "secular" if value >= 0 else "traditional"
    return IW_SECULAR_PHRASES[_iw_band(value)].format(pole=pole)


def describe(code: str, name: str, hofstede: dict[str, int | None] | None,
             iw: InglehartWelzel | None) -> tuple[dict[str, str], dict[str, str], list[str], str]:
    """(hofstede words, IW words, overridden dimensions, description paragraph)."""
    overridden: list[str] = []

    def pick(dimension: str, derived: str) -> str:
        override = PAPER_WORDING_OVERRIDES.get((code, dimension))
        if override is not None and override != derived:
            overridden.append(dimension)
            return override
        return derived

    h_words = {dim: pick(dim, hofstede_word(dim, hofstede[dim]))
               for dim in HOFSTEDE_DIMENSIONS if hofstede and hofstede.get(dim) is not None}
    iw_words: dict[str, str] = {}
    if iw is not None:
        iw_words["self_expression"] = pick("self_expression", self_expression_words(iw.self_expression))
        iw_words["secular_rational"] = pick("secular_rational", secular_words(iw.secular_rational))
    sentences = []
    the_name = f"the {name}" if name in NAMES_WITH_ARTICLE else name
    if h_words:
        sentences.append(f"By Hofstede's cultural dimensions, the culture of {the_name} is "
                         f"{', '.join(h_words.values())}.")
    if iw_words:
        sentences.append(f"On the Inglehart–Welzel cultural map, the position of {the_name} is: "
                         f"{', '.join(iw_words.values())}.")
    if not sentences:
        sentences.append(f"The culture of {the_name}.")
    return h_words, iw_words, overridden, " ".join(sentences)


def card_from_entry(entry: dict) -> CultureCard:
    iw = InglehartWelzel(**entry["inglehart_welzel"]) if entry.get("inglehart_welzel") else None
    h_words, iw_words, overridden, description = describe(entry["code"], entry["name"], entry.get("hofstede"), iw)
    return CultureCard(
        code=entry["code"], name=country_name(entry["code"]), languages=entry["languages"],
        language_tags=language_tags(entry["code"], entry["languages"]),
        hofstede_code=entry.get("hofstede_code"), hofstede=entry.get("hofstede"), inglehart_welzel=iw,
        names=Names(**entry["names"]) if entry.get("names") else None,
        hofstede_words=h_words, inglehart_welzel_words=iw_words, overridden=overridden, description=description,
    )


@lru_cache(maxsize=1)
def _cards() -> dict[str, CultureCard]:
    table = json.loads(Path(CULTURE_TABLE_PATH).read_text(encoding="utf-8"))
    return {entry["code"]: card_from_entry(entry) for entry in table["cultures"]}


def culture_sources() -> dict[str, str]:
    """Attribution of the numbers in the culture table."""
    return json.loads(Path(CULTURE_TABLE_PATH).read_text(encoding="utf-8"))["sources"]


def list_cultures() -> list[CultureCard]:
    return sorted(_cards().values(), key=lambda c: c.code)


def get_culture(code: str) -> CultureCard:
    """The card for an ISO 3166 alpha-3 code (case-insensitive); unknown code → ClcaError with close matches."""
    cards = _cards()
    key = code.strip().upper()
    if key in cards:
        return cards[key]
    by_name = {c.name.lower(): c.code for c in cards.values()}
    if code.strip().lower() in by_name:
        raise ClcaError(f"unknown culture code {code!r}: use the ISO 3166 alpha-3 code "
                        f"{by_name[code.strip().lower()]!r} (see `clca cultures list`)")
    by_hofstede = {c.hofstede_code: c for c in cards.values() if c.hofstede_code}
    if key in by_hofstede:  # Hofstede's own codes (GER, CHI, …) are a common mix-up
        raise ClcaError(f"unknown culture code {code!r}: that is Hofstede's code for {by_hofstede[key].name}; "
                        f"use the ISO 3166 alpha-3 code {by_hofstede[key].code!r}")
    close = difflib.get_close_matches(key, list(cards), n=3, cutoff=0.3)
    close += [by_name[n] for n in difflib.get_close_matches(code.strip().lower(), list(by_name), n=2, cutoff=0.6)
              if by_name[n] not in close]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ClcaError(f"unknown culture code {code!r}{hint} (ISO 3166 alpha-3; `clca cultures list` shows all "
                    f"{len(cards)})")


def resolve_culture(code: str) -> tuple[str, str | None]:
    """(culture name, verbal Hofstede + Inglehart–Welzel description); no description for 'generic' scenarios."""
    if code.lower() == "generic":
        return "", None
    card = get_culture(code)
    return card.name, card.description
