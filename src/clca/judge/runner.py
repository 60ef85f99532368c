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

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from clca.asking import Attempted, choose_option, derive_seed, generate_with_retries
from clca.cultures import resolve_culture
from clca.errors import BackendError, ClcaError, InputDataError
from clca.jsonl import JsonlStore
from clca.judge.config import JudgeConfig
from clca.judge.gate import GateResult, check_conversation
from clca.judge.parsing import PARTS, Part, parse_verdict
from clca.judge.schema import Confidence, Judgement, JudgeSummary, Verdict
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.resumable import Produced, StageOutput, run_groups
from clca.roleplay.schema import Conversation, load_conversations

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


def _describe(v: Verdict | None) -> str:
    if v is None:
        return "no judgement (the judge's answer could not be parsed)"
    return f"{v.label} ({v.confidence}). {v.reason}".strip()


class _Judge:
    """Judges one group of conversations: quality and cultural alignment together, then the meta-judgement."""

    def __init__(self, backend: Backend, config: JudgeConfig, provenance: Provenance,
                 cultures: dict[str, tuple[str, str | None]]):
        self.backend, self.config, self.provenance, self.cultures = backend, config, provenance, cultures

    def _messages(self, part: Part, transcript: str, culture_name: str,
                  verdicts: dict[Part, Verdict | None]) -> list[Message]:
        prompt = load_template(PART_TEMPLATES[part]).render(
            transcript=transcript,
            culture_name=culture_name,
            mode=self.config.mode,
            quality=_describe(verdicts.get("quality")),
            cultural_alignment=_describe(verdicts.get("cultural_alignment")),
        )
        return [Message(role="user", content=prompt)]

    def judge_group(self, group: list[Conversation]) -> Produced[Judgement]:
        # the deterministic gate first: what it rejects never reaches (or costs) the LLM judge
        gates: dict[str, GateResult] = {c.id: check_conversation(c, self.config.gate) for c in group
                                        if c.termination != "error"}
        enforce = self.config.gate.action == "drop"
        to_judge = [c for c in group if c.id in gates and (gates[c.id].passed or not enforce)]
        transcripts = [
            load_template(TRANSCRIPT_TEMPLATE).render(
                scenario=c.scenario, turns=c.turns, culture_name=self.cultures[c.culture][0],
                culture_description=self.cultures[c.culture][1])
            for c in to_judge
        ]
        verdicts: list[dict[Part, Verdict | None]] = [{} for _ in to_judge]
        outcomes: dict[tuple[int, Part], Attempted[Verdict]] = {}
        for part_list in (("quality", "cultural_alignment"), ("meta",)):  # the meta-judgement reads the first two
            parts = [
                (ci, part, self._messages(part, transcripts[ci], self.cultures[c.culture][0], verdicts[ci]),
                 derive_seed(self.config.seed, c.id, part))
                for ci, c in enumerate(to_judge) for part in part_list
            ]
            for (ci, part), outcome in self.judge_parts(parts).items():
                outcomes[(ci, part)] = outcome
                verdicts[ci][part] = outcome.value
        records, judged = [], iter(range(len(to_judge)))
        for c in group:
            if c.termination == "error":
                records.append(Judgement(id=c.id, conversation_id=c.id, culture=c.culture, keep=False,
                                         keep_reason="conversation ended with an error", provenance=self.provenance))
            elif not gates[c.id].passed and enforce:
                records.append(Judgement(id=c.id, conversation_id=c.id, culture=c.culture, keep=False,
                                         keep_reason=gates[c.id].reason, gate=gates[c.id], provenance=self.provenance))
            else:
                ci = next(judged)
                records.append(self._record(c, verdicts[ci], {p: outcomes[(ci, p)] for p in PARTS}, gates[c.id]))
        return Produced(records=records)

    def _record(self, c: Conversation, verdicts: dict[Part, Verdict | None],
                parts_outcome: dict[Part, Attempted[Verdict]], gate: GateResult) -> Judgement:
        keep, reason = self.config.keep.decide(verdicts)
        return Judgement(
            id=c.id, conversation_id=c.id, culture=c.culture,
            quality=verdicts.get("quality"), cultural_alignment=verdicts.get("cultural_alignment"),
            meta=verdicts.get("meta"),
            failures={p: o.error for p, o in parts_outcome.items() if o.value is None and o.error},
            raw={p: o.raw for p, o in parts_outcome.items() if o.raw is not None},
            attempts={p: o.attempts for p, o in parts_outcome.items()},
            keep=keep, keep_reason=reason, gate=gate, provenance=self.provenance,
        )

    def judge_parts(
        self, parts: list[tuple[int, Part, list[Message], int]]
    ) -> dict[tuple[int, Part], Attempted[Verdict]]:
        """parts: (conversation index, part, messages, seed) → outcome per (index, part)."""
        if not parts:
            return {}
        if self.config.mode == "logprob":
            return self._by_logprob(parts)
        requests = [
            GenerationRequest(messages=m, max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                              seed=seed)
            for _, _, m, seed in parts
        ]
        outcomes = generate_with_retries(
            self.backend, requests, lambda i, text: parse_verdict(text, parts[i][1]), self.config.max_attempts,
            self.config.retry_temperature,
        )
        return {(ci, part): outcome for (ci, part, _, _), outcome in zip(parts, outcomes, strict=True)}

    def _by_logprob(self, parts: list[tuple[int, Part, list[Message], int]]
                    ) -> dict[tuple[int, Part], Attempted[Verdict]]:
        requests = [OptionScoringRequest(messages=m, options=list(LOGPROB_OPTIONS[part])) for _, part, m, _ in parts]
        out: dict[tuple[int, Part], Attempted[Verdict]] = {}
        for (ci, part, _, _), logprobs in zip(parts, self.backend.score_options(requests), strict=True):
            options = list(LOGPROB_OPTIONS[part])
            choice = choose_option(logprobs, len(options))
            if isinstance(choice, str):
                out[(ci, part)] = Attempted(None, choice, None, 1)
                continue
            p = choice.probability
            confidence: Confidence = (
                "very confident" if p >= self.config.very_confident_p
                else "confident" if p >= self.config.confident_p
                else "not sure"
            )
            shown = ", ".join(f"p({o})={q:.2f}" for o, q in zip(options, choice.probs, strict=True))
            verdict = Verdict(label=LOGPROB_OPTIONS[part][options[choice.index]], confidence=confidence,
                              reason=f"log-prob choice: {shown}")
            out[(ci, part)] = Attempted(verdict, None, shown, 1)
        return out


def _template_refs() -> list[PromptRef]:
    names = [TRANSCRIPT_TEMPLATE, *PART_TEMPLATES.values()]
    return [PromptRef(**load_template(n).provenance()) for n in names]


def run_judge(
    conversations_path: str | Path,
    out_path: str | Path,
    judge: Backend,
    config: JudgeConfig | None = None,
    *,
    on_judgement: Callable[[Judgement], None] | None = None,
) -> JudgeSummary:
    """Judge every conversation in `conversations_path`; append `Judgement`s to `out_path`. Resumable by id.

    Args:
        conversations_path: the conversations `clca roleplay` wrote.
        out_path: the judgements file (appended to).
        judge: the judge model.
        config: mode, keep rule, sampling and seed.
        on_judgement: called with each judgement after it is durably written.

    Returns:
        The summary, also written to `<out>.summary.json`.
    """
    config = config or JudgeConfig()
    started = time.perf_counter()
    conversations = load_conversations(conversations_path)
    output = StageOutput(out_path, Judgement)
    done = output.done()
    pending = [c for c in conversations if c.id not in done]
    provenance = Provenance(
        model=judge.identity,
        prompts=_template_refs(),
        sampling={k: v for k, v in config.model_dump().items() if k not in ("keep", "group_size")},
        seed=config.seed,
    )
    if config.mode == "logprob" and pending:
        _check_logprob_support(judge)
    judge_impl = _Judge(judge, config, provenance, {c.culture: resolve_culture(c.culture) for c in pending})
    run_groups(pending, judge_impl.judge_group, output, group_size=config.group_size,
               description="judging conversations", on_record=on_judgement)
    summary = summarise(output.records.read(), out_path, config.mode, len(pending),
                        len(conversations) - len(pending), time.perf_counter() - started)
    output.write_summary(summary)
    if config.gate.action == "drop" and summary.conversations and not summary.kept \
            and summary.gate_rejected == summary.conversations:
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
