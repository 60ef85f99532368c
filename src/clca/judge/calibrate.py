"""How good is the filter? The gate and the LLM judge against a labelled set of conversations.

The bundled set (`data/judge/calibration.jsonl`, written for clca) holds conversations in the CLCA format for
DEU, JPN and MEX — clearly good, culturally misaligned, fluent but incoherent, and degenerate ones — each with
labels (quality good|bad, cultural alignment aligned|not aligned|null for conversations where it does not apply,
gate pass|reject) and a one-line reason.

Agreement is reported per part: `gate` (gate result vs the gate label), `quality`, `cultural_alignment`, `meta`
(the meta-judgement vs the quality label) and `keep` (gate and keep rule together vs "quality good and gate
pass"). The LLM judge sees every conversation (its gate switched off here) so that each part is measured on the
whole set; a part the judge could not produce counts as `unjudged` and is left out of accuracy and κ.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from clca.errors import InputDataError
from clca.jsonl import JsonlStore
from clca.judge.config import JudgeConfig
from clca.judge.gate import GateConfig, check_conversation
from clca.judge.runner import run_judge
from clca.judge.schema import Judgement
from clca.llm.base import Backend
from clca.paths import PACKAGE_DATA_DIR
from clca.roleplay.schema import Conversation

CALIBRATION_SET = PACKAGE_DATA_DIR / "judge" / "calibration.jsonl"
PART_LABELS: dict[str, tuple[str, str]] = {  # part → (positive, negative) label
    "gate": ("pass", "reject"),
    "quality": ("good", "bad"),
    "cultural_alignment": ("aligned", "not aligned"),
    "meta": ("good", "bad"),
    "keep": ("keep", "drop"),
}


class CalibrationLabels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quality: Literal["good", "bad"]
    cultural_alignment: Literal["aligned", "not aligned"] | None  # None: not applicable (incoherent, degenerate)
    gate: Literal["pass", "reject"]


class CalibrationItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation: Conversation
    labels: CalibrationLabels
    reason: str  # one line: why these labels


class PartAgreement(BaseModel):
    part: str
    n: int  # items with a label and a prediction
    unjudged: int  # items with a label but no prediction (the judge's answer could not be used)
    accuracy: float | None
    kappa: float | None  # Cohen's κ; None when undefined (both sides use one label only)
    confusion: dict[str, dict[str, int]]  # true label → predicted label → count


class CalibrationReport(BaseModel):
    model: str
    mode: str
    conversations: int
    parts: list[PartAgreement]


def load_calibration_set(path: str | Path | None = None) -> list[CalibrationItem]:
    """The labelled conversations (the bundled set when `path` is None)."""
    path = Path(path) if path is not None else CALIBRATION_SET
    if not path.is_file():
        raise InputDataError(f"{path}: calibration set not found — check the path")
    items = JsonlStore(path, CalibrationItem, key=lambda item: item.conversation.id).read()
    if not items:
        raise InputDataError(f"{path}: the calibration set is empty")
    return items


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's κ of (true, predicted) label pairs: (p_o − p_e) / (1 − p_e).

    Args:
        pairs: one (true label, predicted label) per item.

    Returns:
        κ, or None when it is undefined (no items, or chance agreement p_e = 1).
    """
    if not pairs:
        return None
    n = len(pairs)
    labels = {label for pair in pairs for label in pair}
    observed = sum(t == p for t, p in pairs) / n
    expected = sum((sum(t == k for t, _ in pairs) / n) * (sum(p == k for _, p in pairs) / n) for k in labels)
    return None if expected == 1.0 else (observed - expected) / (1.0 - expected)


def agreement(part: str, pairs: Sequence[tuple[str, str | None]]) -> PartAgreement:
    """Accuracy, κ and confusion matrix of one part; a None prediction counts as unjudged."""
    judged = [(t, p) for t, p in pairs if p is not None]
    labels = list(PART_LABELS[part])
    confusion = {t: {p: sum(1 for a, b in judged if (a, b) == (t, p)) for p in labels} for t in labels}
    kappa = cohen_kappa(judged)
    return PartAgreement(
        part=part, n=len(judged), unjudged=len(pairs) - len(judged),
        accuracy=round(sum(t == p for t, p in judged) / len(judged), 4) if judged else None,
        kappa=round(kappa, 4) if kappa is not None else None, confusion=confusion,
    )


def calibrate(items: Sequence[CalibrationItem], judge: Backend, config: JudgeConfig | None = None) -> CalibrationReport:
    """Run the gate and the LLM judge over labelled items and measure their agreement with the labels.

    Args:
        items: labelled conversations (ids must be unique).
        judge: the judge backend.
        config: judge settings (keep rule, mode, gate thresholds); defaults when None.

    Returns:
        Agreement per part (gate, quality, cultural_alignment, meta, keep).
    """
    config = config or JudgeConfig()
    gates = [check_conversation(item.conversation, config.gate) for item in items]
    with tempfile.TemporaryDirectory(prefix="clca-calibrate-") as tmp:
        source = Path(tmp) / "conversations.jsonl"
        JsonlStore(source, Conversation).append([item.conversation for item in items])
        ungated = config.model_copy(update={"gate": GateConfig(enabled=False)})
        run_judge(source, Path(tmp) / "judgements.jsonl", judge, ungated)
        by_id = {j.id: j for j in JsonlStore(Path(tmp) / "judgements.jsonl", Judgement).read()}
    verdicts = [by_id[item.conversation.id] for item in items]

    def label(j: Judgement, part: str) -> str | None:
        v = getattr(j, part)
        return v.label if v is not None else None

    pairs: dict[str, list[tuple[str, str | None]]] = {part: [] for part in PART_LABELS}
    for item, gate, j in zip(items, gates, verdicts, strict=True):
        pairs["gate"].append((item.labels.gate, "pass" if gate.passed else "reject"))
        pairs["quality"].append((item.labels.quality, label(j, "quality")))
        if item.labels.cultural_alignment is not None:
            pairs["cultural_alignment"].append((item.labels.cultural_alignment, label(j, "cultural_alignment")))
        pairs["meta"].append((item.labels.quality, label(j, "meta")))
        expected = "keep" if item.labels.quality == "good" and item.labels.gate == "pass" else "drop"
        pairs["keep"].append((expected, "keep" if gate.passed and j.keep else "drop"))
    return CalibrationReport(model=judge.identity.model, mode=config.mode, conversations=len(items),
                             parts=[agreement(part, pairs[part]) for part in PART_LABELS])


def format_report(report: CalibrationReport) -> str:
    """A plain-text table: one row per part, then each confusion matrix."""
    lines = [f"judge {report.model} ({report.mode}) on {report.conversations} labelled conversations",
             f"{'part':<20}{'n':>4}{'unjudged':>10}{'accuracy':>10}{'kappa':>8}"]
    for p in report.parts:
        acc = f"{p.accuracy:.3f}" if p.accuracy is not None else "-"
        kappa = f"{p.kappa:.3f}" if p.kappa is not None else "-"
        lines.append(f"{p.part:<20}{p.n:>4}{p.unjudged:>10}{acc:>10}{kappa:>8}")
    for p in report.parts:
        cells = "; ".join(f"{t}→{pred}: {c}" for t, row in p.confusion.items() for pred, c in row.items())
        lines.append(f"  {p.part} (true→predicted): {cells}")
    return "\n".join(lines)
