"""Scoring and comparing evaluation folders built from answers written here (no model): the runs' own settings
are used, runs on different footings are refused, and a verdict needs evidence that can support one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clca.errors import ConfigError
from clca.evaluation.personas import country_only_persona
from clca.evaluation.questions import load_question_bank
from clca.evaluation.schema import Comparison, EvalRecord, RunMetrics
from clca.evaluation.scoring import compare_runs, compute_run_metrics
from clca.evaluation.survey import SurveyDistribution
from clca.jsonl import JsonlStore, write_json_atomic

BINARY = [f"Q{i}" for i in range(7, 18)]  # 1 mentioned / 2 not mentioned
FOUR = [f"Q{i}" for i in range(1, 7)] + [f"Q{i}" for i in range(27, 33)]


def write_run(folder: Path, answers: dict[str, list[int]], survey: dict[str, list[float]], epsilon: float = 1e-4,
              mode: str = "generate") -> Path:
    """An evaluation folder whose personas p0…pN-1 gave `answers[qid][i]` (a code; None = invalid)."""
    bank = load_question_bank()
    n = len(next(iter(answers.values())))
    personas = [country_only_persona("DEU", f"p{i}") for i in range(n)]
    manifest = {"config": {"culture": "DEU", "questions": sorted(answers), "mode": mode, "strategy": "persona",
                           "kl_epsilon": epsilon, "weights": "none", "battery_form": "list"},
                "model": {"backend": "test", "model": folder.name}, "human_source": "test-table",
                "human_kind": "bundled-table", "distribution": "answers", "scale_variants": {}}
    folder.mkdir(parents=True)
    write_json_atomic(folder / "manifest.json", manifest)
    JsonlStore(folder / "personas.jsonl", type(personas[0])).write_all(personas)
    write_json_atomic(folder / "survey.json", {
        qid: SurveyDistribution(country="DEU", question=qid, codes=bank.get(qid).codes, shares=shares,
                                n_valid=1000).model_dump(mode="json")
        for qid, shares in survey.items()})
    JsonlStore(folder / "records.jsonl", EvalRecord).write_all(
        EvalRecord(id=f"p{i}|{qid}", persona_id=f"p{i}", question=qid, country="DEU", strategy="persona",
                   mode=mode, country_only=True, prompt_hash="x", raw_output=str(code), prediction=code,
                   invalid_reason=None if code is not None else "no option")
        for qid, codes in answers.items() for i, code in enumerate(codes))
    return folder


def test_metrics_and_comparisons_use_the_runs_own_epsilon(tmp_path):
    survey = {q: [0.9, 0.1] for q in BINARY}
    answers = {q: [2] for q in BINARY}  # one persona, always the rare answer
    a = write_run(tmp_path / "a", answers, survey, epsilon=1e-2)
    b = write_run(tmp_path / "b", answers, survey, epsilon=1e-2)
    metrics = compute_run_metrics(a, bootstrap_resamples=50)
    assert metrics.settings.kl_epsilon == 1e-2
    comparison = compare_runs(a, b, bootstrap_resamples=50)
    assert comparison.metrics["kl"].a == pytest.approx(metrics.overall["kl"].value)
    # with ε = 1e-4 the same answers would score far worse: the runs' setting, not a default, was used
    default = compute_run_metrics(a, bootstrap_resamples=0, epsilon=1e-4)
    assert default.overall["kl"].value > metrics.overall["kl"].value + 0.1


@pytest.mark.parametrize("key,value,message", [("kl_epsilon", 1e-3, "KL epsilon"), ("mode", "logprob", "mode"),
                                               ("weights", "wvs", "weighting")])
def test_runs_on_different_footings_are_refused_in_one_line(tmp_path, key, value, message):
    survey = {q: [0.5, 0.5] for q in BINARY}
    a = write_run(tmp_path / "a", {q: [1, 2] for q in BINARY}, survey)
    b = write_run(tmp_path / "b", {q: [1, 2] for q in BINARY}, survey)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["config"][key] = value
    (b / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=message):
        compare_runs(a, b, bootstrap_resamples=20)


def test_one_persona_runs_that_differ_slightly_are_not_called_significant(tmp_path):
    survey = {q: [0.6, 0.1, 0.2, 0.1] for q in FOUR}
    base = {q: [1] for q in FOUR}
    moved = dict(base, Q2=[2])  # one of 12 questions differs
    comparison = compare_runs(write_run(tmp_path / "a", moved, survey), write_run(tmp_path / "b", base, survey),
                              bootstrap_resamples=500)
    assert Comparison.model_validate(comparison.model_dump()) == comparison
    assert comparison.resampling.units == "personas x questions" and comparison.resampling.n_personas == 1
    for metric in ("kl", "js", "emd"):
        assert comparison.metrics[metric].verdict == "not testable", comparison.metrics[metric]
        assert comparison.metrics[metric].reason


def test_a_consistent_effect_over_40_questions_and_50_personas_is_found(tmp_path):
    rng = np.random.default_rng(0)
    questions = (BINARY + FOUR + [f"Q{i}" for i in range(18, 27)] + [f"Q{i}" for i in range(33, 42)])[:40]
    bank = load_question_bank()
    survey, good, bad = {}, {}, {}
    for qid in questions:
        codes = bank.get(qid).codes
        shares = np.full(len(codes), 0.1 / (len(codes) - 1))
        shares[0] = 0.9
        survey[qid] = shares.tolist()
        good[qid] = [int(c) for c in rng.choice(codes, size=50, p=shares)]  # answers like the survey
        bad[qid] = [int(codes[-1])] * 50  # everyone on the survey's rarest answer
    comparison = compare_runs(write_run(tmp_path / "good", good, survey), write_run(tmp_path / "bad", bad, survey),
                              bootstrap_resamples=500)
    for metric in ("kl", "js", "emd"):
        assert comparison.metrics[metric].verdict == "a better", comparison.metrics[metric]
        assert "personas and questions" in comparison.metrics[metric].reason
    typed = RunMetrics.model_validate(compute_run_metrics(tmp_path / "good", bootstrap_resamples=100).model_dump())
    assert typed.resampling is not None and typed.resampling.units == "personas x questions"
    assert set(typed.protocols) == {"clca", "paper", "cao2025", "worldvaluesbench"}
