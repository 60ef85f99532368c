"""Culture- and individual-level metrics of WVS evaluation, with bootstrap confidence intervals. Pure functions.

Conventions (state them when reporting numbers):

- A model's answer distribution for a question has one slot per valid option (in code order) plus a final
  **invalid** slot (answers that are not a valid option). The survey distribution has 0 mass on invalid.
- **KL(model ‖ survey)** in nats (natural log, like `scipy.stats.entropy(p, q)`), after additive smoothing of
  *both* distributions over all k+1 slots: p' = (p + ε) / (1 + (k+1)·ε), same for q, with ε = `KL_EPSILON` = 1e-4
  (configurable). Without smoothing, any invalid answer (or an option no respondent chose) makes KL infinite;
  with it, an invalid share s costs about s·ln(s/ε), so invalid answers are penalised heavily but finitely.
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
  over the questions that respondent answered validly, then over personas. An invalid answer is wrong.
- Bootstrap: resample personas with replacement (seeded); percentile 95% intervals.
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
    safe = np.where(has_valid[:, None], valid, 1.0)  # rows without valid answers get a dummy value here; their score is set below
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
    `probs` (optional, N × k) are per-persona option probabilities (logprob mode).
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
        if q.probs is None:
            raise ValueError(f"{q.qid}: soft distribution needs option probabilities (logprob mode)")
        valid = weights @ q.probs
        dist = np.concatenate([valid, np.zeros((weights.shape[0], 1))], axis=1)
    else:
        onehot = np.zeros((len(q.choices), q.k + 1))
        onehot[np.arange(len(q.choices)), q.choices] = 1.0
        dist = weights @ onehot
    return dist / weights.sum(axis=1, keepdims=True)


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
