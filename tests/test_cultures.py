"""Culture cards: table re-derivation, band words, the paper's wording, lookup errors, CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from clca.cli.main import app
from clca.cultures import get_culture, list_cultures
from clca.cultures.build import COUNTRIES, build_culture_table
from clca.cultures.cards import (
    CULTURE_TABLE_PATH,
    PAPER_WORDING_OVERRIDES,
    hofstede_word,
    secular_words,
    self_expression_words,
)
from clca.errors import ClcaError

PAPER_CULTURES = ["GBR", "CHN", "DEU", "MEX", "JPN"]
WVS_REFERENCE = ["BGD", "BRA", "CHN", "DEU", "KOR", "MEX", "TUR", "USA"]

# METHOD.md, "Culture descriptions used in the role-play prompt" — verbatim.
PAPER_WORDING = {
    "CHN": ("highly hierarchical, moderately collective, moderate achievement motivation, moderately risk-taking, "
            "highly pragmatic, highly restrained", "little survival values, moderately secular"),
    "MEX": ("highly hierarchical, moderately collective, moderate achievement motivation, high uncertainty "
            "avoidance, highly normative, highly indulgent", "little self-expression values, moderately traditional"),
    "JPN": ("moderately hierarchical, moderately individualistic, high achievement motivation, high uncertainty "
            "avoidance, highly pragmatic, moderately restrained", "moderate self-expression values, uttermost secular"),
    "DEU": ("moderately equal, highly individualistic, moderate achievement motivation, moderate uncertainty "
            "avoidance, moderately pragmatic, moderately restrained", "uttermost self-expression, moderately secular"),
    "GBR": ("moderately equal, highly individualistic, moderate achievement motivation, moderately risk-taking, "
            "moderately pragmatic, moderately indulgent", "uttermost self-expression, moderately secular"),
}


def test_bundled_table_rederives_exactly_from_reference_data(shared_data):
    bundled = json.loads(CULTURE_TABLE_PATH.read_text(encoding="utf-8"))
    assert build_culture_table(shared_data) == bundled


def test_coverage_every_full_hofstede_country_and_wvs_references(shared_data):
    rows = (shared_data / "hofstede/6-dimensions-for-website-2015-08-16.csv").read_text().splitlines()[1:]
    full = {r.split(";")[0] for r in rows if "#NULL!" not in r} - {"AFE", "AFW", "ARA"}  # regions, not countries
    mapped = {c.hofstede_code for c in COUNTRIES}
    assert full <= mapped
    codes = {c.code for c in list_cultures()}
    assert set(WVS_REFERENCE) | set(PAPER_CULTURES) <= codes
    assert len({c.code for c in COUNTRIES}) == len(COUNTRIES)  # no ISO code twice
    assert len({c.hofstede_code for c in COUNTRIES}) == len(COUNTRIES)


@pytest.mark.parametrize(("iso", "hofstede", "pdi"), [("DEU", "GER", 35), ("CHN", "CHI", 80), ("SVN", "SLV", 71),
                                                       ("SLV", "SAL", 66), ("KOR", "KOR", 60), ("GBR", "GBR", 35)])
def test_hofstede_codes_mapped_to_iso(iso, hofstede, pdi):
    card = get_culture(iso)
    assert card.hofstede_code == hofstede
    assert card.hofstede["pdi"] == pdi


def test_inglehart_welzel_uses_latest_wave_and_map_sign():
    gbr = get_culture("GBR").inglehart_welzel
    assert gbr.year == 2022 and gbr.self_expression == pytest.approx(1.9873, abs=1e-4)  # SurvSAgg −1.987
    deu = get_culture("DEU").inglehart_welzel
    assert deu.year == 2018 and deu.ivs_key == "germany"  # not germany_west
    rus = get_culture("RUS").inglehart_welzel
    assert rus.year == 2017  # latest across both of its IVS keys
    assert get_culture("SWE").inglehart_welzel.self_expression > 3  # Sweden: most self-expressive
    assert get_culture("SLV").inglehart_welzel is None  # El Salvador: not in the IVS file


@pytest.mark.parametrize(("dimension", "score", "words"), [
    ("pdi", 0, "highly equal"), ("pdi", 29, "highly equal"), ("pdi", 30, "moderately equal"),
    ("pdi", 49, "moderately equal"), ("pdi", 50, "moderately hierarchical"), ("pdi", 69, "moderately hierarchical"),
    ("pdi", 70, "highly hierarchical"), ("pdi", 104, "highly hierarchical"),
    ("idv", 91, "highly individualistic"), ("idv", 30, "moderately collective"), ("idv", 6, "highly collective"),
    ("mas", 5, "low achievement motivation"), ("mas", 45, "moderate achievement motivation"),
    ("mas", 66, "moderate achievement motivation"), ("mas", 110, "high achievement motivation"),
    ("uai", 8, "highly risk-taking"), ("uai", 35, "moderately risk-taking"),
    ("uai", 65, "moderate uncertainty avoidance"), ("uai", 112, "high uncertainty avoidance"),
    ("lto", 24, "highly normative"), ("lto", 51, "moderately pragmatic"), ("lto", 100, "highly pragmatic"),
    ("ivr", 0, "highly restrained"), ("ivr", 42, "moderately restrained"), ("ivr", 69, "moderately indulgent"),
    ("ivr", 97, "highly indulgent"),
])
def test_hofstede_bands(dimension, score, words):
    assert hofstede_word(dimension, score) == words


@pytest.mark.parametrize(("value", "x_words", "y_words"), [
    (0.0, "little self-expression values", "slightly secular"),
    (-0.49, "little survival values", "slightly traditional"),
    (0.5, "moderate self-expression values", "moderately secular"),
    (-1.49, "moderate survival values", "moderately traditional"),
    (1.5, "uttermost self-expression", "uttermost secular"),
    (-3.0, "uttermost survival", "uttermost traditional"),
])
def test_inglehart_welzel_bands(value, x_words, y_words):
    assert self_expression_words(value) == x_words
    assert secular_words(value) == y_words


@pytest.mark.parametrize("code", PAPER_CULTURES)
def test_paper_wording_reproduced_exactly(code):
    card = get_culture(code)
    hofstede_text, iw_text = PAPER_WORDING[code]
    assert ", ".join(card.hofstede_words.values()) == hofstede_text
    assert ", ".join(card.inglehart_welzel_words.values()) == iw_text
    assert hofstede_text in card.description and iw_text in card.description
    assert card.name in card.description
    # Every override is listed on the card, and only the documented ones exist.
    assert set(card.overridden) == {dim for (c, dim) in PAPER_WORDING_OVERRIDES if c == code}


def test_overrides_only_where_bands_cannot_reproduce_the_paper():
    # An override that our bands already produce would hide a band change; each one must really differ.
    for (code, dimension) in PAPER_WORDING_OVERRIDES:
        card = get_culture(code)
        if dimension in card.hofstede_words:
            assert hofstede_word(dimension, card.hofstede[dimension]) != card.hofstede_words[dimension]
        else:
            value = getattr(card.inglehart_welzel, dimension)
            derived = self_expression_words(value) if dimension == "self_expression" else secular_words(value)
            assert derived != card.inglehart_welzel_words[dimension]


def test_non_paper_cultures_use_bands_only():
    usa = get_culture("usa")
    assert usa.overridden == []
    assert "the United States" in usa.description
    assert usa.hofstede_words["idv"] == "highly individualistic"  # 91
    assert usa.hofstede_words["lto"] == "highly normative"  # 26


def test_names_for_paper_and_reference_cultures():
    for code in set(PAPER_CULTURES) | set(WVS_REFERENCE):
        names = get_culture(code).names
        assert names and names.female and names.male and names.family
    assert get_culture("FRA").names is None


@pytest.mark.parametrize(("code", "fragment"), [
    ("GRE", "GRC"), ("Germany", "'DEU'"), ("GER", "Hofstede's code for Germany"), ("XYZ", "ISO 3166 alpha-3"),
])
def test_unknown_code_is_one_line_with_suggestions(code, fragment):
    with pytest.raises(ClcaError) as info:
        get_culture(code)
    message = str(info.value)
    assert "\n" not in message and fragment in message


def test_cli_list_and_show():
    runner = CliRunner()
    result = runner.invoke(app, ["cultures", "list", "--json"])
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == len(list_cultures())
    result = runner.invoke(app, ["cultures", "show", "MEX"])
    assert result.exit_code == 0 and "highly indulgent" in result.stdout and "Hofstede" in result.stdout
    result = runner.invoke(app, ["cultures", "show", "MEXX"])
    assert result.exit_code != 0 and isinstance(result.exception, ClcaError)
