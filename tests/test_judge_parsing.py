"""Judge verdict parser and keep rule: synonyms, strictness, no crashes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.judge import KeepRule, Verdict, parse_verdict
from clca.judge.parsing import PARTS


@pytest.mark.parametrize(
    ("raw", "part", "label", "confidence"),
    [
        ("LABEL: good\nCONFIDENCE: very confident\nREASON: natural.", "quality", "good", "very confident"),
        ("**Label:** Bad\n**Confidence:** Confident\n**Reason:** loops.", "quality", "bad", "confident"),
        ("Label: poor\nConfidence: unsure", "quality", "bad", "not sure"),
        ("LABEL: Not aligned\nCONFIDENCE: highly confident", "cultural_alignment", "not aligned", "very confident"),
        ("LABEL: misaligned\nCONFIDENCE: high", "cultural_alignment", "not aligned", "very confident"),
        ("LABEL: aligned\nCONFIDENCE: not very confident", "cultural_alignment", "aligned", "not sure"),
        ('{"label": "bad", "confidence": "not sure", "critique": "fine"}', "meta", "bad", "not sure"),
        ("```\nCRITIQUE: both fine.\nLABEL: good\nCONFIDENCE: confident\n```", "meta", "good", "confident"),
        ("The conversation is good. I am fairly confident.", "quality", "good", "confident"),
        # the meta-judge restating the other judgements: the last LABEL/CONFIDENCE counts
        ("LABEL: good\nCONFIDENCE: confident\nFinal label: bad\nConfidence: very confident", "meta", "bad",
         "very confident"),
    ],
)
def test_verdicts_are_normalised(raw: str, part: str, label: str, confidence: str) -> None:
    verdict, error = parse_verdict(raw, part)  # type: ignore[arg-type]
    assert error is None
    assert (verdict.label, verdict.confidence) == (label, confidence)


def test_reason_and_critique_are_kept() -> None:
    verdict, _ = parse_verdict("CRITIQUE: The quality judge missed the loop.\nLABEL: bad\nCONFIDENCE: confident", "meta")
    assert verdict.reason == "The quality judge missed the loop."


@pytest.mark.parametrize(
    ("raw", "part", "why"),
    [
        ("", "quality", "empty"),
        ("I'm sorry, I can't help with that.", "quality", "label"),
        ("LABEL: good\n", "quality", "confidence"),  # no confidence: never guessed
        ("LABEL: excellent\nCONFIDENCE: confident", "quality", "label"),
        ("It is good in parts and bad in others; confident.", "quality", "label"),  # ambiguous
        ("LABEL: good\nCONFIDENCE: very confident and not sure", "quality", "confidence"),
        ("LABEL: yes\nCONFIDENCE: confident", "cultural_alignment", "label"),
    ],
)
def test_unparseable_verdicts_are_failures_with_reason(raw: str, part: str, why: str) -> None:
    verdict, error = parse_verdict(raw, part)  # type: ignore[arg-type]
    assert verdict is None
    assert why in error


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.sampled_from(PARTS))
def test_no_string_crashes_the_verdict_parser(raw: str, part: str) -> None:
    verdict, error = parse_verdict(raw, part)  # type: ignore[arg-type]
    assert (verdict is None) != (error is None)


def v(label: str, confidence: str = "very confident") -> Verdict:
    return Verdict(label=label, confidence=confidence)  # type: ignore[arg-type]


def test_default_keep_rule_is_the_papers() -> None:
    rule = KeepRule()
    assert rule.decide({"quality": v("good"), "cultural_alignment": v("not aligned"), "meta": v("good")})[0]
    assert not rule.decide({"quality": v("bad"), "cultural_alignment": v("aligned"), "meta": v("good")})[0]
    assert not rule.decide({"quality": v("good"), "cultural_alignment": v("aligned"), "meta": v("bad")})[0]
    # "bad" but only "confident" → kept
    assert rule.decide({"quality": v("bad", "confident"), "cultural_alignment": v("aligned"),
                        "meta": v("bad", "not sure")})[0]


def test_failures_are_part_of_the_keep_rule() -> None:
    verdicts = {"quality": None, "cultural_alignment": v("aligned"), "meta": v("good")}
    keep, reason = KeepRule().decide(verdicts)
    assert not keep and "unjudged: quality" in reason
    keep, reason = KeepRule(on_failure="keep").decide(verdicts)
    assert keep and "unjudged" in reason
    # a failed part outside the rule does not matter
    assert KeepRule().decide({"quality": v("good"), "cultural_alignment": None, "meta": v("good")})[0]


def test_configurable_rule_can_also_drop_on_culture() -> None:
    rule = KeepRule(drop_parts=["quality", "cultural_alignment", "meta"], drop_confidences=["very confident", "confident"])
    keep, reason = rule.decide({"quality": v("good"), "cultural_alignment": v("not aligned", "confident"),
                                "meta": v("good")})
    assert not keep and reason.startswith("cultural_alignment not aligned")
