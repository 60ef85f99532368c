"""Parse one role-play agent output into (action, text).

The agent is asked for

    ACTION: speak
    Hello, nice to meet you.

Small models (SmolLM2-135M) rarely follow that exactly and large ones add decoration, so the parser is lenient.
Rules, in order:

1. Strip code fences, markdown emphasis around the action line and surrounding whitespace.
2. A JSON object `{"action": ..., "text"|"argument"|"utterance": ...}` (the Sotopia style) is accepted.
3. `ACTION: <word>` (case-insensitive, anywhere on the first non-empty line) gives the action; the text is the rest
   of that line after the action word plus the following lines. Synonyms are normalised ("say" → speak,
   "gesture" → non-verbal, "exit" → leave, "nothing" → none, …).
4. The text is cleaned: a leading `TEXT:`/`SAY:` label, a speaker prefix (`Anna:` / `Anna Smith:` /
   `Agent A:`) and surrounding quotes are removed — when a later line starts with the speaker's own name, the text
   starts there (what came before is an echoed preamble); if the model starts writing the *other* participant's line
   (`Bob: …` on a new line) the text is cut there — the agent must not speak for the other side.
5. No recognisable action → the cleaned text becomes a `speak` turn with `parse_error` set (the content is
   usually a usable utterance). An empty result → action `none` with `parse_error` set, which the stop rule
   counts as a no-op turn. `speak`/`non-verbal` with no text are also no-ops (`none`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from clca.roleplay.schema import Action

_ACTION_SYNONYMS: dict[str, Action] = {
    "speak": "speak",
    "speaks": "speak",
    "say": "speak",
    "says": "speak",
    "talk": "speak",
    "reply": "speak",
    "respond": "speak",
    "utterance": "speak",
    "verbal": "speak",
    "non-verbal": "non-verbal",
    "nonverbal": "non-verbal",
    "non verbal": "non-verbal",
    "non-verbal communication": "non-verbal",
    "gesture": "non-verbal",
    "action": "non-verbal",
    "act": "non-verbal",
    "none": "none",
    "nothing": "none",
    "no action": "none",
    "wait": "none",
    "silence": "none",
    "pass": "none",
    "leave": "leave",
    "leaves": "leave",
    "exit": "leave",
    "end": "leave",
    "goodbye": "leave",
    "quit": "leave",
}

# Longest first so that "non-verbal communication" wins over "non-verbal" and "no action" over "none".
_ACTION_WORDS = sorted(_ACTION_SYNONYMS, key=len, reverse=True)
_ACTION_WORD_RE = "|".join(re.escape(w) for w in _ACTION_WORDS)
_ACTION_LINE_RE = re.compile(
    rf"^[\s*_#>`\-]*action[\s*_`]*[:=\-]\s*[\s*_`\"'\[(<]*({_ACTION_WORD_RE})\b[\s*_`\"'\])>]*[:.\-]?\s*(.*)$",
    re.IGNORECASE,
)
_CODE_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_TEXT_LABEL_RE = re.compile(r"^\s*(?:text|say|says|utterance|argument|output|response|reply)\s*[:=]\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’«»「」"


@dataclass(frozen=True)
class ParsedTurn:
    action: Action
    text: str
    parse_error: str | None = None

    @property
    def is_noop(self) -> bool:
        return self.action == "none"


def _speaker_prefix_re(names: list[str]) -> re.Pattern[str]:
    return _compiled_speaker_prefix(tuple(sorted({n for n in names if n}, key=len, reverse=True)))


@lru_cache(maxsize=4096)
def _compiled_speaker_prefix(names: tuple[str, ...]) -> re.Pattern[str]:
    """Compiled once per set of names: a run parses every turn of a conversation with the same two speakers."""
    generic = r"(?:agent|participant|speaker|person)\s*[a-z0-9]{1,2}|assistant|user|me|you|[ab]"
    alternatives = [re.escape(n) for n in names]
    alternatives.append(generic)
    return re.compile(rf"^\s*[*_]*(?:{'|'.join(alternatives)})[*_]*\s*(?:\([^)]*\))?\s*:\s*", re.IGNORECASE)


def _strip_quotes(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    # A lone unmatched opening quote (model cut off by max_tokens) is noise too.
    if text.count('"') == 1 and text.startswith('"'):
        text = text[1:].strip()
    return text


def _clean_text(text: str, own_names: list[str], other_names: list[str]) -> str:
    text = _CODE_FENCE_RE.sub("", text.strip()).strip()
    text = _TEXT_LABEL_RE.sub("", text)
    own_re = _speaker_prefix_re(own_names)
    lines = text.splitlines()
    # "<preamble>\n\nAnna: <utterance>": small models often echo the prompt first; the utterance starts at the
    # first line carrying the speaker's own name.
    other_re = _speaker_prefix_re(other_names) if other_names else None
    first_named = next(
        (i for i, line in enumerate(lines) if own_re.match(line) or (other_re is not None and other_re.match(line))),
        None,
    )
    start = first_named if first_named is not None and own_re.match(lines[first_named]) else 0
    text = own_re.sub("", "\n".join(lines[start:]), count=1)
    # Cut where the model starts writing the other participant's line (or a new ACTION block).
    kept: list[str] = []
    for i, line in enumerate(text.splitlines()):
        if i > 0 and (
            (other_re is not None and other_re.match(line)) or _ACTION_LINE_RE.match(line)
        ):
            break
        kept.append(line)
    text = "\n".join(kept).strip()
    text = _TEXT_LABEL_RE.sub("", text)
    return _strip_quotes(text)


def _names(first: str, full: str) -> list[str]:
    return [n for n in {first.strip(), full.strip()} if n]


def _from_json(raw: str) -> tuple[Action, str] | None:
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(raw[start : end + 1])
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    action_raw = obj.get("action") or obj.get("action_type")
    if not isinstance(action_raw, str):
        return None
    action = _ACTION_SYNONYMS.get(action_raw.strip().lower())
    if action is None:
        return None
    text = next((obj[k] for k in ("text", "argument", "utterance", "content", "message")
                 if isinstance(obj.get(k), str)), "")
    return action, text


def parse_turn(
    raw: str | None,
    own_first_name: str = "",
    own_full_name: str = "",
    other_first_name: str = "",
    other_full_name: str = "",
) -> ParsedTurn:
    """Parse an agent's raw output. Never raises: every string maps to a `ParsedTurn`."""
    own = _names(own_first_name, own_full_name)
    other = _names(other_first_name, other_full_name)
    body = _CODE_FENCE_RE.sub("", (raw or "").strip()).strip()

    action: Action | None = None
    text = ""
    from_json = _from_json(body) if "{" in body else None
    if from_json is not None:
        action, text = from_json
    else:
        lines = body.splitlines()
        first_idx = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first_idx is not None:
            # Allow a speaker prefix before the action line ("Anna: ACTION: speak").
            first_line = _speaker_prefix_re(own).sub("", lines[first_idx], count=1)
            match = _ACTION_LINE_RE.match(first_line)
            if match:
                action = _ACTION_SYNONYMS[match.group(1).lower()]
                text = "\n".join([match.group(2), *lines[first_idx + 1 :]])
            else:
                text = body
    text = _clean_text(text, own, other)

    if action is None:
        if not text:
            return ParsedTurn("none", "", "empty output")
        return ParsedTurn("speak", text, "no 'ACTION:' line; treated the output as speech")
    if action in ("speak", "non-verbal") and not text:
        return ParsedTurn("none", "", f"action '{action}' without any text; treated as no action")
    if action == "none":
        return ParsedTurn("none", "")
    return ParsedTurn(action, text)


def format_own_turn(action: Action, text: str) -> str:
    """How the agent's own past turns appear in its history: the canonical answer format (teaches the format)."""
    return f"ACTION: {action}\n{text}".rstrip()
