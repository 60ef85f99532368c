"""Run a WVS evaluation of one model for one culture, resumably, and compare two runs.

Output folder:
- `manifest.json` — config, model identity, prompt template hashes, seed, human data source, question ids;
- `personas.jsonl` — the personas used (ids of real respondents when available), in evaluation order;
- `records.jsonl` — one `EvalRecord` per persona × question (prompt hash, raw output or option probabilities,
  prediction or invalid reason, the respondent's true answer);
- `evaluation.failures.jsonl` — items whose backend call failed after its retries (excluded from metrics; a rerun
  in the same folder asks for them again, and records here only those that fail again);
- `metrics.json` — metrics with 95% bootstrap CIs, per question/category/overall, reference rows;
- `survey.json` — the human distributions that were scored against.

Same seed ⇒ same personas (sampling depends only on seed and the respondent ids), so a LoRA-adapted model and
its baseline can be compared pairwise with `compare_runs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clca import __version__
from clca.config import StrictModel
from clca.errors import ConfigError, InputDataError
from clca.evaluation import metrics as M
from clca.evaluation.countries import normalise_country
from clca.evaluation.human import HumanData, bundled_distributions, load_human_data
from clca.evaluation.personas import Persona, country_only_persona, persona_from_respondent
from clca.evaluation.questions import Question, load_question_bank
from clca.evaluation.strategies import Strategy, get_strategy, parse_answer
from clca.evaluation.survey import SurveyDistribution, sample_respondents
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.llm.base import Backend, GenerationRequest, OptionScoringRequest, ScoringFailure
from clca.outdir import claim_output_dir
from clca.progress import progress_bar
from clca.records import Failure, Provenance, utc_now

Mode = Literal["generate", "logprob"]


class EvalConfig(StrictModel):
    culture: str = "DEU"
    questions: str | list[str] = Field("social-values", description="set name, category, ids (comma-separated)")
    personas: int = Field(1000, ge=1, description="respondents sampled without replacement")
    strategy: str = "persona"
    mode: Mode = Field("generate", description="generate: greedy answer parsed; logprob: exact option probs")
    seed: int = 0
    wvs_file: Path | None = Field(None, description="official WVS wave 7 CSV (cross-national or per-country)")
    human_source: Literal["auto", "bundled"] = Field("auto", description="bundled = ignore respondent files")
    kl_epsilon: float = Field(M.KL_EPSILON, gt=0, lt=0.1)
    bootstrap_resamples: int = Field(1000, ge=0)
    chunk_size: int = Field(64, ge=1, description="distinct prompts per checkpoint")

    @field_validator("culture")
    @classmethod
    def _country(cls, value: str) -> str:
        return normalise_country(value)

    def fingerprint_fields(self) -> dict[str, Any]:
        """What must match for a resumed run to reuse existing records."""
        return self.model_dump(mode="json", exclude={"bootstrap_resamples", "chunk_size"})


class EvalRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str  # "<persona_id>|<question_id>"
    persona_id: str
    question: str
    country: str
    strategy: str
    mode: Mode
    country_only: bool
    prompt_hash: str
    raw_output: str | None = None
    option_logprobs: dict[str, float] | None = None
    option_probs: dict[str, float] | None = None
    prediction: int | None = None  # None = invalid answer
    invalid_reason: str | None = None
    truth: int | None = None  # the respondent's own valid answer, when known


class MetricValue(BaseModel):
    value: float
    ci95: tuple[float, float] | None = None


class EvalSummary(BaseModel):
    """What `run_evaluation` returns (also the headline of metrics.json)."""

    out_dir: str
    culture: str
    strategy: str
    mode: Mode
    n_personas: int
    persona_mode: str
    n_questions_scored: int
    skipped_questions: dict[str, str]
    overall: dict[str, MetricValue]
    invalid_answers: int
    failures: int


def _record_key(persona_id: str, qid: str) -> str:
    return f"{persona_id}|{qid}"


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


def _check_or_write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    path = out_dir / "manifest.json"
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


def _answer_prompts(backend: Backend, strategy: Strategy, mode: Mode, prompts: list[tuple[list, Question]],
                    advance) -> list[dict[str, Any]]:
    """One backend call per distinct prompt; returns per prompt the answer fields of EvalRecord or a failure."""
    if mode == "logprob":
        requests = [OptionScoringRequest(messages=m, options=[str(c) for c in q.codes]) for m, q in prompts]
        scored = backend.score_options(requests, progress=advance)
        out = []
        for (_, q), logprobs in zip(prompts, scored, strict=True):
            if isinstance(logprobs, ScoringFailure):
                out.append({"failure": logprobs.error})
                continue
            values = np.asarray(logprobs, dtype=np.float64)
            if not np.all(np.isfinite(values)):
                out.append({"failure": f"non-finite option log-probabilities {logprobs}"})
                continue
            probs = np.exp(values - values.max())
            probs /= probs.sum()
            out.append({
                "option_logprobs": {str(c): float(v) for c, v in zip(q.codes, values, strict=True)},
                "option_probs": {str(c): float(p) for c, p in zip(q.codes, probs, strict=True)},
                "prediction": int(q.codes[int(np.argmax(values))]),
            })
        return out
    requests = [GenerationRequest(messages=m, max_tokens=strategy.max_tokens, temperature=0.0) for m, _ in prompts]
    results = backend.generate(requests, progress=advance)
    out = []
    for (_, q), result in zip(prompts, results, strict=True):
        if not result.ok:
            out.append({"failure": result.error or "backend returned no text"})
            continue
        prediction, reason = parse_answer(result.text, q.codes, reasoning=strategy.reasoning)
        out.append({"raw_output": result.text, "prediction": prediction, "invalid_reason": reason})
    return out


def run_evaluation(backend: Backend, config: EvalConfig, out_dir: str | Path) -> EvalSummary:
    """Evaluate `backend` on WVS questions for `config.culture`; resumes from `out_dir` if it holds this run."""
    out_dir = claim_output_dir(out_dir, "evaluation")
    strategy = get_strategy(config.strategy)
    if config.mode == "logprob" and not strategy.supports_logprob:
        raise ConfigError(f"strategy {strategy.name!r} reasons before answering — use --mode generate with it")
    questions = load_question_bank().select(config.questions)
    human = _load_human(config, questions)
    scored, skipped = _split_questions(questions, human)
    personas, truth = _select_personas(human, config, strategy)

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
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_manifest(out_dir, manifest)
    JsonlStore(out_dir / "personas.jsonl", Persona).write_all(personas)
    write_json_atomic(out_dir / "survey.json",
                      {qid: d.model_dump(mode="json") for qid, d in human.distributions.items()})

    records = JsonlStore(out_dir / "records.jsonl", EvalRecord)
    failures = JsonlStore(out_dir / "evaluation.failures.jsonl", Failure)
    done = records.keys()
    if failures.exists():  # failed items are pending again (a server that was down may be up): retry them
        failures.write_all([])

    # Group pending items by prompt: identical prompts (country-only personas) need one greedy call.
    by_prompt: dict[str, dict[str, Any]] = {}
    for persona in personas:
        for q in scored:
            key = _record_key(persona.id, q.id)
            if key in done:
                continue
            messages = strategy.messages(persona, q)
            prompt_hash = stable_hash([m.model_dump() for m in messages])
            group = by_prompt.setdefault(prompt_hash, {"messages": messages, "question": q, "items": []})
            group["items"].append(persona)
    groups = list(by_prompt.items())
    provenance = Provenance(model=backend.identity, prompts=strategy.prompt_refs(), seed=config.seed,
                            sampling={"mode": config.mode, "temperature": 0.0})
    with progress_bar(len(groups), f"WVS {config.culture} {strategy.name}/{config.mode}") as advance:
        for start in range(0, len(groups), config.chunk_size):
            chunk = groups[start:start + config.chunk_size]
            answers = _answer_prompts(backend, strategy, config.mode,
                                      [(g["messages"], g["question"]) for _, g in chunk], advance)
            new_records, new_failures = [], []
            for (prompt_hash, group), answer in zip(chunk, answers, strict=True):
                q: Question = group["question"]
                for persona in group["items"]:
                    key = _record_key(persona.id, q.id)
                    if "failure" in answer:
                        new_failures.append(Failure(id=key, stage="evaluation", reason=answer["failure"],
                                                    provenance=provenance))
                        continue
                    true_code = truth.get(persona.id, {}).get(q.id)
                    new_records.append(EvalRecord(
                        id=key, persona_id=persona.id, question=q.id, country=config.culture,
                        strategy=strategy.name, mode=config.mode, country_only=persona.country_only,
                        prompt_hash=prompt_hash, truth=true_code if true_code is not None and true_code >= 0
                        else None, **answer,
                    ))
            records.append(new_records)
            failures.append(new_failures)

    result = compute_run_metrics(out_dir, bootstrap_resamples=config.bootstrap_resamples, seed=config.seed,
                                 epsilon=config.kl_epsilon)
    result["skipped_questions"] = skipped
    write_json_atomic(out_dir / "metrics.json", result)
    return EvalSummary(
        out_dir=str(out_dir), culture=config.culture, strategy=strategy.name, mode=config.mode,
        n_personas=result["n_personas"], persona_mode=result["persona_mode"],
        n_questions_scored=len(result["per_question"]), skipped_questions=skipped,
        overall={k: MetricValue(**v) for k, v in result["overall"].items()},
        invalid_answers=result["invalid_answers"], failures=result["failures"],
    )


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


# ------------------------------------------------------------------------------------------- metrics


class LoadedRun(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    manifest: dict[str, Any]
    personas: list[str]  # persona ids with a complete, failure-free set of records
    excluded_personas: int
    questions: dict[str, M.QuestionAnswers]
    survey: dict[str, SurveyDistribution]
    invalid_answers: int
    failures: int
    mode: str


def load_run(out_dir: str | Path) -> LoadedRun:
    out_dir = Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise InputDataError(f"{out_dir}: no manifest.json — not a clca evaluation folder")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    survey = {qid: SurveyDistribution.model_validate(d)
              for qid, d in json.loads((out_dir / "survey.json").read_text(encoding="utf-8")).items()}
    personas = [p.id for p in JsonlStore(out_dir / "personas.jsonl", Persona).iter()]
    records = JsonlStore(out_dir / "records.jsonl", EvalRecord).read()
    failures = JsonlStore(out_dir / "evaluation.failures.jsonl", Failure).read()
    bank = load_question_bank()
    qids = sorted({r.question for r in records}, key=lambda q: bank.get(q).number)
    by_key = {r.id: r for r in records}
    complete = [p for p in personas if all(_record_key(p, q) in by_key for q in qids)]
    if not complete:
        raise InputDataError(f"{out_dir}: no persona has a complete set of answers — rerun the evaluation")
    mode = manifest["config"]["mode"]
    questions = {}
    for qid in qids:
        q = bank.get(qid)
        index = {c: i for i, c in enumerate(q.codes)}
        rows = [by_key[_record_key(p, qid)] for p in complete]
        choices = np.array([index[r.prediction] if r.prediction is not None else len(q.codes) for r in rows])
        truth_values = [r.truth for r in rows]
        truth = None if all(t is None for t in truth_values) else \
            np.array([index.get(t, -1) if t is not None else -1 for t in truth_values])
        probs = np.array([[r.option_probs[str(c)] for c in q.codes] for r in rows]) if mode == "logprob" else None
        questions[qid] = M.QuestionAnswers(
            qid=qid, category=q.category, scale_type=q.scale_type, codes=q.codes,
            survey=np.asarray(survey[qid].shares, dtype=np.float64), choices=choices, truth=truth, probs=probs,
        )
    return LoadedRun(
        manifest=manifest, personas=complete, excluded_personas=len(personas) - len(complete), questions=questions,
        survey=survey, invalid_answers=sum(r.prediction is None for r in records), failures=len(failures),
        mode=mode,
    )


def _with_ci(point: dict[str, np.ndarray], samples: dict[str, np.ndarray] | None) -> dict[str, dict]:
    out = {}
    for metric, value in point.items():
        entry: dict[str, Any] = {"value": float(value[0]), "ci95": None}
        if samples is not None and metric in samples:
            entry["ci95"] = M.percentile_interval(samples[metric])
        out[metric] = entry
    return out


def _reference_rows(questions: list[M.QuestionAnswers], epsilon: float) -> dict[str, dict[str, float | None]]:
    """Uniform answers, the country's majority answer for everyone, and the survey itself (KL = 0)."""
    rows: dict[str, dict[str, float | None]] = {}
    n = len(questions[0].choices)

    def overall(dists: list[np.ndarray], accuracy: float | None) -> dict[str, float | None]:
        kl = [M.kl_divergence(d, np.append(q.survey, 0.0), epsilon) for d, q in zip(dists, questions, strict=True)]
        js = [M.js_distance(d, np.append(q.survey, 0.0)) for d, q in zip(dists, questions, strict=True)]
        emd = [float(M.emd_for_scale(d, q.survey, q.codes, q.scale_type)[0])
               for d, q in zip(dists, questions, strict=True)]
        return {"kl": float(np.mean(kl)), "js": float(np.mean(js)), "emd": float(np.mean(emd)),
                "invalid_rate": 0.0, "accuracy": accuracy}

    uniform = [np.append(np.full(q.k, 1.0 / q.k), 0.0) for q in questions]
    per_persona = M.per_persona_accuracy(questions)
    uniform_acc = None
    if per_persona is not None:  # expected accuracy of a uniform random answer: mean of 1/k over known truths
        known = np.stack([q.truth >= 0 for q in questions if q.truth is not None], axis=1)
        inv_k = np.array([1.0 / q.k for q in questions if q.truth is not None])
        has = known.sum(axis=1) > 0
        uniform_acc = float(np.mean((known @ inv_k)[has] / known.sum(axis=1)[has]))
    rows["uniform"] = overall(uniform, uniform_acc)

    majority_questions = []
    for q in questions:
        mode_index = int(np.argmax(q.survey))
        majority_questions.append(M.QuestionAnswers(
            qid=q.qid, category=q.category, scale_type=q.scale_type, codes=q.codes, survey=q.survey,
            choices=np.full(n, mode_index), truth=q.truth))
    majority_acc = M.individual_accuracy(majority_questions, np.ones(n))
    rows["majority"] = overall([np.append(np.eye(q.k)[int(np.argmax(q.survey))], 0.0) for q in questions],
                               None if majority_acc is None else float(majority_acc[0]))
    rows["survey"] = overall([np.append(q.survey, 0.0) for q in questions], None)
    return rows


def compute_run_metrics(out_dir: str | Path, bootstrap_resamples: int = 1000, seed: int = 0,
                        epsilon: float = M.KL_EPSILON) -> dict[str, Any]:
    run = load_run(out_dir)
    questions = list(run.questions.values())
    categories = {q.qid: q.category for q in questions}
    n = len(run.personas)
    point = M.score_questions(questions, np.ones((1, n)), epsilon=epsilon)
    samples = None
    if bootstrap_resamples > 0 and n > 1:
        weights = M.bootstrap_weights(n, bootstrap_resamples, seed)
        samples = M.aggregate(M.score_questions(questions, weights, epsilon=epsilon), categories)
    country_only = run.manifest["human_kind"] != "respondents" or \
        not get_strategy(run.manifest["config"]["strategy"]).uses_demographics
    result: dict[str, Any] = {
        "culture": run.manifest["config"]["culture"],
        "strategy": run.manifest["config"]["strategy"],
        "mode": run.mode,
        "model": run.manifest["model"],
        "n_personas": n,
        "personas_excluded_for_failures": run.excluded_personas,
        "persona_mode": ("country-only prompt" if country_only else "respondent demographics")
        + (", accuracy against the sampled real respondents" if run.manifest["human_kind"] != "bundled-table"
           else ", no respondents (bundled table): accuracy not available"),
        "human_source": run.manifest["human_source"],
        "model_distribution": "histogram of predictions (argmax in logprob mode), invalid answers as own category",
        "settings": {"kl_epsilon": epsilon, "kl_log_base": "e (nats)", "js_log_base": 2,
                     "emd": "W1 on codes rescaled to [0,1]; nominal: total variation",
                     "bootstrap_resamples": bootstrap_resamples, "bootstrap_seed": seed, "ci_level": 0.95},
        "overall": _with_ci(M.aggregate(point, categories), samples),
        "by_category": M.aggregate_by_category(point, categories),
        "invalid_answers": run.invalid_answers,
        "failures": run.failures,
    }
    if run.mode == "logprob":
        soft_point = M.score_questions(questions, np.ones((1, n)), soft=True, epsilon=epsilon)
        soft_samples = None
        if samples is not None:
            soft_samples = M.aggregate(M.score_questions(questions, weights, soft=True, epsilon=epsilon), categories)
        soft = M.aggregate(soft_point, categories)
        soft.pop("accuracy", None)
        result["overall_mean_probability"] = _with_ci({k: v for k, v in soft.items() if k != "invalid_rate"},
                                                      soft_samples)
    per_question = {}
    for q in questions:
        dist = M.model_distribution(q, np.ones(n))[0]
        survey = run.survey[q.qid]
        per_question[q.qid] = {
            **{m: float(v[0]) for m, v in point.per_question[q.qid].items()},
            "category": q.category,
            "model_distribution": {**{str(c): float(x) for c, x in zip(q.codes, dist[:-1], strict=True)},
                                   "invalid": float(dist[-1])},
            "survey_distribution": {str(c): float(x) for c, x in zip(q.codes, q.survey, strict=True)},
            "survey_n_valid": survey.n_valid,
            "survey_missing_shares": {str(k): v for k, v in survey.missing_shares.items()},
        }
    result["per_question"] = per_question
    result["reference_rows"] = _reference_rows(questions, epsilon)
    return result


# ------------------------------------------------------------------------------------------- comparison


def compare_runs(a_dir: str | Path, b_dir: str | Path, bootstrap_resamples: int = 1000, seed: int = 0,
                 epsilon: float = M.KL_EPSILON) -> dict[str, Any]:
    """Paired bootstrap of A − B over the personas both runs answered (same people, same questions)."""
    a, b = load_run(a_dir), load_run(b_dir)
    for key in ("culture", "questions"):
        if a.manifest["config"][key] != b.manifest["config"][key]:
            raise ConfigError(f"runs differ in {key}: {a.manifest['config'][key]!r} vs {b.manifest['config'][key]!r}"
                              " — compare evaluations of the same culture and questions")
    if a.manifest["human_source"] != b.manifest["human_source"]:
        raise ConfigError("runs were scored against different survey data — rerun with the same --wvs-file")
    if set(a.personas) != set(b.personas):
        raise ConfigError(f"{a_dir} and {b_dir} used different personas — rerun both with the same --seed and "
                          "--personas so the paired comparison is valid")
    common_q = [q for q in a.questions if q in b.questions]
    order_b = {p: i for i, p in enumerate(b.personas)}
    perm = np.array([order_b[p] for p in a.personas])

    def reorder(q: M.QuestionAnswers) -> M.QuestionAnswers:
        return M.QuestionAnswers(qid=q.qid, category=q.category, scale_type=q.scale_type, codes=q.codes,
                                 survey=q.survey, choices=q.choices[perm],
                                 truth=None if q.truth is None else q.truth[perm],
                                 probs=None if q.probs is None else q.probs[perm])

    qa = [a.questions[q] for q in common_q]
    qb = [reorder(b.questions[q]) for q in common_q]
    categories = {q.qid: q.category for q in qa}
    n = len(a.personas)
    point_a = M.aggregate(M.score_questions(qa, np.ones((1, n)), epsilon=epsilon), categories)
    point_b = M.aggregate(M.score_questions(qb, np.ones((1, n)), epsilon=epsilon), categories)
    weights = M.bootstrap_weights(n, max(bootstrap_resamples, 1), seed)
    samples_a = M.aggregate(M.score_questions(qa, weights, epsilon=epsilon), categories)
    samples_b = M.aggregate(M.score_questions(qb, weights, epsilon=epsilon), categories)
    comparison = {}
    for metric in point_a:
        if metric not in point_b:
            continue
        verdict, ci = M.paired_verdict(samples_a[metric] - samples_b[metric], metric)
        comparison[metric] = {"a": float(point_a[metric][0]), "b": float(point_b[metric][0]),
                              "a_minus_b": float(point_a[metric][0] - point_b[metric][0]),
                              "ci95": ci, "lower_is_better": M.LOWER_IS_BETTER[metric], "verdict": verdict}
    return {"a": str(a_dir), "b": str(b_dir), "a_model": a.manifest["model"], "b_model": b.manifest["model"],
            "n_personas": n, "n_questions": len(common_q), "bootstrap_resamples": bootstrap_resamples,
            "seed": seed, "metrics": comparison}

