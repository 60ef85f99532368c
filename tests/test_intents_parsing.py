"""Intent sentence and kind parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.intents import parse_intent, parse_kind
from clca.intents.parsing import MAX_INTENT_WORDS


@pytest.mark.parametrize(
    ("raw", "intent"),
    [
        ("To greet Bob warmly.", "To greet Bob warmly."),
        ('Intent: "To show respect to an elder, as expected in China."', "To show respect to an elder, as expected in China."),
        ("**Intent:** To decline politely.\n\nExplanation: ...", "To decline politely."),
        ("The speaker's intent: to thank her host.", "to thank her host."),
        ("Mina: To help her grandfather.", "To help her grandfather."),
        ('To: "To express interest politely."', "To express interest politely."),
    ],
)
def test_intents_are_cleaned(raw: str, intent: str) -> None:
    assert parse_intent(raw) == (intent, None)


@pytest.mark.parametrize("raw", ["", "  ", "I'm sorry, but I cannot determine that.", "As an AI, I can't.", "To", "N/A"])
def test_unusable_intents_are_failures(raw: str) -> None:
    intent, error = parse_intent(raw)
    assert intent is None and error


def test_long_answers_are_cut_to_one_sentence() -> None:
    raw = "To apologise. " + "word " * 100
    assert parse_intent(raw)[0] == "To apologise."
    intent, _ = parse_intent("To " + " ".join(f"w{i}" for i in range(200)))  # a run-on without sentence end
    assert len(intent.split()) == MAX_INTENT_WORDS
    assert parse_intent("To " + "go " * 200)[0] is None  # the same run-on as a loop is a repetition


# Labels the embedded model (SmolLM2-135M) wrote in the quickstart run of issue 18, and fragments.
@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("To", "too short"),
        ("To: To: To: To: To: To: To: To:", "repetition"),
        ('Sever: "Sever: "Sever: "Sever:', "repetition"),
        ("To help help help her.", "repetition"),
        ("I'm going to talk to Julia, I'm going to talk to Julia, I'm going", "repetition"),
        ("To persuade the", "fragment"),
        ("In order to", "fragment"),
    ],
)
def test_repetitions_and_fragments_are_failed_intents_with_their_reason(raw: str, why: str) -> None:
    intent, error = parse_intent(raw)
    assert intent is None and why in error


def test_negated_kinds_are_not_read_as_the_kind() -> None:
    assert parse_kind("not cultural")[0] is None and "negated" in parse_kind("not cultural")[1]
    assert parse_kind("This is non-cultural.")[0] is None
    assert parse_kind("Not generic and not cultural")[0] is None
    assert parse_kind("Cultural, not generic.") == ("cultural", None)
    assert parse_kind("It isn't cultural; it is generic.") == ("generic", None)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("generic", "generic"), ("Cultural.", "cultural"), ("KIND: culture-specific", "cultural"), (" General", "generic")],
)
def test_kinds(raw: str, kind: str) -> None:
    assert parse_kind(raw) == (kind, None)


@pytest.mark.parametrize("raw", ["", "both generic and cultural", "maybe", None])
def test_unclear_kinds_fail(raw) -> None:
    kind, error = parse_kind(raw)
    assert kind is None and error


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_no_string_crashes_the_intent_parsers(raw: str) -> None:
    intent, error = parse_intent(raw)
    assert (intent is None) != (error is None)
    if intent is not None:
        assert len(intent.split()) <= MAX_INTENT_WORDS
    kind, error = parse_kind(raw)
    assert (kind is None) != (error is None)
