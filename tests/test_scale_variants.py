"""3-point variants of the agree battery, detected from the data (bundled tables and respondent files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clca.evaluation import metrics as M
from clca.evaluation.human import BUNDLED_TABLES_PATH, bundled_distributions
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import (
    AGREE3_OPTIONS,
    detect_scale_variant,
    distribution_from_codes,
    fold_to_variant,
    scale_variants,
)

BANK = load_question_bank()


def test_usa_q33_and_arg_q36_are_3_point_variants():
    for iso3, qid in (("USA", "Q33"), ("ARG", "Q36")):
        question = BANK.get(qid)
        dist = bundled_distributions(iso3, [question])[qid]
        variant = detect_scale_variant(question, dist)
        assert variant is not None, (iso3, qid)
        assert variant.codes == [2, 3, 4] and variant.options == AGREE3_OPTIONS
        assert variant.id == qid and variant.text == question.text
        folded = fold_to_variant(dist, variant)
        assert folded.codes == [2, 3, 4] and sum(folded.shares) == pytest.approx(1.0)
        assert folded.shares == pytest.approx(dist.shares[1:4])


def test_deu_q33_is_not_flagged():
    question = BANK.get("Q33")
    assert detect_scale_variant(question, bundled_distributions("DEU", [question])["Q33"]) is None


def test_bundled_tables_flag_exactly_the_known_variants():
    tables = json.loads(BUNDLED_TABLES_PATH.read_text(encoding="utf-8"))["tables"]
    expected = {(c, f"Q{i}") for c in ("USA", "NGA") for i in range(33, 36)} | \
        {(c, f"Q{i}") for c in ("ARG", "BRA") for i in range(33, 42)}
    for name, table in tables.items():
        questions = BANK.select(name)
        flagged = {(iso3, qid) for iso3 in table
                   for qid in scale_variants(questions, bundled_distributions(iso3, questions))}
        assert flagged == {(c, q) for c, q in expected if c in table}, name


def test_respondent_file_variant_needs_enough_answers():
    question = BANK.get("Q34")
    codes = [2] * 60 + [3] * 30 + [4] * 20 + [-1] * 5
    assert detect_scale_variant(question, distribution_from_codes("XXA", question, codes, "f")) is not None
    assert detect_scale_variant(question, distribution_from_codes("XXA", question, codes[:50], "f")) is None  # n 50
    assert detect_scale_variant(question, distribution_from_codes("XXA", question, [*codes, 1], "f")) is None
    assert detect_scale_variant(BANK.get("Q27"), distribution_from_codes("XXA", BANK.get("Q27"), [2, 3] * 99, "f")) \
        is None  # a 4-point item is never folded


def test_scoring_on_three_points_removes_the_penalty_for_the_scale():
    question = BANK.get("Q33")
    dist = bundled_distributions("USA", [question])["Q33"]
    variant = detect_scale_variant(question, dist)
    folded = fold_to_variant(dist, variant)
    # a model answering 1 (agree strongly) on the 5-point scale cannot match any USA answer …
    five = M.kl_divergence(np.array([1.0, 0, 0, 0, 0, 0]), np.append(dist.shares, 0.0))
    # … while the same model on the 3-point version answering "Agree" (code 2) is scored against shares that exist
    three = M.kl_divergence(np.array([1.0, 0, 0, 0]), np.append(folded.shares, 0.0))
    assert five > 9 > three
