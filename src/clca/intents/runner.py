"""Per-turn intent labels of kept conversations (METHOD stage 4).

Decisions (the method is silent on them):
- One free-text intent per turn that has an action (`speak`, `non-verbal`, `leave`); "none" turns carry nothing to
  label and get no `TurnIntent`. The labeller sees the conversation up to and including that turn, the setting,
  the public profiles and the culture paragraph (not the private goals: the intent must be inferable from what
  happened, as for the student in training view (c)).
- Generic vs cultural is a second, short question about the intent sentence. `kind_mode: logprob` picks the more
  likely of {generic, cultural} by `score_options` (reliable even on the 135M embedded model); `generate` asks
  for the word and parses it; `auto` (default) uses logprob when the backend supports option scoring, else
  generate. The mode used is recorded in the provenance (`sampling.kind_mode`).
- Unusable intent answers (empty, refusal, one word) are re-asked up to `max_attempts` times; still unusable →
  `intent=None, kind=None` with the reason in `error` and the raw text. An unparseable kind keeps the intent,
  `kind=None`, reason in `error`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from clca.config import StrictModel
from clca.errors import BackendError, InputDataError
from clca.intents.parsing import parse_intent, parse_kind
from clca.intents.schema import ConversationIntents, IntentKind, TurnIntent
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.judge import Judgement, generate_with_retries, load_conversations
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest, ScoringFailure
from clca.progress import progress_bar
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.roleplay import Conversation, resolve_culture, summary_path

LABEL_TEMPLATE = "intents_label.v1"
KIND_TEMPLATE = "intents_kind.v1"
KIND_OPTIONS: tuple[IntentKind, IntentKind] = ("generic", "cultural")


class IntentsConfig(StrictModel):
    kind_mode: Literal["auto", "logprob", "generate"] = "auto"
    max_attempts: int = Field(3, ge=1, description="asks per turn before the intent counts as a failure")
    temperature: float = Field(0.0, ge=0.0)
    retry_temperature: float = Field(0.7, ge=0.0)
    max_tokens: int = Field(60, ge=1, description="intent sentence")
    seed: int = 0
    group_size: int = Field(32, ge=1, description="conversations labelled per batch (and per durable append)")


class IntentsSummary(BaseModel):
    output: str
    kind_mode: str
    conversations: int  # in the output file after this run
    labelled_now: int
    skipped_existing: int
    not_kept: int  # conversations the judge dropped (or that ended in error) — not labelled
    turns: int
    intents: int  # turns with an intent
    intent_failures: int
    kind_failures: int
    cultural: int
    generic: int
    cultural_share: float | None  # cultural / (cultural + generic)
    seconds: float


def _select(conversations: list[Conversation], judgements_path: str | Path | None) -> tuple[list[Conversation], int]:
    usable = [c for c in conversations if c.termination != "error"]
    if judgements_path is None:  # the "no judge filter" ablation
        return usable, len(conversations) - len(usable)
    path = Path(judgements_path)
    if not path.is_file():
        raise InputDataError(f"{path}: judgements file not found — run `clca judge` first or check the path")
    judgements = {j.conversation_id: j for j in JsonlStore(path, Judgement).iter()}
    missing = [c.id for c in conversations if c.id not in judgements]
    if missing:
        raise InputDataError(
            f"{path}: {len(missing)} conversation(s) have no judgement (e.g. {missing[0]!r}) — finish `clca judge` "
            f"on the same conversations file first"
        )
    kept = [c for c in usable if judgements[c.id].keep]
    return kept, len(conversations) - len(kept)


def _resolve_kind_mode(backend: Backend, mode: str) -> str:
    if mode == "generate":
        return mode
    probe = OptionScoringRequest(messages=[Message(role="user", content="generic or cultural?")],
                                 options=list(KIND_OPTIONS))
    try:
        backend.score_options([probe])
    except BackendError as exc:
        if mode == "logprob":
            raise BackendError(
                f"intents kind_mode 'logprob' needs option log-probabilities, which backend "
                f"{backend.identity.model!r} cannot give ({exc}) — set kind_mode: generate or auto"
            ) from None
        return "generate"
    return "logprob"


def run_intents(
    conversations_path: str | Path,
    out_path: str | Path,
    labeller: Backend,
    config: IntentsConfig | None = None,
    *,
    judgements_path: str | Path | None = None,
    on_conversation: Callable[[ConversationIntents], None] | None = None,
) -> IntentsSummary:
    """Label every turn of every kept conversation; append `ConversationIntents` to `out_path`. Resumable by id.

    `judgements_path=None` labels all conversations (the paper's "no filter" ablation).
    """
    config = config or IntentsConfig()
    started = time.perf_counter()
    conversations = load_conversations(conversations_path)
    selected, not_kept = _select(conversations, judgements_path)
    store: JsonlStore[ConversationIntents] = JsonlStore(out_path, ConversationIntents)
    done = store.keys()
    pending = [c for c in selected if c.id not in done]
    cultures = {c.culture: resolve_culture(c.culture) for c in pending}
    kind_mode = _resolve_kind_mode(labeller, config.kind_mode) if pending else config.kind_mode
    provenance = Provenance(
        model=labeller.identity,
        prompts=[PromptRef(**load_template(n).provenance()) for n in (LABEL_TEMPLATE, KIND_TEMPLATE)],
        sampling={**config.model_dump(exclude={"group_size"}), "kind_mode": kind_mode},
        seed=config.seed,
    )
    label_template = load_template(LABEL_TEMPLATE)
    kind_template = load_template(KIND_TEMPLATE)

    with progress_bar(len(pending), "labelling intents") as advance:
        for start in range(0, len(pending), config.group_size):
            group = pending[start : start + config.group_size]
            slots: list[tuple[int, int]] = []  # (conversation index in group, turn position)
            requests: list[GenerationRequest] = []
            for gi, c in enumerate(group):
                culture_name, culture_description = cultures[c.culture]
                for pos, turn in enumerate(c.turns):
                    if turn.action == "none":
                        continue
                    prompt = label_template.render(
                        scenario=c.scenario, turns=c.turns[: pos + 1], speaker_name=turn.speaker_name,
                        culture_name=culture_name, culture_description=culture_description,
                    )
                    slots.append((gi, pos))
                    requests.append(GenerationRequest(
                        messages=[Message(role="user", content=prompt)], max_tokens=config.max_tokens,
                        temperature=config.temperature,
                        seed=int(stable_hash([config.seed, c.id, turn.index]), 16) % (2**31),
                    ))
            outcomes = generate_with_retries(
                labeller, requests, lambda _i, text: parse_intent(text), config.max_attempts, config.retry_temperature
            )
            kinds = _classify(
                labeller, kind_mode, kind_template,
                [(outcome.value, cultures[group[gi].culture][0]) for (gi, _), outcome in zip(slots, outcomes, strict=True)],
                config,
            )
            per_conversation: list[list[TurnIntent]] = [[] for _ in group]
            for (gi, pos), outcome, (kind, kind_error, kind_raw) in zip(slots, outcomes, kinds, strict=True):
                turn = group[gi].turns[pos]
                if outcome.value is None:
                    item = TurnIntent(turn_index=turn.index, speaker=turn.speaker, intent=None, kind=None,
                                      error=f"intent: {outcome.error} (after {outcome.attempts} attempt(s))",
                                      raw=outcome.raw)
                else:
                    item = TurnIntent(turn_index=turn.index, speaker=turn.speaker, intent=outcome.value, kind=kind,
                                      error=f"kind: {kind_error}" if kind_error else None,
                                      raw=outcome.raw if not kind_error else f"{outcome.raw}\n--- kind answer ---\n{kind_raw}")
                per_conversation[gi].append(item)
            records = [
                ConversationIntents(id=c.id, conversation_id=c.id, culture=c.culture, intents=per_conversation[gi],
                                    provenance=provenance)
                for gi, c in enumerate(group)
            ]
            store.append(records)
            advance(len(group))
            if on_conversation is not None:
                for record in records:
                    on_conversation(record)

    summary = summarise(store.read(), out_path, kind_mode, len(pending), len(selected) - len(pending), not_kept,
                        time.perf_counter() - started)
    write_json_atomic(summary_path(out_path), summary.model_dump(mode="json"))
    return summary


def _classify(
    backend: Backend, kind_mode: str, template, items: list[tuple[str | None, str]], config: IntentsConfig
) -> list[tuple[IntentKind | None, str | None, str | None]]:
    """(kind, error, raw answer) per item; items without an intent get (None, None, None)."""
    results: list[tuple[IntentKind | None, str | None, str | None]] = [(None, None, None)] * len(items)
    todo = [i for i, (intent, _) in enumerate(items) if intent is not None]
    if not todo:
        return results
    messages = [
        [Message(role="user", content=template.render(intent=items[i][0], culture_name=items[i][1]))] for i in todo
    ]
    if kind_mode == "logprob":
        scores = backend.score_options([OptionScoringRequest(messages=m, options=list(KIND_OPTIONS)) for m in messages])
        for i, logprobs in zip(todo, scores, strict=True):
            if isinstance(logprobs, ScoringFailure):
                results[i] = (None, logprobs.error, None)
                continue
            if len(logprobs) != len(KIND_OPTIONS) or not all(math.isfinite(x) for x in logprobs):
                results[i] = (None, f"unusable option scores {logprobs!r}", None)
                continue
            best = max(range(len(KIND_OPTIONS)), key=logprobs.__getitem__)
            shown = ", ".join(f"logp({o})={lp:.3f}" for o, lp in zip(KIND_OPTIONS, logprobs, strict=True))
            results[i] = (KIND_OPTIONS[best], None, shown)
        return results
    requests = [
        GenerationRequest(messages=m, max_tokens=8, temperature=config.temperature,
                          seed=int(stable_hash([config.seed, "kind", items[i][0]]), 16) % (2**31))
        for i, m in zip(todo, messages, strict=True)
    ]
    outcomes = generate_with_retries(backend, requests, lambda _i, text: parse_kind(text), config.max_attempts,
                                     config.retry_temperature)
    for i, outcome in zip(todo, outcomes, strict=True):
        results[i] = (outcome.value, outcome.error, outcome.raw)
    return results


def summarise(
    records: Sequence[ConversationIntents], out_path: str | Path, kind_mode: str, labelled_now: int, skipped: int,
    not_kept: int, seconds: float,
) -> IntentsSummary:
    items = [i for r in records for i in r.intents]
    cultural = sum(i.kind == "cultural" for i in items)
    generic = sum(i.kind == "generic" for i in items)
    return IntentsSummary(
        output=str(out_path),
        kind_mode=kind_mode,
        conversations=len(records),
        labelled_now=labelled_now,
        skipped_existing=skipped,
        not_kept=not_kept,
        turns=len(items),
        intents=sum(i.intent is not None for i in items),
        intent_failures=sum(i.intent is None for i in items),
        kind_failures=sum(i.intent is not None and i.kind is None for i in items),
        cultural=cultural,
        generic=generic,
        cultural_share=round(cultural / (cultural + generic), 4) if cultural + generic else None,
        seconds=round(seconds, 3),
    )
