"""The child-qualities battery asked as the questionnaire's list ("choose up to five"): prompt, parser, logprob form."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.errors import ConfigError
from clca.evaluation.battery import (
    battery_answers_from_logprobs,
    battery_messages,
    battery_prompt_refs,
    battery_scoring_request,
    get_battery,
    mention_probabilities,
    parse_battery,
    split_batteries,
)
from clca.evaluation.personas import country_only_persona
from clca.evaluation.questions import load_question_bank
from clca.evaluation.strategies import get_strategy

BATTERY = get_battery("child_qualities")
IDS = [f"Q{n}" for n in range(7, 18)]


def _expected(chosen: set[int]) -> dict[str, int]:
    return {qid: 1 if i in chosen else 2 for i, qid in enumerate(IDS, start=1)}


def test_battery_is_the_eleven_child_qualities_with_at_most_five():
    assert BATTERY.item_ids == IDS and BATTERY.max_choices == 5
    assert "choose up to five" in BATTERY.stem


def test_one_prompt_lists_every_quality_once_for_each_strategy():
    persona = country_only_persona("DEU")
    for name in ("persona", "cultural", "anthropological"):
        user = battery_messages(persona, get_strategy(name), BATTERY)[-1].content
        for i, q in enumerate(BATTERY.items, start=1):
            assert f"\n{i}. {q.text}\n" in user
        assert "at most 5" in user and "yes" not in user.lower()
    reasoning = battery_messages(persona, get_strategy("anthropological"), BATTERY)[-1].content
    assert '"Answer: N, N, ..."' in reasoning
    request = battery_scoring_request(persona, get_strategy("persona"), BATTERY)
    assert request.options == [str(i) for i in range(1, 12)]
    with pytest.raises(ConfigError, match="reasons before answering"):
        battery_scoring_request(persona, get_strategy("anthropological"), BATTERY)
    assert [r.name for r in battery_prompt_refs(get_strategy("persona"), "logprob")] == [
        "eval_persona_system.v1", "eval_battery_first.v1"]


def test_split_batteries_list_and_per_item_forms():
    questions = load_question_bank().select("Q1,Q8,Q9,Q27")
    batteries, singles = split_batteries(questions, "list")
    assert [b.name for b in batteries] == ["child_qualities"] and [q.id for q in singles] == ["Q1", "Q27"]
    batteries, singles = split_batteries(questions, "per_item")
    assert batteries == [] and [q.id for q in singles] == ["Q1", "Q8", "Q9", "Q27"]
    assert split_batteries(load_question_bank().select("Q1,Q27"), "list")[0] == []
    with pytest.raises(ConfigError, match="battery_form"):
        split_batteries(questions, "grid")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "chosen"), [
    ("1, 4, 9", {1, 4, 9}),
    ("Answer: 2, 11", {2, 11}),
    ("1\n4\n9\n", {1, 4, 9}),
    ("3. Hard work; 11. Obedience", {3, 11}),
    ("Good manners and Imagination", {1, 5}),
    ("Tolerance and respect for other people, Thrift, saving money and things", {6, 7}),
    ("Not being selfish (unselfishness), thrift", {10, 7}),
    ("**1**, **2**, 2, 1", {1, 2}),
    ("none", set()),
    ("None of them.", set()),
])
def test_parser_reads_numbers_names_and_none(text, chosen):
    assert parse_battery(text, BATTERY) == (_expected(chosen), None)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty answer"),
    ("1, 2, 3, 4, 5, 6", "6 qualities chosen, at most 5 allowed"),
    ("12", "unknown item 12"),
    ("0, 3", "unknown item 0"),
    ("3. Obedience", "contradiction: number 3 is not 'Obedience'"),
    ("none, 3", "contradiction: 'none'"),
    ("all but 3", "negation"),
    ("not 4", "negation"),
    ("1 or 2", "alternative"),
    ("Everything except obedience", "negation"),
    ("hello", "unparseable part 'hello'"),
    ("1 4 9", "unparseable part"),
])
def test_parser_fails_with_a_reason_and_never_guesses(text, reason):
    codes, why = parse_battery(text, BATTERY)
    assert codes is None and reason in why


def test_reasoning_answers_use_the_last_answer_line():
    text = "A child needs manners (1) and faith.\nAnswer: 1, 9\nOn reflection:\nAnswer: 1, 3"
    assert parse_battery(text, BATTERY, reasoning=True) == (_expected({1, 3}), None)
    assert parse_battery("1, 3", BATTERY, reasoning=True) == (None, "no 'Answer: …' line")


_FORMATS = st.sampled_from(["number", "number_name", "name", "hash"])
_SEPS = st.sampled_from([", ", ",", "; ", "\n", " and ", " & "])


def _render(index: int, form: str) -> str:
    text = BATTERY.items[index - 1].text
    return {"number": str(index), "number_name": f"{index}. {text}", "name": text, "hash": f"#{index}"}[form]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 11), min_size=1, max_size=8), st.lists(_FORMATS, min_size=8, max_size=8), _SEPS,
       st.sampled_from(["", "Answer: ", "My choices: "]), st.sampled_from(["", ".", "\n"]))
def test_any_rendering_of_a_set_parses_to_that_set_or_fails_for_too_many(picks, forms, sep, lead, tail):
    text = lead + sep.join(_render(i, f) for i, f in zip(picks, forms, strict=False)) + tail
    codes, reason = parse_battery(text, BATTERY)
    if len(set(picks)) <= 5:
        assert (codes, reason) == (_expected(set(picks)), None), text
    else:
        assert codes is None and "at most 5 allowed" in reason


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 11), st.integers(1, 11))
def test_a_number_with_another_items_name_is_a_contradiction(number, named):
    text = f"{number}. {BATTERY.items[named - 1].text}"
    codes, reason = parse_battery(text, BATTERY)
    if number == named:
        assert reason is None and codes == _expected({number})
    else:
        assert codes is None and reason.startswith("contradiction")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 11), min_size=1, max_size=4), st.sampled_from(["not", "except", "but not", "or"]))
def test_negations_and_alternatives_are_failures(picks, word):
    text = f"{picks[0]} {word} " + ", ".join(map(str, picks[1:] or [2]))
    codes, reason = parse_battery(text, BATTERY)
    assert codes is None and ("negation" in reason or "alternative" in reason)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_no_input_crashes_the_parser_and_a_success_is_well_formed(text):
    codes, reason = parse_battery(text, BATTERY)
    assert (codes is None) != (reason is None)
    if codes is not None:
        assert list(codes) == IDS and set(codes.values()) <= {1, 2}
        assert sum(v == 1 for v in codes.values()) <= 5
    else:
        assert isinstance(reason, str) and reason


# ----------------------------------------------------------------------------------------------- logprob form


def _brute_force_mentions(weights: list[float], k: int) -> list[float]:
    """Sum over every ordered sequence of k distinct items of its Plackett-Luce probability."""
    out = [0.0] * len(weights)
    for sequence in itertools.permutations(range(len(weights)), k):
        prob, left = 1.0, 1.0
        for i in sequence:
            prob *= weights[i] / left
            left -= weights[i]
        for i in sequence:
            out[i] += prob
    return out


def test_mention_probabilities_hand_computed_and_uniform():
    # p = (.5, .3, .2), two picks: P(3 named) = .2 + .5·(.2/.5) + .3·(.2/.7) = .4857142857…
    p = mention_probabilities([math.log(0.5), math.log(0.3), math.log(0.2)], 2)
    assert p == pytest.approx([0.5 + 0.3 * 0.5 / 0.7 + 0.2 * 0.5 / 0.8, 0.3 + 0.5 * 0.3 / 0.5 + 0.2 * 0.3 / 0.8,
                               0.2 + 0.5 * 0.2 / 0.5 + 0.3 * 0.2 / 0.7], abs=1e-12)
    assert p[2] == pytest.approx(0.4857142857142857, abs=1e-12)
    assert mention_probabilities([0.0] * 11, 5) == pytest.approx([5 / 11] * 11, abs=1e-12)
    assert mention_probabilities([-1.0, -2.0], 5) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        mention_probabilities([0.0, float("-inf")], 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-8, 0), min_size=2, max_size=7), st.integers(1, 5))
def test_mention_probabilities_equal_brute_force_enumeration(logprobs, k):
    weights = np.exp(np.asarray(logprobs) - max(logprobs))
    weights = (weights / weights.sum()).tolist()
    got = mention_probabilities(logprobs, k)
    assert got == pytest.approx(_brute_force_mentions(weights, min(k, len(logprobs))), abs=1e-9)
    assert got.sum() == pytest.approx(min(k, len(logprobs)), abs=1e-9)


def test_logprob_answers_give_each_item_mentioned_probability_and_top_five_prediction():
    logprobs = [math.log(w) for w in (0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.04, 0.03, 0.03)]
    answers = battery_answers_from_logprobs(logprobs, BATTERY)
    assert list(answers) == IDS
    assert [a["prediction"] for a in answers.values()] == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    mentioned = [a["option_probs"]["1"] for a in answers.values()]
    assert sum(mentioned) == pytest.approx(5.0) and mentioned == sorted(mentioned, reverse=True)
    for a in answers.values():
        assert a["option_probs"]["1"] + a["option_probs"]["2"] == pytest.approx(1.0)
