"""What every pipeline stage gets: the run config, the run directory and a pool of opened backends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from clca.errors import ConfigError
from clca.llm.base import Backend
from clca.llm.config import ModelConfig

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def safe_component(value: str, what: str) -> str:
    """A path component derived from user input; refuses anything that could escape the run directory."""
    if not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise ConfigError(
            f"{what} {value!r} is not a safe name — use letters, digits, '.', '_' or '-' (no '/', no '..')"
        )
    return value


class BackendPool:
    """Opens each distinct model once per run and shares it between roles (loading a model is the slow part)."""

    def __init__(self) -> None:
        self._open: dict[str, Backend] = {}

    def get(self, cfg: ModelConfig) -> Backend:
        from clca.llm import open_backend

        key = cfg.model_dump_json()
        if key not in self._open:
            self._open[key] = open_backend(cfg)
        return self._open[key]

    def close(self) -> None:
        for backend in self._open.values():
            backend.close()
        self._open.clear()


@dataclass
class RunContext:
    config: object  # RunConfig (typed in clca.pipeline.config; kept loose here to avoid an import cycle)
    run_dir: Path
    backends: BackendPool = field(default_factory=BackendPool)

    def stage_dir(self, scope: str, stage: str) -> Path:
        return self.run_dir / safe_component(scope, "culture/scope") / safe_component(stage, "stage")
