"""Turn an LLM's answer into scenario fields: find the JSON object, normalise keys, validate.

Lenient where leniency cannot change meaning (code fences, text around the object, `name` instead of
`first_name`/`last_name`, `"34"` for an age, unknown extra keys dropped), strict where it could (a missing goal or
first name, a relationship outside Sotopia's six, not exactly two people): those are errors that trigger a repair
prompt and, finally, a recorded Failure.
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from pydantic import ValidationError

from clca.scenarios.schema import Participant, Relationship

RELATIONSHIPS: tuple[str, ...] = get_args(Relationship)
PARTICIPANT_KEYS = set(Participant.model_fields)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_KEY_ALIASES = {"secrets": "secret", "goals": "goal", "social_goal": "goal", "job": "occupation",
                "firstname": "first_name", "lastname": "last_name", "surname": "last_name", "sex": "gender",
                "personality_and_values": "background", "personality": "background"}


class ScenarioParseError(ValueError):
    """The answer is not a usable scenario; the message says what to fix (it goes into the repair prompt)."""


_MAX_STARTS = 200  # "{" positions tried per candidate: bounds the time a reply full of braces can cost


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:  # which value the model meant is unknowable: the answer is rejected, never the last one taken
        raise ScenarioParseError(f"duplicate key {dupes[0][:50]!r} in the JSON object — give each key once")
    return dict(pairs)


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in `text` (inside code fences if there are any; trailing text ignored).

    Args:
        text: a model's answer (any string).

    Returns:
        The object.

    Raises:
        ScenarioParseError: no usable object (invalid, nested too deeply, duplicate keys); the message says why.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)
    last_error = "no JSON object found"
    for candidate in candidates:
        starts = (i for i, ch in enumerate(candidate) if ch == "{")
        for _, start in zip(range(_MAX_STARTS), starts, strict=False):
            try:
                obj, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError as exc:
                last_error = f"invalid JSON ({exc.msg} at character {exc.pos - start})"
                continue
            except RecursionError:  # a hostile or runaway reply: a parser limit, reported, never a crash
                raise ScenarioParseError("the JSON is nested too deeply — answer with one flat JSON object") from None
            if isinstance(obj, dict):
                return obj
    raise ScenarioParseError(last_error)


def _person(raw: Any, label: str) -> Participant:
    if not isinstance(raw, dict):
        raise ScenarioParseError(f'"{label}" must be an object with first_name, goal, …')
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        key = _KEY_ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
        if key == "name" and isinstance(value, str) and "first_name" not in raw:
            first, _, last = value.strip().partition(" ")
            fields.setdefault("first_name", first)
            fields.setdefault("last_name", last)
        elif key in PARTICIPANT_KEYS:
            if isinstance(value, list):  # e.g. several secrets
                value = " ".join(str(v) for v in value)
            fields[key] = value
    for key in ("first_name", "last_name", "gender", "occupation", "background", "public_info", "secret", "goal"):
        if key in fields and fields[key] is not None and not isinstance(fields[key], str):
            fields[key] = str(fields[key])
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip()
    if fields.get("age") in ("", None):
        fields.pop("age", None)
    try:
        return Participant.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<object>"
        raise ScenarioParseError(f'"{label}.{loc}": {first["msg"]}') from None


def parse_scenario_answer(text: str, *, need_relationship: bool = False) -> dict[str, Any]:
    """`{"setting", "participants", ["relationship"]}` from an answer, or ScenarioParseError."""
    obj = extract_json_object(text)
    obj = {str(k).strip().lower(): v for k, v in obj.items()}
    setting = obj.get("setting")
    if not isinstance(setting, str) or not setting.strip():
        raise ScenarioParseError('"setting" is missing or empty')
    if "person1" in obj or "person2" in obj:
        people = [obj.get("person1"), obj.get("person2")]
    else:
        people = obj.get("participants") or obj.get("agents")
        if not isinstance(people, list) or len(people) != 2:
            raise ScenarioParseError('need "person1" and "person2"')
    participants = (_person(people[0], "person1"), _person(people[1], "person2"))
    result: dict[str, Any] = {"setting": setting.strip(), "participants": participants}
    if need_relationship:
        relationship = str(obj.get("relationship", "")).strip().lower().replace(" ", "_")
        if relationship not in RELATIONSHIPS:
            raise ScenarioParseError(f'"relationship" must be one of {", ".join(RELATIONSHIPS)}')
        result["relationship"] = relationship
    return result
