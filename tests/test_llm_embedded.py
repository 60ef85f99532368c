"""The embedded backend (real SmolLM2-135M-Instruct): generation, seeded sampling, stop strings, option scoring
checked against a plain forward pass, batching invariance, LoRA adapters."""

from __future__ import annotations

import pytest
import torch

from clca.errors import BackendError
from clca.llm import GenerationRequest, Message, OptionScoringRequest, load_backend

pytestmark = pytest.mark.slow

CAPITAL = [Message(role="user", content="What is the capital of France?")]
NUMBER = [Message(role="user", content="On a scale from 1 to 10, how important is family in your life?")]


def manual_option_logprob(backend, messages, option: str) -> float:
    """Reference: one plain forward pass over prompt + option + end-of-turn, summing the option tokens' log-probs."""
    prompt = backend.tokenizer(backend.prompt_text(messages), add_special_tokens=False).input_ids
    continuation = backend.tokenizer(option, add_special_tokens=False).input_ids + backend.end_of_turn_ids()
    with torch.no_grad():
        logits = backend.model(torch.tensor([prompt + continuation])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(logprobs[len(prompt) - 1 + k, tok].item() for k, tok in enumerate(continuation))


def test_greedy_generation_returns_real_text(embedded_backend):
    [result] = embedded_backend.generate([GenerationRequest(messages=CAPITAL, max_tokens=24)])
    assert result.ok and result.finish_reason in {"stop", "length"}
    assert "Paris" in result.text
    assert result.prompt_tokens > 10 and 0 < result.completion_tokens <= 24
    assert result.latency_s > 0
    again = embedded_backend.generate([GenerationRequest(messages=CAPITAL, max_tokens=24)])[0]
    assert again.text == result.text


def test_length_and_stop_strings(embedded_backend):
    long_request = GenerationRequest(messages=[Message(role="user", content="Write a long story about a cat.")],
                                     max_tokens=5)
    [cut] = embedded_backend.generate([long_request])
    assert cut.finish_reason == "length" and cut.completion_tokens == 5
    [free] = embedded_backend.generate([long_request.model_copy(update={"max_tokens": 12})])
    word = free.text.split()[2]  # a word that really occurs in the continuation
    [stopped] = embedded_backend.generate([long_request.model_copy(update={"max_tokens": 12, "stop": [word]})])
    assert stopped.finish_reason == "stop"
    assert word not in stopped.text and free.text.startswith(stopped.text)


def test_seeded_sampling_is_reproducible_across_batch_compositions(embedded_backend):
    sampled = GenerationRequest(messages=[Message(role="user", content="Tell me a fun fact.")],
                                max_tokens=12, temperature=1.0, seed=1234)
    alone = embedded_backend.generate([sampled])[0].text
    other = GenerationRequest(messages=CAPITAL + [Message(role="assistant", content="Paris."),
                                                  Message(role="user", content="And of Italy?")], max_tokens=8)
    in_batch = embedded_backend.generate([other, sampled, other.model_copy(update={"seed": 9})])[1].text
    assert alone == in_batch
    other_seeds = embedded_backend.generate([sampled.model_copy(update={"seed": s}) for s in (1, 2, 3)])
    assert len({r.text for r in other_seeds} | {alone}) > 1  # sampling really samples


def test_score_options_equals_manual_forward_pass(embedded_backend):
    options = ["Paris", "London", "The capital of France is Paris."]
    [scores] = embedded_backend.score_options([OptionScoringRequest(messages=CAPITAL, options=options)])
    for option, score in zip(options, scores, strict=True):
        assert score == pytest.approx(manual_option_logprob(embedded_backend, CAPITAL, option), abs=1e-3)
    assert scores[2] > scores[1]  # the model prefers the right answer to a wrong one


def test_multi_token_option_is_summed_over_all_tokens(embedded_backend):
    tokens = embedded_backend.tokenizer(" 10", add_special_tokens=False).input_ids
    assert len(tokens) >= 2  # " 10" is several tokens in this tokenizer: the test is meaningful
    [[one, ten]] = embedded_backend.score_options([OptionScoringRequest(messages=NUMBER, options=[" 1", " 10"])])
    assert ten == pytest.approx(manual_option_logprob(embedded_backend, NUMBER, " 10"), abs=1e-3)
    assert one == pytest.approx(manual_option_logprob(embedded_backend, NUMBER, " 1"), abs=1e-3)


def test_batched_and_unbatched_scores_agree(embedded_backend):
    requests = [
        OptionScoringRequest(messages=CAPITAL, options=["Paris", "Rome", " 10"]),
        OptionScoringRequest(messages=NUMBER, options=[" 1", " 5", " 10", "Very important."]),
        OptionScoringRequest(messages=[Message(role="system", content="Answer yes or no."),
                                       Message(role="user", content="Is water wet?")], options=["Yes", "No"]),
    ]
    batched = embedded_backend.score_options(requests)
    one_by_one = [embedded_backend.score_options([r])[0] for r in requests]
    for b, u in zip(batched, one_by_one, strict=True):
        assert b == pytest.approx(u, abs=1e-4)


def test_adapter_is_loaded_and_changes_the_model(embedded_backend, tmp_path):
    import copy

    from peft import LoraConfig, get_peft_model

    base = copy.deepcopy(embedded_backend.model)  # get_peft_model edits the model in place: not the shared one
    torch.manual_seed(0)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    adapted = load_backend(f"embedded+adapter={tmp_path / 'adapter'}", cache=False)
    try:
        assert adapted.identity.adapter == str((tmp_path / "adapter").resolve())
        assert adapted.identity.adapter_sha256
        assert adapted.identity.weights_sha256 == embedded_backend.identity.weights_sha256
        request = [OptionScoringRequest(messages=CAPITAL, options=["Paris", "London"])]
        assert adapted.score_options(request)[0] != pytest.approx(embedded_backend.score_options(request)[0], abs=1e-3)
    finally:
        adapted.close()


def test_not_an_adapter_directory_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError, match="not a LoRA adapter directory"):
        load_backend(f"embedded+adapter={tmp_path}", cache=False)


def test_prompt_longer_than_context_is_a_recorded_failure(embedded_backend):
    huge = [Message(role="user", content="word " * (embedded_backend.max_context + 10))]
    results = embedded_backend.generate([GenerationRequest(messages=huge, max_tokens=2),
                                         GenerationRequest(messages=CAPITAL, max_tokens=2)])
    assert not results[0].ok and "context" in results[0].error
    assert results[1].ok


def test_hf_backend_loads_a_local_model_directory(embedded_backend):
    from clca.llm.weights import cached_file_sha256

    model_dir = embedded_backend.model_dir
    backend = load_backend(f"hf:{model_dir}", cache=False, dtype="float32", device="cpu")
    try:
        assert backend.identity.backend == "hf" and backend.identity.model == str(model_dir)
        assert backend.identity.weights_sha256 == cached_file_sha256(model_dir / "model.safetensors")
        request = [OptionScoringRequest(messages=CAPITAL, options=["Paris", "London"])]
        assert backend.score_options(request)[0] == pytest.approx(embedded_backend.score_options(request)[0],
                                                                  abs=1e-4)
    finally:
        backend.close()


def test_unavailable_device_and_missing_model_are_backend_errors(tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA is not available"):
            load_backend("hf:whatever", cache=False, device="cuda")
    with pytest.raises(BackendError, match="cannot load model"):
        load_backend(f"hf:{tmp_path / 'no-such-model'}", cache=False, device="cpu")
