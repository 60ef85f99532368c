"""Deterministic quality gate: Gopher ratios against hand-computed values, real degenerate and real good text,
and its use in `run_judge` (rejections recorded and counted, the LLM judge not asked, all-rejected run stops)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from builders_roleplay import make_conversation
from clca.errors import ClcaError
from clca.jsonl import JsonlStore
from clca.judge import JudgeConfig, Judgement, run_judge
from clca.judge.gate import (
    GateConfig,
    check_conversation,
    duplicate_line_char_fraction,
    duplicate_ngram_char_fraction,
    top_ngram_char_fraction,
    words,
)
from clca.llm import load_backend
from clca.roleplay import Conversation
from clca.testing.openai_server import OpenAICompatServer

# Turns from the quickstart run of issue 18 (SmolLM2-135M, DEU-seed-034#0 and the training data).
SEVER_LOOP = 'Sever: "Sever: "Sever: "Sever: "Sever: "Sever: "Sever: "Sever:'
EDITH_LEAK = ("You're Edith in a role-play of a social interaction set in Germany. Stay in character as Edith for "
              "the whole conversation.")
GOOD = ["Good afternoon, Auntie Mei. May I sit with you for a moment?",
        "Of course, Teacher Li. The tea here is very good today.",
        "The school is looking for volunteers this spring, and I thought of you first.",
        "That is kind of you to think of me, but my health is not what it was. Let me think about it."]


def test_words_drop_quotes_and_colons() -> None:
    assert words(SEVER_LOOP) == ["sever"] * 8
    assert words("Don’t go, Anna!") == ["don't", "go", "anna"]


def test_gopher_ratios_match_hand_computation() -> None:
    # 'the cat' twice: 2 × 6 characters of 15
    assert top_ngram_char_fraction(["the", "cat", "the", "cat", "sat"], 2) == pytest.approx(12 / 15)
    assert top_ngram_char_fraction(["one", "two", "three"], 2) == 0.0  # no bigram occurs twice
    # the second 'one two three four five' (19 characters) of 19 + 19 + 'six' (3)
    tokens = ["one", "two", "three", "four", "five", "one", "two", "three", "four", "five", "six"]
    assert duplicate_ngram_char_fraction(tokens, 5) == pytest.approx(19 / 41)
    assert duplicate_ngram_char_fraction(tokens, 6) == 0.0
    # 'hello there' (10) repeated; 'good day' (7)
    assert duplicate_line_char_fraction("Hello there\nGood day\nHello, there!") == pytest.approx(10 / 27)


def test_real_good_conversation_passes() -> None:
    result = check_conversation(make_conversation(texts=GOOD))
    assert result.passed and result.issues == [] and result.reason == "passed"


@pytest.mark.parametrize(
    ("texts", "check", "turn"),
    [
        ([GOOD[0], SEVER_LOOP, GOOD[2]], "speaker_prefix", 1),
        ([GOOD[0], 'Li: "Mei: Of course I will help."'], "speaker_prefix", 1),
        ([EDITH_LEAK, GOOD[1]], "instruction_leak", 0),
        ([GOOD[0], "Your goal (only you know it): decline politely. Answer in exactly this format and nothing else"],
         "instruction_leak", 1),
        ([GOOD[0], GOOD[1], GOOD[0]], "repeated_turn", 2),
        ([GOOD[2], "The school is looking for volunteers this spring, and I thought of you."], "repeated_turn", 1),
        ([GOOD[0], '"'], "empty_turn", 1),
        ([GOOD[0], "..."], "empty_turn", 1),
        ([GOOD[0], "I will help. I will help. I will help. I will help. I will help. I will help. I will help."],
         "top_ngram", 1),
    ],
)
def test_degenerate_turns_are_rejected_with_their_check(texts, check, turn) -> None:
    result = check_conversation(make_conversation(texts=texts))
    assert not result.passed
    assert any(i.check == check and i.turn_index == turn for i in result.issues), result.issues
    assert result.reason.startswith("gate ")


# Turns SmolLM2-135M wrote for DEU-seed-024 and DEU-seed-012 at the quickstart's sampling (no penalties) ...
LOOPING = ["I'm Martin, I'm going to talk to Julia.\n\nMine is a long talk, but I'm going to make it shorter.\n\nI'm "
           "going to talk to Julia, and I'm going to talk to you",
           "Mine is a long talk, but I'm going to make it shorter.\n\nI'm going to talk to Julia, and I'm going to talk "
           "to you.\n\nI'm going to talk to Julia, and I'm"]
ECHOING = ["The conversation between Julia and Ben begins now.\n\nI'm Julia, I'm here to help you with your project.",
           '"I\'m here to help with your project, I\'m a consultant, I\'m here to help with your project."\n\nBen',
           "The conversation between Ben and Julia begins now.\n\nI'm Julia, I'm here to help with your project, I'm "
           "here to help with your project."]
# ... and with repetition_penalty 1.2 / no_repeat_ngram_size 4 (DEU-seed-021, DEU-seed-034).
SHOUTING = ("ALSO SPEAKED ON THIS ONE WITH YOUR TEACER DUE TO ANOTHER RESPONSE FROM YOU THAT SAYS ALLAYLY MORNING "
            "BLUES AND SMILES ABOUT THE ADVICE AS SO")
SCRIPTED = "Rosa responds:\nEXTREMA LOS ENTRICIOS FINES INDIAS ESEO DE TRAGIA\n[Ha la una soledad en Europa de buen cambio]"


def test_real_embedded_model_output_is_rejected() -> None:
    looping = check_conversation(make_conversation(texts=LOOPING))
    assert not looping.passed and {"repeated_turn", "duplicate_lines", "top_ngram"} <= set(looping.checks)
    echoing = check_conversation(make_conversation(texts=ECHOING))
    assert not echoing.passed and {"top_ngram", "duplicate_ngrams"} <= set(echoing.checks)
    shouting = check_conversation(make_conversation(texts=[GOOD[0], SHOUTING]))
    assert shouting.checks == ["uppercase"]
    scripted = check_conversation(make_conversation(texts=[GOOD[0], SCRIPTED]))
    assert scripted.issues[0].check == "speaker_prefix" and "Rosa responds:" in scripted.issues[0].detail


def test_short_repeats_and_short_answers_pass() -> None:
    texts = ["Would you like more tea?", "No.", "Thank you.", "Thank you.", "See you on Sunday, then."]
    assert check_conversation(make_conversation(texts=texts)).passed


def test_conversation_level_repetition_and_no_spoken_turn() -> None:
    lines = ["We should go now, before the rain starts and the last bus leaves the square."] * 5
    no_echo = GateConfig(min_echo_words=100)  # leave the repeats to the whole-conversation Gopher checks
    result = check_conversation(make_conversation(texts=lines), no_echo)
    assert not result.passed
    assert result.checks == ["duplicate_lines", "top_ngram", "duplicate_ngrams"]
    assert all(i.turn_index is None for i in result.issues)
    assert check_conversation(make_conversation(texts=lines[:3]), no_echo).passed  # 45 words: too short to judge
    silent = check_conversation(make_conversation(texts=["", ""], actions=["none", "none"]))
    assert [i.check for i in silent.issues] == ["no_spoken_turn"]


def test_thresholds_are_configurable() -> None:
    conv = make_conversation(texts=[GOOD[0], GOOD[1], GOOD[0]])
    assert not check_conversation(conv).passed
    assert check_conversation(conv, GateConfig(max_bad_turns=1, max_duplicate_line_chars=1.0)).passed
    assert check_conversation(conv, GateConfig(enabled=False)).passed


def _judge_backend(server: OpenAICompatServer):
    return load_backend(f"openai:test-model@{server.base_url}", cache=False, max_retries=0, retry_backoff_s=0.01)


def test_run_judge_records_gate_rejections_and_skips_the_llm(tmp_path) -> None:
    asked: Counter[str] = Counter()

    def responder(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        asked[prompt[:20]] += 1
        label = "aligned" if "culturally aligned" in prompt else "good"
        return f"LABEL: {label}\nCONFIDENCE: very confident\nREASON: fine."

    conversations = [make_conversation("ok", texts=GOOD), make_conversation("loop", texts=[GOOD[0], SEVER_LOOP]),
                     make_conversation("leak", texts=[EDITH_LEAK, GOOD[1]])]
    src = tmp_path / "c.jsonl"
    JsonlStore(src, Conversation).append(conversations)
    with OpenAICompatServer(responder) as server:
        summary = run_judge(src, tmp_path / "j.jsonl", _judge_backend(server), JudgeConfig())
        calls = server.calls
    assert calls == sum(asked.values()) == 3  # quality, cultural alignment, meta of the one conversation that passed
    records = {j.id: j for j in JsonlStore(tmp_path / "j.jsonl", Judgement).read()}
    assert records["ok#0"].keep and records["ok#0"].gate.passed
    assert not records["loop#0"].keep and records["loop#0"].keep_reason.startswith("gate speaker_prefix: turn 1")
    assert records["loop#0"].quality is None  # never asked
    assert not records["leak#0"].keep and records["leak#0"].keep_reason.startswith("gate instruction_leak: turn 0")
    assert summary.kept == 1 and summary.gate_rejected == 2
    assert summary.gate_rejections == {"speaker_prefix": 1, "instruction_leak": 1}
    saved = json.loads((tmp_path / "j.summary.json").read_text())
    assert saved["gate_rejections"] == {"speaker_prefix": 1, "instruction_leak": 1}


def test_run_judge_stops_when_the_gate_rejects_everything(tmp_path) -> None:
    src = tmp_path / "c.jsonl"
    JsonlStore(src, Conversation).append([make_conversation("loop", texts=[GOOD[0], SEVER_LOOP])])
    with OpenAICompatServer(lambda body: "LABEL: good\nCONFIDENCE: confident") as server:
        with pytest.raises(ClcaError, match="quality gate rejected all 1 conversations"):
            run_judge(src, tmp_path / "j.jsonl", _judge_backend(server), JudgeConfig())
    assert len(JsonlStore(tmp_path / "j.jsonl", Judgement).read()) == 1  # recorded before stopping
