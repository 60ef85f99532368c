"""Two-agent role-play (METHOD stage 2).

Design decisions (the method is silent on them):
- History is given to each agent as chat messages from its own perspective: its own past turns are `assistant`
  messages in the canonical `ACTION: …` format (which keeps reminding small models of the format), the other
  participant's turns are `user` messages ("Bob says: "…"" + "Your turn, Anna."). Consecutive user parts are
  merged so every prompt alternates user/assistant and ends with a user message.
- Each agent's system prompt holds the setting, relationship, both public profiles, the culture paragraph and ONLY
  its own goal and secret.
- Stop rule: an agent `leave`s → "leave"; `max_idle_turns` consecutive no-op turns (action none, including empty or
  unusable outputs) → "idle"; `max_turns` reached → "max_turns"; a backend failure that persisted through the
  backend's own retries → "error" with the reason (turns so far are kept for inspection; downstream stages skip
  such conversations).
- Scheduling: on HTTP backends every conversation sends its next turn as soon as its last one is answered
  (pipelined); local models advance a group of conversations in lockstep, one `generate` batch per turn index.
  Both give the same records (`_TurnLogic` holds the decisions, the two schedulers only order the requests).
- Seeds: conversation seed = hash(run seed, scenario id, sample index); a turn's request seed = hash(conversation
  seed, turn index). Deterministic, and distinct across samples of one scenario.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from clca import interrupts
from clca.asking import derive_seed
from clca.cultures import resolve_culture
from clca.errors import InputDataError
from clca.jsonl import JsonlStore
from clca.llm.base import PENALTY_FIELDS, Backend, GenerationRequest, GenerationResult, Message
from clca.progress import progress_bar
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.resumable import StageOutput, read_input
from clca.roleplay.config import RoleplayConfig
from clca.roleplay.parsing import format_own_turn, parse_turn
from clca.roleplay.schema import Conversation, RoleplaySummary, Termination, Turn
from clca.scenarios.schema import Scenario

SYSTEM_TEMPLATE = "roleplay_agent_system.v1"
OPENING_TEMPLATE = "roleplay_opening.v1"
OTHER_TURN_TEMPLATE = "roleplay_other_turn.v1"


def load_scenarios(source: str | Path | Sequence[Scenario]) -> list[Scenario]:
    """Scenarios from a JSONL file (or as given); an empty or missing file and duplicate ids are errors."""
    if isinstance(source, (str, Path)):
        scenarios = read_input(source, Scenario, what="scenarios", produced_by="clca scenarios")
    else:
        scenarios = list(source)
        if not scenarios:
            raise InputDataError("no scenarios given — nothing to role-play")
    seen: set[str] = set()
    for s in scenarios:
        if s.id in seen:
            raise InputDataError(f"scenario id {s.id!r} occurs twice — scenario ids must be unique")
        seen.add(s.id)
    return scenarios


def conversation_seed(run_seed: int, scenario_id: str, sample_index: int) -> int:
    return derive_seed(run_seed, scenario_id, sample_index)


def _template_refs() -> list[PromptRef]:
    names = (SYSTEM_TEMPLATE, OPENING_TEMPLATE, OTHER_TURN_TEMPLATE)
    return [PromptRef(**load_template(n).provenance()) for n in names]


def agent_messages(
    scenario: Scenario, speaker: int, turns: Sequence[Turn], culture_name: str, culture_description: str | None,
    rendered: dict[tuple, str] | None = None,
) -> list[Message]:
    """The chat prompt of participant `speaker` before its next turn (own perspective; only own goal/secret).

    `rendered`, when given, memoises the rendered pieces of one conversation (system prompt and opening per
    speaker, each turn as the other participant sees it), so that a conversation of n turns renders O(n) pieces
    instead of O(n²); it must be used for one scenario only.
    """
    rendered = {} if rendered is None else rendered
    me = scenario.participants[speaker]
    other = scenario.participants[1 - speaker]

    def piece(key: tuple, render: Callable[[], str]) -> str:
        if key not in rendered:
            rendered[key] = render()
        return rendered[key]

    system = piece(("system", speaker), lambda: load_template(SYSTEM_TEMPLATE).render(
        me=me,
        participants=scenario.participants,
        setting=scenario.setting,
        relationship=scenario.relationship.replace("_", " "),
        culture_name=culture_name,
        culture_description=culture_description,
    ))
    messages = [Message(role="system", content=system)]
    user_parts = [piece(("opening", speaker),
                        lambda: load_template(OPENING_TEMPLATE).render(me=me, other=other, first=speaker == 0))]
    for turn in turns:
        if turn.speaker == speaker:
            messages.append(Message(role="user", content="\n\n".join(user_parts)))
            user_parts = []
            messages.append(Message(role="assistant", content=format_own_turn(turn.action, turn.text)))
        else:
            user_parts.append(piece(("turn", turn.index), lambda turn=turn: load_template(OTHER_TURN_TEMPLATE).render(
                name=other.first_name, action=turn.action, text=turn.text, me_name=me.first_name)))
    if user_parts:
        messages.append(Message(role="user", content="\n\n".join(user_parts)))
    return messages


@dataclass
class _Running:
    scenario: Scenario
    sample_index: int
    seed: int
    turns: list[Turn] = field(default_factory=list)
    idle: int = 0
    termination: Termination | None = None
    error: str | None = None
    rendered: dict[tuple, str] = field(default_factory=dict)  # agent_messages' memo for this conversation

    @property
    def id(self) -> str:
        return f"{self.scenario.id}#{self.sample_index}"


def run_roleplay(
    scenarios: str | Path | Sequence[Scenario],
    out_path: str | Path,
    agent_a: Backend,
    agent_b: Backend | None = None,
    config: RoleplayConfig | None = None,
    *,
    on_conversation: Callable[[Conversation], None] | None = None,
) -> RoleplaySummary:
    """Role-play every scenario `conversations_per_scenario` times; append conversations to `out_path` (JSONL).

    Resumable: conversations already in `out_path` (by id) are skipped.

    Args:
        scenarios: a scenario JSONL file, or the scenarios themselves.
        out_path: the conversations file (appended to).
        agent_a: the backend of participant 0 (who speaks first).
        agent_b: the backend of participant 1 (default: `agent_a`).
        config: turns, sampling and seeds.
        on_conversation: called after each conversation is durably written.

    Returns:
        The summary, also written to `<out>.summary.json`.
    """
    config = config or RoleplayConfig()
    agent_b = agent_b or agent_a
    started = time.perf_counter()
    scenario_list = load_scenarios(scenarios)
    cultures = {s.culture: resolve_culture(s.culture) for s in scenario_list}  # fail early on unknown cultures
    output = StageOutput(out_path, Conversation)
    if config.retry_errors and output.records.exists():
        existing = output.records.read()
        if any(c.termination == "error" for c in existing):
            output.records.write_all(c for c in existing if c.termination != "error")
    done = output.done()
    states = [_Running(s, k, conversation_seed(config.seed, s.id, k))
              for s in scenario_list for k in range(config.conversations_per_scenario)]
    pending = [state for state in states if state.id not in done]

    turns = _TurnLogic(config, cultures, agent_a, agent_b)
    writer = _Writer(output.records, turns, on_conversation)
    with progress_bar(len(pending) * config.max_turns, "role-play turns") as advance:
        if agent_a.supports_submit and agent_b.supports_submit:
            # about twice the backends' concurrency in progress keeps the server busy while answers are handled
            # here; a bounded window also means conversations finish (and are written) all along a long run —
            # with all started at once, every turn t+1 would queue behind all turns t and a crash would lose most
            window = max(config.group_size, 2 * max(agent_a.max_in_flight, agent_b.max_in_flight))
            _advance_pipelined(pending, turns, writer.write, advance, window)
        else:
            _advance_lockstep(pending, turns, writer.write, advance, config.group_size)

    conversations = _in_canonical_order(output.records, [state.id for state in states], rewrite=bool(pending))
    summary = summarise(conversations, out_path, len(scenario_list), len(pending), len(states) - len(pending),
                        time.perf_counter() - started)
    output.write_summary(summary)
    return summary


def _in_canonical_order(store: JsonlStore[Conversation], order: list[str], rewrite: bool) -> list[Conversation]:
    """The file's conversations in scenario-then-sample order, whatever order they finished in (rewritten once)."""
    conversations = store.read()
    if not rewrite:
        return conversations
    rank = {cid: n for n, cid in enumerate(order)}
    ordered = sorted(conversations, key=lambda c: rank.get(c.id, len(rank)))
    if [c.id for c in ordered] != [c.id for c in conversations]:
        store.write_all(ordered)
    return ordered


class _Writer:
    """Turns finished conversation states into records and appends them durably, one append per call."""

    def __init__(self, store: JsonlStore[Conversation], turns: _TurnLogic,
                 on_conversation: Callable[[Conversation], None] | None):
        self.store, self.on_conversation = store, on_conversation
        refs = _template_refs()
        config = turns.config
        self.provenances = tuple(
            Provenance(model=backend.identity, prompts=refs,
                       sampling={**sampling.model_dump(), "max_turns": config.max_turns,
                                 "max_idle_turns": config.max_idle_turns})
            for backend, sampling in zip(turns.backends, turns.sampling, strict=True)
        )

    def conversation(self, state: _Running) -> Conversation:
        return Conversation(
            id=state.id, scenario=state.scenario, sample_index=state.sample_index, seed=state.seed,
            turns=state.turns, termination=state.termination or "max_turns", error=state.error,
            agent_provenance=tuple(p.model_copy(update={"seed": state.seed}) for p in self.provenances),
        )

    def write(self, finished: list[_Running]) -> None:
        if not finished:
            return
        conversations = [self.conversation(state) for state in finished]
        self.store.append(conversations)
        for state in finished:
            state.rendered.clear()  # the prompt pieces are not needed any more; a long run keeps every state
        if self.on_conversation is not None:
            for c in conversations:
                self.on_conversation(c)


class _TurnLogic:
    """What a conversation sends next and what an answer does to it — shared by both ways of advancing."""

    def __init__(self, config: RoleplayConfig, cultures: dict[str, tuple[str, str | None]], agent_a: Backend,
                 agent_b: Backend):
        self.config, self.cultures = config, cultures
        self.backends = (agent_a, agent_b)
        self.sampling = (config.agent_a, config.agent_b)

    def backend(self, state: _Running) -> Backend:
        return self.backends[len(state.turns) % 2]

    def request(self, state: _Running) -> GenerationRequest:
        t = len(state.turns)  # a conversation that goes on has one turn per index so far
        speaker, sampling = t % 2, self.sampling[t % 2]
        name, description = self.cultures[state.scenario.culture]
        return GenerationRequest(
            messages=agent_messages(state.scenario, speaker, state.turns, name, description, state.rendered),
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=derive_seed(state.seed, t),
            **sampling.model_dump(include=set(PENALTY_FIELDS)),
            routing_key=state.id,  # every turn to the same replica: it holds the conversation's prefix in cache
        )

    def record(self, state: _Running, result: GenerationResult) -> bool:
        """Add the turn answered by `result` to `state`; True when the conversation has ended."""
        t = len(state.turns)
        speaker = t % 2
        if not result.ok:
            state.termination = "error"
            state.error = f"turn {t}: backend {self.backends[speaker].identity.model} failed: {result.error}"
            return True
        me = state.scenario.participants[speaker]
        other = state.scenario.participants[1 - speaker]
        parsed = parse_turn(result.text, me.first_name, me.full_name, other.first_name, other.full_name)
        state.turns.append(Turn(index=t, speaker=speaker, speaker_name=me.full_name, action=parsed.action,
                                text=parsed.text, raw=result.text, parse_error=parsed.parse_error))
        state.idle = state.idle + 1 if parsed.is_noop else 0
        if parsed.action == "leave":
            state.termination = "leave"
        elif state.idle >= self.config.max_idle_turns:
            state.termination = "idle"
        elif t == self.config.max_turns - 1:
            state.termination = "max_turns"
        return state.termination is not None

    def unused_turns(self, state: _Running) -> int:
        """Progress-bar slots a just-finished conversation closes: its last turn plus those it will not use (the
        bar counts every conversation at max_turns). A failed turn was never appended."""
        answered = len(state.turns) if state.termination == "error" else len(state.turns) - 1
        return self.config.max_turns - answered


def _advance_lockstep(pending: list[_Running], turns: _TurnLogic, write: Callable[[list[_Running]], None],
                      advance: Callable[[int], None], group_size: int) -> None:
    """Batch backends (local models): the conversations of a group advance together, one `generate` batch per
    turn index; turn t is always spoken by participant t % 2, so each batch goes to one backend."""
    for start in range(0, len(pending), group_size):
        active = pending[start : start + group_size]
        while active:
            interrupts.check()
            backend = turns.backend(active[0])
            results = backend.generate([turns.request(state) for state in active])
            finished, active_next = [], []
            for state, result in zip(active, results, strict=True):
                (finished if turns.record(state, result) else active_next).append(state)
            for state in finished:
                advance(turns.unused_turns(state))
            advance(len(active_next))
            write(finished)
            active = active_next


def _advance_pipelined(pending: list[_Running], turns: _TurnLogic, write: Callable[[list[_Running]], None],
                       advance: Callable[[int], None], window: int) -> None:
    """Backends that take requests one by one (HTTP servers): every conversation sends its next turn as soon as
    its last one is answered, so no conversation waits for the slowest turn of a batch and the server is kept at
    the backend's concurrency. At most `window` conversations are in progress (a new one starts when one ends),
    which bounds memory on large runs. Answers are handled on this thread, in the order they arrive."""
    answered: queue.SimpleQueue[tuple[_Running, Future[GenerationResult]]] = queue.SimpleQueue()
    in_flight: dict[Future[GenerationResult], _Running] = {}
    not_started = iter(pending)

    def send(state: _Running) -> None:
        future = turns.backend(state).submit(turns.request(state))
        in_flight[future] = state
        future.add_done_callback(lambda done, state=state: answered.put((state, done)))

    try:
        for state in itertools.islice(not_started, window):
            send(state)
        while in_flight:
            batch = [answered.get()]
            interrupts.check()
            while not answered.empty():  # handle everything that has arrived before writing once
                batch.append(answered.get_nowait())
            finished = []
            for state, future in batch:
                del in_flight[future]
                if turns.record(state, future.result()):
                    finished.append(state)
                    advance(turns.unused_turns(state))
                else:
                    advance(1)
                    send(state)
            write(finished)
            for following in itertools.islice(not_started, len(finished)):  # their places in the window
                send(following)
    finally:
        for future in in_flight:  # an error or Ctrl-C: do not leave requests running behind our back
            future.cancel()


def summarise(
    conversations: Sequence[Conversation], out_path: str | Path, n_scenarios: int, generated: int, skipped: int,
    seconds: float,
) -> RoleplaySummary:
    turns = [t for c in conversations for t in c.turns]
    spoken = [t for t in turns if t.action in ("speak", "non-verbal", "leave") and t.text]
    return RoleplaySummary(
        output=str(out_path),
        scenarios=n_scenarios,
        conversations=len(conversations),
        generated=generated,
        skipped_existing=skipped,
        terminations=dict(Counter(c.termination for c in conversations)),
        turns_mean=round(len(turns) / len(conversations), 3) if conversations else 0.0,
        words_per_turn_mean=round(sum(len(t.text.split()) for t in spoken) / len(spoken), 2) if spoken else 0.0,
        parse_errors=sum(t.parse_error is not None for t in turns),
        seconds=round(seconds, 3),
    )
