"""The question bank against the WVS-7 master questionnaire: wording, codes, stems, read-out options, 3-point form."""

from __future__ import annotations

import re

import numpy as np
import pytest

from clca.errors import ConfigError
from clca.evaluation.human import bundled_distributions
from clca.evaluation.personas import country_only_persona
from clca.evaluation.questions import load_question_bank
from clca.evaluation.strategies import get_strategy
from clca.evaluation.survey import distribution_from_codes

CHECKED = [f"Q{n}" for n in range(1, 46) if n != 42] + [f"Q{n}" for n in range(122, 234)]


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def questionnaire(shared_data) -> str:
    path = shared_data / "wvs_found" / "questionnaire" / "wvs7_master.txt"
    return _normalise(path.read_text(encoding="utf-8"))


def test_every_item_text_and_code_list_matches_the_master_questionnaire(questionnaire):
    bank = load_question_bank()
    checked = 0
    for qid in CHECKED:
        if qid not in bank.questions:
            continue
        q = bank.get(qid)
        item = re.escape(_normalise(q.text).rstrip("."))
        found = re.search(rf"\b{qid}\.? ?{item}\.? ?((?:\d+ )*\d+)?", questionnaire)
        assert found, f"{qid}: {q.text!r} is not the questionnaire's wording"
        if found.group(1):  # the battery's code columns follow the item on the same line
            assert sorted(int(c) for c in found.group(1).split()) == q.codes, qid
        checked += 1
    assert checked == 44 + 50 - 15  # social-values + q50 (Q27-Q41 counted once)


def test_q27_to_q32_use_their_own_four_point_stem_and_q33_the_five_point_one():
    bank = load_question_bank()
    for qid in ("Q27", "Q28", "Q29", "Q30", "Q31", "Q32"):
        q = bank.get(qid)
        assert "strongly agree, agree, disagree, or strongly disagree" in q.stem
        assert "neither" not in q.stem.lower() and q.codes == [1, 2, 3, 4]
    q33 = bank.get("Q33")
    assert "strongly" not in q33.stem and q33.options[3] == "Neither agree nor disagree"


def test_q122_to_q129_do_not_offer_hard_to_say_but_keep_it_in_the_survey_scale():
    bank = load_question_bank()
    persona = country_only_persona("DEU")
    for qid in (f"Q{n}" for n in range(122, 130)):
        q = bank.get(qid)
        assert q.codes == [0, 1, 2] and q.answer_codes == [0, 2] and q.unread_codes == (1,)
        for name in ("persona", "cultural", "anthropological"):
            prompt = get_strategy(name).messages(persona, q)[-1].content
            assert "Hard to say" not in prompt and "hard to say" not in prompt
            assert "0. Disagree" in prompt and "2. Agree" in prompt and "(0, 2)" in prompt
    # the people who volunteered "hard to say" stay in the human distribution
    dist = bundled_distributions("DEU", [bank.get("Q122")])["Q122"]
    assert dist.codes == [0, 1, 2] and dist.shares[1] > 0


def test_other_questions_offer_every_option():
    bank = load_question_bank()
    for q in bank.questions.values():
        if q.number not in range(122, 130):
            assert q.answer_options == q.options and q.unread_codes == (), q.id


def test_three_point_variant_of_q33_to_q41_is_agree_neither_disagree_on_codes_2_3_4():
    bank = load_question_bank()
    for n in range(33, 42):
        variant = bank.get(f"Q{n}").three_point_variant()
        assert variant.options == {2: "Agree", 3: "Neither agree nor disagree", 4: "Disagree"}
        assert variant.variant == "3-point" and variant.id == f"Q{n}" and variant.answer_codes == [2, 3, 4]
    assert bank.get("Q33").variant is None  # the bank itself is unchanged
    for qid in ("Q27", "Q1", "Q122", "Q158"):
        with pytest.raises(ConfigError, match="no 3-point variant"):
            bank.get(qid).three_point_variant()


def test_three_point_variant_scores_argentinas_q36_answers_on_three_points():
    bank = load_question_bank()
    table = bundled_distributions("ARG", [bank.get("Q36")])["Q36"]
    assert table.shares[0] == 0 and table.shares[4] == 0  # fielded on 3 points: codes 1 and 5 never occur
    variant = bank.get("Q36").three_point_variant()
    counts = np.rint(np.asarray(table.shares) * table.n_valid).astype(int)
    codes = [code for code, n in zip(table.codes, counts, strict=True) for _ in range(n)]
    dist = distribution_from_codes("ARG", variant, codes, "test")
    assert dist.codes == [2, 3, 4] and dist.n_valid == table.n_valid
    assert dist.shares == pytest.approx(table.shares[1:4], abs=1e-12)
    prompt = get_strategy("persona").messages(country_only_persona("ARG"), variant)[-1].content
    assert "2. Agree\n3. Neither agree nor disagree\n4. Disagree" in prompt and "(2, 3, 4)" in prompt
