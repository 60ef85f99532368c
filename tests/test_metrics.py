"""Metrics vs hand-computed values and scipy, including zero probabilities and the invalid slot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, wasserstein_distance

from clca.evaluation import metrics as M


def test_kl_matches_hand_computation_with_documented_smoothing():
    p = np.array([0.5, 0.5, 0.0])  # model, last slot = invalid
    q = np.array([0.25, 0.75, 0.0])
    eps = 1e-4
    ps = [(x + eps) / (1 + 3 * eps) for x in p]
    qs = [(x + eps) / (1 + 3 * eps) for x in q]
    expected = sum(a * math.log(a / b) for a, b in zip(ps, qs, strict=True))
    assert M.kl_divergence(p, q, eps) == pytest.approx(expected, rel=1e-12)
    # and equals scipy's entropy on the smoothed vectors
    assert M.kl_divergence(p, q, eps) == pytest.approx(entropy(ps, qs), rel=1e-12)
    # without smoothing it would be 0.5 ln 2 + 0.5 ln(2/3)
    assert M.kl_divergence(p, q, 1e-12) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-9)


def test_kl_is_zero_for_survey_against_itself_and_penalises_invalid():
    q = np.array([0.1, 0.0, 0.9, 0.0])
    assert M.kl_divergence(q, q) == 0.0
    all_invalid = np.array([0.0, 0.0, 0.0, 1.0])
    assert M.kl_divergence(all_invalid, q) > 8  # ≈ ln(1/ε)
    assert np.isfinite(M.kl_divergence(all_invalid, q))


def test_kl_batched_rows():
    p = np.array([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([0.5, 0.5, 0.0])
    batched = M.kl_divergence(p, q)
    assert batched.shape == (2,)
    assert batched[1] == pytest.approx(M.kl_divergence(p[1], q))


@pytest.mark.parametrize(
    "p,q",
    [([0.5, 0.5, 0.0], [0.25, 0.75, 0.0]), ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]),
     ([0.0, 0.0, 1.0], [0.3, 0.7, 0.0])],
)
def test_js_distance_matches_scipy(p, q):
    assert M.js_distance(np.array(p), np.array(q)) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_js_distance_bounds():
    assert M.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert M.js_distance(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0.0


@pytest.mark.parametrize(
    "codes,p,q",
    [([1, 2, 3, 4], [1, 0, 0, 0], [0, 0, 0, 1]), ([1, 2, 3, 4, 5], [0.2, 0.2, 0.2, 0.2, 0.2], [0.5, 0, 0, 0, 0.5]),
     ([0, 1, 2], [0.1, 0.0, 0.9], [0.3, 0.3, 0.4]), ([1, 2], [0.7, 0.3], [0.2, 0.8]),
     (list(range(1, 11)), [0.1] * 10, [0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.5])],
)
def test_emd_matches_scipy_on_rescaled_codes(codes, p, q):
    pos = (np.array(codes) - min(codes)) / (max(codes) - min(codes))
    expected = wasserstein_distance(pos, pos, p, q)
    assert M.emd_ordinal(np.array(p, float), np.array(q, float), codes) == pytest.approx(expected, abs=1e-12)


def test_emd_hand_values():
    # all mass at opposite ends of a 4-point scale = 1; one step apart = 1/3
    assert M.emd_ordinal(np.array([1.0, 0, 0, 0]), np.array([0, 0, 0, 1.0]), [1, 2, 3, 4]) == pytest.approx(1.0)
    assert M.emd_ordinal(np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]), [1, 2, 3, 4]) == pytest.approx(1 / 3)
    # binary = |p1 - q1|
    assert M.emd_ordinal(np.array([0.7, 0.3]), np.array([0.2, 0.8]), [1, 2]) == pytest.approx(0.5)


def test_emd_for_scale_renormalises_valid_mass_and_maxes_out_when_all_invalid():
    survey = np.array([0.5, 0.5])
    model = np.array([[0.25, 0.25, 0.5], [0.0, 0.0, 1.0]])  # half invalid; all invalid
    out = M.emd_for_scale(model, survey, [1, 2], "binary")
    assert out[0] == pytest.approx(0.0)
    assert out[1] == 1.0
    nominal = M.emd_for_scale(np.array([[0.0, 1.0, 0.0, 0.0]]), np.array([1.0, 0.0, 0.0]), [1, 2, 3], "nominal")
    assert nominal[0] == pytest.approx(1.0)


def _question(choices, truth=None, survey=(0.5, 0.3, 0.2), qid="Q1", category="c"):
    return M.QuestionAnswers(
        qid=qid, category=category, scale_type="ordinal", codes=[1, 2, 3], survey=np.array(survey),
        choices=np.array(choices), truth=None if truth is None else np.array(truth),
    )


def test_histogram_includes_invalid_and_accuracy_counts_invalid_as_wrong():
    q1 = _question([0, 0, 1, 3], truth=[0, 1, 1, 2])  # persona 4 invalid (index 3 == k)
    q2 = _question([2, 2, 2, 2], truth=[2, -1, 0, 2], qid="Q2")
    scores = M.score_questions([q1, q2], np.ones((1, 4)))
    assert scores.per_question["Q1"]["invalid_rate"][0] == pytest.approx(0.25)
    dist = M.model_distribution(q1, np.ones(4))
    assert dist[0].tolist() == [0.5, 0.25, 0.0, 0.25]
    # persona accuracies: p1 (1+1)/2, p2 (0)/1 (Q2 truth missing), p3 (1+0)/2, p4 (0+1)/2
    assert scores.accuracy[0] == pytest.approx((1.0 + 0.0 + 0.5 + 0.5) / 4)
    assert scores.per_question["Q1"]["kl"][0] == pytest.approx(M.kl_divergence(dist[0], np.array([0.5, 0.3, 0.2, 0])))


def test_soft_distribution_is_mean_of_probabilities():
    q = _question([0, 1], truth=None)
    q.probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    dist = M.model_distribution(q, np.ones(2), soft=True)[0]
    assert dist.tolist() == pytest.approx([0.4, 0.25, 0.35, 0.0])


def test_bootstrap_weights_are_resamples_and_seeded():
    w = M.bootstrap_weights(7, 50, seed=3)
    assert w.shape == (50, 7)
    assert (w.sum(axis=1) == 7).all()
    assert np.array_equal(w, M.bootstrap_weights(7, 50, seed=3))
    assert not np.array_equal(w, M.bootstrap_weights(7, 50, seed=4))


def test_paired_verdict_directions():
    assert M.paired_verdict(np.full(100, -0.1) + np.linspace(-0.01, 0.01, 100), "kl")[0] == "A better beyond noise"
    assert M.paired_verdict(np.full(100, -0.1), "accuracy")[0] == "B better beyond noise"
    assert M.paired_verdict(np.linspace(-1, 1, 100), "kl")[0] == "no significant difference"


def test_soft_shares_of_sampled_answers_keep_an_invalid_slot():
    # 2 personas × 5 samples each over 3 options; index 3 = an invalid sampled answer
    shares = M.shares_from_samples([[0, 0, 1, 3, 2], [1, 1, 1, 1, 3]], k=3)
    assert shares.tolist() == [[0.4, 0.2, 0.2, 0.2], [0.0, 0.8, 0.0, 0.2]]
    q = _question([0, 1], survey=(0.5, 0.3, 0.2))
    q.probs = shares
    scores = M.score_questions([q], np.ones((1, 2)), soft=True)
    model = np.array([0.2, 0.5, 0.1, 0.2])
    survey = np.array([0.5, 0.3, 0.2, 0.0])
    assert scores.per_question["Q1"]["invalid_rate"][0] == pytest.approx(0.2)
    eps = M.KL_EPSILON
    ps, qs = (model + eps) / (1 + 4 * eps), (survey + eps) / (1 + 4 * eps)
    assert scores.per_question["Q1"]["kl"][0] == pytest.approx(float(np.sum(ps * np.log(ps / qs))), rel=1e-12)
    assert scores.per_question["Q1"]["js"][0] == pytest.approx(jensenshannon(model, survey, base=2), abs=1e-12)
    pos = np.array([0.0, 0.5, 1.0])
    expected_emd = wasserstein_distance(pos, pos, model[:3] / 0.8, survey[:3])  # valid mass renormalised
    assert scores.per_question["Q1"]["emd"][0] == pytest.approx(expected_emd, abs=1e-12)


def test_soft_distribution_rejects_malformed_probabilities():
    q = _question([0, 1])
    q.probs = np.array([[0.5, 0.5, 0.1], [0.2, 0.2, 0.6]])  # first row sums to 1.1
    with pytest.raises(ValueError, match="sum to 1"):
        M.model_distribution(q, np.ones(2), soft=True)
    q.probs = np.ones((2, 5)) / 5
    with pytest.raises(ValueError, match="N × 3 or N × 4"):
        M.model_distribution(q, np.ones(2), soft=True)
    with pytest.raises(ValueError, match="indices in 0..3"):
        M.shares_from_samples([[0, 4]], k=3)


def test_soft_two_way_bootstrap_uses_the_shares():
    q = _question([0, 1], survey=(0.5, 0.3, 0.2))
    q.probs = M.shares_from_samples([[0, 3], [1, 1]], k=3)
    boot = M.TwoWayWeights(persona=np.array([[2.0, 0.0], [0.0, 2.0]]), question=np.ones((2, 1)),
                           units=M.ResamplingUnits("personas x questions", 2, 1, 2, 0))
    out = M.score_two_way([q], boot, soft=True)
    assert out["invalid_rate"].tolist() == pytest.approx([0.5, 0.0])


@pytest.mark.parametrize("s,documented", [(0.1, 0.596), (0.01, 0.037)])
def test_documented_cost_of_invalid_answers(s, documented):
    survey = np.array([0.45, 0.35, 0.15, 0.05, 0.0])
    model = np.append((1 - s) * survey[:4], s)  # the same answers, a share s moved to invalid
    cost = M.kl_divergence(model, survey) - M.kl_divergence(survey, survey)
    assert cost == pytest.approx(s * math.log(s / M.KL_EPSILON) + (1 - s) * math.log(1 - s), abs=1e-3)
    assert cost == pytest.approx(documented, abs=1e-3)
    assert f"{documented} for s = {s}" in M.__doc__
