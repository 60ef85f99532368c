"""LLM-as-judge filter (METHOD stage 3): quality, cultural alignment, meta-judgement, keep rule.

Two modes (config `mode`):
- `generate`: the judge writes `LABEL / CONFIDENCE / REASON` and we parse it (`clca.judge.parsing`); an unparseable
  answer is re-asked up to `max_attempts` times (re-asks sample with `retry_temperature` and a new seed, since a
  greedy re-ask would repeat itself). A part still unparsed is None with the reason in `Judgement.failures`.
- `logprob`: the label is chosen by `score_options` over the part's label words (quality/meta: good|bad; cultural
  alignment: yes|no → aligned|not aligned). Confidence comes from the normalised label probability p:
  p ≥ `very_confident_p` → "very confident", p ≥ `confident_p` → "confident", else "not sure" **[ours]**.

The meta-judgement sees the conversation and both judgements (a part that failed appears as "no judgement").
Conversations that ended with a backend error are not sent to the judge: they get keep=False, reason
"conversation ended with an error". Conversations the deterministic quality gate (`clca.judge.gate`) rejects are
not sent either: keep=False, the failed check as the reason, the gate's issues in `Judgement.gate`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from clca.config import StrictModel
from clca.errors import BackendError, ClcaError, InputDataError
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.judge.gate import GateConfig, GateResult, check_conversation
from clca.judge.parsing import NEGATIVE_LABEL, PARTS, Part, parse_verdict
from clca.judge.schema import Confidence, Judgement, Verdict
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest, ScoringFailure
from clca.progress import progress_bar
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.roleplay import Conversation, resolve_culture, summary_path

TRANSCRIPT_TEMPLATE = "judge_transcript.v1"
PART_TEMPLATES: dict[Part, str] = {
    "quality": "judge_quality.v1",
    "cultural_alignment": "judge_culture.v1",
    "meta": "judge_meta.v1",
}
# logprob mode: option word → label
LOGPROB_OPTIONS: dict[Part, dict[str, str]] = {
    "quality": {"good": "good", "bad": "bad"},
    "cultural_alignment": {"yes": "aligned", "no": "not aligned"},
    "meta": {"good": "good", "bad": "bad"},
}


class KeepRule(StrictModel):
    """Drop a conversation when any part in `drop_parts` has its negative label (bad / not aligned) with a
    confidence in `drop_confidences`. Paper: quality or meta "bad" with "very confident".

    `on_failure` decides conversations where a part named in `drop_parts` could not be judged (parse failure):
    `drop` (default — an unjudged conversation is not trusted) or `keep`. Failures of other parts are ignored.
    """

    drop_parts: list[Part] = Field(default_factory=lambda: ["quality", "meta"])
    drop_confidences: list[Confidence] = Field(default_factory=lambda: ["very confident"])
    on_failure: Literal["drop", "keep"] = "drop"

    def decide(self, verdicts: dict[Part, Verdict | None]) -> tuple[bool, str]:
        for part in self.drop_parts:
            v = verdicts.get(part)
            if v is not None and v.label == NEGATIVE_LABEL[part] and v.confidence in self.drop_confidences:
                return False, f"{part} {v.label} ({v.confidence})"
        failed = [p for p in self.drop_parts if verdicts.get(p) is None]
        if failed:
            if self.on_failure == "drop":
                return False, f"unjudged: {', '.join(failed)} (on_failure=drop)"
            return True, f"kept despite unjudged {', '.join(failed)} (on_failure=keep)"
        return True, "passed"


class JudgeConfig(StrictModel):
    mode: Literal["generate", "logprob"] = "generate"
    keep: KeepRule = Field(default_factory=KeepRule)
    max_attempts: int = Field(3, ge=1, description="generate mode: asks per part before it counts as a failure")
    temperature: float = Field(0.0, ge=0.0, description="first ask (greedy by default)")
    retry_temperature: float = Field(0.7, ge=0.0, description="re-asks after an unparseable answer")
    max_tokens: int = Field(200, ge=1)
    very_confident_p: float = Field(0.9, gt=0.5, le=1.0, description="logprob mode")
    confident_p: float = Field(0.7, gt=0.5, le=1.0, description="logprob mode")
    seed: int = 0
    group_size: int = Field(64, ge=1, description="conversations judged per batch (and per durable append)")
    gate: GateConfig = Field(default_factory=GateConfig)


class JudgeSummary(BaseModel):
    output: str
    mode: str
    conversations: int  # judgements in the output file after this run
    judged_now: int
    skipped_existing: int
    kept: int
    dropped: int
    kept_ratio: float | None
    keep_reasons: dict[str, int]
    breakdown: dict[str, dict[str, dict[str, int]]]  # part → label → confidence → count
    failures: dict[str, int]  # part → conversations where it could not be parsed
    error_conversations: int  # role-play ended in error; not judged
    gate_rejected: int = 0  # rejected by the quality gate; not sent to the LLM judge
    gate_rejections: dict[str, int] = Field(default_factory=dict)  # gate check → conversations it failed
    seconds: float


T = TypeVar("T")


@dataclass
class Attempted(Generic[T]):
    """Outcome of asking for a parseable answer up to N times."""

    value: T | None
    error: str | None
    raw: str | None
    attempts: int


def generate_with_retries(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    parse: Callable[[int, str | None], tuple[T | None, str | None]],
    max_attempts: int,
    retry_temperature: float,
) -> list[Attempted[T]]:
    """Generate all requests in one batch, re-ask (batched) those whose output `parse(i, text)` rejects.

    A backend failure (already retried inside the backend) is final: recorded with its error, not re-asked.
    """
    outcomes: list[Attempted[T]] = [Attempted(None, "not asked", None, 0) for _ in requests]
    todo = list(range(len(requests)))
    for attempt in range(1, max_attempts + 1):
        if not todo:
            break
        batch = []
        for i in todo:
            request = requests[i]
            if attempt > 1:
                request = request.model_copy(
                    update={
                        "temperature": retry_temperature,
                        "seed": int(stable_hash([request.seed, attempt]), 16) % (2**31),
                    }
                )
            batch.append(request)
        results = backend.generate(batch)
        retry = []
        for i, result in zip(todo, results, strict=True):
            if not result.ok:
                outcomes[i] = Attempted(None, f"backend error: {result.error}", result.text, attempt)
                continue
            value, error = parse(i, result.text)
            outcomes[i] = Attempted(value, error, result.text, attempt)
            if value is None:
                retry.append(i)
        todo = retry
    return outcomes


def _softmax(logprobs: Sequence[float]) -> list[float]:
    top = max(logprobs)
    exps = [math.exp(lp - top) for lp in logprobs]
    total = sum(exps)
    return [e / total for e in exps]


def _describe(v: Verdict | None) -> str:
    if v is None:
        return "no judgement (the judge's answer could not be parsed)"
    return f"{v.label} ({v.confidence}). {v.reason}".strip()


class _Judge:
    def __init__(self, backend: Backend, config: JudgeConfig):
        self.backend = backend
        self.config = config

    def _messages(self, part: Part, transcript: str, culture_name: str, verdicts: dict[Part, Verdict | None]) -> list[Message]:
        prompt = load_template(PART_TEMPLATES[part]).render(
            transcript=transcript,
            culture_name=culture_name,
            mode=self.config.mode,
            quality=_describe(verdicts.get("quality")),
            cultural_alignment=_describe(verdicts.get("cultural_alignment")),
        )
        return [Message(role="user", content=prompt)]

    def judge_parts(
        self, parts: list[tuple[int, Part, list[Message], int]]
    ) -> dict[tuple[int, Part], Attempted[Verdict]]:
        """parts: (conversation index, part, messages, seed) → outcome per (index, part)."""
        if self.config.mode == "logprob":
            return self._by_logprob(parts)
        requests = [
            GenerationRequest(messages=m, max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                              seed=seed)
            for _, _, m, seed in parts
        ]
        outcomes = generate_with_retries(
            self.backend,
            requests,
            lambda i, text: parse_verdict(text, parts[i][1]),
            self.config.max_attempts,
            self.config.retry_temperature,
        )
        return {(ci, part): outcome for (ci, part, _, _), outcome in zip(parts, outcomes, strict=True)}

    def _by_logprob(self, parts: list[tuple[int, Part, list[Message], int]]) -> dict[tuple[int, Part], Attempted[Verdict]]:
        requests = [OptionScoringRequest(messages=m, options=list(LOGPROB_OPTIONS[part])) for _, part, m, _ in parts]
        scores = self.backend.score_options(requests)
        out: dict[tuple[int, Part], Attempted[Verdict]] = {}
        for (ci, part, _, _), logprobs in zip(parts, scores, strict=True):
            options = list(LOGPROB_OPTIONS[part])
            if isinstance(logprobs, ScoringFailure):
                out[(ci, part)] = Attempted(None, logprobs.error, None, 1)
                continue
            if len(logprobs) != len(options) or not all(math.isfinite(x) for x in logprobs):
                out[(ci, part)] = Attempted(None, f"backend returned unusable option scores {logprobs!r}", None, 1)
                continue
            probs = _softmax(logprobs)
            best = max(range(len(options)), key=probs.__getitem__)
            p = probs[best]
            confidence: Confidence = (
                "very confident" if p >= self.config.very_confident_p
                else "confident" if p >= self.config.confident_p
                else "not sure"
            )
            shown = ", ".join(f"p({o})={q:.2f}" for o, q in zip(options, probs, strict=True))
            verdict = Verdict(label=LOGPROB_OPTIONS[part][options[best]], confidence=confidence,
                              reason=f"log-prob choice: {shown}")
            out[(ci, part)] = Attempted(verdict, None, shown, 1)
        return out


def _template_refs() -> list[PromptRef]:
    names = [TRANSCRIPT_TEMPLATE, *PART_TEMPLATES.values()]
    return [PromptRef(**load_template(n).provenance()) for n in names]


def load_conversations(path: str | Path) -> list[Conversation]:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: conversations file not found — run `clca roleplay` first or check the path")
    return JsonlStore(path, Conversation).read()


def run_judge(
    conversations_path: str | Path,
    out_path: str | Path,
    judge: Backend,
    config: JudgeConfig | None = None,
    *,
    on_judgement: Callable[[Judgement], None] | None = None,
) -> JudgeSummary:
    """Judge every conversation in `conversations_path`; append `Judgement`s to `out_path`. Resumable by id."""
    config = config or JudgeConfig()
    started = time.perf_counter()
    conversations = load_conversations(conversations_path)
    store: JsonlStore[Judgement] = JsonlStore(out_path, Judgement)
    done = store.keys()
    pending = [c for c in conversations if c.id not in done]
    cultures = {c.culture: resolve_culture(c.culture) for c in pending}
    judge_impl = _Judge(judge, config)
    provenance = Provenance(
        model=judge.identity,
        prompts=_template_refs(),
        sampling={k: v for k, v in config.model_dump().items() if k not in ("keep", "group_size")},
        seed=config.seed,
    )
    if config.mode == "logprob" and pending:
        _check_logprob_support(judge)

    with progress_bar(len(pending), "judging conversations") as advance:
        for start in range(0, len(pending), config.group_size):
            group = pending[start : start + config.group_size]
            records: list[Judgement] = []
            gates: dict[str, GateResult] = {c.id: check_conversation(c, config.gate) for c in group
                                            if c.termination != "error"}
            to_judge = [c for c in group if c.id in gates and gates[c.id].passed]
            transcripts = []
            for c in to_judge:
                name, description = cultures[c.culture]
                transcripts.append(
                    load_template(TRANSCRIPT_TEMPLATE).render(
                        scenario=c.scenario, turns=c.turns, culture_name=name, culture_description=description
                    )
                )
            verdicts: list[dict[Part, Verdict | None]] = [{} for _ in to_judge]
            outcomes: dict[tuple[int, Part], Attempted[Verdict]] = {}

            def ask(part_list: tuple[Part, ...]) -> None:
                parts = []
                for ci, c in enumerate(to_judge):
                    for part in part_list:
                        messages = judge_impl._messages(part, transcripts[ci], cultures[c.culture][0], verdicts[ci])
                        parts.append((ci, part, messages, int(stable_hash([config.seed, c.id, part]), 16) % (2**31)))
                if not parts:
                    return
                for (ci, part), outcome in judge_impl.judge_parts(parts).items():
                    outcomes[(ci, part)] = outcome
                    verdicts[ci][part] = outcome.value

            ask(("quality", "cultural_alignment"))
            ask(("meta",))  # needs the first two verdicts

            judged = iter(range(len(to_judge)))
            for c in group:
                if c.termination == "error":
                    records.append(Judgement(id=c.id, conversation_id=c.id, culture=c.culture, keep=False,
                                             keep_reason="conversation ended with an error", provenance=provenance))
                    continue
                if not gates[c.id].passed:
                    records.append(Judgement(id=c.id, conversation_id=c.id, culture=c.culture, keep=False,
                                             keep_reason=gates[c.id].reason, gate=gates[c.id], provenance=provenance))
                    continue
                ci = next(judged)
                parts_outcome = {p: outcomes[(ci, p)] for p in PARTS}
                keep, reason = config.keep.decide(verdicts[ci])
                records.append(
                    Judgement(
                        id=c.id,
                        conversation_id=c.id,
                        culture=c.culture,
                        quality=verdicts[ci].get("quality"),
                        cultural_alignment=verdicts[ci].get("cultural_alignment"),
                        meta=verdicts[ci].get("meta"),
                        failures={p: o.error for p, o in parts_outcome.items() if o.value is None and o.error},
                        raw={p: o.raw for p, o in parts_outcome.items() if o.raw is not None},
                        attempts={p: o.attempts for p, o in parts_outcome.items()},
                        keep=keep,
                        keep_reason=reason,
                        gate=gates[c.id],
                        provenance=provenance,
                    )
                )
            store.append(records)
            advance(len(group))
            if on_judgement is not None:
                for record in records:
                    on_judgement(record)

    summary = summarise(store.read(), out_path, config.mode, len(pending), len(conversations) - len(pending),
                        time.perf_counter() - started)
    write_json_atomic(summary_path(out_path), summary.model_dump(mode="json"))
    if summary.conversations and not summary.kept and summary.gate_rejected == summary.conversations:
        raise ClcaError(f"the quality gate rejected all {summary.conversations} conversations "
                        f"({summary.gate_rejections}; see {out_path}) — nothing left to train on; use a stronger "
                        "role-play model or sampling controls (roleplay.agent_a/agent_b.repetition_penalty)")
    return summary


def _check_logprob_support(backend: Backend) -> None:
    probe = OptionScoringRequest(messages=[Message(role="user", content="Answer yes or no: is water wet?")],
                                 options=["yes", "no"])
    try:
        backend.score_options([probe])
    except BackendError as exc:
        raise BackendError(
            f"judge mode 'logprob' needs option log-probabilities, which backend {backend.identity.model!r} cannot "
            f"give ({exc}) — set judge mode: generate"
        ) from None


def summarise(
    judgements: Sequence[Judgement], out_path: str | Path, mode: str, judged_now: int, skipped: int, seconds: float
) -> JudgeSummary:
    breakdown: dict[str, dict[str, dict[str, int]]] = {p: {} for p in PARTS}
    failures: Counter[str] = Counter()
    for j in judgements:
        for part in PARTS:
            v = getattr(j, part)
            if v is not None:
                by_conf = breakdown[part].setdefault(v.label, {})
                by_conf[v.confidence] = by_conf.get(v.confidence, 0) + 1
        for part in j.failures:
            failures[part] += 1
    kept = sum(j.keep for j in judgements)
    return JudgeSummary(
        output=str(out_path),
        mode=mode,
        conversations=len(judgements),
        judged_now=judged_now,
        skipped_existing=skipped,
        kept=kept,
        dropped=len(judgements) - kept,
        kept_ratio=round(kept / len(judgements), 4) if judgements else None,
        keep_reasons=dict(Counter(j.keep_reason for j in judgements)),
        breakdown=breakdown,
        failures=dict(failures),
        error_conversations=sum(j.keep_reason == "conversation ended with an error" for j in judgements),
        gate_rejected=sum(j.gate is not None and not j.gate.passed for j in judgements),
        gate_rejections=dict(Counter(c for j in judgements if j.gate is not None and not j.gate.passed
                                     for c in j.gate.checks)),
        seconds=round(seconds, 3),
    )


def kept_conversation_ids(judgements_path: str | Path) -> set[str]:
    """Ids of conversations the judge kept (what the intents and training stages use)."""
    path = Path(judgements_path)
    if not path.is_file():
        raise InputDataError(f"{path}: judgements file not found — run `clca judge` first or check the path")
    return {j.conversation_id for j in JsonlStore(path, Judgement).iter() if j.keep}
