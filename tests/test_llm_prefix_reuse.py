"""Local prefix reuse in `score_options`: prompts that share a persona prefix are grouped, the prefix's KV cache is
computed once, and all options of a prompt are scored side by side — with the same numbers as scoring each
prompt + option from scratch."""

from __future__ import annotations

import pytest
import torch

from clca.llm import Message, OptionScoringRequest
from clca.llm.prefix import PrefixGroup, common_prefix_len, group_by_prefix


def test_prompts_group_by_their_shared_prefix_and_personas_stay_apart():
    persona_a, persona_b = list(range(100, 140)), list(range(100, 110)) + list(range(500, 530))
    prompts = [persona_a + [1, 2], persona_b + [1, 2], persona_a + [3], list(range(7, 20)), persona_b + [4, 5, 6],
               persona_a + [1, 9]]
    groups, singles = group_by_prefix(prompts, min_prefix=8)
    # a and b share 10 tokens, under half of a's 40: two groups, not one of 10 shared tokens
    assert sorted(groups, key=lambda g: g.members) == [PrefixGroup((0, 5, 2), 40), PrefixGroup((1, 4), 40)]
    assert singles == [3]
    assert common_prefix_len(prompts[0], prompts[5]) == 41


def test_a_prompt_that_is_all_prefix_keeps_one_token_to_predict_from_and_short_prefixes_are_not_grouped():
    base = list(range(50))
    groups, singles = group_by_prefix([base, base + [1], base + [2]], min_prefix=8)
    assert groups == [PrefixGroup((0, 1, 2), 49)]
    assert group_by_prefix([[1, 2, 3, 4], [1, 2, 3, 5]], min_prefix=8) == ([], [0, 1])


def reference_scores(backend, request: OptionScoringRequest) -> list[float]:
    """The definition, from scratch: one forward pass over prompt + option per option, no cache, no batching."""
    prompt = backend.prompt_ids(request.messages)
    scores = []
    with torch.inference_mode():
        for option in request.options:
            continuation = backend.option_ids(option)
            ids = torch.tensor([prompt + continuation])
            logprobs = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), dim=-1)
            scores.append(sum(float(logprobs[len(prompt) - 1 + k, token]) for k, token in enumerate(continuation)))
    return scores


@pytest.mark.slow
def test_scores_equal_scoring_each_prompt_and_option_from_scratch(embedded_backend):
    personas = [
        "You are a 34-year-old teacher living in Germany. You are married, have two children and go to church "
        "once a month. You describe yourself as politically in the centre.",
        "You are a 71-year-old retired farmer living in Mexico. You are widowed, religion is very important to "
        "you and you live with your daughter's family in a small town.",
    ]
    questions = ["How important is family in your life? 1. Very 2. Rather 3. Not very 4. Not at all",
                 "How much do you trust your neighbours? Answer 1 to 4.",
                 "On a scale from 1 to 10, how satisfied are you with your life?"]
    options = [["1", "2", "3", "4"], ["1", "2", "3", "4"], [str(k) for k in range(1, 11)] + ["I don't know."]]
    requests = [OptionScoringRequest(messages=[Message(role="system", content=persona),
                                               Message(role="user", content=question)], options=opts)
                for persona in personas for question, opts in zip(questions, options, strict=True)]
    requests.append(OptionScoringRequest(messages=[Message(role="user", content="Capital of France?")],
                                         options=["Paris.", "London, England."]))
    groups, singles = group_by_prefix([embedded_backend.prompt_ids(r.messages) for r in requests])
    assert sorted(len(g.members) for g in groups) == [3, 3] and singles == [6]  # both paths are exercised
    scores = embedded_backend.score_options(requests)
    for request, got in zip(requests, scores, strict=True):
        assert got == pytest.approx(reference_scores(embedded_backend, request), abs=1e-4)
