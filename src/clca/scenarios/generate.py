"""LLM scenario generation (METHOD stage 1): adapt generic seeds to a culture, or write scenarios from norms.

Both paths share one engine: build one prompt per item, send batches through `backend.generate`, parse the JSON
answer (`clca.scenarios.parsing`), and for invalid answers continue the same chat with a repair prompt up to
`max_repairs` times. Items that never produce a valid scenario are written as `Failure` records (with the last raw
answer) to `<out>.failures.jsonl`. Both files are appended per batch, so an interrupted run resumes: an item whose
id is in either file is done.

Decisions the method leaves open (ours):
- n < number of seeds: a seeded shuffle picks which seeds (the file is ordered by domain, so "the first n" would
  cover few domains). n > number of seeds: seeds are reused; the k-th reuse gets id suffix `-s<k>` and its own
  sampling seed, so the copies differ.
- Relationship and domain of an adapted scenario are kept from its seed (adaptation changes people and place,
  not the kind of social situation); a norm-based scenario's relationship comes from the model.
- A backend error (after the backend's own retries) is a Failure at once, not a repair round.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clca.cultures import CultureCard
from clca.errors import InputDataError
from clca.jsonl import JsonlStore, stable_hash
from clca.llm.base import Backend, GenerationRequest, Message
from clca.paths import PACKAGE_DATA_DIR
from clca.prompts import PromptTemplate, load_template
from clca.records import Failure, PromptRef, Provenance
from clca.resumable import Produced, StageOutput, run_groups
from clca.scenarios.config import ScenariosConfig
from clca.scenarios.parsing import RELATIONSHIPS, ScenarioParseError, parse_scenario_answer
from clca.scenarios.schema import Scenario, ScenarioGenerationSummary

SEED_SCENARIOS_PATH = PACKAGE_DATA_DIR / "scenarios" / "seed_scenarios.jsonl"
ADAPT_TEMPLATE = "scenario_adapt.v1"
NORM_TEMPLATE = "scenario_from_norm.v1"
REPAIR_TEMPLATE = "scenario_repair.v1"


def load_seed_scenarios(path: str | Path | None = None) -> list[Scenario]:
    """The bundled culture-neutral seed scenarios (or another file in the same JSONL format)."""
    return JsonlStore(path or SEED_SCENARIOS_PATH, Scenario).read()


def _names_hint(culture: CultureCard) -> str:
    if culture.names is None:
        return ""
    n = culture.names
    order = " (family name first)" if n.family_name_first else ""
    return (f"given names {', '.join(n.female[:3] + n.male[:3])}; family names{order} "
            f"{', '.join(n.family[:5])}")


def _seed_as_prompt_json(seed: Scenario) -> str:
    """The seed in the same shape as the requested answer, so the model can mirror it."""
    people = {}
    for label, p in zip(("person1", "person2"), seed.participants, strict=True):
        people[label] = p.model_dump(include={"first_name", "last_name", "age", "gender", "occupation",
                                              "background", "public_info", "secret", "goal"})
    return json.dumps({"setting": seed.setting, **people}, ensure_ascii=False)


@dataclass
class _Item:
    id: str
    prompt: str
    build: Callable[[dict[str, Any], Provenance], Scenario]  # parsed answer → Scenario
    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    last_raw: str | None = None
    last_error: str = ""


def _request_seed(run_seed: int, item_id: str, attempt: int) -> int:
    return int(stable_hash([run_seed, item_id, attempt], length=8), 16)


class _Generator:
    """Asks for one batch of scenarios, repairing invalid answers up to `max_repairs` times per item."""

    def __init__(self, backend: Backend, cfg: ScenariosConfig, stage: str, template: PromptTemplate,
                 need_relationship: bool):
        self.backend, self.cfg, self.stage = backend, cfg, stage
        self.template, self.repair = template, load_template(REPAIR_TEMPLATE)
        self.need_relationship = need_relationship
        self.sampling = {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
        self.repaired = 0

    def provenance(self, item: _Item) -> Provenance:
        prompts = [PromptRef(**self.template.provenance())]
        if item.attempts > 1:
            prompts.append(PromptRef(**self.repair.provenance()))
        return Provenance(model=self.backend.identity, prompts=prompts, sampling=self.sampling,
                          seed=_request_seed(self.cfg.seed, item.id, item.attempts - 1))

    def batch(self, batch: list[_Item]) -> Produced[Scenario]:
        produced: Produced[Scenario] = Produced()
        for item in batch:
            item.messages = [Message(role="user", content=item.prompt)]
        active = batch
        while active:
            requests = [GenerationRequest(messages=item.messages, max_tokens=self.cfg.max_tokens,
                                          temperature=self.cfg.temperature, top_p=self.cfg.top_p,
                                          seed=_request_seed(self.cfg.seed, item.id, item.attempts))
                        for item in active]
            results = self.backend.generate(requests)
            active = [item for item, result in zip(active, results, strict=True)
                      if self._answer(item, result, produced)]
        return produced

    def _answer(self, item: _Item, result, produced: Produced[Scenario]) -> bool:
        """Record `item`'s answer; True when it gets a repair prompt and goes on."""
        item.attempts += 1
        if not result.ok:
            produced.failures.append(Failure(id=item.id, stage=self.stage, reason=f"backend error: {result.error}",
                                             raw=item.last_raw, attempts=item.attempts,
                                             provenance=self.provenance(item)))
            return False
        item.last_raw = result.text
        try:
            parsed = parse_scenario_answer(result.text, need_relationship=self.need_relationship)
            produced.records.append(item.build(parsed, self.provenance(item)))
            self.repaired += item.attempts > 1
            return False
        except (ScenarioParseError, ValueError) as exc:
            item.last_error = str(exc) + (" (the answer hit max_tokens and was cut off)"
                                          if result.finish_reason == "length" else "")
        if item.attempts > self.cfg.max_repairs:
            produced.failures.append(Failure(
                id=item.id, stage=self.stage, attempts=item.attempts, raw=result.text,
                reason=f"no valid scenario after {item.attempts} attempt(s): {item.last_error}",
                provenance=self.provenance(item)))
            return False
        item.messages = [*item.messages, Message(role="assistant", content=result.text),
                         Message(role="user", content=self.repair.render(error=item.last_error,
                                                                          with_relationship=self.need_relationship))]
        return True


def _run_items(
    items: list[_Item], backend: Backend, out_path: Path, cfg: ScenariosConfig, *, culture: str, stage: str,
    template: PromptTemplate, need_relationship: bool, notes: list[str], requested: int,
) -> ScenarioGenerationSummary:
    started = time.monotonic()
    output = StageOutput(out_path, Scenario)  # failed items count as done: the same model would fail again
    done = output.done()
    pending = [item for item in items if item.id not in done]
    generator = _Generator(backend, cfg, stage, template, need_relationship)
    produced = failed = 0

    def produce(batch: list[_Item]) -> Produced[Scenario]:
        nonlocal produced, failed
        result = generator.batch(batch)
        produced, failed = produced + len(result.records), failed + len(result.failures)
        return result

    run_groups(pending, produce, output, group_size=cfg.batch_size, description=f"{stage} {culture}")
    summary = ScenarioGenerationSummary(
        output=str(out_path), failures_output=str(output.failures.path), culture=culture, requested=requested,
        produced=produced, failed=failed, skipped_done=len(items) - len(pending), repaired=generator.repaired,
        total_in_output=len(output.records.keys()), notes=notes, seconds=round(time.monotonic() - started, 3),
    )
    output.write_summary(summary, config=cfg.model_dump(), model=backend.identity.model_dump(mode="json"))
    return summary


def select_seeds(seeds: list[Scenario], n: int | None, seed: int) -> list[tuple[Scenario, int]]:
    """(seed scenario, sample index) pairs: all seeds once when n is None, else n of them (cycling beyond)."""
    if not seeds:
        raise InputDataError("no seed scenarios given — pass a non-empty seed file")
    order = list(seeds)
    random.Random(seed).shuffle(order)
    n = len(order) if n is None else n
    return [(order[k % len(order)], k // len(order)) for k in range(n)]


def adapt_scenarios(
    seeds: list[Scenario], culture: CultureCard, backend: Backend, out_path: str | Path, *,
    n: int | None = None, seed: int | None = None, config: ScenariosConfig | None = None,
) -> ScenarioGenerationSummary:
    """Rewrite seed scenarios for `culture` (ids `<culture>-<seed id>[-s<k>]`); resumable; see module doc.

    Args:
        seeds: the culture-neutral seed scenarios.
        culture: the target culture's card.
        backend: the model that rewrites them.
        out_path: the scenarios file (appended to; failures beside it).
        n: how many (default: one per seed; beyond that seeds are reused with sample suffixes).
        seed: selects and orders the seeds and derives every request's sampling seed.
        config: repairs, sampling and batch size.

    Returns:
        The summary, also written to `<out>.summary.json`.
    """
    cfg = config or ScenariosConfig()
    if n is not None or seed is not None:
        cfg = cfg.model_copy(update={k: v for k, v in (("n", n), ("seed", seed)) if v is not None})
    template = load_template(ADAPT_TEMPLATE)
    chosen = select_seeds(seeds, cfg.n, cfg.seed)
    notes = []
    if cfg.n and cfg.n > len(seeds):
        notes.append(f"n={cfg.n} exceeds the {len(seeds)} seeds: seeds reused with sample suffixes -s1…")
    names = _names_hint(culture)

    def builder(source: Scenario, item_id: str) -> Callable[[dict[str, Any], Provenance], Scenario]:
        def build(parsed: dict[str, Any], prov: Provenance) -> Scenario:
            return Scenario(id=item_id, culture=culture.code, domain=source.domain, setting=parsed["setting"],
                            relationship=source.relationship, participants=parsed["participants"],
                            source="adapted", source_scenario_id=source.id, provenance=prov)
        return build

    items = []
    for source, sample in chosen:
        item_id = f"{culture.code}-{source.id}" + (f"-s{sample}" if sample else "")
        prompt = template.render(culture_name=culture.name, culture_description=culture.description, names=names,
                                 relationship=source.relationship.replace("_", " "),
                                 scenario_json=_seed_as_prompt_json(source))
        items.append(_Item(id=item_id, prompt=prompt, build=builder(source, item_id)))
    return _run_items(items, backend, Path(out_path), cfg, culture=culture.code, stage="scenarios.adapt",
                      template=template, need_relationship=False, notes=notes, requested=len(items))


def read_norms(norms_file: str | Path) -> list[str]:
    """One social norm per line; blank lines and `#` comments skipped; duplicates dropped (first kept)."""
    path = Path(norms_file)
    if not path.is_file():
        raise InputDataError(f"{path}: norms file not found — give a text file with one social norm per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputDataError(f"{path}: not UTF-8 text — save the norms file as UTF-8") from None
    norms = list(dict.fromkeys(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")))
    if not norms:
        raise InputDataError(f"{path}: no norms found — write one social norm per line")
    return norms


def scenarios_from_norms(
    norms_file: str | Path, culture: CultureCard, backend: Backend, out_path: str | Path, *,
    n: int | None = None, seed: int | None = None, config: ScenariosConfig | None = None,
) -> ScenarioGenerationSummary:
    """New scenarios from social norms (the paper's Social-Chemistry path); ids `<culture>-norm-<hash of norm>`.

    Args:
        norms_file: one social norm per line.
        culture: the target culture's card.
        backend: the model that writes the scenarios.
        out_path: the scenarios file (appended to; failures beside it).
        n: how many norms are used (file order); each norm gives one scenario.
        seed: derives every request's sampling seed.
        config: repairs, sampling and batch size.

    Returns:
        The summary, also written to `<out>.summary.json`.
    """
    cfg = config or ScenariosConfig()
    if n is not None or seed is not None:
        cfg = cfg.model_copy(update={k: v for k, v in (("n", n), ("seed", seed)) if v is not None})
    norms = read_norms(norms_file)
    notes = []
    if cfg.n is not None and cfg.n > len(norms):
        notes.append(f"n={cfg.n} capped to the {len(norms)} distinct norms in {norms_file}")
    norms = norms[: cfg.n] if cfg.n is not None else norms
    template = load_template(NORM_TEMPLATE)
    names = _names_hint(culture)

    def builder(norm: str, item_id: str) -> Callable[[dict[str, Any], Provenance], Scenario]:
        def build(parsed: dict[str, Any], prov: Provenance) -> Scenario:
            return Scenario(id=item_id, culture=culture.code, setting=parsed["setting"],
                            relationship=parsed["relationship"], participants=parsed["participants"],
                            source="norm", norm=norm, provenance=prov)
        return build

    items = []
    for norm in norms:
        item_id = f"{culture.code}-norm-{stable_hash(norm, length=10)}"
        prompt = template.render(culture_name=culture.name, culture_description=culture.description, names=names,
                                 norm=norm, relationships=", ".join(RELATIONSHIPS))
        items.append(_Item(id=item_id, prompt=prompt, build=builder(norm, item_id)))
    return _run_items(items, backend, Path(out_path), cfg, culture=culture.code, stage="scenarios.from_norms",
                      template=template, need_relationship=True, notes=notes, requested=len(items))


def seed_scenarios_for(culture: str, n: int | None, seed: int) -> list[Scenario]:
    """The bundled culture-neutral seeds as they are, relabelled for `culture` (the culture then enters only
    through the role-play prompt's culture description).

    Args:
        culture: ISO 3166 alpha-3 code.
        n: how many (None = every seed once).
        seed: selects and orders the seeds.

    Returns:
        Scenarios with ids `<culture>-<seed id>`.
    """
    return [s.model_copy(update={"id": f"{culture}-{s.id}", "culture": culture, "source_scenario_id": s.id})
            for s, _ in select_seeds(load_seed_scenarios(), n, seed)]
