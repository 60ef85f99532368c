"""Import scenarios from Sotopia exports and from the CLCA release format.

Sotopia (`sotopia.database`): a JSON array, JSON object or JSONL file whose records are any mix of
- EnvironmentProfile {pk, codename, source, scenario, agent_goals: [goal1, goal2], relationship: 0-5 or name, …}
  with the two agents either embedded (`agents` or `agent_profiles`: two AgentProfile objects) or referenced by an
  EnvAgentComboStorage record {env_id, agent_ids: [pk1, pk2]} in the same file;
- AgentProfile {pk, first_name, last_name, age, occupation, gender, public_info, personality_and_values, secret, …}.
Sotopia goals often carry hints in `<extra_info>`/`<strategy_hint>` tags; the text is kept as is.

CLCA release format (one JSON object per line):
  {culture, persona, setting, person1: {background, occupation, goal, secrets}, person2: {…}}
Names/age/gender are taken when present (`name` or `first_name`/`last_name`); otherwise the participants are named
"Person 1"/"Person 2" (ours: the format has no name field). `persona` (a shared description of the two people) is
appended to the setting, which both agents see.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clca.errors import ClcaError, InputDataError
from clca.jsonl import split_records
from clca.scenarios.parsing import RELATIONSHIPS
from clca.scenarios.schema import Participant, Scenario


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs from a JSON array/object or a JSONL file."""
    if not path.is_file():
        raise InputDataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputDataError(f"{path}: not UTF-8 text — save it as UTF-8") from None
    if not text.strip():
        raise InputDataError(f"{path}: file is empty")
    try:  # a JSON document (array, or one object, possibly pretty-printed) …
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("["):
            raise InputDataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}) — fix the syntax") from None
        data = None  # … else JSON lines, parsed below with per-line errors
    if data is not None:
        data = data if isinstance(data, list) else [data]
        out = []
        for i, rec in enumerate(data, start=1):
            if not isinstance(rec, dict):
                raise InputDataError(f"{path}: item {i}: expected a JSON object, got {type(rec).__name__}")
            out.append((i, rec))
        return out
    out = []
    for lineno, line in enumerate(split_records(text), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{path}:{lineno}: invalid JSON ({exc.msg}) — fix or delete this line") from None
        if not isinstance(rec, dict):
            raise InputDataError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        out.append((lineno, rec))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value).strip()


def _participant(fields: dict[str, Any], where: str) -> Participant:
    try:
        return Participant.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputDataError(f"{where}: field '{loc}': {first['msg']} — fix the record") from None


def _sotopia_agent(agent: dict[str, Any], goal: str, where: str) -> Participant:
    background = " ".join(x for x in (_text(agent.get("personality_and_values")),
                                      _text(agent.get("decision_making_style"))) if x)
    age = agent.get("age")
    return _participant({
        "first_name": _text(agent.get("first_name")), "last_name": _text(agent.get("last_name")),
        "age": age if age not in ("", 0) else None, "gender": _text(agent.get("gender")),
        "occupation": _text(agent.get("occupation")), "background": background,
        "public_info": _text(agent.get("public_info")), "secret": _text(agent.get("secret")), "goal": goal,
    }, where)


def _relationship(value: Any, where: str) -> str:
    if isinstance(value, int) and 0 <= value < len(RELATIONSHIPS):  # Sotopia's RelationshipType enum order
        return RELATIONSHIPS[value]
    name = str(value).strip().lower().replace(" ", "_")
    if name.isdigit() and int(name) < len(RELATIONSHIPS):
        return RELATIONSHIPS[int(name)]
    if name not in RELATIONSHIPS:
        raise InputDataError(f"{where}: field 'relationship': {value!r} is not 0-5 or one of "
                             f"{', '.join(RELATIONSHIPS)}")
    return name


def _resolve_culture(value: Any, where: str) -> str:
    from clca.cultures import get_culture, list_cultures

    text = str(value or "").strip()
    if not text:
        raise InputDataError(f"{where}: field 'culture' is empty — give an ISO 3166 alpha-3 code or pass --culture")
    by_name = {c.name.lower(): c.code for c in list_cultures()}
    if text.lower() in by_name:
        return by_name[text.lower()]
    try:
        return get_culture(text).code
    except ClcaError as exc:
        raise InputDataError(f"{where}: field 'culture': {exc}") from None


def _is_sotopia_env(rec: dict) -> bool:
    return "agent_goals" in rec or "scenario" in rec


def _is_sotopia_agent(rec: dict) -> bool:
    return "first_name" in rec and "agent_goals" not in rec


def import_scenarios(path: str | Path, culture: str | None = None) -> list[Scenario]:
    """Scenarios from a Sotopia export or a CLCA-format file (format detected per record); bad input → one line."""
    path = Path(path)
    records = _records(path)
    culture_code = _resolve_culture(culture, "--culture") if culture else None
    agents = {str(r["pk"]): r for _, r in records if _is_sotopia_agent(r) and r.get("pk")}
    combos = {str(r["env_id"]): r.get("agent_ids") for _, r in records if "env_id" in r and "agent_ids" in r}
    scenarios: list[Scenario] = []
    for lineno, rec in records:
        where = f"{path}:{lineno}"
        if "person1" in rec or "person2" in rec:
            scenarios.append(_from_clca(rec, where, lineno, culture_code))
        elif _is_sotopia_env(rec):
            scenarios.append(_from_sotopia(rec, where, lineno, culture_code, agents, combos))
        elif _is_sotopia_agent(rec) or "env_id" in rec:
            continue  # referenced by environment records
        else:
            raise InputDataError(f"{where}: not a scenario record — expected Sotopia fields (scenario, agent_goals) "
                                 f"or CLCA fields (setting, person1, person2)")
    if not scenarios:
        raise InputDataError(f"{path}: no scenario records found (only agent profiles or combos?)")
    ids = [s.id for s in scenarios]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputDataError(f"{path}: duplicate scenario id(s) {', '.join(duplicates[:5])} — ids must be unique")
    return scenarios


def _from_sotopia(rec: dict, where: str, lineno: int, culture: str | None, agents: dict, combos: dict) -> Scenario:
    setting = _text(rec.get("scenario"))
    if not setting:
        raise InputDataError(f"{where}: field 'scenario' is missing or empty")
    goals = rec.get("agent_goals")
    if not isinstance(goals, list) or len(goals) != 2 or not all(_text(g) for g in goals):
        raise InputDataError(f"{where}: field 'agent_goals' must be a list of two non-empty goals")
    profiles = rec.get("agents") or rec.get("agent_profiles")
    pk = _text(rec.get("pk"))
    if profiles is None and pk in combos:
        ids = combos[pk] or []
        missing = [str(a) for a in ids if str(a) not in agents]
        if missing:
            raise InputDataError(f"{where}: agent profile(s) {', '.join(missing)} referenced by the combo for "
                                 f"env {pk} are not in the file")
        profiles = [agents[str(a)] for a in ids]
    if not isinstance(profiles, list) or len(profiles) != 2 or not all(isinstance(p, dict) for p in profiles):
        raise InputDataError(f"{where}: no two agent profiles for this environment — embed them as 'agents': "
                             f"[AgentProfile, AgentProfile] or add an {{env_id, agent_ids}} combo record")
    participants = tuple(_sotopia_agent(p, _text(g), f"{where}: agents[{i}]")
                         for i, (p, g) in enumerate(zip(profiles, goals, strict=True)))
    ident = pk or _text(rec.get("codename")) or f"line{lineno}"
    try:
        return Scenario(id=f"sotopia-{ident}", culture=culture or "generic", domain=_text(rec.get("tag")),
                        setting=setting, relationship=_relationship(rec.get("relationship", 2), where),
                        participants=participants, source="sotopia")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputDataError(f"{where}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None


def _from_clca(rec: dict, where: str, lineno: int, culture: str | None) -> Scenario:
    code = culture or _resolve_culture(rec.get("culture"), where)
    setting = _text(rec.get("setting"))
    if not setting:
        raise InputDataError(f"{where}: field 'setting' is missing or empty")
    persona = _text(rec.get("persona"))
    people = []
    for index, key in enumerate(("person1", "person2"), start=1):
        person = rec.get(key)
        if not isinstance(person, dict):
            raise InputDataError(f"{where}: field '{key}' must be an object with background, occupation, goal")
        name = _text(person.get("name"))
        first, _, last = name.partition(" ")
        people.append(_participant({
            "first_name": _text(person.get("first_name")) or first or f"Person {index}",
            "last_name": _text(person.get("last_name")) or last,
            "age": person.get("age") or None, "gender": _text(person.get("gender")),
            "occupation": _text(person.get("occupation")), "background": _text(person.get("background")),
            "public_info": _text(person.get("public_info")),
            "secret": _text(person.get("secrets", person.get("secret"))),
            "goal": _text(person.get("goal")),
        }, f"{where}: {key}"))
    ident = _text(rec.get("id")) or f"{code}-{lineno}"
    return Scenario(id=f"clca-{ident}", culture=code, setting=f"{setting} {persona}".strip(),
                    relationship=_relationship(rec["relationship"], where) if "relationship" in rec else "acquaintance",
                    participants=tuple(people), source="clca")


def imported_scenarios_for(path: str | Path, culture: str, n: int | None) -> list[Scenario]:
    """The scenarios of an imported file that belong to `culture` (the first `n`); none is an error.

    Args:
        path: a Sotopia or CLCA scenario file.
        culture: ISO 3166 alpha-3 code.
        n: how many at most (None = all).

    Returns:
        The culture's scenarios, in file order.
    """
    scenarios = [s for s in import_scenarios(path, culture=culture) if s.culture == culture]
    if not scenarios:
        raise InputDataError(f"{path}: no scenario for culture {culture} — check the file's culture field")
    return scenarios[:n] if n else scenarios
