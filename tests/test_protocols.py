"""Metric protocols on hand-made examples: the CLCA release's formulas, Cao et al. 2025, WorldValuesBench."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from clca.evaluation import metrics as M
from clca.evaluation import protocols as P

SURVEY = np.array([0.45, 0.35, 0.15, 0.05])
SURVEY_SLOTS = np.append(SURVEY, 0.0)  # + invalid slot


def test_paper_kl_reproduces_the_release_numbers_and_rewards_collapse():
    collapsed = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    assert P.paper_kl(collapsed, SURVEY_SLOTS) == pytest.approx(0.2937, abs=5e-5)
    assert P.paper_kl(SURVEY_SLOTS, SURVEY_SLOTS) == pytest.approx(0.3135, abs=5e-5)
    assert P.paper_kl(collapsed, SURVEY_SLOTS) < P.paper_kl(SURVEY_SLOTS, SURVEY_SLOTS)  # not a true KL
    # KL(survey ‖ softmax(model)) written out
    softmax = np.exp(collapsed) / np.exp(collapsed).sum()
    assert P.paper_kl(collapsed, SURVEY_SLOTS) == pytest.approx(float(np.sum(SURVEY * np.log(SURVEY / softmax[:4]))))


def test_paper_kl_equals_torch_kl_div_of_log_softmax():
    import torch  # a hard dependency: its absence is a failure here, not a skip
    rng = np.random.default_rng(0)
    for _ in range(20):
        model = rng.dirichlet(np.ones(5))
        survey = np.append(rng.dirichlet(np.ones(4)), 0.0)
        expected = torch.nn.functional.kl_div(torch.log_softmax(torch.tensor(model), dim=-1), torch.tensor(survey),
                                              reduction="sum").item()
        assert P.paper_kl(model, survey) == pytest.approx(expected, rel=1e-10)
    batched = P.paper_kl(np.stack([model, model]), survey)
    assert batched.shape == (2,)


def test_paper_js_uses_natural_logs():
    p, q = np.array([0.2, 0.5, 0.3, 0.0]), np.array([0.6, 0.1, 0.1, 0.2])
    assert P.paper_js(p, q) == pytest.approx(jensenshannon(p, q), abs=1e-12)  # scipy default base e
    assert P.paper_js(p, q) / jensenshannon(p, q, base=2) == pytest.approx(math.sqrt(math.log(2)), abs=1e-12)
    assert math.sqrt(math.log(2)) == pytest.approx(0.8326, abs=5e-5)


def test_js_divergence_base_2_is_squared_distance():
    p, q = np.array([0.2, 0.8]), np.array([0.9, 0.1])
    assert P.js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert P.js_divergence(p, q, base=math.e) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)
    assert P.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def _q(choices, truth, survey, codes, qid, scale="ordinal"):
    return M.QuestionAnswers(qid=qid, category="c", scale_type=scale, codes=codes, survey=np.asarray(survey, float),
                             choices=np.asarray(choices), truth=None if truth is None else np.asarray(truth))


def test_paper_accuracy_keeps_missing_answers_in_the_denominator():
    # 2 personas × 4 questions; persona 1 has one missing truth (-1)
    qs = [_q([0, 1], [0, 1], [0.5, 0.5], [1, 2], "Q1"), _q([1, 0], [1, 1], [0.5, 0.5], [1, 2], "Q2"),
          _q([0, 2], [-1, 0], [0.5, 0.5], [1, 2], "Q3"), _q([1, 1], [0, 1], [0.5, 0.5], [1, 2], "Q4")]
    # persona 1: correct Q1, Q2; Q3 missing; Q4 wrong → paper 2/4, clca 2/3
    # persona 2: correct Q1, Q4; Q2 wrong; Q3 invalid (index 2) → 2/4 both ways
    assert P.paper_accuracy(qs) == pytest.approx((2 / 4 + 2 / 4) / 2)
    clca = P.score_protocols(qs)["clca"]["accuracy"]
    assert clca == pytest.approx((2 / 3 + 2 / 4) / 2)
    assert P.paper_accuracy(qs, np.array([3.0, 1.0])) == pytest.approx(0.5)


def test_score_protocols_by_hand():
    # Q1: 4-point, 4 personas answer [1,1,2,invalid]; Q2: binary, all answer code 2
    q1 = _q([0, 0, 1, 4], None, SURVEY, [1, 2, 3, 4], "Q1")
    q2 = _q([1, 1, 1, 1], None, [0.3, 0.7], [1, 2], "Q2", scale="binary")
    out = P.score_protocols([q1, q2])
    m1, m2 = np.array([0.5, 0.25, 0, 0, 0.25]), np.array([0.0, 1.0, 0.0])
    s1, s2 = SURVEY_SLOTS, np.array([0.3, 0.7, 0.0])
    assert out["paper"]["kl"] == pytest.approx((P.paper_kl(m1, s1) + P.paper_kl(m2, s2)) / 2)
    assert out["paper"]["js"] == pytest.approx((jensenshannon(m1, s1) + jensenshannon(m2, s2)) / 2)
    assert out["paper"]["accuracy"] is None and out["clca"]["accuracy"] is None
    pos4 = np.array([0, 1 / 3, 2 / 3, 1])
    emd1 = wasserstein_distance(pos4, pos4, m1[:4] / 0.75, SURVEY)  # valid answers renormalised
    emd2 = 0.3  # |0 − 0.3|
    assert out["cao2025"]["emd"] == pytest.approx((emd1 + emd2) / 2)
    jsd1 = jensenshannon(m1[:4] / 0.75, SURVEY, base=2) ** 2
    jsd2 = jensenshannon([0, 1], [0.3, 0.7], base=2) ** 2
    assert out["cao2025"]["one_minus_jsd"] == pytest.approx(1 - (jsd1 + jsd2) / 2)
    assert emd1 == pytest.approx(0.1556, abs=1e-4)  # below 0.2; Q2's 0.3 is not
    assert out["worldvaluesbench"] == {"share_emd_below_0.2": 0.5, "emd": pytest.approx((emd1 + emd2) / 2)}
    assert out["clca"]["kl"] == pytest.approx(
        (M.kl_divergence(m1, s1) + M.kl_divergence(m2, s2)) / 2)
    assert out["clca"]["invalid_rate"] == pytest.approx(0.125)


def test_worldvaluesbench_share_counts_questions_below_threshold():
    close = _q([0, 0, 1, 1], None, [0.5, 0.5], [1, 2], "Q1", "binary")  # EMD 0
    far = _q([0, 0, 0, 0], None, [0.5, 0.5], [1, 2], "Q2", "binary")  # EMD 0.5
    edge = _q([0, 0, 0, 1, 1], None, [0.4, 0.6], [1, 2], "Q3", "binary")  # EMD 0.2 (rounds below): not below
    qs = [close, far]
    assert P.score_protocols(qs, protocols=["worldvaluesbench"])["worldvaluesbench"]["share_emd_below_0.2"] == 0.5
    out = P.score_protocols([edge], protocols=["worldvaluesbench"])["worldvaluesbench"]
    assert out["emd"] == pytest.approx(0.2) and out["share_emd_below_0.2"] == 0.0


def test_soft_input_and_table():
    q = _q([0, 1], None, [0.5, 0.3, 0.2], [1, 2, 3], "Q1")
    q.probs = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])  # equals the survey
    out = P.score_protocols([q], soft=True)
    assert out["clca"]["kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["cao2025"]["one_minus_jsd"] == pytest.approx(1.0)
    assert out["worldvaluesbench"]["share_emd_below_0.2"] == 1.0
    table = P.protocol_table_markdown()
    assert table.count("\n") == len(P.PROTOCOLS) + 1 and "`paper`" in table and "Cao et al." in table
    with pytest.raises(ValueError, match="unknown protocol"):
        P.score_protocols([q], protocols=["nope"])
