"""Runs the stages of a run in order, skipping finished ones and resuming half-finished ones.

A stage's *fingerprint* hashes its config section, the identities of the models it uses, its prompt templates
and the content hashes of its upstream stages' outputs. So:
- rerunning the same command skips every stage whose fingerprint and output hashes still match;
- a stage left "running" by an interrupted run is called again with its outputs in place (stage functions resume
  from their JSONL files);
- changing one stage's config changes its fingerprint → its outputs are discarded and it reruns; its outputs then
  change, so the stages after it rerun too, while the stages before it are untouched.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from clca import interrupts
from clca.errors import ClcaError, ConfigError
from clca.jsonl import stable_hash
from clca.locking import lock_output_dir
from clca.pipeline.context import RunContext
from clca.prompts import TEMPLATE_DIR, load_template
from clca.records import utc_now
from clca.run_manifest import Manifest, StageRecord, hash_outputs, outputs_intact

console = Console(stderr=True)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    A stage runs once per scope that `scopes` lists (a culture code, `shared` or `all`) and writes into its own
    directory `RunLayout.stage_dir(scope, name)`. `run(ctx, scope) -> summary` must be resumable: called again on
    a half-filled directory, it continues.
    """

    name: str
    run: Callable[[RunContext, str], dict[str, Any]]
    settings: Callable[[RunContext, str], dict[str, Any]]  # what determines its output (its fingerprint's config)
    upstream: Callable[[RunContext, str], list[tuple[str, str]]]  # (scope, stage) pairs it reads
    scopes: Callable[[RunContext], list[str]]
    template_prefixes: tuple[str, ...] = ()


def _template_hashes(prefixes: tuple[str, ...]) -> dict[str, str]:
    names = sorted(p.stem for p in TEMPLATE_DIR.glob("*.j2") if p.stem.startswith(prefixes)) if prefixes else []
    return {name: load_template(name).sha256 for name in names}


class Runner:
    def __init__(self, ctx: RunContext, stages: list[Stage]):
        self.ctx = ctx
        self.stages = stages
        self.manifest_path = ctx.layout.manifest
        self.manifest = Manifest.load_or_new(self.manifest_path, name=ctx.run_dir.name)

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def _check_stage(self, name: str | None, option: str) -> None:
        if name is not None and name not in self.stage_names():
            raise ConfigError(f"{option} {name!r}: unknown stage — choose one of {', '.join(self.stage_names())}")

    def fingerprint(self, stage: Stage, scope: str) -> tuple[str, dict[str, Any]]:
        upstream_hashes = {}
        for up_scope, up_stage in stage.upstream(self.ctx, scope):
            record = self.manifest.stages.get(Manifest.key(up_scope, up_stage))
            if record is None or record.status != "done":
                raise ClcaError(
                    f"stage {up_scope}/{up_stage} has not finished, so {scope}/{stage.name} cannot run — "
                    f"run without --only (or with --from {up_stage})"
                )
            upstream_hashes[f"{up_scope}/{up_stage}"] = stable_hash(record.outputs, length=64)
        config = stage.settings(self.ctx, scope)
        material = {
            "stage": stage.name,
            "scope": scope,
            "config": config,
            "templates": _template_hashes(stage.template_prefixes),
            "upstream": upstream_hashes,
        }
        return stable_hash(material, length=32), config

    def is_done(self, stage: Stage, scope: str, fingerprint: str) -> bool:
        record = self.manifest.stages.get(Manifest.key(scope, stage.name))
        return (
            record is not None
            and record.status == "done"
            and record.fingerprint == fingerprint
            and outputs_intact(self.ctx.run_dir, record.outputs)
        )

    def run(self, only: str | None = None, start_from: str | None = None, force: list[str] | None = None) -> Manifest:
        """Run the stages (all, `only` one, or `start_from` one on, rerunning `force`d ones) holding the run
        directory's lock, so that a second `clca run` on it stops with one line instead of writing alongside."""
        with lock_output_dir(self.ctx.run_dir):
            # another process may have finished stages since __init__ read the manifest
            self.manifest = Manifest.load_or_new(self.manifest_path, name=self.ctx.run_dir.name)
            return self._run_locked(only, start_from, force)

    def _run_locked(self, only: str | None, start_from: str | None, force: list[str] | None) -> Manifest:
        self._check_stage(only, "--only")
        self._check_stage(start_from, "--from")
        for f in force or []:
            self._check_stage(f, "--force")
        forced = set(force or [])
        if start_from is not None:
            forced |= set(self.stage_names()[self.stage_names().index(start_from):])
        self.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        self.manifest.config = _jsonable(self.ctx.config)
        self.manifest.save(self.manifest_path)
        for stage in self.stages:
            if only is not None and stage.name != only:
                continue
            for scope in stage.scopes(self.ctx):
                interrupts.check()
                self._run_one(stage, scope, force=stage.name in forced)
        return self.manifest

    def _run_one(self, stage: Stage, scope: str, force: bool) -> None:
        key = Manifest.key(scope, stage.name)
        fingerprint, config = self.fingerprint(stage, scope)
        out_dir = self.ctx.layout.stage_dir(scope, stage.name)
        previous = self.manifest.stages.get(key)
        if not force and self.is_done(stage, scope, fingerprint):
            console.print(f"[dim]✓ {key}: done (fingerprint {fingerprint[:8]}), skipped[/]")
            return
        # Interrupted or failed with the same fingerprint: continue on the files already written (stages resume
        # item by item). A different config/upstream, --force, or edited outputs of a finished stage: start over.
        resumable = (
            not force
            and previous is not None
            and previous.status in ("running", "failed")
            and previous.fingerprint == fingerprint
        )
        if not resumable and out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        verb = "resuming" if resumable else "running"
        console.print(f"[bold]▶ {key}[/]: {verb}")
        record = StageRecord(stage=stage.name, scope=scope, status="running", fingerprint=fingerprint, config=config)
        self.manifest.stages[key] = record
        self.manifest.save(self.manifest_path)
        started = time.perf_counter()
        try:
            summary = stage.run(self.ctx, scope)
        except BaseException as exc:
            # Keep "running" on interruption (so the next run resumes); mark real errors as failed.
            if not isinstance(exc, KeyboardInterrupt | SystemExit):
                record.status = "failed"
                record.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            record.seconds = round(time.perf_counter() - started, 3)
            self.manifest.save(self.manifest_path)
            raise
        summary = dict(summary or {})
        record.models = _jsonable(summary.pop("models", {}))
        record.summary = _jsonable(summary)
        record.status = "done"
        record.finished_at = utc_now()
        record.seconds = round(time.perf_counter() - started, 3)
        record.outputs = hash_outputs(self.ctx.run_dir, [out_dir])
        self.manifest.save(self.manifest_path)
        console.print(f"[green]✓ {key}[/]: done in {record.seconds:.1f}s")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
