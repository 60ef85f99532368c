"""Prompt templates: versioned Jinja2 files under `prompts/templates/`, identified by name and content hash.

Every artifact that came from an LLM call records the `name` and `sha256` of the template(s) that produced it,
so a change to a prompt is visible in provenance and invalidates caches/stages that depend on it.
Template names carry their version (`roleplay_agent_system.v1`); edit a template → bump the version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string in a prompt
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str
    sha256: str

    def render(self, **variables: object) -> str:
        return _compile(self.text).render(**variables).strip()

    def provenance(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256}


@cache
def _compile(text: str) -> jinja2.Template:
    """Compile once per template text: compiling costs ~8 ms, far more than rendering."""
    return _env.from_string(text)


@cache
def load_template(name: str) -> PromptTemplate:
    """Load `templates/<name>.j2` (e.g. `load_template("roleplay_agent_system.v1")`)."""
    path = TEMPLATE_DIR / f"{name}.j2"
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATE_DIR.glob("*.j2"))
        raise KeyError(f"unknown prompt template {name!r}; known: {', '.join(known)}")
    text = path.read_text(encoding="utf-8")
    return PromptTemplate(name=name, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
