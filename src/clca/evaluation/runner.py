"""Run a WVS evaluation of one model for one culture, resumably.

Output folder (names in `clca.layout.EvalFiles`):
- `manifest.json` — config, model identity, prompt template hashes, seed, human data source, question ids;
- `personas.jsonl` — the personas used (ids of real respondents when available), in evaluation order;
- `records.jsonl` — one `EvalRecord` per persona × question (prompt hash, raw output or option probabilities,
  prediction or invalid reason, the respondent's true answer);
- `evaluation.failures.jsonl` — items whose backend call failed after its retries (excluded from metrics; a rerun
  in the same folder asks for them again, and records here only those that fail again);
- `metrics.json` — `RunMetrics` (`clca.evaluation.scoring`);
- `survey.json` — the human distributions that were scored against.

Same seed ⇒ same personas (sampling depends only on seed and the respondent ids), so a LoRA-adapted model and
its baseline can be compared pairwise with `clca.evaluation.scoring.compare_runs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clca import __version__
from clca.asking import choose_option
from clca.errors import ConfigError, InputDataError
from clca.evaluation.config import EvalConfig, Mode
from clca.evaluation.human import HumanData, bundled_distributions, load_human_data
from clca.evaluation.personas import Persona, country_only_persona, persona_from_respondent
from clca.evaluation.questions import Question, load_question_bank
from clca.evaluation.schema import Answer, AnswerFailure, EvalRecord, EvalSummary, RunMetrics
from clca.evaluation.scoring import compute_run_metrics, record_key
from clca.evaluation.strategies import Strategy, get_strategy, parse_answer
from clca.evaluation.survey import sample_respondents
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.layout import EvalFiles
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest
from clca.records import Failure, Provenance, utc_now
from clca.resumable import Produced, StageOutput, run_groups

# ------------------------------------------------------------------------------------------- setup


def _select_personas(human: HumanData, config: EvalConfig, strategy: Strategy) -> tuple[list[Persona], dict]:
    """Personas in evaluation order plus the respondents' true answers by persona id."""
    if human.kind == "bundled-table":
        # No respondents: every persona would be the same country-only prompt, so one is evaluated.
        return [country_only_persona(human.country)], {}
    sampled = sample_respondents(human.respondents, config.personas, config.seed)
    personas = [persona_from_respondent(r) for r in sampled]
    if not strategy.uses_demographics or human.kind == "respondents-no-demographics":
        personas = [country_only_persona(p.country, p.id) for p in personas]
    truth = {r.id: r.answers for r in sampled}
    return personas, truth


def _split_questions(questions: list[Question], human: HumanData) -> tuple[list[Question], dict[str, str]]:
    scored, skipped = [], {}
    for q in questions:
        dist = human.distributions.get(q.id)
        if dist is None:
            skipped[q.id] = f"no survey data for {human.country}"
        elif dist.not_asked:
            skipped[q.id] = f"not asked in {human.country} (all answers code -4)"
        elif not dist.n_valid and dist.n_valid is not None:
            skipped[q.id] = f"no valid answers in {human.country}"
        else:
            scored.append(q)
    return scored, skipped


def _load_human(config: EvalConfig, questions: list[Question]) -> HumanData:
    if config.human_source == "bundled":
        if config.wvs_file is not None:
            raise ConfigError("wvs_file is set but human_source is 'bundled' — drop one of them")
        dists = bundled_distributions(config.culture, questions)
        if not dists:
            raise InputDataError(f"no bundled WVS data for {config.culture} — pass --wvs-file")
        return HumanData(country=config.culture, source="human_distributions.json", kind="bundled-table",
                         distributions=dists)
    return load_human_data(config.culture, questions, config.wvs_file)


def _manifest(config: EvalConfig, backend: Backend, strategy: Strategy, human: HumanData,
              questions: list[Question]) -> dict[str, Any]:
    manifest = {
        "kind": "clca-wvs-evaluation",
        "clca_version": __version__,
        "created_at": utc_now(),
        "config": config.model_dump(mode="json"),
        "model": backend.identity.model_dump(mode="json"),
        "prompts": [r.model_dump() for r in strategy.prompt_refs()],
        "seed": config.seed,
        "human_source": human.source,
        "human_kind": human.kind,
        "respondents_available": len(human.respondents),
        "questions": [q.id for q in questions],
        "question_bank_sha": stable_hash([q.model_dump(mode="json") for q in questions]),
    }
    manifest["fingerprint"] = stable_hash({k: manifest[k] for k in
                                           ("model", "prompts", "question_bank_sha", "human_source")}
                                          | {"config": config.fingerprint_fields()})
    return manifest


def _check_or_write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    path = out_dir / EvalFiles.MANIFEST
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("fingerprint") != manifest["fingerprint"]:
            raise ConfigError(
                f"{path}: this folder holds an evaluation with a different config, model or prompts — use a new "
                "--out folder (or delete this one to start over)"
            )
        manifest = dict(manifest, created_at=old.get("created_at", manifest["created_at"]))
    write_json_atomic(path, manifest)


# ------------------------------------------------------------------------------------------- answering


@dataclass
class _Prompt:
    """One distinct prompt and the personas whose item it answers (country-only personas share one prompt)."""

    hash: str
    messages: list[Message]
    question: Question
    personas: list[Persona] = field(default_factory=list)


def _pending_prompts(personas: list[Persona], questions: list[Question], strategy: Strategy,
                     done: set[str]) -> list[_Prompt]:
    by_hash: dict[str, _Prompt] = {}
    for persona in personas:
        for q in questions:
            if record_key(persona.id, q.id) in done:
                continue
            messages = strategy.messages(persona, q)
            prompt_hash = stable_hash([m.model_dump() for m in messages])
            by_hash.setdefault(prompt_hash, _Prompt(prompt_hash, messages, q)).personas.append(persona)
    return list(by_hash.values())


def _answer_prompts(backend: Backend, strategy: Strategy, mode: Mode,
                    prompts: list[_Prompt]) -> list[Answer | AnswerFailure]:
    """One backend call per distinct prompt."""
    if mode == "logprob":
        requests = [OptionScoringRequest(messages=p.messages, options=[str(c) for c in p.question.codes])
                    for p in prompts]
        out: list[Answer | AnswerFailure] = []
        for prompt, logprobs in zip(prompts, backend.score_options(requests), strict=True):
            codes = prompt.question.codes
            choice = choose_option(logprobs, len(codes))
            if isinstance(choice, str):
                out.append(AnswerFailure(failure=choice))
                continue
            out.append(Answer(
                option_logprobs={str(c): v for c, v in zip(codes, choice.logprobs, strict=True)},
                option_probs={str(c): p for c, p in zip(codes, choice.probs, strict=True)},
                prediction=int(codes[choice.index]),
            ))
        return out
    requests = [GenerationRequest(messages=p.messages, max_tokens=strategy.max_tokens, temperature=0.0)
                for p in prompts]
    out = []
    for prompt, result in zip(prompts, backend.generate(requests), strict=True):
        if not result.ok:
            out.append(AnswerFailure(failure=result.error or "backend returned no text"))
            continue
        prediction, reason = parse_answer(result.text, prompt.question.codes, reasoning=strategy.reasoning)
        out.append(Answer(raw_output=result.text, prediction=prediction, invalid_reason=reason))
    return out


@dataclass
class _Answerer:
    """Answers a group of distinct prompts and turns each answer into the records of the personas sharing it."""

    backend: Backend
    strategy: Strategy
    config: EvalConfig
    truth: dict[str, dict[str, int]]
    provenance: Provenance

    def answer(self, prompts: list[_Prompt]) -> Produced[EvalRecord]:
        produced: Produced[EvalRecord] = Produced()
        answers = _answer_prompts(self.backend, self.strategy, self.config.mode, prompts)
        for prompt, answer in zip(prompts, answers, strict=True):
            for persona in prompt.personas:
                key = record_key(persona.id, prompt.question.id)
                if isinstance(answer, AnswerFailure):
                    produced.failures.append(Failure(id=key, stage="evaluation", reason=answer.failure,
                                                     provenance=self.provenance))
                    continue
                true_code = self.truth.get(persona.id, {}).get(prompt.question.id)
                produced.records.append(EvalRecord(
                    id=key, persona_id=persona.id, question=prompt.question.id, country=self.config.culture,
                    strategy=self.strategy.name, mode=self.config.mode, country_only=persona.country_only,
                    prompt_hash=prompt.hash, truth=true_code if true_code is not None and true_code >= 0 else None,
                    **answer.model_dump(),
                ))
        return produced


def run_evaluation(backend: Backend, config: EvalConfig, out_dir: str | Path) -> EvalSummary:
    """Evaluate `backend` on WVS questions for `config.culture`; resumes from `out_dir` if it holds this run.

    Args:
        backend: the model under evaluation.
        config: culture, questions, personas, strategy, mode, seed and metric settings.
        out_dir: the evaluation folder (created; a rerun with the same config resumes).

    Returns:
        The headline of metrics.json.
    """
    out_dir = Path(out_dir)
    strategy = get_strategy(config.strategy)
    if config.mode == "logprob" and not strategy.supports_logprob:
        raise ConfigError(f"strategy {strategy.name!r} reasons before answering — use --mode generate with it")
    questions = load_question_bank().select(config.questions)
    human = _load_human(config, questions)
    scored, skipped = _split_questions(questions, human)
    personas, truth = _select_personas(human, config, strategy)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_manifest(out_dir, _manifest(config, backend, strategy, human, questions))
    JsonlStore(out_dir / EvalFiles.PERSONAS, Persona).write_all(personas)
    write_json_atomic(out_dir / EvalFiles.SURVEY,
                      {qid: d.model_dump(mode="json") for qid, d in human.distributions.items()})

    output = StageOutput(out_dir / EvalFiles.RECORDS, EvalRecord, failures_done=False,
                         failures_file=out_dir / EvalFiles.FAILURES)
    prompts = _pending_prompts(personas, scored, strategy, output.done())
    provenance = Provenance(model=backend.identity, prompts=strategy.prompt_refs(), seed=config.seed,
                            sampling={"mode": config.mode, "temperature": 0.0})
    answerer = _Answerer(backend, strategy, config, truth, provenance)
    run_groups(prompts, answerer.answer, output, group_size=config.chunk_size,
               description=f"WVS {config.culture} {strategy.name}/{config.mode}")

    metrics = compute_run_metrics(out_dir, bootstrap_resamples=config.bootstrap_resamples, seed=config.seed,
                                  epsilon=config.kl_epsilon)
    metrics.skipped_questions = skipped
    write_json_atomic(out_dir / EvalFiles.METRICS, metrics.model_dump(mode="json"))
    return summarise(metrics, out_dir)


def summarise(metrics: RunMetrics, out_dir: Path) -> EvalSummary:
    return EvalSummary(
        out_dir=str(out_dir), culture=metrics.culture, strategy=metrics.strategy, mode=metrics.mode,
        n_personas=metrics.n_personas, persona_mode=metrics.persona_mode,
        n_questions_scored=len(metrics.per_question), skipped_questions=metrics.skipped_questions,
        overall=metrics.overall, invalid_answers=metrics.invalid_answers, failures=metrics.failures,
    )
