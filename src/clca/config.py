"""Configuration: YAML files validated by strict pydantic models, plus `--set a.b=value` overrides.

Loading never executes code (`yaml.safe_load`), unknown keys are errors naming the key and the file, and
secrets never live in config: a config names the *environment variable* holding an API key.
"""

from __future__ import annotations

import reprlib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from clca.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


MAX_YAML_NODES = 100_000  # a config expands to a few hundred nodes; "billion laughs" aliases to billions
MAX_ECHO = 200  # characters of a user's value an error message repeats
SECRET_FIELDS = frozenset({"api_key_env"})  # a value given here may be the key itself: errors never repeat it


def _annotation_types(annotation: Any) -> set[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_annotation_types(a) for a in typing.get_args(annotation)))
    return {annotation}


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment.

    Numbers must be finite (`.inf`/`.nan` would reach servers as invalid JSON) and `true`/`false` are not numbers.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name in cls.model_fields:
            kinds = _annotation_types(cls.model_fields[info.field_name].annotation)
            if bool not in kinds and kinds & {int, float}:
                raise ValueError("expected a number, got a boolean")
        return value


def short_repr(value: Any, limit: int = MAX_ECHO) -> str:
    """`repr(value)` cut to about `limit` characters (errors never echo a huge or expanded value).

    Args:
        value: any value a user supplied.
        limit: the most characters kept.

    Returns:
        The bounded repr, ending in "…" when cut.
    """
    bounded = reprlib.Repr()
    bounded.maxstring = bounded.maxother = limit
    bounded.maxlist = bounded.maxdict = bounded.maxtuple = bounded.maxset = 8
    bounded.maxlevel = 3
    text = bounded.repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class _BoundedLoader(yaml.SafeLoader):
    """safe_load that rejects duplicate keys and documents whose aliases expand past MAX_YAML_NODES nodes."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {short_repr(key, 60)} — give each key once", key_node.start_mark)
            seen.add(key) if isinstance(key, typing.Hashable) else None
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes after alias expansion, computed on the alias graph (linear time, memoised by node identity)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_YAML_NODES + 1  # a recursive alias expands without end
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    total = 1
    for child in children:
        total += _expanded_size(child, memo)
        if total > MAX_YAML_NODES:
            break
    memo[id(node)] = total
    return total


def safe_load_bounded(text: str) -> Any:
    """`yaml.safe_load`, bounded: alias bombs and duplicate keys raise yaml.YAMLError instead of expanding.

    Args:
        text: YAML text from a user.

    Returns:
        The loaded value.
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases expand past {MAX_YAML_NODES} values — write the values out", node.start_mark)
        return loader.construct_document(node)
    except RecursionError:  # PyYAML composes and constructs recursively
        raise yaml.YAMLError("nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found — check the path")
    try:
        data = safe_load_bounded(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text — save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: invalid YAML ({problem[:MAX_ECHO]}) — fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys to values, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (value parsed as YAML: `8`, `true`, `[a, b]`, `null`)."""
    for item in overrides or []:
        shown = short_repr(item)
        if "=" not in item:
            raise ConfigError(f"--set {shown}: expected KEY=VALUE, e.g. --set roleplay.max_turns=8")
        dotted, raw = item.split("=", 1)
        keys = [k for k in dotted.strip().split(".") if k]
        if not keys:
            raise ConfigError(f"--set {shown}: empty key")
        try:
            value = safe_load_bounded(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {shown}: '{key[:60]}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def format_validation_error(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    loc = (".".join(str(p) for p in first["loc"]) or "<top level>")[:MAX_ECHO]
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{loc}' — remove it or check its spelling"
    if first["type"] == "missing":
        return f"{source}: missing required key '{loc}'"
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    got = "" if first["loc"] and first["loc"][-1] in SECRET_FIELDS else f" (got {short_repr(first.get('input'))})"
    return f"{source}: key '{loc}': {first['msg'][:MAX_ECHO]}{got}{more}"


def validate(model: type[M], data: Any, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[M], path: str | Path | None, overrides: list[str] | None = None) -> M:
    data = load_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    return validate(model, data, str(path) if path is not None else "--set")
