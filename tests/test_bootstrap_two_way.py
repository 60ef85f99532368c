"""Two-way (personas x questions) bootstrap and verdicts that refuse degenerate evidence."""

from __future__ import annotations

import numpy as np
import pytest

from clca.evaluation import metrics as M


def _questions(choices: np.ndarray, surveys: np.ndarray, truth: np.ndarray | None = None) -> list[M.QuestionAnswers]:
    """choices: (N × Q) option indices; surveys: (Q × k)."""
    k = surveys.shape[1]
    return [M.QuestionAnswers(qid=f"Q{j + 1}", category="c", scale_type="ordinal", codes=list(range(1, k + 1)),
                              survey=surveys[j], choices=choices[:, j],
                              truth=None if truth is None else truth[:, j])
            for j in range(surveys.shape[0])]


def test_two_way_weights_shapes_seeding_and_units():
    boot = M.two_way_bootstrap_weights(7, 12, 50, seed=3)
    assert boot.persona.shape == (50, 7) and boot.question.shape == (50, 12)
    assert (boot.persona.sum(axis=1) == 7).all() and (boot.question.sum(axis=1) == 12).all()
    again = M.two_way_bootstrap_weights(7, 12, 50, seed=3)
    assert np.array_equal(boot.persona, again.persona) and np.array_equal(boot.question, again.question)
    assert not np.array_equal(boot.question, M.two_way_bootstrap_weights(7, 12, 50, seed=4).question)
    assert boot.units.as_dict() == {"resampled": "personas x questions", "n_personas": 7, "n_questions": 12,
                                    "n_resamples": 50, "seed": 3, "weights": "none",
                                    "scope": "questions only (7 personas)"}
    one = M.two_way_bootstrap_weights(1, 44, 20, seed=0)
    assert (one.persona == 1).all()  # one persona: only the questions vary
    assert one.units.scope == "questions only (1 persona)"
    assert M.two_way_bootstrap_weights(10, 44, 5, 0).units.scope == "personas and questions"


def test_survey_weights_multiply_persona_multiplicities():
    plain = M.two_way_bootstrap_weights(4, 10, 30, seed=1)
    w = np.array([0.5, 2.0, 1.0, 0.0])
    weighted = M.two_way_bootstrap_weights(4, 10, 30, seed=1, persona_weights=w)
    assert np.allclose(weighted.persona, plain.persona * w)
    assert np.array_equal(weighted.question, plain.question)
    assert weighted.units.weights == "survey weights"
    with pytest.raises(ValueError):
        M.two_way_bootstrap_weights(4, 10, 30, seed=1, persona_weights=np.array([1.0, -1.0, 1.0, 1.0]))


def test_two_way_scores_equal_plain_aggregate_when_nothing_is_resampled():
    rng = np.random.default_rng(0)
    surveys = rng.dirichlet(np.ones(4), size=12)
    choices = rng.integers(0, 5, size=(9, 12))  # index 4 = invalid
    truth = rng.integers(-1, 4, size=(9, 12))
    qs = _questions(choices, surveys, truth)
    units = M.ResamplingUnits("personas x questions", 9, 12, 1, 0)
    identity = M.TwoWayWeights(persona=np.ones((1, 9)), question=np.ones((1, 12)), units=units)
    two_way = M.score_two_way(qs, identity)
    plain = M.aggregate(M.score_questions(qs, np.ones((1, 9))), {q.qid: "c" for q in qs})
    for metric, value in plain.items():
        assert two_way[metric][0] == pytest.approx(value[0], rel=1e-12), metric


def test_question_multiplicities_weight_the_question_mean_and_accuracy_by_hand():
    surveys = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    choices = np.array([[0, 0, 1], [1, 0, 0]])  # 2 personas × 3 questions
    truth = np.array([[0, 1, 1], [1, -1, 1]])
    qs = _questions(choices, surveys, truth)
    units = M.ResamplingUnits("personas x questions", 2, 3, 1, 0)
    boot = M.TwoWayWeights(persona=np.array([[2.0, 0.0]]), question=np.array([[2.0, 0.0, 1.0]]), units=units)
    out = M.score_two_way(qs, boot)
    # persona 1 twice: Q1 model [1,0] vs [.5,.5] → EMD .5; Q3 model [0,1] vs [0,1] → 0; mean (2·.5 + 0) / 3
    assert out["emd"][0] == pytest.approx(1 / 3)
    # persona 1: Q1 correct (×2), Q3 correct → 3/3
    assert out["accuracy"][0] == pytest.approx(1.0)
    boot2 = M.TwoWayWeights(persona=np.array([[1.0, 1.0]]), question=np.array([[0.0, 1.0, 2.0]]), units=units)
    # persona 1: Q2 wrong (truth 1, said 0), Q3 right ×2 → 2/3; persona 2: Q2 unknown, Q3 wrong ×2 → 0
    assert M.score_two_way(qs, boot2)["accuracy"][0] == pytest.approx((2 / 3 + 0) / 2)


def test_one_persona_runs_that_differ_slightly_are_not_called_significant():
    rng = np.random.default_rng(5)
    surveys = rng.dirichlet(np.ones(4), size=44)
    a = rng.integers(0, 4, size=(1, 44))
    b = a.copy()
    # B moves its answer to the survey's least likely option on two questions: slightly worse, same direction
    for j in (3, 17):
        b[0, j] = int(np.argmin(surveys[j]))
        a[0, j] = int(np.argmax(surveys[j]))
    qa, qb = _questions(a, surveys), _questions(b, surveys)
    boot = M.two_way_bootstrap_weights(1, 44, 2000, seed=0)
    tests = M.compare_two_way(qa, qb, boot)
    for metric in ("kl", "js", "emd"):
        assert not tests[metric].testable, tests[metric]
        assert tests[metric].verdict.startswith("not testable: A and B differ on only 2 of 44 questions")
        assert tests[metric].units.scope == "questions only (1 persona)"
    # the persona-only bootstrap of the old code: zero width with one persona → refused, not "better beyond noise"
    diff = M.aggregate(M.score_questions(qa, M.bootstrap_weights(1, 100, 0)), {})["kl"] - \
        M.aggregate(M.score_questions(qb, M.bootstrap_weights(1, 100, 0)), {})["kl"]
    assert M.paired_verdict(diff, "kl")[0] == "A better beyond noise"  # what the old protocol claimed
    refused = M.paired_test(diff, "kl", M.ResamplingUnits("personas", 1, 44, 100, 0))
    assert refused.verdict.startswith("not testable: the 95% interval has zero width")


def test_one_persona_consistent_difference_is_a_question_level_verdict():
    rng = np.random.default_rng(6)
    surveys = rng.dirichlet(np.ones(4), size=44)
    a = np.argmax(surveys, axis=1)[None, :]  # always the survey's mode
    b = np.argmin(surveys, axis=1)[None, :]  # always its least likely option
    tests = M.compare_two_way(_questions(a, surveys), _questions(b, surveys),
                              M.two_way_bootstrap_weights(1, 44, 2000, seed=0))
    assert tests["kl"].verdict == "A better beyond noise" and tests["kl"].testable
    assert tests["kl"].as_dict()["scope"] == "questions only (1 persona)"


def test_consistent_effect_over_40_questions_and_50_personas_is_significant():
    rng = np.random.default_rng(7)
    n, n_q, k = 50, 40, 4
    surveys = rng.dirichlet(np.full(k, 2.0), size=n_q)
    truth = np.stack([rng.choice(k, size=n, p=s) for s in surveys], axis=1)
    noise = rng.integers(0, k, size=(2, n, n_q))
    a = np.where(rng.random((n, n_q)) < 0.6, truth, noise[0])  # A follows the respondent more often than B
    b = np.where(rng.random((n, n_q)) < 0.3, truth, noise[1])
    tests = M.compare_two_way(_questions(a, surveys, truth), _questions(b, surveys, truth),
                              M.two_way_bootstrap_weights(n, n_q, 1000, seed=0))
    for metric in ("kl", "js", "emd", "accuracy"):
        assert tests[metric].verdict == "A better beyond noise", (metric, tests[metric])
        assert tests[metric].units.scope == "personas and questions"
    # neither run has invalid answers
    assert tests["invalid_rate"].verdict == "not testable: A and B give identical values in every resample"


def test_too_few_questions_is_not_testable():
    units = M.ResamplingUnits("personas x questions", 100, 9, 1000, 0)
    out = M.paired_test(np.linspace(-2, -1, 1000), "kl", units)
    assert out.verdict == "not testable: 9 questions, fewer than the 10 needed to resample questions"
    assert out.ci is None and not out.testable
    fine = M.paired_test(np.linspace(-2, -1, 1000), "kl", M.ResamplingUnits("personas x questions", 100, 10, 1000, 0))
    assert fine.verdict == "A better beyond noise" and fine.testable
