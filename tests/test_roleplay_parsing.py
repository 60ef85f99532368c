"""Turn parser: format, leniency, fallbacks; no string crashes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.roleplay.parsing import format_own_turn, parse_turn


def parse(raw: str):
    return parse_turn(raw, "Anna", "Anna Berg", "Bob", "Bob Lee")


@pytest.mark.parametrize(
    ("raw", "action", "text"),
    [
        ("ACTION: speak\nHello Bob, how are you?", "speak", "Hello Bob, how are you?"),
        ("action: Speak\n\"Nice to see you.\"", "speak", "Nice to see you."),
        ("**Action:** non-verbal\n*smiles and nods*", "non-verbal", "*smiles and nods*"),
        ("ACTION: leave\nGoodbye, see you soon.", "leave", "Goodbye, see you soon."),
        ("ACTION: leave", "leave", ""),
        ("ACTION: none", "none", ""),
        ("ACTION: speak: I agree with you.", "speak", "I agree with you."),
        ("ACTION: say\nFine.", "speak", "Fine."),
        ("ACTION: gesture\nwaves", "non-verbal", "waves"),
        ("ACTION: exit\nBye.", "leave", "Bye."),
        ("```\nACTION: speak\nHi there.\n```", "speak", "Hi there."),
        ('{"action": "speak", "argument": "Hey!"}', "speak", "Hey!"),
        ('{"action_type": "leave", "text": "Bye"}', "leave", "Bye"),
        ("ACTION: speak\nAnna: Thanks, Bob.", "speak", "Thanks, Bob."),
        ("Anna Berg: ACTION: speak\nThanks.", "speak", "Thanks."),
        ("ACTION: speak\nA: I am fine.", "speak", "I am fine."),
        ("ACTION: speak\nThe conversation begins now.\n\nAnna: Hello Bob!\nBob: Hi", "speak", "Hello Bob!"),
    ],
)
def test_well_formed_and_decorated_outputs(raw: str, action: str, text: str) -> None:
    parsed = parse(raw)
    assert (parsed.action, parsed.text, parsed.parse_error) == (action, text, None)


def test_model_writing_the_other_side_is_cut_off() -> None:
    parsed = parse("ACTION: speak\nI would love some tea.\nBob: Great, let me pour it.\nAnna: Thanks!")
    assert parsed.text == "I would love some tea."
    parsed = parse("ACTION: speak\nSure.\nACTION: speak\nAnother turn")
    assert parsed.text == "Sure."


def test_missing_action_line_becomes_speech_with_parse_error() -> None:
    parsed = parse('Anna: "I think we should go."')
    assert parsed.action == "speak"
    assert parsed.text == "I think we should go."
    assert parsed.parse_error and "ACTION" in parsed.parse_error


@pytest.mark.parametrize("raw", ["", "   \n ", "```\n```", "ACTION: speak", "ACTION: speak\n  \"\" ", "Anna:"])
def test_empty_or_textless_outputs_are_noops_with_reason(raw: str) -> None:
    parsed = parse(raw)
    assert parsed.action == "none"
    assert parsed.is_noop
    assert parsed.parse_error


def test_own_turn_format_round_trips() -> None:
    for action, text in [("speak", "Hello."), ("non-verbal", "bows slightly"), ("leave", "Goodbye.")]:
        assert (parse(format_own_turn(action, text)).action, parse(format_own_turn(action, text)).text) == (action, text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_no_string_crashes_the_parser(raw: str) -> None:
    parsed = parse_turn(raw, "Anna", "Anna Berg", "Bob", "Bob Lee")
    assert parsed.action in ("none", "non-verbal", "speak", "leave")
    assert isinstance(parsed.text, str)
    if parsed.action in ("speak", "non-verbal"):
        assert parsed.text.strip()


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["ACTION: ", "action:", "**Action**: ", "{\"action\": \""]), st.text(max_size=60),
       st.text(max_size=200))
def test_no_structured_looking_string_crashes_the_parser(prefix: str, word: str, rest: str) -> None:
    parsed = parse_turn(prefix + word + "\n" + rest, "A", "", "", "")
    assert parsed.action in ("none", "non-verbal", "speak", "leave")
    assert isinstance(parsed.text, str)
    if parsed.action in ("speak", "non-verbal"):
        assert parsed.text.strip()  # an action that says something never says nothing
