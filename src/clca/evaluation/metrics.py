"""Culture- and individual-level metrics of WVS evaluation, with bootstrap confidence intervals. Pure functions.

Conventions (state them when reporting numbers):

- A model's answer distribution for a question has one slot per valid option (in code order) plus a final
  **invalid** slot (answers that are not a valid option). The survey distribution has 0 mass on invalid.
- **KL(model ‖ survey)** in nats (natural log, like `scipy.stats.entropy(p, q)`), after additive smoothing of
  *both* distributions over all k+1 slots: p' = (p + ε) / (1 + (k+1)·ε), same for q, with ε = `KL_EPSILON` = 1e-4
  (configurable). Without smoothing, any invalid answer (or an option no respondent chose) makes KL infinite;
  with it, moving a share s of otherwise unchanged answers to invalid adds about s·ln(s/ε) + (1−s)·ln(1−s)
  (the invalid slot's term, minus what the valid slots lose by shrinking to 1−s): 0.596 for s = 0.1 with
  ε = 1e-4, 0.037 for s = 0.01. Invalid answers are penalised heavily but finitely.
  The survey scored against itself gives exactly 0. Per-question KLs are averaged over questions (the paper's
  "KL avg"). We never apply log_softmax to probabilities (the released paper code's bug).
- **Jensen–Shannon distance**: sqrt of the JS divergence with base-2 logs, in [0, 1] — identical to
  `scipy.spatial.distance.jensenshannon(p, q, base=2)`; computed over the k+1 slots, no smoothing needed.
- **Earth Mover's distance** (1-Wasserstein) on the valid options only: codes are placed at positions
  (code − min)/(max − min) ∈ [0, 1] (equally spaced codes give Σ|CDF_p − CDF_q| / (k − 1)), identical to
  `scipy.stats.wasserstein_distance(pos, pos, p, q)`. The model's valid mass is renormalised (the invalid share
  is reported separately); a question answered only invalidly gets EMD = 1 (the maximum). For binary questions
  this equals |p₁ − q₁| (total variation); for nominal questions we use total variation ½·Σ|p − q|, because
  their codes have no order.
- **Accuracy** (individual level): exact match of the model's answer with the respondent's own answer, averaged
  over the questions that respondent answered validly (missing answers, negative codes, leave the denominator;
  the paper's release keeps them, see `protocols.paper_accuracy`), then over personas. An invalid answer is wrong.
- **Model distribution**: the histogram of the personas' answers, or with `soft=True` the mean of per-persona soft
  distributions (option probabilities in logprob mode; shares of N sampled answers incl. an invalid share).
- **Weighting**: unweighted by default (every persona counts once, as in the paper). Persona weights (e.g. WVS
  `W_WEIGHT`, `survey.respondent_weights(..., "wvs")`) may be passed wherever a weight row is taken.
- **Bootstrap**: `bootstrap_weights` resamples personas only (kept for one-level use); the default for reporting
  is `two_way_bootstrap_weights`, which resamples personas *and* questions (seeded, independent draws; survey
  weights multiply persona multiplicities), so a one-persona run still gets an honest, question-level interval.
  Percentile 95% intervals; `paired_test` refuses a verdict from degenerate evidence (see its constants).
- Other papers' formulas (the CLCA release, Cao et al. 2025, WorldValuesBench) live in `clca.evaluation.protocols`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

KL_EPSILON = 1e-4
METRIC_NAMES = ("kl", "js", "emd", "invalid_rate", "accuracy")
LOWER_IS_BETTER = {"kl": True, "js": True, "emd": True, "invalid_rate": True, "accuracy": False}


# --------------------------------------------------------------------------- distribution distances


def smooth(p: np.ndarray, epsilon: float) -> np.ndarray:
    """Additive smoothing along the last axis: (p + ε) / (Σp + n·ε)."""
    p = np.asarray(p, dtype=np.float64)
    return (p + epsilon) / (p.sum(axis=-1, keepdims=True) + p.shape[-1] * epsilon)


def kl_divergence(p: np.ndarray, q: np.ndarray, epsilon: float = KL_EPSILON) -> np.ndarray | float:
    """KL(p ‖ q) in nats after smoothing both with `epsilon` (see module doc). Batched over leading axes of p."""
    ps, qs = smooth(p, epsilon), smooth(q, epsilon)
    value = np.sum(ps * (np.log(ps) - np.log(qs)), axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray | float:
    """Jensen–Shannon distance, base 2 (= scipy.spatial.distance.jensenshannon(p, q, base=2))."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2

    def _kl2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / b), 0.0)
        return terms.sum(axis=-1)

    divergence = np.clip((_kl2(p, m) + _kl2(q, m)) / 2, 0.0, None)
    value = np.sqrt(divergence)
    return float(value) if np.ndim(value) == 0 else value


def code_positions(codes: Sequence[int]) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    span = codes.max() - codes.min()
    return (codes - codes.min()) / span if span > 0 else np.zeros_like(codes)


def emd_ordinal(p: np.ndarray, q: np.ndarray, codes: Sequence[int]) -> np.ndarray | float:
    """1-Wasserstein distance between distributions over `codes` placed on [0, 1] (see module doc)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    gaps = np.diff(code_positions(codes))
    cdf_gap = np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1))[..., :-1]
    value = np.sum(cdf_gap * gaps, axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray | float:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    value = 0.5 * np.abs(p / p.sum(axis=-1, keepdims=True) - q / q.sum(axis=-1, keepdims=True)).sum(axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def emd_for_scale(model_with_invalid: np.ndarray, survey_valid: np.ndarray, codes: Sequence[int],
                  scale_type: str) -> np.ndarray:
    """EMD of the model's valid answers vs the survey; 1.0 where the model gave no valid answer at all."""
    model = np.atleast_2d(np.asarray(model_with_invalid, dtype=np.float64))
    valid = model[:, :-1]
    has_valid = valid.sum(axis=1) > 0
    # rows without valid answers get a dummy value here; their score is set below
    safe = np.where(has_valid[:, None], valid, 1.0)
    if scale_type == "nominal":
        distance = total_variation(safe, survey_valid)
    else:
        distance = emd_ordinal(safe, survey_valid, codes)
    return np.where(has_valid, np.atleast_1d(distance), 1.0)


# --------------------------------------------------------------------------- answers → scores


@dataclass
class QuestionAnswers:
    """Everything needed to score one question over N personas.

    `choices[i]` is the index of persona i's answer among `codes`, or `len(codes)` for invalid.
    `probs` (optional) is a per-persona *soft* distribution: N × k option probabilities (logprob mode), or
    N × (k+1) shares whose last column is the invalid share (generate mode with several samples per persona,
    see `shares_from_samples`). Rows sum to 1.
    `truth[i]` is the index of the respondent's own valid answer, or -1 when unknown/missing.
    """

    qid: str
    category: str
    scale_type: str
    codes: list[int]
    survey: np.ndarray  # shares over codes, sums to 1
    choices: np.ndarray
    truth: np.ndarray | None = None
    probs: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.codes)


@dataclass
class Scores:
    """Metric values for a batch of persona weightings (B rows; B = 1 for the point estimate)."""

    per_question: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # qid -> metric -> (B,)
    accuracy: np.ndarray | None = None  # (B,) or None when no respondent truth is known


def model_distribution(q: QuestionAnswers, weights: np.ndarray, soft: bool = False) -> np.ndarray:
    """(B × (k+1)) answer distributions: weighted histogram of choices, or weighted mean of probs (`soft`)."""
    weights = np.atleast_2d(weights).astype(np.float64)
    if soft:
        dist = weights @ soft_distribution(q)
    else:
        onehot = np.zeros((len(q.choices), q.k + 1))
        onehot[np.arange(len(q.choices)), q.choices] = 1.0
        dist = weights @ onehot
    return dist / weights.sum(axis=1, keepdims=True)


def soft_distribution(q: QuestionAnswers) -> np.ndarray:
    """(N × (k+1)) per-persona soft distributions of `q.probs`, with the invalid slot (0 in logprob mode).

    Raises:
        ValueError: no probabilities, wrong width, negative or non-finite values, or rows not summing to 1.
    """
    if q.probs is None:
        raise ValueError(f"{q.qid}: a soft distribution needs option probabilities or sampled-answer shares")
    probs = np.asarray(q.probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] not in (q.k, q.k + 1) or probs.shape[0] != len(q.choices):
        raise ValueError(f"{q.qid}: probs must be N × {q.k} or N × {q.k + 1}, got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"{q.qid}: probs rows must be non-negative and sum to 1")
    if probs.shape[1] == q.k:
        probs = np.concatenate([probs, np.zeros((probs.shape[0], 1))], axis=1)
    return probs


def shares_from_samples(samples: Sequence[Sequence[int]], k: int) -> np.ndarray:
    """(N × (k+1)) shares of each persona's sampled answers; index `k` (= len(codes)) marks an invalid answer.

    Args:
        samples: per persona, the option indices of its N sampled answers (generate mode, temperature > 0).
        k: number of valid options.

    Returns:
        Rows summing to 1, last column = share of invalid samples; use as `QuestionAnswers.probs`.
    """
    out = np.zeros((len(samples), k + 1))
    for i, drawn in enumerate(samples):
        drawn = np.asarray(drawn, dtype=np.int64)
        if drawn.size == 0 or np.any(drawn < 0) or np.any(drawn > k):
            raise ValueError(f"persona {i}: samples must be a non-empty list of indices in 0..{k}")
        out[i] = np.bincount(drawn, minlength=k + 1) / drawn.size
    return out


def score_questions(questions: Sequence[QuestionAnswers], weights: np.ndarray, soft: bool = False,
                    epsilon: float = KL_EPSILON) -> Scores:
    """All metrics for each weighting row of `weights` (B × N persona multiplicities)."""
    weights = np.atleast_2d(weights).astype(np.float64)
    scores = Scores()
    for q in questions:
        model = model_distribution(q, weights, soft=soft)
        survey = np.append(q.survey, 0.0)
        scores.per_question[q.qid] = {
            "kl": np.atleast_1d(kl_divergence(model, survey, epsilon)),
            "js": np.atleast_1d(js_distance(model, survey)),
            "emd": emd_for_scale(model, q.survey, q.codes, q.scale_type),
            "invalid_rate": model[:, -1],
        }
    scores.accuracy = individual_accuracy(questions, weights)
    return scores


def per_persona_accuracy(questions: Sequence[QuestionAnswers]) -> tuple[np.ndarray, np.ndarray] | None:
    """(accuracy per persona, whether the persona has any valid truth); None without respondent answers."""
    with_truth = [q for q in questions if q.truth is not None]
    if not with_truth:
        return None
    correct = np.stack([(q.choices == q.truth) & (q.truth >= 0) for q in with_truth], axis=1)
    known = np.stack([q.truth >= 0 for q in with_truth], axis=1)
    n_known = known.sum(axis=1)
    accuracy = np.divide(correct.sum(axis=1), n_known, out=np.zeros(len(n_known)), where=n_known > 0)
    return accuracy, n_known > 0


def individual_accuracy(questions: Sequence[QuestionAnswers], weights: np.ndarray) -> np.ndarray | None:
    per_persona = per_persona_accuracy(questions)
    if per_persona is None:
        return None
    accuracy, has_truth = per_persona
    w = np.atleast_2d(weights) * has_truth
    return (w @ accuracy) / np.maximum(w.sum(axis=1), 1e-12)


def aggregate(scores: Scores, categories: dict[str, str]) -> dict[str, np.ndarray]:
    """Overall means over questions (and accuracy) → metric -> (B,)."""
    out: dict[str, np.ndarray] = {}
    for metric in ("kl", "js", "emd", "invalid_rate"):
        out[metric] = np.mean([v[metric] for v in scores.per_question.values()], axis=0)
    if scores.accuracy is not None:
        out["accuracy"] = scores.accuracy
    return out


def aggregate_by_category(scores: Scores, categories: dict[str, str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for category in sorted(set(categories.values())):
        qids = [qid for qid in scores.per_question if categories[qid] == category]
        out[category] = {
            metric: float(np.mean([scores.per_question[qid][metric][0] for qid in qids]))
            for metric in ("kl", "js", "emd", "invalid_rate")
        }
        out[category]["n_questions"] = len(qids)
    return out


# --------------------------------------------------------------------------- bootstrap


def bootstrap_weights(n_personas: int, n_resamples: int, seed: int) -> np.ndarray:
    """(B × N) multiplicities of each persona in B resamples with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_personas, size=(n_resamples, n_personas))
    weights = np.zeros((n_resamples, n_personas))
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)
    return weights


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_verdict(diff_samples: np.ndarray, metric: str, level: float = 0.95) -> tuple[str, tuple[float, float]]:
    """Verdict for diff = A − B: who is better beyond bootstrap noise (CI excluding 0), else no difference."""
    low, high = percentile_interval(diff_samples, level)
    lower_better = LOWER_IS_BETTER[metric]
    if high < 0:
        return ("A better beyond noise" if lower_better else "B better beyond noise"), (low, high)
    if low > 0:
        return ("B better beyond noise" if lower_better else "A better beyond noise"), (low, high)
    return "no significant difference", (low, high)


# --------------------------------------------------------------------------- two-way (personas x questions) bootstrap

# A paired test needs at least this many questions: a percentile bootstrap over fewer clusters is too discrete.
MIN_QUESTIONS_FOR_TEST = 10
# Below this many personas the persona dimension carries (almost) no information, so a verdict generalises over
# questions only (a question-level test); with one persona it is exactly that.
MIN_PERSONAS_FOR_PERSONA_LEVEL = 10
# With k questions that differ, all in one direction, the exact two-sided sign test gives p = 2·0.5^k: below 6
# differing questions no test can reach 5%, however the bootstrap interval looks.
MIN_DIFFERING_QUESTIONS = 6


@dataclass(frozen=True)
class ResamplingUnits:
    """What a bootstrap resampled and how many units there were (state it next to every interval)."""

    resampled: str  # "personas x questions" | "personas"
    n_personas: int
    n_questions: int
    n_resamples: int
    seed: int
    weights: str = "none"  # survey weights multiplied into persona multiplicities: "none" | "wvs"

    @property
    def scope(self) -> str:
        """What a verdict generalises over: people and questions, or questions only (few personas)."""
        if self.n_personas >= MIN_PERSONAS_FOR_PERSONA_LEVEL:
            return "personas and questions"
        return f"questions only ({self.n_personas} persona{'s' if self.n_personas != 1 else ''})"

    def as_dict(self) -> dict[str, object]:
        return {"resampled": self.resampled, "n_personas": self.n_personas, "n_questions": self.n_questions,
                "n_resamples": self.n_resamples, "seed": self.seed, "weights": self.weights, "scope": self.scope}


@dataclass
class TwoWayWeights:
    """B resamples of personas and questions drawn independently (the same draws serve runs A and B)."""

    persona: np.ndarray  # (B × N) persona multiplicities, times survey weights when weighted
    question: np.ndarray  # (B × Q) question multiplicities
    units: ResamplingUnits


def two_way_bootstrap_weights(n_personas: int, n_questions: int, n_resamples: int, seed: int,
                              persona_weights: np.ndarray | None = None) -> TwoWayWeights:
    """Personas × questions bootstrap: each resample draws N personas and Q questions with replacement.

    Args:
        n_personas: N, the personas both runs answered (1 for a country-only run).
        n_questions: Q, the questions scored.
        n_resamples: B.
        seed: seeds both draws (persona and question streams are independent children of it).
        persona_weights: optional (N,) survey weights (e.g. WVS `W_WEIGHT`); they multiply the multiplicities.
            None (the default, as in the paper) weights every respondent equally.

    Returns:
        TwoWayWeights with (B × N) persona and (B × Q) question multiplicities and the resampling units.
    """
    if n_personas < 1 or n_questions < 1 or n_resamples < 1:
        raise ValueError(f"bootstrap needs ≥ 1 persona, question and resample (got {n_personas}, "
                         f"{n_questions}, {n_resamples})")
    persona_rng, question_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    persona = _multiplicities(persona_rng, n_personas, n_resamples)
    if persona_weights is not None:
        persona_weights = np.asarray(persona_weights, dtype=np.float64)
        if persona_weights.shape != (n_personas,) or not np.all(np.isfinite(persona_weights)) \
                or np.any(persona_weights < 0) or persona_weights.sum() <= 0:
            raise ValueError("persona_weights must be N finite, non-negative weights with a positive sum")
        persona = persona * persona_weights
    question = _multiplicities(question_rng, n_questions, n_resamples)
    units = ResamplingUnits("personas x questions", n_personas, n_questions, n_resamples, seed,
                            "none" if persona_weights is None else "survey weights")
    return TwoWayWeights(persona=persona, question=question, units=units)


def _multiplicities(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    draws = rng.integers(0, n, size=(n_resamples, n))
    counts = np.zeros((n_resamples, n))
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def _question_weighted_mean(per_question: Sequence[np.ndarray], question_weights: np.ndarray) -> np.ndarray:
    values = np.stack(per_question, axis=1)  # (B × Q)
    return (values * question_weights).sum(axis=1) / question_weights.sum(axis=1)


def two_way_accuracy(questions: Sequence[QuestionAnswers], persona_weights: np.ndarray,
                     question_weights: np.ndarray) -> np.ndarray | None:
    """(B,) accuracy: per persona, question-weighted share correct among its valid truths; persona-weighted mean.

    A persona none of whose resampled questions has a valid truth drops out of that resample (as in
    `per_persona_accuracy`). None when no respondent answers are known.
    """
    if all(q.truth is None for q in questions):
        return None
    n = len(questions[0].choices)
    correct = np.zeros((n, len(questions)))
    known = np.zeros((n, len(questions)))
    for j, q in enumerate(questions):
        if q.truth is not None:
            known[:, j] = q.truth >= 0
            correct[:, j] = (q.choices == q.truth) & (q.truth >= 0)
    question_weights = np.atleast_2d(question_weights)
    numerator, denominator = correct @ question_weights.T, known @ question_weights.T  # (N × B)
    per_persona = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    w = np.atleast_2d(persona_weights) * (denominator.T > 0)
    return (w * per_persona.T).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)


def score_two_way(questions: Sequence[QuestionAnswers], boot: TwoWayWeights, soft: bool = False,
                  epsilon: float = KL_EPSILON) -> dict[str, np.ndarray]:
    """Metric -> (B,) resample values under the two-way bootstrap `boot` (same keys as `aggregate`).

    Distribution metrics are computed per question from the persona-resampled answers, then averaged with the
    question multiplicities; the survey distributions stay fixed (they come from the whole national sample).
    """
    scores = score_questions(questions, boot.persona, soft=soft, epsilon=epsilon)
    out = {metric: _question_weighted_mean([scores.per_question[q.qid][metric] for q in questions], boot.question)
           for metric in ("kl", "js", "emd", "invalid_rate")}
    accuracy = two_way_accuracy(questions, boot.persona, boot.question)
    if accuracy is not None:
        out["accuracy"] = accuracy
    return out


def per_question_values(questions: Sequence[QuestionAnswers], persona_weights: np.ndarray | None = None,
                        soft: bool = False, epsilon: float = KL_EPSILON) -> dict[str, np.ndarray]:
    """Metric -> (Q,) point values per question (accuracy: weighted share correct among valid truths, NaN if none).

    Used to count the questions on which two runs differ (see `paired_test`).
    """
    n = len(questions[0].choices)
    w = np.ones((1, n)) if persona_weights is None else np.atleast_2d(persona_weights).astype(np.float64)
    scores = score_questions(questions, w, soft=soft, epsilon=epsilon)
    out = {m: np.array([scores.per_question[q.qid][m][0] for q in questions])
           for m in ("kl", "js", "emd", "invalid_rate")}
    if any(q.truth is not None for q in questions):
        accuracy = []
        for q in questions:
            known = (q.truth >= 0) if q.truth is not None else np.zeros(n, dtype=bool)
            total = float((w[0] * known).sum())
            accuracy.append(float((w[0] * known * (q.choices == q.truth)).sum()) / total if total > 0 else np.nan)
        out["accuracy"] = np.array(accuracy)
    return out


@dataclass
class PairedTest:
    """Outcome of a paired A − B comparison on one metric."""

    metric: str
    verdict: str  # "A|B better beyond noise" | "no significant difference" | "not testable: …"
    ci: tuple[float, float] | None
    testable: bool
    units: ResamplingUnits
    differing_questions: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "ci95": self.ci, "testable": self.testable, "scope": self.units.scope,
                "differing_questions": self.differing_questions, "resampling": self.units.as_dict()}


def paired_test(diff_samples: np.ndarray, metric: str, units: ResamplingUnits,
                per_question_diff: np.ndarray | None = None, level: float = 0.95) -> PairedTest:
    """Verdict for A − B that refuses to decide from degenerate evidence.

    Not testable when: fewer than `MIN_QUESTIONS_FOR_TEST` questions; non-finite resamples; a zero-width interval
    (every resample gives the same difference, e.g. one persona and no question resampling) unless at least
    `MIN_DIFFERING_QUESTIONS` questions differ, all by the same amount (a sign test then decides); or, when
    `per_question_diff` is given, fewer than `MIN_DIFFERING_QUESTIONS` questions on which A and B differ at all.
    Otherwise the verdict of `paired_verdict` (95% percentile interval excluding 0). With fewer than
    `MIN_PERSONAS_FOR_PERSONA_LEVEL` personas the verdict is a question-level one (`units.scope` says so).

    Args:
        diff_samples: (B,) bootstrap values of metric(A) − metric(B), same resamples for A and B.
        metric: a key of `LOWER_IS_BETTER`.
        units: what was resampled (from `two_way_bootstrap_weights(...).units`).
        per_question_diff: optional (Q,) point differences per question (NaN = no information).
        level: interval level.

    Returns:
        PairedTest with verdict, interval (None when not computable) and whether it was testable.
    """
    diff_samples = np.asarray(diff_samples, dtype=np.float64)

    def refuse(why: str, ci: tuple[float, float] | None = None, differing: int | None = None) -> PairedTest:
        return PairedTest(metric, f"not testable: {why}", ci, False, units, differing)

    if units.n_questions < MIN_QUESTIONS_FOR_TEST:
        return refuse(f"{units.n_questions} questions, fewer than the {MIN_QUESTIONS_FOR_TEST} needed to resample "
                      "questions")
    if diff_samples.size == 0 or not np.all(np.isfinite(diff_samples)):
        return refuse("the bootstrap gave no finite resamples")
    ci = percentile_interval(diff_samples, level)
    differing = None
    if per_question_diff is not None:
        known = np.asarray(per_question_diff, dtype=np.float64)
        differing = int(np.sum(np.abs(known[np.isfinite(known)]) > 1e-12))
    if ci == (0.0, 0.0) and not np.any(diff_samples):
        return refuse("A and B give identical values in every resample", ci, differing)
    # every resample giving the same difference is degenerate evidence (one unit, nothing resampled) — unless that
    # is because enough units differ, all by the same amount, which the sign test below judges
    if ci[1] - ci[0] <= 1e-12 * max(1.0, abs(ci[0])) and (differing is None or differing < MIN_DIFFERING_QUESTIONS):
        return refuse(f"the {level:.0%} interval has zero width (every resample gives {ci[0]:.4g})", ci, differing)
    if differing is not None and differing < MIN_DIFFERING_QUESTIONS:
        return refuse(f"A and B differ on only {differing} of {units.n_questions} questions (a two-sided 5% test "
                      f"needs ≥ {MIN_DIFFERING_QUESTIONS})", ci, differing)
    verdict, ci = paired_verdict(diff_samples, metric, level)
    return PairedTest(metric, verdict, ci, True, units, differing)


def compare_two_way(questions_a: Sequence[QuestionAnswers], questions_b: Sequence[QuestionAnswers],
                    boot: TwoWayWeights, soft: bool = False, epsilon: float = KL_EPSILON,
                    persona_weights: np.ndarray | None = None, level: float = 0.95) -> dict[str, PairedTest]:
    """Paired two-way bootstrap of A − B: the same resampled personas and questions score both runs.

    Args:
        questions_a, questions_b: the same questions in the same order, personas in the same order.
        boot: from `two_way_bootstrap_weights(N, Q, B, seed, persona_weights)`.
        soft: score option probabilities / sampled-answer shares instead of the answers' histogram.
        epsilon: KL smoothing.
        persona_weights: the survey weights used in `boot` (None = unweighted), for the point per-question diffs.
        level: interval level.

    Returns:
        metric -> PairedTest (only metrics both runs have).
    """
    if [q.qid for q in questions_a] != [q.qid for q in questions_b]:
        raise ValueError("compare_two_way needs the same questions in the same order for A and B")
    samples_a = score_two_way(questions_a, boot, soft=soft, epsilon=epsilon)
    samples_b = score_two_way(questions_b, boot, soft=soft, epsilon=epsilon)
    point_a = per_question_values(questions_a, persona_weights, soft=soft, epsilon=epsilon)
    point_b = per_question_values(questions_b, persona_weights, soft=soft, epsilon=epsilon)
    return {metric: paired_test(samples_a[metric] - samples_b[metric], metric, boot.units,
                                point_a[metric] - point_b[metric], level)
            for metric in samples_a if metric in samples_b}
