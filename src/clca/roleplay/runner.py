"""Two-agent role-play (METHOD stage 2), advanced in lockstep.

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
- Lockstep: all pending conversations of a group advance together, one `generate` batch per turn index. Turn t is
  always spoken by participant t % 2, so each batch goes to one backend (agent_a or agent_b).
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

from pydantic import BaseModel, Field

from clca.config import StrictModel
from clca.errors import InputDataError
from clca.jsonl import JsonlStore, stable_hash, write_json_atomic
from clca.llm.base import PENALTY_FIELDS, Backend, GenerationRequest, GenerationResult, Message
from clca.progress import progress_bar
from clca.prompts import load_template
from clca.records import PromptRef, Provenance
from clca.roleplay.parsing import format_own_turn, parse_turn
from clca.roleplay.schema import Conversation, Termination, Turn
from clca.scenarios.schema import Scenario

SYSTEM_TEMPLATE = "roleplay_agent_system.v1"
OPENING_TEMPLATE = "roleplay_opening.v1"
OTHER_TURN_TEMPLATE = "roleplay_other_turn.v1"


class AgentSampling(StrictModel):
    """Decoding of one agent. The paper samples with top_p 0.7 (temperature is not stated; ours)."""

    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(0.7, gt=0.0, le=1.0)
    max_tokens: int = Field(160, ge=1, description="per turn")
    repetition_penalty: float | None = Field(None, gt=0.0, description="local models (and vLLM): >1 discourages "
                                             "tokens already in prompt or output (transformers semantics)")
    no_repeat_ngram_size: int | None = Field(None, ge=1, description="local models: no n-gram occurs twice")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-compatible (and local)")
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-compatible (and local)")


class RoleplayConfig(StrictModel):
    max_turns: int = Field(10, ge=1, description="turns per conversation (both agents together)")
    max_idle_turns: int = Field(2, ge=1, description="stop after this many consecutive no-op turns")
    conversations_per_scenario: int = Field(2, ge=1)
    seed: int = 0
    agent_a: AgentSampling = Field(default_factory=AgentSampling)  # participant 0 (speaks first)
    agent_b: AgentSampling = Field(default_factory=AgentSampling)  # participant 1
    group_size: int = Field(
        64, ge=1, description="local models: conversations advanced in lockstep, one batch per turn; HTTP backends: "
        "at least this many conversations in progress (and at least twice the backend's concurrency)"
    )
    retry_errors: bool = Field(False, description="regenerate conversations that ended with termination 'error'")


class RoleplaySummary(BaseModel):
    output: str
    scenarios: int
    conversations: int  # in the output file after this run
    generated: int  # written by this run
    skipped_existing: int
    terminations: dict[str, int]
    turns_mean: float
    words_per_turn_mean: float
    parse_errors: int
    seconds: float


def summary_path(out_path: str | Path) -> Path:
    """`conversations.jsonl` → `conversations.summary.json`."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".summary.json")


def load_scenarios(source: str | Path | Sequence[Scenario]) -> list[Scenario]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputDataError(f"{path}: scenarios file not found — run `clca scenarios` first or check the path")
        scenarios = JsonlStore(path, Scenario).read()
    else:
        scenarios = list(source)
    seen: set[str] = set()
    for s in scenarios:
        if s.id in seen:
            raise InputDataError(f"scenario id {s.id!r} occurs twice — scenario ids must be unique")
        seen.add(s.id)
    return scenarios


def conversation_seed(run_seed: int, scenario_id: str, sample_index: int) -> int:
    return int(stable_hash([run_seed, scenario_id, sample_index]), 16) % (2**31)


def resolve_culture(code: str) -> tuple[str, str | None]:
    """(culture name, verbal Hofstede + Inglehart–Welzel description); no description for 'generic' scenarios."""
    if code.lower() == "generic":
        return "", None
    from clca.cultures import get_culture  # the culture-card stage's public API; ClcaError for unknown codes

    card = get_culture(code)
    return card.name, card.description


def _template_refs() -> list[PromptRef]:
    return [PromptRef(**load_template(n).provenance()) for n in (SYSTEM_TEMPLATE, OPENING_TEMPLATE, OTHER_TURN_TEMPLATE)]


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

    Resumable: conversations already in `out_path` (by id) are skipped. `on_conversation` is called after each
    conversation is durably written.
    """
    config = config or RoleplayConfig()
    agent_b = agent_b or agent_a
    started = time.perf_counter()
    scenario_list = load_scenarios(scenarios)
    cultures = {s.culture: resolve_culture(s.culture) for s in scenario_list}  # fail early on unknown cultures

    store: JsonlStore[Conversation] = JsonlStore(out_path, Conversation)
    if config.retry_errors and store.exists():
        existing = store.read()
        if any(c.termination == "error" for c in existing):
            store.write_all(c for c in existing if c.termination != "error")
    done = store.keys()

    pending: list[_Running] = []
    skipped = 0
    for scenario in scenario_list:
        for k in range(config.conversations_per_scenario):
            state = _Running(scenario, k, conversation_seed(config.seed, scenario.id, k))
            if state.id in done:
                skipped += 1
            else:
                pending.append(state)

    refs = _template_refs()
    provenances = tuple(
        Provenance(
            model=backend.identity,
            prompts=refs,
            sampling={**sampling.model_dump(), "max_turns": config.max_turns, "max_idle_turns": config.max_idle_turns},
        )
        for backend, sampling in ((agent_a, config.agent_a), (agent_b, config.agent_b))
    )

    def conversation(state: _Running) -> Conversation:
        return Conversation(
            id=state.id,
            scenario=state.scenario,
            sample_index=state.sample_index,
            seed=state.seed,
            turns=state.turns,
            termination=state.termination or "max_turns",
            error=state.error,
            agent_provenance=tuple(p.model_copy(update={"seed": state.seed}) for p in provenances),
        )

    def write(finished: list[_Running]) -> None:
        """One durable append for the conversations that ended together."""
        if not finished:
            return
        conversations = [conversation(state) for state in finished]
        store.append(conversations)
        for state in finished:
            state.rendered.clear()  # the prompt pieces are not needed any more; a long run keeps every state
        if on_conversation is not None:
            for c in conversations:
                on_conversation(c)

    turns = _TurnLogic(config, cultures, agent_a, agent_b)
    with progress_bar(len(pending) * config.max_turns, "role-play turns") as advance:
        if agent_a.supports_submit and agent_b.supports_submit:
            # about twice the backends' concurrency in progress keeps the server busy while answers are handled
            # here; a bounded window also means conversations finish (and are written) all along a long run —
            # with all started at once, every turn t+1 would queue behind all turns t and a crash would lose most
            window = max(config.group_size, 2 * max(agent_a.max_in_flight, agent_b.max_in_flight))
            _advance_pipelined(pending, turns, write, advance, window)
        else:
            _advance_lockstep(pending, turns, write, advance, config.group_size)

    conversations = store.read()
    if pending:  # canonical order (scenario, then sample), whatever order conversations finished in
        samples = itertools.product(scenario_list, range(config.conversations_per_scenario))
        rank = {f"{s.id}#{k}": n for n, (s, k) in enumerate(samples)}
        ordered = sorted(conversations, key=lambda c: rank.get(c.id, len(rank)))
        if [c.id for c in ordered] != [c.id for c in conversations]:
            store.write_all(ordered)
            conversations = ordered

    summary = summarise(conversations, out_path, len(scenario_list), len(pending), skipped, time.perf_counter() - started)
    write_json_atomic(summary_path(out_path), summary.model_dump(mode="json"))
    return summary


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
            seed=int(stable_hash([state.seed, t]), 16) % (2**31),
            **sampling.model_dump(include=set(PENALTY_FIELDS)),
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
