"""The suites' untrusted-text readers: GlobalOpinionQA's repr columns (never eval) and the strict answer parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.suites.items import match_country
from clca.suites.parsing import parse_choice
from clca.suites.selections import MAX_REPR_CHARS, parse_options, parse_selections

_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(lambda s: s.strip())
_shares = st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=6)


def _defaultdict_repr(value: dict) -> str:
    return f"defaultdict(<class 'list'>, {value!r})"


@given(st.dictionaries(_names, _shares, min_size=1, max_size=5))
def test_selections_round_trip_any_countries_and_shares(value):
    parsed, reason = parse_selections(_defaultdict_repr(value))
    assert reason is None
    assert parsed == {k.strip(): v for k, v in value.items()}


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_selections_never_crash_on_any_text(text):
    parsed, reason = parse_selections(text)
    assert (parsed is None) != (reason is None)
    if parsed is not None:
        assert all(math.isfinite(x) and x >= 0 for v in parsed.values() for x in v)


@given(st.text(alphabet="{}[](),:'\"0123456789.-eE defaultdict<class list>", max_size=200))
@settings(max_examples=300)
def test_selections_never_crash_on_near_miss_syntax(text):
    parsed, reason = parse_selections(text)
    assert (parsed is None) != (reason is None)


@pytest.mark.parametrize("text, why", [
    ("defaultdict(<class 'list'>, {'Germany': [0.5, __import__('os').getpid()]})", "not a Python literal"),
    ("__import__('os').system('echo pwned')", "not a Python literal"),
    ("defaultdict(<class 'list'>, {'Germany': [0.5, -0.1]})", "negative"),
    ("defaultdict(<class 'list'>, {'Germany': [0.5, float('nan')]})", "not a Python literal"),
    ("defaultdict(<class 'list'>, {'Germany': [True, 0.5]})", "non-numeric"),
    ("defaultdict(<class 'list'>, {'Germany': []})", "no list of shares"),
    ("defaultdict(<class 'list'>, {})", "non-empty mapping"),
    ("defaultdict(<class 'list'>, {1: [0.5]})", "not a name"),
    ("[" * 5000 + "]" * 5000, "not a Python literal"),
    ("{'a': [1]}" + " " * MAX_REPR_CHARS, "longer than"),
    (None, "not text"),
])
def test_selections_refuse_with_a_reason_and_execute_nothing(text, why):
    parsed, reason = parse_selections(text)
    assert parsed is None and why in reason


def test_selections_of_the_real_format():
    text = "defaultdict(<class 'list'>, {'Belgium': [0.1, 0.9], 'S. Korea': [0.25, 0.75]})"
    assert parse_selections(text) == ({"Belgium": [0.1, 0.9], "S. Korea": [0.25, 0.75]}, None)


@given(st.lists(_names, min_size=2, max_size=8))
def test_options_round_trip(options):
    assert parse_options(repr(options)) == ([o.strip() for o in options], None)


@given(st.text(max_size=200))
def test_options_never_crash(text):
    parsed, reason = parse_options(text)
    assert (parsed is None) != (reason is None)


@pytest.mark.parametrize("text, labels, expected", [
    ("B", list("ABCD"), 1), ("(B)", list("ABCD"), 1), ("**C**", list("ABCD"), 2), ("B. Somewhat good", list("ABCD"), 1),
    ("Answer: D", list("ABCD"), 3), ("The answer is (A)", list("ABCD"), 0), ("A person should", list("ABCD"), None),
    ("B or C", list("ABCD"), None), ("B. or C.", list("ABCD"), None), ("E", list("ABCD"), None),
    ("Yes", ["yes", "no", "neither"], 0), ("no.", ["yes", "no", "neither"], 1),
    ("Neither, it depends.", ["yes", "no", "neither"], 2), ("Yes, but no", ["yes", "no", "neither"], None),
    ("I think yes", ["yes", "no", "neither"], None), ("True", ["True", "False"], 0), ("false", ["True", "False"], 1),
    ("", ["True", "False"], None), ("   ", list("ABCD"), None),
])
def test_parse_choice_accepts_one_clear_label_only(text, labels, expected):
    index, reason = parse_choice(text, labels)
    assert index == expected
    assert (reason is None) == (expected is not None)


@given(st.text(max_size=80), st.sampled_from([list("ABCD"), ["yes", "no", "neither"], ["True", "False"]]))
@settings(max_examples=400)
def test_parse_choice_never_crashes_and_never_guesses(text, labels):
    index, reason = parse_choice(text, labels)
    assert (index is None) != (reason is None)
    if index is not None:  # an accepted answer names its label, and no other one
        assert labels[index].casefold() in text.casefold()


@pytest.mark.parametrize("name, iso", [("Germany", "DEU"), ("germany", "DEU"), ("south_korea", "KOR"),
                                       ("S. Korea", "KOR"), ("Britain", "GBR"), ("United States", "USA"),
                                       ("Czech Rep.", "CZE"), ("Atlantis", None), (None, None)])
def test_country_names_of_the_datasets(name, iso):
    assert match_country(name) == iso
