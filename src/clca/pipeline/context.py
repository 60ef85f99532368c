"""What every pipeline stage gets: the run config, the run directory's layout and a pool of opened backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clca.layout import RunLayout
from clca.llm.base import Backend
from clca.llm.config import ModelConfig
from clca.pipeline.config import RunConfig


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
    config: RunConfig
    run_dir: Path
    backends: BackendPool = field(default_factory=BackendPool)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)
