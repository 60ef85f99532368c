"""Scoring an evaluation folder (metrics.json) and comparing two of them (compare.json), from the records alone.

Nothing here calls a model: `compute_run_metrics` and `compare_runs` read `records.jsonl`, `personas.jsonl`,
`survey.json` and the manifest, so metrics can be recomputed (other ε, more resamples) without re-asking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from clca.errors import ConfigError, InputDataError
from clca.evaluation import metrics as M
from clca.evaluation.personas import Persona
from clca.evaluation.protocols import score_protocols
from clca.evaluation.questions import load_question_bank
from clca.evaluation.schema import (
    Comparison,
    EvalRecord,
    MetricComparison,
    MetricSettings,
    MetricValue,
    QuestionMetrics,
    ReferenceRow,
    Resampling,
    RunMetrics,
)
from clca.evaluation.strategies import get_strategy
from clca.evaluation.survey import SurveyDistribution
from clca.jsonl import JsonlStore
from clca.layout import EvalFiles
from clca.records import Failure

_VERDICTS = {"A better beyond noise": "a better", "B better beyond noise": "b better",
             "no significant difference": "no significant difference"}


def record_key(persona_id: str, qid: str) -> str:
    return f"{persona_id}|{qid}"


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
    persona_weights: Any = None  # (N,) survey weights of the personas, None = every respondent counts once

    @property
    def epsilon(self) -> float:
        return float(self.manifest["config"].get("kl_epsilon", M.KL_EPSILON))

    @property
    def distribution(self) -> str:
        """How the model's answer distribution is formed: answers | samples | probabilities."""
        return self.manifest.get("distribution", "answers")

    @property
    def soft(self) -> bool:
        return self.distribution == "probabilities"


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / EvalFiles.MANIFEST
    if not path.is_file():
        raise InputDataError(f"{out_dir}: no {EvalFiles.MANIFEST} — not a clca evaluation folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}) — rerun the evaluation into a new folder") from None


def load_run(out_dir: str | Path) -> LoadedRun:
    """An evaluation folder's records as per-question answer matrices over the personas with complete answers."""
    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    survey = {qid: SurveyDistribution.model_validate(d)
              for qid, d in json.loads((out_dir / EvalFiles.SURVEY).read_text(encoding="utf-8")).items()}
    persona_records = JsonlStore(out_dir / EvalFiles.PERSONAS, Persona).read()
    personas = [p.id for p in persona_records]
    variants = manifest.get("scale_variants", {})
    records = JsonlStore(out_dir / EvalFiles.RECORDS, EvalRecord).read()
    failures = JsonlStore(out_dir / EvalFiles.FAILURES, Failure).read()
    bank = load_question_bank()
    qids = sorted({r.question for r in records}, key=lambda q: bank.get(q).number)
    by_key = {r.id: r for r in records}
    complete = [p for p in personas if all(record_key(p, q) in by_key for q in qids)]
    if not complete:
        raise InputDataError(f"{out_dir}: no persona has a complete set of answers ({len(failures)} backend "
                             "failures recorded) — fix the backend and rerun the evaluation to retry them")
    mode = manifest["config"]["mode"]
    questions = {}
    for qid in qids:
        q = bank.get(qid).three_point_variant() if qid in variants else bank.get(qid)
        index = {c: i for i, c in enumerate(q.codes)}
        rows = [by_key[record_key(p, qid)] for p in complete]
        choices = np.array([index[r.prediction] if r.prediction is not None else len(q.codes) for r in rows])
        truth_values = [r.truth for r in rows]
        truth = None if all(t is None for t in truth_values) else \
            np.array([index.get(t, -1) if t is not None else -1 for t in truth_values])
        probs = np.array([[r.option_probs.get(str(c), 0.0) for c in q.codes] for r in rows]) \
            if mode == "logprob" else None
        questions[qid] = M.QuestionAnswers(
            qid=qid, category=q.block, scale_type=q.scale_type, codes=q.codes,
            survey=np.asarray(survey[qid].shares, dtype=np.float64), choices=choices, truth=truth, probs=probs,
        )
    weight_of = {p.id: p.weight for p in persona_records}
    weighted = manifest["config"].get("weights", "none") == "wvs"
    return LoadedRun(
        manifest=manifest, personas=complete, excluded_personas=len(personas) - len(complete), questions=questions,
        survey=survey, invalid_answers=sum(r.prediction is None for r in records), failures=len(failures),
        mode=mode, persona_weights=np.array([weight_of[p] for p in complete]) if weighted else None,
    )


def _with_ci(point: dict[str, np.ndarray], samples: dict[str, np.ndarray] | None) -> dict[str, MetricValue]:
    return {
        metric: MetricValue(value=float(value[0]),
                            ci95=M.percentile_interval(samples[metric]) if samples and metric in samples else None)
        for metric, value in point.items()
    }


def _reference_rows(questions: list[M.QuestionAnswers], epsilon: float) -> dict[str, ReferenceRow]:
    """Uniform answers, the country's majority answer for everyone, and the survey itself (KL = 0)."""
    n = len(questions[0].choices)

    def overall(dists: list[np.ndarray], accuracy: float | None) -> ReferenceRow:
        pairs = list(zip(dists, questions, strict=True))
        return ReferenceRow(
            kl=float(np.mean([M.kl_divergence(d, np.append(q.survey, 0.0), epsilon) for d, q in pairs])),
            js=float(np.mean([M.js_distance(d, np.append(q.survey, 0.0)) for d, q in pairs])),
            emd=float(np.mean([M.emd_for_scale(d, q.survey, q.codes, q.scale_type)[0] for d, q in pairs])),
            invalid_rate=0.0, accuracy=accuracy)

    uniform_acc = None
    if M.per_persona_accuracy(questions) is not None:  # expected accuracy of a uniform answer: mean of 1/k
        known = np.stack([q.truth >= 0 for q in questions if q.truth is not None], axis=1)
        inv_k = np.array([1.0 / q.k for q in questions if q.truth is not None])
        has = known.sum(axis=1) > 0
        uniform_acc = float(np.mean((known @ inv_k)[has] / known.sum(axis=1)[has]))
    majority = [M.QuestionAnswers(qid=q.qid, category=q.category, scale_type=q.scale_type, codes=q.codes,
                                  survey=q.survey, choices=np.full(n, int(np.argmax(q.survey))), truth=q.truth)
                for q in questions]
    majority_acc = M.individual_accuracy(majority, np.ones(n))
    return {
        "uniform": overall([np.append(np.full(q.k, 1.0 / q.k), 0.0) for q in questions], uniform_acc),
        "majority": overall([np.append(np.eye(q.k)[int(np.argmax(q.survey))], 0.0) for q in questions],
                            None if majority_acc is None else float(majority_acc[0])),
        "survey": overall([np.append(q.survey, 0.0) for q in questions], None),
    }


def _persona_mode(manifest: dict[str, Any]) -> str:
    country_only = manifest["human_kind"] != "respondents" or \
        not get_strategy(manifest["config"]["strategy"]).uses_demographics
    return ("country-only prompt" if country_only else "respondent demographics") + (
        ", accuracy against the sampled real respondents" if manifest["human_kind"] != "bundled-table"
        else ", no respondents (bundled table): accuracy not available")


def _point_weights(run: LoadedRun) -> np.ndarray:
    return np.ones((1, len(run.personas))) if run.persona_weights is None else np.atleast_2d(run.persona_weights)


def _per_question(run: LoadedRun, point: M.Scores) -> dict[str, QuestionMetrics]:
    bank, variants = load_question_bank(), run.manifest.get("scale_variants", {})
    labels = {qid: (bank.get(qid).three_point_variant() if qid in variants else bank.get(qid)).options
              for qid in run.questions}
    out = {}
    for q in run.questions.values():
        dist = M.model_distribution(q, _point_weights(run), soft=run.soft)[0]
        survey = run.survey[q.qid]
        out[q.qid] = QuestionMetrics(
            **{m: float(v[0]) for m, v in point.per_question[q.qid].items()},
            category=q.category,
            model_distribution={**{str(c): float(x) for c, x in zip(q.codes, dist[:-1], strict=True)},
                                "invalid": float(dist[-1])},
            survey_distribution={str(c): float(x) for c, x in zip(q.codes, q.survey, strict=True)},
            option_labels={str(c): label for c, label in labels[q.qid].items()},
            survey_n_valid=survey.n_valid,
            survey_missing_shares={str(k): v for k, v in survey.missing_shares.items()},
            variant=run.manifest.get("scale_variants", {}).get(q.qid),
        )
    return out


_DISTRIBUTIONS = {
    "answers": "histogram of the personas' answers (argmax in logprob mode), invalid answers as own category",
    "samples": "histogram of answers sampled from the country-only prompt, invalid answers as own category",
    "probabilities": "mean option probabilities over personas (country-level protocol, Cao et al. 2025)",
}


def _resampling(boot: M.TwoWayWeights, method: str) -> Resampling:
    units = boot.units
    return Resampling(method=method, units=units.resampled, n_personas=units.n_personas,
                      n_questions=units.n_questions, resamples=units.n_resamples, seed=units.seed, scope=units.scope,
                      weights=units.weights)


def compute_run_metrics(out_dir: str | Path, bootstrap_resamples: int = 1000, seed: int = 0,
                        epsilon: float | None = None) -> RunMetrics:
    """Metrics of one evaluation folder with two-way bootstrap intervals, per question, category and overall.

    Args:
        out_dir: the evaluation folder.
        bootstrap_resamples: resamples for the 95% intervals (0 = none).
        seed: the bootstrap's seed.
        epsilon: KL smoothing; None = the run's own `kl_epsilon`.

    Returns:
        The typed content of metrics.json.
    """
    run = load_run(out_dir)
    epsilon = run.epsilon if epsilon is None else epsilon
    questions = list(run.questions.values())
    categories = {q.qid: q.category for q in questions}
    point = M.score_questions(questions, _point_weights(run), soft=run.soft, epsilon=epsilon)
    boot = M.two_way_bootstrap_weights(len(run.personas), len(questions), bootstrap_resamples, seed,
                                       run.persona_weights) if bootstrap_resamples > 0 else None
    samples = None if boot is None else M.score_two_way(questions, boot, soft=run.soft, epsilon=epsilon)
    soft = None
    if run.mode == "logprob" and not run.soft:  # the answers' histogram is primary; also show mean probabilities
        soft_point = M.aggregate(M.score_questions(questions, _point_weights(run), soft=True, epsilon=epsilon),
                                 categories)
        soft_samples = None if boot is None else M.score_two_way(questions, boot, soft=True, epsilon=epsilon)
        soft = _with_ci({k: v for k, v in soft_point.items() if k not in ("accuracy", "invalid_rate")}, soft_samples)
    config = run.manifest["config"]
    weighting = "WVS weights (W_WEIGHT)" if run.persona_weights is not None else "none (every respondent counts once)"
    return RunMetrics(
        culture=config["culture"], strategy=config["strategy"], mode=run.mode, model=run.manifest["model"],
        n_personas=len(run.personas), personas_excluded_for_failures=run.excluded_personas,
        persona_mode=_persona_mode(run.manifest), human_source=run.manifest["human_source"],
        distribution=run.distribution, model_distribution=_DISTRIBUTIONS[run.distribution],
        settings=MetricSettings(kl_epsilon=epsilon, weighting=weighting),
        resampling=None if boot is None else _resampling(boot, "two-way bootstrap, percentile interval"),
        overall=_with_ci(M.aggregate(point, categories), samples),
        overall_mean_probability=soft,
        by_category=M.aggregate_by_category(point, categories),
        protocols=score_protocols(questions, soft=run.soft, epsilon=epsilon, persona_weights=run.persona_weights),
        invalid_answers=run.invalid_answers, failures=run.failures,
        per_question=_per_question(run, point),
        reference_rows=_reference_rows(questions, epsilon),
        scale_variants=dict(run.manifest.get("scale_variants", {})),
    )


def _check_comparable(ma: dict[str, Any], mb: dict[str, Any], a_dir: Path, b_dir: Path) -> None:
    """Refuse, in one line, to compare runs whose numbers are not on the same footing (from their manifests)."""
    ca, cb = ma["config"], mb["config"]
    for key, what in (("culture", "culture"), ("questions", "questions"), ("mode", "answer mode (protocol)"),
                      ("kl_epsilon", "KL epsilon"), ("weights", "survey weighting")):
        if ca.get(key) != cb.get(key):
            raise ConfigError(f"{a_dir} and {b_dir} differ in {what}: {ca.get(key)!r} vs {cb.get(key)!r} — "
                              "compare evaluations made with the same settings")
    form_a, form_b = ma.get("battery_form", ca.get("battery_form")), mb.get("battery_form", cb.get("battery_form"))
    if form_a != form_b:  # e.g. a native-language run asks Q7-Q17 item by item
        raise ConfigError(f"{a_dir} and {b_dir} asked list questions differently ({form_a} vs {form_b}) — set "
                          "battery_form: per_item for both")
    da, db = ma.get("distribution", "answers"), mb.get("distribution", "answers")
    if da != db:
        raise ConfigError(f"{a_dir} and {b_dir} form the model's distribution differently ({da} vs {db}) — "
                          "compare evaluations made with the same protocol")
    if ma["human_source"] != mb["human_source"]:
        raise ConfigError(f"{a_dir} and {b_dir} were scored against different survey data — rerun with the same "
                          "--wvs-file")


def _check_same_personas(a: LoadedRun, b: LoadedRun, a_dir: Path, b_dir: Path) -> None:
    if set(a.personas) != set(b.personas):
        raise ConfigError(f"{a_dir} and {b_dir} used different personas — rerun both with the same --seed and "
                          "--personas so the paired comparison is valid")


def _aligned(a: LoadedRun, b: LoadedRun) -> tuple[list[M.QuestionAnswers], list[M.QuestionAnswers]]:
    """Both runs' questions with B's personas in A's order."""
    order_b = {p: i for i, p in enumerate(b.personas)}
    perm = np.array([order_b[p] for p in a.personas])
    common = [q for q in a.questions if q in b.questions]
    qb = [M.QuestionAnswers(qid=q.qid, category=q.category, scale_type=q.scale_type, codes=q.codes, survey=q.survey,
                            choices=q.choices[perm], truth=None if q.truth is None else q.truth[perm],
                            probs=None if q.probs is None else q.probs[perm])
          for q in (b.questions[qid] for qid in common)]
    return [a.questions[q] for q in common], qb


def compare_runs(a_dir: str | Path, b_dir: str | Path, bootstrap_resamples: int = 1000,
                 seed: int = 0) -> Comparison:
    """Paired two-way bootstrap of A − B: the same resampled personas and questions score both runs.

    Args:
        a_dir: evaluation folder of model A (e.g. CLCA).
        b_dir: evaluation folder of model B (e.g. the persona baseline).
        bootstrap_resamples: resamples of the paired bootstrap.
        seed: its seed.

    Returns:
        The typed content of compare.json: a verdict per metric, or "not testable" with the reason.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    _check_comparable(_read_manifest(a_dir), _read_manifest(b_dir), a_dir, b_dir)
    a, b = load_run(a_dir), load_run(b_dir)
    _check_same_personas(a, b, a_dir, b_dir)
    qa, qb = _aligned(a, b)
    categories = {q.qid: q.category for q in qa}
    epsilon = a.epsilon
    point_a = M.aggregate(M.score_questions(qa, _point_weights(a), soft=a.soft, epsilon=epsilon), categories)
    point_b = M.aggregate(M.score_questions(qb, _point_weights(a), soft=a.soft, epsilon=epsilon), categories)
    boot = M.two_way_bootstrap_weights(len(a.personas), len(qa), max(bootstrap_resamples, 1), seed, a.persona_weights)
    tests = M.compare_two_way(qa, qb, boot, soft=a.soft, epsilon=epsilon, persona_weights=a.persona_weights)
    comparison = {}
    for metric, test in tests.items():
        verdict = _VERDICTS.get(test.verdict, "not testable")
        comparison[metric] = MetricComparison(
            a=float(point_a[metric][0]), b=float(point_b[metric][0]),
            a_minus_b=float(point_a[metric][0] - point_b[metric][0]), ci95=test.ci,
            lower_is_better=M.LOWER_IS_BETTER[metric], verdict=verdict,
            reason=test.verdict.removeprefix("not testable: ") if verdict == "not testable" else
            f"generalises over {test.units.scope}", differing_questions=test.differing_questions)
    return Comparison(
        a=str(a_dir), b=str(b_dir), a_model=a.manifest["model"], b_model=b.manifest["model"],
        n_personas=len(a.personas), n_questions=len(qa), distribution=a.distribution, metrics=comparison,
        resampling=_resampling(boot, "paired two-way bootstrap, percentile interval"))
