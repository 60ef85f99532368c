"""End-to-end WVS evaluation of the real embedded model on real DEU respondents (small sample), both modes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from clca.errors import ConfigError
from clca.evaluation.config import EvalConfig
from clca.evaluation.runner import run_evaluation
from clca.evaluation.schema import EvalRecord
from clca.evaluation.scoring import compare_runs
from clca.jsonl import JsonlStore

QUESTIONS = "Q7,Q33"  # binary, five-point (kept small: the embedded model runs on a 2-core CI machine)


@pytest.mark.slow
def test_logprob_then_generate_on_real_respondents_with_resume_and_compare(deu_microdata, embedded_backend, tmp_path):
    cfg = EvalConfig(culture="DEU", questions=QUESTIONS, personas=3, mode="logprob", seed=0, bootstrap_resamples=200,
                     wvs_file=deu_microdata)
    summary = run_evaluation(embedded_backend, cfg, tmp_path / "lp")
    assert summary.n_personas == 3 and summary.n_questions_scored == 2
    records = JsonlStore(tmp_path / "lp" / "records.jsonl", EvalRecord).read()
    assert len(records) == 6
    for r in records:
        assert sum(r.option_probs.values()) == pytest.approx(1.0)
        if r.question == "Q7":  # asked as the questionnaire's "choose up to five" list: no per-item log-probs
            assert r.option_logprobs is None and r.prediction in (1, 2)
        else:
            assert r.prediction == int(max(r.option_logprobs, key=r.option_logprobs.get))
        assert r.truth is None or r.truth > 0
    metrics = json.loads((tmp_path / "lp" / "metrics.json").read_text())
    assert metrics["reference_rows"]["survey"]["kl"] == 0.0
    assert "overall_mean_probability" in metrics
    lo, hi = metrics["overall"]["accuracy"]["ci95"]
    assert lo <= metrics["overall"]["accuracy"]["value"] <= hi
    manifest = json.loads((tmp_path / "lp" / "manifest.json").read_text())
    assert manifest["model"]["backend"] == "embedded" and manifest["prompts"][0]["sha256"]

    # Resume: drop the last 3 records (as if killed) and rerun — nothing duplicated, nothing lost.
    path = tmp_path / "lp" / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-3]) + lines[-3][:20])  # plus a torn tail
    run_evaluation(embedded_backend, cfg, tmp_path / "lp")
    again = JsonlStore(path, EvalRecord).read()
    assert sorted(r.id for r in again) == sorted(r.id for r in records)
    assert {r.id: r.prediction for r in again} == {r.id: r.prediction for r in records}

    # A changed config in the same folder is refused.
    with pytest.raises(ConfigError, match="different config"):
        run_evaluation(embedded_backend, cfg.model_copy(update={"personas": 4}), tmp_path / "lp")

    gen = run_evaluation(embedded_backend, cfg.model_copy(update={"mode": "generate"}), tmp_path / "gen")
    gen_records = JsonlStore(tmp_path / "gen" / "records.jsonl", EvalRecord).read()
    assert {r.persona_id for r in gen_records} == {r.persona_id for r in records}  # same people, same seed
    for r in gen_records:
        assert r.raw_output is not None
        assert (r.prediction is None) == (r.invalid_reason is not None)
    assert gen.invalid_answers == sum(r.prediction is None for r in gen_records)

    # Runs answered under different protocols (modes) are not compared; the same run against itself has no effect.
    with pytest.raises(ConfigError, match="answer mode"):
        compare_runs(tmp_path / "lp", tmp_path / "gen", bootstrap_resamples=200)
    comparison = compare_runs(tmp_path / "lp", tmp_path / "lp", bootstrap_resamples=200)
    assert comparison.n_personas == 3 and comparison.resampling.units
    assert comparison.metrics["kl"].a_minus_b == 0.0
    assert comparison.metrics["kl"].verdict == "not testable"  # 2 questions, 3 personas: no verdict either way
    assert "questions" in comparison.metrics["kl"].reason


@pytest.mark.slow
def test_country_only_mode_from_bundled_table_and_skipped_questions(embedded_backend, tmp_path):
    cfg = EvalConfig(culture="CHN", questions="Q122,Q125", mode="logprob", human_source="bundled",
                     strategy="cultural", bootstrap_resamples=0)
    summary = run_evaluation(embedded_backend, cfg, tmp_path / "chn")
    assert summary.skipped_questions == {"Q125": "not asked in CHN (all answers code -4)"}
    assert summary.n_questions_scored == 1 and summary.n_personas == 1
    assert "accuracy" not in summary.overall
    metrics = json.loads((tmp_path / "chn" / "metrics.json").read_text())
    assert "bundled table" in metrics["persona_mode"]
    # a country-only prompt stands for the country: its option probabilities are the distribution, not a one-hot
    assert summary.distribution == metrics["distribution"] == "probabilities"
    shares = metrics["per_question"]["Q122"]["model_distribution"]
    assert shares["1"] == 0.0  # "Hard to say" is never read out, so never offered
    assert sum(v > 0 for k, v in shares.items() if k != "invalid") == 2
    assert sum(shares.values()) == pytest.approx(1.0)
    assert metrics["resampling"] is None  # bootstrap_resamples=0: no intervals, and it says so


@pytest.mark.slow
def test_a_question_fielded_on_three_points_is_asked_and_scored_on_three_points(embedded_backend, tmp_path):
    cfg = EvalConfig(culture="USA", questions="Q33,Q36", mode="logprob", human_source="bundled",
                     bootstrap_resamples=0)
    run_evaluation(embedded_backend, cfg, tmp_path / "usa")
    metrics = json.loads((tmp_path / "usa" / "metrics.json").read_text())
    assert metrics["scale_variants"] == {"Q33": "3-point"}  # USA fielded Q33–Q35 on 3 points, Q36 on 5
    records = {r.question: r for r in JsonlStore(tmp_path / "usa" / "records.jsonl", EvalRecord).read()}
    assert set(records["Q33"].option_probs) == {"2", "3", "4"}
    assert set(records["Q36"].option_probs) == {"1", "2", "3", "4", "5"}
    assert list(metrics["per_question"]["Q33"]["survey_distribution"]) == ["2", "3", "4"]
    assert metrics["per_question"]["Q33"]["variant"] == "3-point"


def test_anthropological_refuses_logprob_and_cli_errors_are_one_line(tmp_path):
    from clca.cli.main import app

    result = CliRunner().invoke(app, ["evaluate", "--culture", "Atlantis", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "unknown country" in str(result.exception)
    with pytest.raises(ConfigError, match="mode generate"):
        run_evaluation(None, EvalConfig(strategy="anthropological", mode="logprob"), tmp_path / "y")  # type: ignore[arg-type]


def test_logprob_items_a_failing_server_gives_up_on_are_recorded_failures_and_a_rerun_retries_them(deu_microdata,
                                                                                                  tmp_path):
    """Through an OpenAI-compatible server that keeps failing some calls (no retries): every item is either a record
    with option probabilities or a failure with the server's reason — failed items never become answers; rerun
    in the same folder against a healthy server, the failed items (only they) are asked again and completed."""
    import zlib

    from clca.llm import load_backend
    from clca.llm.weights import embedded_model_dir
    from clca.records import Failure
    from clca.testing import FaultPlan, OpenAICompatServer
    from clca.testing.scripted import scripted_scorer

    cfg = EvalConfig(culture="DEU", questions=QUESTIONS, personas=6, mode="logprob", seed=0, bootstrap_resamples=0,
                     wvs_file=deu_microdata)
    # about one option call in eight fails, chosen by the prompt's content: the same ones on every run
    plan = FaultPlan(by_request=lambda body: "503" if zlib.crc32(body.get("prompt", "").encode()) % 8 == 0 else None)
    tokenizer = str(embedded_model_dir()[0])
    with OpenAICompatServer(scorer=scripted_scorer, faults=plan) as server:
        backend = load_backend(f"openai:scripted@{server.base_url}", cache=False, max_retries=0, tokenizer=tokenizer)
        summary = run_evaluation(backend, cfg, tmp_path / "ev")
        backend.close()
        records = JsonlStore(tmp_path / "ev" / "records.jsonl", EvalRecord).read()
        failures = JsonlStore(tmp_path / "ev" / "evaluation.failures.jsonl", Failure).read()
        ids = [r.id for r in records] + [f.id for f in failures]
        assert len(ids) == len(set(ids)) == 6 * 2
        assert failures and records and summary.failures == len(failures)
        assert all("1 attempts failed" in f.reason and "HTTP 503" in f.reason for f in failures)
        for r in records:
            assert sum(r.option_probs.values()) == pytest.approx(1.0)

        # the same server, healthy now (the server is part of the model's identity: another one would not resume)
        server.faults = None
        server.reset_stats()
        backend = load_backend(f"openai:scripted@{server.base_url}", cache=False, max_retries=0, tokenizer=tokenizer)
        again = run_evaluation(backend, cfg, tmp_path / "ev")
        backend.close()
        asked = {r.body["prompt"] for r in server.requests}
    completed = JsonlStore(tmp_path / "ev" / "records.jsonl", EvalRecord).read()
    assert again.failures == 0 and not JsonlStore(tmp_path / "ev" / "evaluation.failures.jsonl", Failure).read()
    assert sorted(r.id for r in completed) == sorted(ids)
    assert {r.id: r for r in completed if r.id in {x.id for x in records}} == {r.id: r for r in records}
    # only the failed items' option prompts were sent again (at most one per option: 11 for the Q7 list)
    assert len(asked) <= 11 * len(failures)


@pytest.mark.slow
def test_deu_and_jpn_evaluated_in_their_own_languages_on_the_embedded_model(embedded_backend, tmp_path):
    """Everything the model reads is in the culture's language (read back from messages.jsonl); every reply is
    read by that language's parser: an answer or a reason, never both."""
    from clca.evaluation.schema import PromptMessage

    for culture, language, item, foreign in (("DEU", "de", "Familie", "Family"), ("JPN", "ja", "家族", "Family")):
        cfg = EvalConfig(culture=culture, questions="Q1", mode="generate", language="native", country_samples=2,
                         bootstrap_resamples=0)
        summary = run_evaluation(embedded_backend, cfg, tmp_path / culture)
        assert summary.n_personas == 2 and summary.distribution == "samples"
        manifest = json.loads((tmp_path / culture / "manifest.json").read_text())
        assert manifest["language"] == language
        assert any(p["name"] == f"translation:{language}" for p in manifest["prompts"])
        messages = {m.id: m for m in JsonlStore(tmp_path / culture / "messages.jsonl", PromptMessage).read()}
        for r in JsonlStore(tmp_path / culture / "records.jsonl", EvalRecord).read():
            prompt = "\n".join(messages[h].content for h in r.message_hashes)
            assert item in prompt and foreign not in prompt
            assert (r.prediction is None) != (r.invalid_reason is None)
