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
from clca.asking import choose_option, derive_seed
from clca.errors import ConfigError, InputDataError
from clca.evaluation.battery import (
    Battery,
    battery_answers_from_logprobs,
    battery_max_tokens,
    battery_messages,
    battery_prompt_refs,
    battery_scoring_request,
    parse_battery,
    split_batteries,
)
from clca.evaluation.config import EvalConfig
from clca.evaluation.human import HumanData, bundled_distributions, load_human_data
from clca.evaluation.language import (
    ENGLISH,
    load_translation,
    native_prompt_refs,
    native_question_prompt,
    native_system_prompt,
    parse_native_answer,
    resolve_language,
)
from clca.evaluation.language import (
    SYSTEM_TEMPLATES as NATIVE_STRATEGIES,
)
from clca.evaluation.personas import Persona, country_only_persona, persona_from_respondent
from clca.evaluation.questions import Question, load_question_bank
from clca.evaluation.schema import Answer, AnswerFailure, EvalRecord, EvalSummary, PromptMessage, RunMetrics
from clca.evaluation.scoring import compute_run_metrics, record_key
from clca.evaluation.strategies import Strategy, get_strategy, parse_answer
from clca.evaluation.survey import distributions_from_respondents, fold_to_variant, sample_respondents, scale_variants
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.layout import EvalFiles
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest
from clca.outdir import claim_output_dir
from clca.records import Failure, PromptRef, Provenance, utc_now
from clca.resumable import Produced, StageOutput, run_groups

# ------------------------------------------------------------------------------------------- setup


def _select_personas(human: HumanData, config: EvalConfig, strategy: Strategy) -> tuple[list[Persona], dict]:
    """Personas in evaluation order plus the respondents' true answers by persona id."""
    if human.kind == "bundled-table":
        # No respondents: the country-only prompt answers as the whole country, so it gets a distribution — option
        # probabilities (one persona) or `country_samples` sampled answers (one "persona" per sample).
        n = 1 if config.mode == "logprob" else config.country_samples
        return [country_only_persona(human.country, "country" if n == 1 else f"country#s{i}") for i in range(n)], {}
    sampled = sample_respondents(human.respondents, config.personas, config.seed)
    personas = [persona_from_respondent(r).model_copy(update={"weight": r.weight}) for r in sampled]
    if not strategy.uses_demographics or human.kind == "respondents-no-demographics":
        personas = [country_only_persona(p.country, p.id).model_copy(update={"weight": p.weight}) for p in personas]
    truth = {r.id: r.answers for r in sampled}
    return personas, truth


def _split_questions(questions: list[Question], human: HumanData) -> tuple[list[Question], dict[str, str]]:
    """The questions to score (3-point variants where this country fielded them so) and the skipped ones."""
    scored, skipped = [], {}
    variants = scale_variants(questions, human.distributions)
    for q in questions:
        dist = human.distributions.get(q.id)
        if dist is None:
            skipped[q.id] = f"no survey data for {human.country}"
        elif dist.not_asked:
            skipped[q.id] = f"not asked in {human.country} (all answers code -4)"
        elif not dist.n_valid and dist.n_valid is not None:
            skipped[q.id] = f"no valid answers in {human.country}"
        elif q.id in variants:
            variant = q.three_point_variant()
            human.distributions[q.id] = fold_to_variant(dist, variant)
            scored.append(variant)
        else:
            scored.append(q)
    return scored, skipped


def _load_human(config: EvalConfig, questions: list[Question]) -> HumanData:
    if config.weights == "wvs" and config.human_source == "bundled":
        raise ConfigError("weights: wvs needs respondent data (--wvs-file); the bundled tables are unweighted")
    if config.human_source == "bundled":
        if config.wvs_file is not None:
            raise ConfigError("wvs_file is set but human_source is 'bundled' — drop one of them")
        dists = bundled_distributions(config.culture, questions)
        if not dists:
            raise InputDataError(f"no bundled WVS data for {config.culture} — pass --wvs-file")
        return HumanData(country=config.culture, source="human_distributions.json", kind="bundled-table",
                         distributions=dists)
    human = load_human_data(config.culture, questions, config.wvs_file)
    if config.weights == "wvs":
        if human.kind == "bundled-table":
            raise ConfigError("weights: wvs needs respondent data (--wvs-file); the bundled tables are unweighted")
        human.distributions = distributions_from_respondents(human.respondents, questions, config.culture,
                                                             human.source, weights="wvs")
    return human


def _manifest(config: EvalConfig, backend: Backend, wording: _Wording, human: HumanData,
              questions: list[Question], scored: list[Question], distribution: str) -> dict[str, Any]:
    manifest = {
        "kind": "clca-wvs-evaluation",
        "clca_version": __version__,
        "created_at": utc_now(),
        "config": config.model_dump(mode="json"),
        "model": backend.identity.model_dump(mode="json"),
        "prompts": [r.model_dump() for r in _prompt_refs(wording, config)],
        "language": wording.language,
        "battery_form": wording.battery_form or config.battery_form,
        "seed": config.seed,
        "human_source": human.source,
        "human_kind": human.kind,
        "respondents_available": len(human.respondents),
        "questions": [q.id for q in questions],
        "question_bank_sha": stable_hash([q.model_dump(mode="json") for q in questions]),
        "scale_variants": {q.id: q.variant for q in scored if q.variant},
        "distribution": distribution,
    }
    manifest["fingerprint"] = stable_hash({k: manifest[k] for k in
                                           ("model", "prompts", "question_bank_sha", "human_source",
                                            "scale_variants", "distribution", "language")}
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


class _Wording:
    """What a model reads and how its reply is read: the strategy's English templates, or a translation."""

    def __init__(self, strategy: Strategy, config: EvalConfig):
        self.strategy = strategy
        self.language = resolve_language(config.language, config.culture)
        self.translation = None if self.language == ENGLISH else \
            load_translation(self.language, allow_unreviewed=config.allow_unreviewed_translation)
        if self.translation is not None and strategy.name not in NATIVE_STRATEGIES:
            raise ConfigError(f"strategy {strategy.name!r} has no {self.language} prompts — use one of "
                              f"{', '.join(NATIVE_STRATEGIES)} with language {config.language!r}")

    @property
    def battery_form(self) -> str | None:
        """Native prompts ask list batteries item by item (the list templates are English only)."""
        return "per_item" if self.translation is not None else None

    def messages(self, persona: Persona, question: Question) -> list[Message]:
        if self.translation is None:
            return self.strategy.messages(persona, question)
        return [Message(role="system", content=native_system_prompt(persona, self.translation, self.strategy.name)),
                Message(role="user", content=native_question_prompt(question, self.translation,
                                                                    self.strategy.reasoning))]

    def parse(self, text: str, question: Question) -> tuple[int | None, str | None]:
        if self.translation is None:
            return parse_answer(text, question.answer_codes, reasoning=self.strategy.reasoning)
        return parse_native_answer(text, question, self.translation, reasoning=self.strategy.reasoning)

    def prompt_refs(self) -> list[PromptRef]:
        if self.translation is None:
            return self.strategy.prompt_refs()
        return native_prompt_refs(self.translation, self.strategy.name, self.strategy.reasoning)


def _message_id(message: Message) -> str:
    return stable_hash([message.role, message.content], length=64)


@dataclass
class _Prompt:
    """One distinct prompt: a question, or a battery asked as one list, and the personas whose items it answers.

    Greedy prompts are shared by every persona they are identical for (country-only personas); sampled prompts
    (`seed` set) belong to one persona each.
    """

    hash: str
    messages: list[Message]
    questions: list[Question]
    battery: Battery | None = None
    seed: int | None = None
    personas: list[Persona] = field(default_factory=list)


class _Asker:
    """Builds a persona's pending prompts and answers them; turns answers into records or failures."""

    def __init__(self, backend: Backend, wording: _Wording, config: EvalConfig, distribution: str,
                 truth: dict[str, dict[str, int]], provenance: Provenance, messages_file: Path):
        self.backend, self.wording, self.strategy, self.config = backend, wording, wording.strategy, config
        self.sampled = distribution == "samples"
        self.truth, self.provenance = truth, provenance
        self.messages = JsonlStore(messages_file, PromptMessage)
        self.stored_messages = self.messages.keys()

    def pending(self, personas: list[Persona], questions: list[Question], done: set[str]) -> list[_Prompt]:
        batteries, singles = split_batteries(questions, self.wording.battery_form or self.config.battery_form)
        selected = {q.id for q in questions}
        by_hash: dict[str, _Prompt] = {}
        for persona in personas:
            units = [(b.name, [q for q in b.items if q.id in selected], b) for b in batteries]
            units += [(q.id, [q], None) for q in singles]
            for unit_id, items, battery in units:
                if all(record_key(persona.id, q.id) in done for q in items):
                    continue
                messages = self._messages(persona, items[0], battery)
                seed = derive_seed(self.config.seed, persona.id, unit_id) if self.sampled else None
                key = stable_hash([[m.model_dump() for m in messages], seed])
                prompt = by_hash.setdefault(key, _Prompt(key, messages, items, battery, seed))
                prompt.personas.append(persona)
        return list(by_hash.values())

    def _messages(self, persona: Persona, question: Question, battery: Battery | None) -> list[Message]:
        """What the model reads: a list battery asks for the first choice in logprob mode, the whole set otherwise."""
        if battery is None:
            return self.wording.messages(persona, question)
        if self.config.mode == "logprob":
            return battery_scoring_request(persona, self.strategy, battery).messages
        return battery_messages(persona, self.strategy, battery)

    def _store_messages(self, prompts: list[_Prompt]) -> None:
        """Each distinct message once, before the records that point at it (so a record can always be read back)."""
        new = {}
        for prompt in prompts:
            for m in prompt.messages:
                if (mid := _message_id(m)) not in self.stored_messages:
                    new[mid] = PromptMessage(id=mid, role=m.role, content=m.content)
        self.messages.append(new.values())
        self.stored_messages |= set(new)

    def answer(self, prompts: list[_Prompt]) -> Produced[EvalRecord]:
        produced: Produced[EvalRecord] = Produced()
        self._store_messages(prompts)
        for prompt, answers in zip(prompts, self._ask(prompts), strict=True):
            message_hashes = [_message_id(m) for m in prompt.messages]
            for persona in prompt.personas:
                for q in prompt.questions:
                    key = record_key(persona.id, q.id)
                    if isinstance(answers, AnswerFailure):
                        produced.failures.append(Failure(id=key, stage="evaluation", reason=answers.failure,
                                                         provenance=self.provenance))
                        continue
                    true_code = self.truth.get(persona.id, {}).get(q.id)
                    produced.records.append(EvalRecord(
                        id=key, persona_id=persona.id, question=q.id, country=self.config.culture,
                        strategy=self.strategy.name, mode=self.config.mode, country_only=persona.country_only,
                        prompt_hash=prompt.hash, message_hashes=message_hashes,
                        truth=true_code if true_code in q.codes else None,
                        **answers[q.id].model_dump(),
                    ))
        return produced

    def _ask(self, prompts: list[_Prompt]) -> list[dict[str, Answer] | AnswerFailure]:
        if self.config.mode == "logprob":
            requests = [battery_scoring_request(p.personas[0], self.strategy, p.battery) if p.battery is not None
                        else OptionScoringRequest(messages=p.messages,
                                                  options=[str(c) for c in p.questions[0].answer_codes])
                        for p in prompts]
            return [self._scored(p, lp) for p, lp in zip(prompts, self.backend.score_options(requests), strict=True)]
        requests = [GenerationRequest(
            messages=p.messages, seed=p.seed,
            max_tokens=battery_max_tokens(self.strategy) if p.battery is not None else self.strategy.max_tokens,
            temperature=self.config.sample_temperature if self.sampled else 0.0) for p in prompts]
        return [self._generated(p, r) for p, r in zip(prompts, self.backend.generate(requests), strict=True)]

    @staticmethod
    def _scored(prompt: _Prompt, logprobs) -> dict[str, Answer] | AnswerFailure:
        n_options = len(prompt.battery.items) if prompt.battery is not None else len(prompt.questions[0].answer_codes)
        choice = choose_option(logprobs, n_options)
        if isinstance(choice, str):
            return AnswerFailure(failure=choice)
        if prompt.battery is not None:
            return {qid: Answer(option_probs=a["option_probs"], prediction=a["prediction"])
                    for qid, a in battery_answers_from_logprobs(choice.logprobs, prompt.battery).items()}
        q = prompt.questions[0]
        unread = {str(c): 0.0 for c in q.unread_codes}  # never offered, so never chosen
        return {q.id: Answer(
            option_logprobs={str(c): v for c, v in zip(q.answer_codes, choice.logprobs, strict=True)},
            option_probs={**{str(c): p for c, p in zip(q.answer_codes, choice.probs, strict=True)}, **unread},
            prediction=int(q.answer_codes[choice.index]))}

    def _generated(self, prompt: _Prompt, result) -> dict[str, Answer] | AnswerFailure:
        if not result.ok:
            return AnswerFailure(failure=result.error or "backend returned no text")
        if prompt.battery is not None:
            codes, reason = parse_battery(result.text, prompt.battery, reasoning=self.strategy.reasoning)
            return {q.id: Answer(raw_output=result.text, prediction=None if codes is None else codes[q.id],
                                 invalid_reason=reason) for q in prompt.questions}
        q = prompt.questions[0]
        prediction, reason = self.wording.parse(result.text, q)
        return {q.id: Answer(raw_output=result.text, prediction=prediction, invalid_reason=reason)}


def run_evaluation(backend: Backend, config: EvalConfig, out_dir: str | Path) -> EvalSummary:
    """Evaluate `backend` on WVS questions for `config.culture`; resumes from `out_dir` if it holds this run.

    Args:
        backend: the model under evaluation.
        config: culture, questions, personas, strategy, mode, seed and metric settings.
        out_dir: the evaluation folder (created; a rerun with the same config resumes).

    Returns:
        The headline of metrics.json.
    """
    out_dir = claim_output_dir(out_dir, "evaluation")
    strategy = get_strategy(config.strategy)
    if config.mode == "logprob" and not strategy.supports_logprob:
        raise ConfigError(f"strategy {strategy.name!r} reasons before answering — use --mode generate with it")
    wording = _Wording(strategy, config)
    questions = load_question_bank().select(config.questions)
    human = _load_human(config, questions)
    scored, skipped = _split_questions(questions, human)
    personas, truth = _select_personas(human, config, strategy)
    distribution = config.distribution(country_only=all(p.country_only for p in personas))
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_manifest(out_dir, _manifest(config, backend, wording, human, questions, scored, distribution))
    JsonlStore(out_dir / EvalFiles.PERSONAS, Persona).write_all(personas)
    write_json_atomic(out_dir / EvalFiles.SURVEY,
                      {qid: d.model_dump(mode="json") for qid, d in human.distributions.items()})

    output = StageOutput(out_dir / EvalFiles.RECORDS, EvalRecord, failures_done=False,
                         failures_file=out_dir / EvalFiles.FAILURES)
    provenance = Provenance(model=backend.identity, prompts=_prompt_refs(wording, config), seed=config.seed,
                            sampling={"mode": config.mode, "distribution": distribution,
                                      "temperature": config.sample_temperature if distribution == "samples" else 0.0})
    asker = _Asker(backend, wording, config, distribution, truth, provenance, out_dir / EvalFiles.MESSAGES)
    run_groups(asker.pending(personas, scored, output.done()), asker.answer, output, group_size=config.chunk_size,
               description=f"WVS {config.culture} {strategy.name}/{config.mode}")

    metrics = compute_run_metrics(out_dir, bootstrap_resamples=config.bootstrap_resamples, seed=config.seed,
                                  epsilon=config.kl_epsilon)
    metrics.skipped_questions = skipped
    write_json_atomic(out_dir / EvalFiles.METRICS, metrics.model_dump(mode="json"))
    return summarise(metrics, out_dir)


def _prompt_refs(wording: _Wording, config: EvalConfig) -> list[PromptRef]:
    refs = wording.prompt_refs()
    if (wording.battery_form or config.battery_form) == "list":
        refs += [r for r in battery_prompt_refs(wording.strategy, config.mode) if r not in refs]
    return refs


def summarise(metrics: RunMetrics, out_dir: Path) -> EvalSummary:
    return EvalSummary(
        out_dir=str(out_dir), culture=metrics.culture, strategy=metrics.strategy, mode=metrics.mode,
        n_personas=metrics.n_personas, persona_mode=metrics.persona_mode,
        n_questions_scored=len(metrics.per_question), skipped_questions=metrics.skipped_questions,
        overall=metrics.overall, invalid_answers=metrics.invalid_answers, failures=metrics.failures,
        distribution=metrics.distribution, resampling=metrics.resampling,
    )
