"""A deterministic scripted responder for `OpenAICompatServer` that answers every clca data-generation prompt.

    with OpenAICompatServer(responder=ScriptedResponder()) as server:
        ...  # models: {default: {spec: "openai:scripted@<server.base_url>"}}

It recognises each prompt type by its template text and answers it the way a well-behaved LLM would:

- scenario adaptation (`scenario_adapt`): a scenario JSON object whose names and details depend on the request;
- role-play turns (`roleplay_agent_system`): `ACTION: speak` lines, then `ACTION: leave` after a few own turns;
- judge parts (`judge_quality`, `judge_culture`, `judge_meta`, generate mode): `LABEL:/CONFIDENCE:/REASON:` replies,
  with a fixed share of conversations judged bad so the keep rule has something to drop;
- intents (`intents_label`, `intents_kind` generate mode): a "To …" sentence and `generic`/`cultural`.

Replies are a pure function of the request's messages (a SHA-256 of their text picks every choice), never of call
order, timing or thread — so concurrent runs, retried requests and resumed runs get identical answers, which is
what the crash/resume and fault tests compare against. Sampling parameters (seed, temperature) are ignored on
purpose: a re-asked prompt gets the same reply, like a greedy model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRST_NAMES = ("Lena", "Jonas", "Mia", "Felix", "Emma", "Paul", "Hanna", "Lukas", "Sofia", "Elias")
LAST_NAMES = ("Becker", "Wagner", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf")
OCCUPATIONS = ("teacher", "nurse", "engineer", "baker", "student", "accountant", "farmer", "pharmacist")
UTTERANCES = (
    "Good morning, thank you for taking the time to meet me.",
    "I understand your point, but I see it a little differently.",
    "Could we perhaps find a solution that works for both of us?",
    "That is kind of you. I appreciate the offer.",
    "I would rather we settle this properly and on time.",
    "Let me think about it for a moment before I answer.",
    "In my family we always talk these things through together.",
    "I hope you do not mind me asking so directly.",
)
GESTURES = ("nods slowly", "smiles politely", "looks at the floor for a moment", "offers a cup of tea")
INTENTS = (
    "To greet the other person politely, as expected when meeting someone older.",
    "To ask for the other person's opinion.",
    "To decline the offer indirectly, so as not to cause a loss of face.",
    "To thank the other person.",
    "To propose a compromise.",
    "To close the conversation.",
)


def request_text(body: dict[str, Any]) -> str:
    """All message contents of a chat request (or a completion prompt), joined."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return str(body.get("prompt", ""))


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:8], "big")


def _pick(options: tuple[str, ...], *key: str) -> str:
    return options[_digest(*key) % len(options)]


@dataclass
class ScriptedResponder:
    """Callable responder; the knobs set how the scripted "model" behaves.

    `turns_before_leave`: own turns an agent speaks before it leaves (so conversations end before max_turns).
    `bad_quality_every`: one conversation in this many is judged bad quality (0 = never).
    """

    turns_before_leave: int = 3
    bad_quality_every: int = 4

    def __call__(self, body: dict[str, Any]) -> str:
        text = request_text(body)
        if "Rewrite this social scenario" in text:
            return self.scenario(text)
        if "in a role-play of a social interaction" in text:
            return self.roleplay_turn(body, text)
        if "reviewing two judgements" in text:
            return self.judge_meta(text)
        if "culturally aligned" in text:
            return self.judge_culture(text)
        if "Is this conversation of good or bad quality" in text:
            return self.judge_quality(text)
        if "Is this intent generic" in text:
            return self.intent_kind(text)
        if "intent in the last turn" in text:
            return self.intent(text)
        return f"scripted responder: unrecognised prompt ({text[:60]!r})"

    # --- scenarios ---------------------------------------------------------------------------------------------
    def scenario(self, text: str) -> str:
        seed_json = text.split("Scenario:", 1)[-1]
        setting = "A conversation between neighbours about a shared garden."
        match = re.search(r'"setting"\s*:\s*"((?:[^"\\]|\\.)*)"', seed_json)
        if match:
            setting = json.loads(f'"{match.group(1)}"')

        def person(slot: str) -> dict[str, Any]:
            return {
                "first_name": _pick(FIRST_NAMES, seed_json, slot, "first"),
                "last_name": _pick(LAST_NAMES, seed_json, slot, "last"),
                "age": 20 + _digest(seed_json, slot, "age") % 50,
                "gender": "woman" if _digest(seed_json, slot, "gender") % 2 else "man",
                "occupation": _pick(OCCUPATIONS, seed_json, slot, "job"),
                "background": "Grew up in a small town and moved to the city for work.",
                "public_info": "Known to be reliable and friendly.",
                "secret": "Is worried about money this year.",
                "goal": f"Reach an agreement that keeps the relationship good ({slot}).",
            }

        first, second = person("person1"), person("person2")
        if first["first_name"] == second["first_name"]:  # two participants must be distinguishable
            second["first_name"] = FIRST_NAMES[(FIRST_NAMES.index(first["first_name"]) + 1) % len(FIRST_NAMES)]
        return json.dumps({"setting": f"In a town in the culture: {setting}", "person1": first, "person2": second})

    # --- role-play ---------------------------------------------------------------------------------------------
    def roleplay_turn(self, body: dict[str, Any], text: str) -> str:
        messages = body.get("messages") or []
        own_turns = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        if own_turns >= self.turns_before_leave:
            return "ACTION: leave\nThank you, I have to go now. Goodbye."
        if _digest(text, "gesture") % 5 == 0:
            return f"ACTION: non-verbal\n{_pick(GESTURES, text)}"
        utterance = _pick(UTTERANCES, text)
        if utterance in text:  # a scripted speaker does not repeat itself (the quality gate would reject the loop)
            utterance = _pick(tuple(u for u in UTTERANCES if u not in text) or UTTERANCES, text)
        return f"ACTION: speak\n{utterance}"

    # --- judge -------------------------------------------------------------------------------------------------
    @staticmethod
    def _transcript(text: str) -> str:
        return text.split("Conversation:", 1)[-1]

    def judge_quality(self, text: str) -> str:
        transcript = self._transcript(text)
        if self.bad_quality_every and _digest(transcript, "quality") % self.bad_quality_every == 0:
            return "LABEL: bad\nCONFIDENCE: very confident\nREASON: The last turns repeat each other."
        return "LABEL: good\nCONFIDENCE: very confident\nREASON: Coherent and fits the setting."

    def judge_culture(self, text: str) -> str:
        if _digest(self._transcript(text), "culture") % 3 == 0:
            return "LABEL: not aligned\nCONFIDENCE: confident\nREASON: Too blunt for the setting."
        return "LABEL: aligned\nCONFIDENCE: confident\nREASON: Polite and indirect, as expected."

    def judge_meta(self, text: str) -> str:
        quality_bad = "Judgement of quality (good = not repetitive and matching the setting): bad" in text
        verdict = "bad" if quality_bad else "good"
        return f"CRITIQUE: Both judgements are reasonable and well argued.\nLABEL: {verdict}\nCONFIDENCE: confident"

    # --- intents -----------------------------------------------------------------------------------------------
    def intent(self, text: str) -> str:
        return _pick(INTENTS, text)

    def intent_kind(self, text: str) -> str:
        return "cultural" if _digest(text, "kind") % 2 else "generic"


# Keys whose values legitimately differ between two runs of the same deterministic pipeline: wall-clock times and
# latencies, retry counters (a retried request gives the same content, after more attempts) and the test server's
# URL (each test server gets a free port).
VOLATILE_KEYS = frozenset({"created_at", "latency_s", "latency_ms", "seconds", "started_at", "finished_at",
                           "elapsed_s", "attempts", "updated_at", "server"})


def scripted_scorer(prompt: str) -> list[tuple[str, float | None]]:
    """Prompt log-probabilities for `OpenAICompatServer(scorer=…)` without a model: one "token" per character
    (the first gets None, as vLLM sends). A character's log-probability depends on the character and on a digest
    of the conversation so far — the text before the last "assistant" (the generation prompt of chat templates) —
    so option choices are reproducible and differ from prompt to prompt, as the judge and intents need."""
    salt = _digest(prompt[: prompt.rfind("assistant")]) % 7
    return [(ch, None if k == 0 else -1.0 - ((ord(ch) + salt) % 7) / 3.0) for k, ch in enumerate(prompt)]


def stable_content(value: Any, volatile: frozenset[str] = VOLATILE_KEYS) -> Any:
    """A JSON value (or pydantic record) with every volatile key removed, at any depth — what two runs of the
    same deterministic pipeline must agree on exactly."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: stable_content(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [stable_content(v, volatile) for v in value]
    return value


def jsonl_artifacts(run_dir: str | Path) -> dict[str, list[Any]]:
    """Every JSONL file under `run_dir` (relative path → its records as `stable_content`), for comparing two runs.

    Raises ValueError naming the file and line when any line — including the last — is not a whole JSON object:
    after a resumed run no torn line may survive.
    """
    run_dir = Path(run_dir)
    out: dict[str, list[Any]] = {}
    for path in sorted(run_dir.rglob("*.jsonl")):
        records = []
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raise ValueError(f"{path}: torn last line (no newline)")
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    records.append(stable_content(json.loads(line)))
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: not JSON ({exc})") from None
        out[str(path.relative_to(run_dir))] = records
    return out


def torn_tails(run_dir: str | Path) -> list[str]:
    """JSONL files under `run_dir` whose complete lines are not all valid JSON (a torn *last* line, which the
    stores drop on resume, is allowed and not reported)."""
    bad = []
    for path in sorted(Path(run_dir).rglob("*.jsonl")):
        raw = path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        for lineno, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                if line.strip():
                    json.loads(line)
            except ValueError:
                bad.append(f"{path}:{lineno}")
    return bad
