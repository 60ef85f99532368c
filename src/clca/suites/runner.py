"""Run one suite (GlobalOpinionQA, NormAd, CulturalBench) for one model, resumably.

Output folder:
- `manifest.json` — task file, config, model identity, prompt template hashes, seed, data source, items hash;
- `records.jsonl` — one `SuiteRecord` per item (prompt hash, raw output or option probabilities, prediction or
  invalid reason, the gold label or the country's shares), appended durably group by group;
- `suite.failures.jsonl` — items whose backend call failed (retried on a rerun in the same folder);
- `metrics.json` — `SuiteMetrics` (`clca.suites.scoring`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clca import __version__
from clca.asking import choose_option, derive_seed
from clca.errors import ConfigError, InputDataError
from clca.jsonl import stable_hash, write_json_atomic
from clca.llm.base import Backend, GenerationRequest, Message, OptionScoringRequest
from clca.prompts import load_template
from clca.records import Failure, Provenance, utc_now
from clca.resumable import Produced, StageOutput, run_groups
from clca.suites import scoring
from clca.suites.config import SuiteConfig
from clca.suites.data import load_rows
from clca.suites.items import build_items, display_name
from clca.suites.parsing import parse_choice
from clca.suites.schema import SuiteItem, SuiteRecord, SuiteSummary
from clca.suites.tasks import SYSTEM_TEMPLATE, TaskSpec, load_task


def item_messages(item: SuiteItem, task: TaskSpec, config: SuiteConfig) -> list[Message]:
    """The prompt of one item: the culture's system prompt (with `context: country`), then the task template."""
    messages = []
    if config.context == "country":
        system = load_template(SYSTEM_TEMPLATE).render(country_name=display_name(item.country))
        messages.append(Message(role="system", content=system))
    messages.append(Message(role="user", content=load_template(task.template).render(**item.variables)))
    return messages


class _Asker:
    """Asks a group of items and turns the answers into records or failures."""

    def __init__(self, backend: Backend, task: TaskSpec, config: SuiteConfig, provenance: Provenance):
        self.backend, self.task, self.config, self.provenance = backend, task, config, provenance

    def answer(self, items: list[SuiteItem]) -> Produced[SuiteRecord]:
        prompts = [item_messages(item, self.task, self.config) for item in items]
        if self.config.mode == "logprob":
            replies = self.backend.score_options(
                [OptionScoringRequest(messages=m, options=i.labels) for m, i in zip(prompts, items, strict=True)])
        else:
            replies = self.backend.generate([
                GenerationRequest(messages=m, max_tokens=self.task.max_tokens, temperature=0.0,
                                  seed=derive_seed(self.config.seed, i.id))
                for m, i in zip(prompts, items, strict=True)])
        produced: Produced[SuiteRecord] = Produced()
        for item, messages, reply in zip(items, prompts, replies, strict=True):
            fields, failure = self._read(item, reply)
            if failure is not None:
                produced.failures.append(Failure(id=item.id, stage="suite", reason=failure,
                                                 provenance=self.provenance))
                continue
            produced.records.append(SuiteRecord(
                id=item.id, suite=self.task.name, country=item.country, mode=self.config.mode,
                prompt_hash=stable_hash([m.model_dump() for m in messages]), labels=item.labels, gold=item.gold,
                human=item.human, **fields))
        return produced

    def _read(self, item: SuiteItem, reply: Any) -> tuple[dict[str, Any], str | None]:
        if self.config.mode == "logprob":
            choice = choose_option(reply, len(item.labels))
            if isinstance(choice, str):
                return {}, choice
            return {"option_probs": choice.probs, "prediction": choice.index}, None
        if not reply.ok:
            return {}, reply.error or "backend returned no text"
        index, reason = parse_choice(reply.text, item.labels)
        return {"raw_output": reply.text, "prediction": index, "invalid_reason": reason}, None


def _manifest(task: TaskSpec, config: SuiteConfig, backend: Backend, source: str, items: list[SuiteItem],
              skipped: dict[str, str]) -> dict[str, Any]:
    manifest = {
        "kind": scoring.SUITE_KIND, "clca_version": __version__, "created_at": utc_now(),
        "task": task.model_dump(mode="json"), "config": config.model_dump(mode="json"),
        "model": backend.identity.model_dump(mode="json"),
        "prompts": [r.model_dump() for r in task.prompt_refs(config.context == "country")],
        "seed": config.seed, "data_source": source, "n_items": len(items),
        "items_sha": stable_hash([i.model_dump(mode="json") for i in items]),
        "skipped_rows": len(skipped), "skipped_examples": dict(list(skipped.items())[:20]),
    }
    manifest["fingerprint"] = stable_hash({k: manifest[k] for k in ("task", "model", "prompts", "items_sha")}
                                          | {"config": config.fingerprint_fields()})
    return manifest


def _check_or_write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    path = out_dir / scoring.MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise InputDataError(f"{path}: not valid JSON — use a new --out folder") from None
        if old.get("fingerprint") != manifest["fingerprint"]:
            raise ConfigError(f"{path}: this folder holds a run with other data, config, model or prompts — use "
                              "a new --out folder (or delete this one to start over)")
        manifest = dict(manifest, created_at=old.get("created_at", manifest["created_at"]))
    write_json_atomic(path, manifest)


@dataclass(frozen=True)
class PreparedSuite:
    """A suite's task file and items, read before any model is opened (so bad data fails fast)."""

    task: TaskSpec
    items: list[SuiteItem]
    skipped: dict[str, str]
    source: str


def prepare_suite(config: SuiteConfig) -> PreparedSuite:
    """Read the task file and the data, and build the items for `config.culture`.

    Args:
        config: the suite configuration.

    Returns:
        The task, its items, the rows skipped with their reasons, and where the data came from.
    """
    task = load_task(config.suite)
    rows, source = load_rows(task, config.data)
    items, skipped = build_items(rows, task, config.culture, config.limit)
    if not items:
        where = f"for {config.culture} " if config.culture else ""
        raise InputDataError(f"{source}: no usable {task.title} items {where}({len(rows)} rows, {len(skipped)} "
                             "unreadable) — check --culture and that the data has this suite's columns")
    return PreparedSuite(task, items, skipped, source)


def run_suite(backend: Backend, config: SuiteConfig, out_dir: str | Path,
              prepared: PreparedSuite | None = None) -> SuiteSummary:
    """Evaluate `backend` on one suite; resumes from `out_dir` if it holds this run.

    Args:
        backend: the model under evaluation.
        config: suite, culture, data, mode, seed and interval settings.
        out_dir: the suite folder (created; a rerun with the same config and data resumes).
        prepared: the items from `prepare_suite(config)`, when already read.

    Returns:
        The headline of metrics.json.
    """
    out_dir = Path(out_dir)
    prep = prepared or prepare_suite(config)
    task, items = prep.task, prep.items
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_manifest(out_dir, _manifest(task, config, backend, prep.source, items, prep.skipped))
    output = StageOutput(out_dir / scoring.RECORDS, SuiteRecord, failures_done=False,
                         failures_file=out_dir / scoring.FAILURES)
    provenance = Provenance(model=backend.identity, prompts=task.prompt_refs(config.context == "country"),
                            seed=config.seed, sampling={"mode": config.mode, "temperature": 0.0})
    done = output.done()
    run_groups([i for i in items if i.id not in done], _Asker(backend, task, config, provenance).answer, output,
               group_size=config.chunk_size, description=f"{task.title} {config.culture or 'all'}/{config.mode}")
    metrics = scoring.compute_suite_metrics(out_dir, config.bootstrap_resamples, config.seed)
    write_json_atomic(out_dir / scoring.METRICS, metrics.model_dump(mode="json"))
    return SuiteSummary(out_dir=str(out_dir), suite=task.name, culture=config.culture, mode=config.mode,
                        n_items=metrics.n_items, skipped_rows=len(prep.skipped), failures=metrics.failures,
                        invalid_answers=metrics.invalid_answers, overall=metrics.overall)
