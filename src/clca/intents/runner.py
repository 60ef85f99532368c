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

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from clca.asking import choose_option, derive_seed, generate_with_retries
from clca.cultures import resolve_culture
from clca.errors import BackendError, InputDataError
from clca.intents.config import IntentsConfig
from clca.intents.parsing import parse_intent, parse_kind
from clca.intents.schema import ConversationIntents, IntentKind, IntentsSummary, TurnIntent
from clca.jsonl import JsonlStore
from clca.judge.schema import Judgement
from clca.layout import summary_path
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.resumable import Produced, StageOutput, run_groups
from clca.roleplay.schema import Conversation, load_conversations

LABEL_TEMPLATE = "intents_label.v1"
KIND_TEMPLATE = "intents_kind.v1"
KIND_OPTIONS: tuple[IntentKind, IntentKind] = ("generic", "cultural")


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
    if not kept:
        raise InputDataError(
            f"{path}: the judge kept none of the {len(conversations)} conversations, so there is nothing to label "
            f"— see {summary_path(path).name} beside it for why (keep_reasons)"
        )
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

    Args:
        conversations_path: the conversations `clca roleplay` wrote.
        out_path: the intents file (appended to).
        labeller: the model that labels.
        config: kind mode, sampling and seed.
        judgements_path: the judge's output; only kept conversations are labelled. None labels all of them (the
            paper's "no filter" ablation).
        on_conversation: called with each record after it is durably written.

    Returns:
        The summary, also written to `<out>.summary.json`.
    """
    config = config or IntentsConfig()
    started = time.perf_counter()
    selected, not_kept = _select(load_conversations(conversations_path), judgements_path)
    output = StageOutput(out_path, ConversationIntents)
    done = output.done()
    pending = [c for c in selected if c.id not in done]
    kind_mode = _resolve_kind_mode(labeller, config.kind_mode) if pending else config.kind_mode
    provenance = Provenance(
        model=labeller.identity,
        prompts=[PromptRef(**load_template(n).provenance()) for n in (LABEL_TEMPLATE, KIND_TEMPLATE)],
        sampling={**config.model_dump(exclude={"group_size"}), "kind_mode": kind_mode},
        seed=config.seed,
    )
    labeller_impl = _Labeller(labeller, config, kind_mode, provenance,
                              {c.culture: resolve_culture(c.culture) for c in pending})
    run_groups(pending, labeller_impl.label_group, output, group_size=config.group_size,
               description="labelling intents", on_record=on_conversation)
    summary = summarise(output.records.read(), out_path, kind_mode, len(pending), len(selected) - len(pending),
                        not_kept, time.perf_counter() - started)
    output.write_summary(summary)
    return summary


class _Labeller:
    """Labels the turns of one group of conversations: an intent sentence per turn, then its kind."""

    def __init__(self, backend: Backend, config: IntentsConfig, kind_mode: str, provenance: Provenance,
                 cultures: dict[str, tuple[str, str | None]]):
        self.backend, self.config, self.kind_mode = backend, config, kind_mode
        self.provenance, self.cultures = provenance, cultures
        self.label_template = load_template(LABEL_TEMPLATE)
        self.kind_template = load_template(KIND_TEMPLATE)

    def _request(self, c: Conversation, pos: int) -> GenerationRequest:
        turn = c.turns[pos]
        culture_name, culture_description = self.cultures[c.culture]
        prompt = self.label_template.render(
            scenario=c.scenario, turns=c.turns[: pos + 1], speaker_name=turn.speaker_name,
            culture_name=culture_name, culture_description=culture_description,
        )
        return GenerationRequest(messages=[Message(role="user", content=prompt)], max_tokens=self.config.max_tokens,
                                 temperature=self.config.temperature,
                                 seed=derive_seed(self.config.seed, c.id, turn.index))

    def label_group(self, group: list[Conversation]) -> Produced[ConversationIntents]:
        # "none" turns carry nothing to label
        slots = [(gi, pos) for gi, c in enumerate(group) for pos, turn in enumerate(c.turns) if turn.action != "none"]
        outcomes = generate_with_retries(
            self.backend, [self._request(group[gi], pos) for gi, pos in slots], lambda _i, text: parse_intent(text),
            self.config.max_attempts, self.config.retry_temperature,
        )
        kinds = self._classify([(outcome.value, self.cultures[group[gi].culture][0])
                                for (gi, _), outcome in zip(slots, outcomes, strict=True)])
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
                                  raw=outcome.raw if not kind_error
                                  else f"{outcome.raw}\n--- kind answer ---\n{kind_raw}")
            per_conversation[gi].append(item)
        return Produced(records=[
            ConversationIntents(id=c.id, conversation_id=c.id, culture=c.culture, intents=per_conversation[gi],
                                provenance=self.provenance)
            for gi, c in enumerate(group)
        ])

    def _classify(self, items: list[tuple[str | None, str]]) -> list[tuple[IntentKind | None, str | None, str | None]]:
        """(kind, error, raw answer) per (intent, culture name); items without an intent get (None, None, None)."""
        results: list[tuple[IntentKind | None, str | None, str | None]] = [(None, None, None)] * len(items)
        todo = [i for i, (intent, _) in enumerate(items) if intent is not None]
        messages = [[Message(role="user", content=self.kind_template.render(intent=items[i][0],
                                                                             culture_name=items[i][1]))]
                    for i in todo]
        if not todo:
            return results
        if self.kind_mode == "logprob":
            scores = self.backend.score_options([OptionScoringRequest(messages=m, options=list(KIND_OPTIONS))
                                                 for m in messages])
            for i, logprobs in zip(todo, scores, strict=True):
                choice = choose_option(logprobs, len(KIND_OPTIONS))
                if isinstance(choice, str):
                    results[i] = (None, choice, None)
                    continue
                shown = ", ".join(f"logp({o})={lp:.3f}" for o, lp in zip(KIND_OPTIONS, choice.logprobs, strict=True))
                results[i] = (KIND_OPTIONS[choice.index], None, shown)
            return results
        requests = [
            GenerationRequest(messages=m, max_tokens=8, temperature=self.config.temperature,
                              seed=derive_seed(self.config.seed, "kind", items[i][0]))
            for i, m in zip(todo, messages, strict=True)
        ]
        outcomes = generate_with_retries(self.backend, requests, lambda _i, text: parse_kind(text),
                                         self.config.max_attempts, self.config.retry_temperature)
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
