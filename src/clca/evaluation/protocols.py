"""Metric protocols: the same answers scored the way each paper scores them, so numbers can be set side by side.

Every protocol starts from the same inputs: per question, the model's answer distribution over the personas
(histogram of answers with an invalid slot, or the mean soft distribution) and the survey's shares over the valid
codes, plus per-persona answers and the respondents' own answers for accuracy. Pure numpy functions.

`PROTOCOLS` is the table the README cites; `score_protocols` computes all of them. Numbers from different protocols
are on different scales: never compare a `paper` KL with a `clca` KL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clca.evaluation import metrics as M

DEFAULT_PROTOCOL = "clca"
WORLDVALUESBENCH_EMD_THRESHOLD = 0.2
# An EMD equal to the threshold up to float rounding (e.g. 0.19999999999999996) is not "below" it.
_THRESHOLD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ProtocolInfo:
    """One row of the protocol table."""

    name: str
    computes: str
    source: str


PROTOCOLS: dict[str, ProtocolInfo] = {
    "clca": ProtocolInfo(
        "clca",
        "KL(model ‖ survey) in nats over the valid options plus an invalid slot, both smoothed with ε = 1e-4; "
        "Jensen–Shannon distance base 2; EMD on codes rescaled to [0, 1] over valid answers (nominal: total "
        "variation); invalid rate; accuracy = exact match averaged over the questions each respondent answered "
        "validly, then over personas",
        "this toolkit (default)",
    ),
    "paper": ProtocolInfo(
        "paper",
        "the CLCA release's formulas: 'KL' = torch kl_div(log_softmax(model shares), survey shares, sum) = "
        "KL(survey ‖ softmax(model shares)) over the options plus the invalid slot (not a true KL: it can reward "
        "collapsing onto the mode); JS distance with natural logs (= sqrt(ln 2) ≈ 0.8326 × the base-2 value); "
        "accuracy = correct answers / all questions, a respondent's missing answers counted as wrong",
        "Liu, Korhonen & Gurevych, ACL 2025 (CLCA): released code, Table 2",
    ),
    "cao2025": ProtocolInfo(
        "cao2025",
        "1 − Jensen–Shannon divergence (base 2, so in [0, 1]; higher is better) and EMD (codes rescaled to [0, 1]) "
        "between country-level distributions over the valid options (model's valid mass renormalised)",
        "Cao et al., NAACL 2025 (survey response distributions for global populations)",
    ),
    "worldvaluesbench": ProtocolInfo(
        "worldvaluesbench",
        "share of questions whose EMD (codes rescaled to [0, 1], valid answers) is below 0.2; mean EMD",
        "Zhao et al., LREC-COLING 2024 (WorldValuesBench)",
    ),
}


def protocol_table_markdown() -> str:
    """The protocol table as Markdown (protocol | what it computes | used by)."""
    rows = ["| protocol | what it computes | used by |", "|---|---|---|"]
    rows += [f"| `{p.name}` | {p.computes} | {p.source} |" for p in PROTOCOLS.values()]
    return "\n".join(rows)


# --------------------------------------------------------------------------- formulas


def paper_kl(model: np.ndarray, survey: np.ndarray) -> np.ndarray | float:
    """The release's `kl_div(log_softmax(model), survey, reduction='sum')` = Σ s·(ln s − log_softmax(m)).

    Args:
        model: (..., k+1) model shares incl. the invalid slot (probabilities, which log_softmax treats as logits).
        survey: (k+1,) survey shares (0 on the invalid slot); terms with s = 0 contribute 0, as in torch.

    Returns:
        KL(survey ‖ softmax(model)) in nats, batched over leading axes of `model`.
    """
    model = np.asarray(model, dtype=np.float64)
    survey = np.asarray(survey, dtype=np.float64)
    log_softmax = model - model.max(axis=-1, keepdims=True)
    log_softmax = log_softmax - np.log(np.exp(log_softmax).sum(axis=-1, keepdims=True))
    log_survey = np.log(np.where(survey > 0, survey, 1.0))
    value = np.sum(np.where(survey > 0, survey * (log_survey - log_softmax), 0.0), axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def js_divergence(p: np.ndarray, q: np.ndarray, base: float = 2.0) -> np.ndarray | float:
    """Jensen–Shannon divergence (the square of scipy's `jensenshannon(p, q, base)`)."""
    value = np.square(M.js_distance(p, q)) * np.log(2.0) / np.log(base)
    return float(value) if np.ndim(value) == 0 else value


def paper_js(model: np.ndarray, survey: np.ndarray) -> np.ndarray | float:
    """JS distance with natural logs (scipy `jensenshannon(p, q)` default), = sqrt(ln 2) × the base-2 distance."""
    value = np.sqrt(np.log(2.0)) * np.asarray(M.js_distance(model, survey))
    return float(value) if np.ndim(value) == 0 else value


def paper_accuracy(questions: Sequence[M.QuestionAnswers], persona_weights: np.ndarray | None = None) -> float | None:
    """Per persona: correct answers / all questions (missing truth counts as wrong); mean over personas."""
    with_truth = [q for q in questions if q.truth is not None]
    if not with_truth:
        return None
    correct = np.stack([(q.choices == q.truth) & (q.truth >= 0) for q in with_truth], axis=1)
    per_persona = correct.sum(axis=1) / len(questions)
    w = np.ones(len(per_persona)) if persona_weights is None else np.asarray(persona_weights, dtype=np.float64)
    return float(w @ per_persona / w.sum())


def _valid_only(model_with_invalid: np.ndarray) -> np.ndarray | None:
    valid = model_with_invalid[:-1]
    return valid / valid.sum() if valid.sum() > 0 else None


# --------------------------------------------------------------------------- all protocols


def score_protocols(questions: Sequence[M.QuestionAnswers], soft: bool = False, epsilon: float = M.KL_EPSILON,
                    persona_weights: np.ndarray | None = None,
                    protocols: Sequence[str] = tuple(PROTOCOLS)) -> dict[str, dict[str, float | None]]:
    """Point values of every protocol from the same answers.

    Args:
        questions: scored questions (see `metrics.QuestionAnswers`).
        soft: use the mean soft distribution (option probabilities or sampled-answer shares) as the model's
            distribution instead of the histogram of answers (accuracy always uses the answers).
        epsilon: KL smoothing of the `clca` protocol.
        persona_weights: optional (N,) survey weights; None (the default, as in the paper) = unweighted.
        protocols: which protocols to compute (keys of `PROTOCOLS`).

    Returns:
        protocol -> metric -> value (None where not computable, e.g. accuracy without respondents; a
        `cao2025`/`worldvaluesbench` question with no valid model answer gets EMD 1 and 1 − JSD 0).
    """
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; choose from {sorted(PROTOCOLS)}")
    n = len(questions[0].choices)
    w = np.ones((1, n)) if persona_weights is None else np.atleast_2d(persona_weights).astype(np.float64)
    dists = [M.model_distribution(q, w, soft=soft)[0] for q in questions]
    surveys = [np.append(q.survey, 0.0) for q in questions]
    out: dict[str, dict[str, float | None]] = {}
    if "clca" in protocols:
        clca = M.aggregate(M.score_questions(questions, w, soft=soft, epsilon=epsilon), {})
        out["clca"] = {m: float(v[0]) for m, v in clca.items()}
        out["clca"].setdefault("accuracy", None)
    if "paper" in protocols:
        out["paper"] = {
            "kl": float(np.mean([paper_kl(d, s) for d, s in zip(dists, surveys, strict=True)])),
            "js": float(np.mean([paper_js(d, s) for d, s in zip(dists, surveys, strict=True)])),
            "accuracy": paper_accuracy(questions, None if persona_weights is None else w[0]),
        }
    emd = [float(M.emd_for_scale(d, q.survey, q.codes, q.scale_type)[0]) for d, q in zip(dists, questions, strict=True)]
    if "cao2025" in protocols:
        one_minus = []
        for d, q in zip(dists, questions, strict=True):
            valid = _valid_only(d)
            one_minus.append(0.0 if valid is None else 1.0 - js_divergence(valid, q.survey, base=2.0))
        out["cao2025"] = {"one_minus_jsd": float(np.mean(one_minus)), "emd": float(np.mean(emd))}
    if "worldvaluesbench" in protocols:
        below = np.array(emd) < WORLDVALUESBENCH_EMD_THRESHOLD - _THRESHOLD_TOLERANCE
        out["worldvaluesbench"] = {"share_emd_below_0.2": float(below.mean()), "emd": float(np.mean(emd))}
    return out
