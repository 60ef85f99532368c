"""The self-alignment baseline (Choenni & Shutova 2024): in-context examples from the same country's answers to
other WVS questions, never the question asked."""

from __future__ import annotations

import json

import pytest

from clca.evaluation.config import EvalConfig
from clca.evaluation.human import bundled_distributions
from clca.evaluation.personas import country_only_persona
from clca.evaluation.questions import load_question_bank
from clca.evaluation.strategies import SELF_ALIGNMENT_EXAMPLES, get_strategy

BANK = load_question_bank()


@pytest.mark.parametrize("country", ["DEU", "JPN", "MEX"])
def test_the_asked_question_is_never_among_the_examples(country):
    strategy = get_strategy("self-alignment")
    for question in BANK.select("social-values"):
        examples = strategy.examples(country, question)
        assert len(examples) == SELF_ALIGNMENT_EXAMPLES
        assert question.id not in {q.id for q, _ in examples}
        assert len({q.id for q, _ in examples}) == len(examples)
        messages = strategy.messages(country_only_persona(country), question)
        asked = messages[-1].content
        assert [m.role for m in messages] == ["system"] + ["user", "assistant"] * len(examples) + ["user"]
        assert question.text in asked
        assert all(m.content != asked for m in messages[:-1])  # the asked prompt appears once, at the end


def test_examples_answer_with_the_country_s_majority_option():
    strategy = get_strategy("self-alignment")
    question = BANK.get("Q27")
    examples = strategy.examples("DEU", question)
    tables = bundled_distributions("DEU", [q for q, _ in examples])
    for example, code in examples:
        dist = tables[example.id]
        assert code == dist.codes[dist.shares.index(max(dist.shares))]
        assert code in example.answer_codes
    assert examples == strategy.examples("DEU", question)  # fixed per question: reproducible prompts
    assert [q.id for q, _ in examples] != [q.id for q, _ in strategy.examples("DEU", BANK.get("Q1"))]


@pytest.mark.slow
def test_self_alignment_runs_in_the_wvs_evaluation(embedded_backend, tmp_path):
    from clca.evaluation.runner import run_evaluation

    cfg = EvalConfig(culture="DEU", questions="Q27,Q33", strategy="self-alignment", mode="logprob",
                     human_source="bundled", bootstrap_resamples=50)
    summary = run_evaluation(embedded_backend, cfg, tmp_path / "sa")
    assert summary.strategy == "self-alignment" and summary.n_questions_scored == 2
    records = [json.loads(line) for line in (tmp_path / "sa" / "records.jsonl").read_text().splitlines()]
    messages = {m["id"]: m for m in map(json.loads, (tmp_path / "sa" / "messages.jsonl").read_text().splitlines())}
    for record in records:  # each prompt: system, k examples (question, answer), then the question asked
        roles = [messages[h]["role"] for h in record["message_hashes"]]
        assert roles == ["system"] + ["user", "assistant"] * SELF_ALIGNMENT_EXAMPLES + ["user"]
        asked = messages[record["message_hashes"][-1]]["content"]
        assert BANK.get(record["question"]).text in asked
        assert asked not in [messages[h]["content"] for h in record["message_hashes"][:-1]]
    manifest = json.loads((tmp_path / "sa" / "manifest.json").read_text())
    assert {"eval_cultural_system.v1", "eval_question.v2"} <= {p["name"] for p in manifest["prompts"]}
