"""The run manifest (`runs/<name>/manifest.json`, its path owned by `clca.layout`), written by the pipeline and read
by the report: per stage and scope its status, fingerprint, config, models, summary and output hashes.

`runs/<name>/manifest.json` is rewritten atomically after every state change. A stage is *done* when its
status is "done", its fingerprint (config + models + upstream fingerprints) matches the current one, and its
output files still have the recorded content hashes; anything else means it must (re)run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clca import __version__
from clca.errors import InputDataError
from clca.jsonl import file_sha256, write_json_atomic
from clca.records import utc_now

StageStatus = Literal["running", "done", "failed"]


class StageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str  # e.g. "roleplay"
    scope: str  # culture code, or "all"
    status: StageStatus
    fingerprint: str
    config: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)  # role → model identity
    started_at: str = Field(default_factory=utc_now)
    finished_at: str | None = None
    seconds: float | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)  # relative path → sha256 (files) or "dir"
    error: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    clca_version: str = __version__
    created_at: str = Field(default_factory=utc_now)
    config: dict[str, Any] = Field(default_factory=dict)
    stages: dict[str, StageRecord] = Field(default_factory=dict)  # key "<scope>/<stage>"

    @staticmethod
    def key(scope: str, stage: str) -> str:
        return f"{scope}/{stage}"

    @classmethod
    def load_or_new(cls, path: Path, name: str) -> Manifest:
        if not path.is_file():
            return cls(name=name)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputDataError(
                f"{path}: unreadable run manifest ({str(exc).splitlines()[0]}) — delete it to start the run afresh"
            ) from None

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.model_dump(mode="json"))


def hash_outputs(run_dir: Path, outputs: list[Path]) -> dict[str, str]:
    """Content hashes of a stage's output files (directories are hashed file by file)."""
    hashes: dict[str, str] = {}
    for out in outputs:
        if out.is_dir():
            for f in sorted(p for p in out.rglob("*") if p.is_file()):
                hashes[str(f.relative_to(run_dir))] = file_sha256(f)
        elif out.is_file():
            hashes[str(out.relative_to(run_dir))] = file_sha256(out)
    return hashes


def outputs_intact(run_dir: Path, recorded: dict[str, str]) -> bool:
    for rel, digest in recorded.items():
        path = run_dir / rel
        if not path.is_file() or file_sha256(path) != digest:
            return False
    return True
