"""The CLCA pipeline as a list of named stages (see `clca.pipeline.runner` for skipping, resuming, invalidation).

culture card → scenarios → role-play → judge → intents → dataset → train → baseline eval → CLCA eval → report.
Each stage function wires one stage package to the run: it asks `RunContext.layout` for its input and output
paths, calls the stage's public run function with opened backends and returns its summary for the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clca.errors import ClcaError
from clca.jsonl import JsonlStore, write_json_atomic
from clca.layout import REPORT_SCOPE, SHARED_SCOPE
from clca.llm.config import ModelConfig
from clca.pipeline.context import RunContext
from clca.pipeline.runner import Stage

# Settings that change how fast a stage runs but not what it produces: left out of fingerprints, so tuning them
# on a rerun resumes the stage instead of redoing it.
MODEL_EXECUTION_FIELDS = {"concurrency", "timeout_s", "max_retries", "retry_backoff_s", "batch_size", "cache",
                          "down_after_s"}
STAGE_EXECUTION_FIELDS = {"group_size", "chunk_size", "retry_errors"}


def _identity(ctx: RunContext, role_cfg: ModelConfig) -> dict[str, Any]:
    return ctx.backends.get(role_cfg).identity.model_dump(mode="json")


def _model_fingerprint(cfg: ModelConfig) -> dict[str, Any]:
    """A model for fingerprints: spec and options (its identity needs the model loaded, so not here)."""
    return cfg.model_dump(mode="json", exclude=MODEL_EXECUTION_FIELDS & set(type(cfg).model_fields))


def _role_fingerprint(ctx: RunContext, role: str) -> dict[str, Any]:
    return _model_fingerprint(ctx.config.models.for_role(role))


def _section(model) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=STAGE_EXECUTION_FIELDS & set(type(model).model_fields))


def _summary(summary, **models: dict[str, Any]) -> dict[str, Any]:
    return {**summary.model_dump(mode="json"), "models": models}


# ------------------------------------------------------------------------------------------------ scopes


def cultures(ctx: RunContext) -> list[str]:
    return list(ctx.config.cultures)


def train_scopes(ctx: RunContext) -> list[str]:
    return [SHARED_SCOPE] if ctx.config.adapter == "shared" else cultures(ctx)


def train_scope_of(ctx: RunContext, culture: str) -> str:
    return SHARED_SCOPE if ctx.config.adapter == "shared" else culture


def cultures_of_scope(ctx: RunContext, scope: str) -> list[str]:
    return cultures(ctx) if scope == SHARED_SCOPE else [scope]


def report_scope(ctx: RunContext) -> list[str]:
    return [REPORT_SCOPE]


# ------------------------------------------------------------------------------------------ stage runs


def run_culture(ctx: RunContext, culture: str) -> dict[str, Any]:
    from clca.cultures import get_culture

    card = get_culture(culture)
    write_json_atomic(ctx.layout.culture_card(culture), card.model_dump(mode="json"))
    return {"name": card.name}


def run_scenarios(ctx: RunContext, culture: str) -> dict[str, Any]:
    from clca.cultures import get_culture
    from clca.scenarios import (
        Scenario,
        adapt_scenarios,
        imported_scenarios_for,
        load_seed_scenarios,
        seed_scenarios_for,
    )

    cfg, target = ctx.config.scenarios, ctx.layout.scenarios(culture)
    if cfg.source == "adapt":
        adapter = ctx.config.models.for_role("adapter")
        summary = adapt_scenarios(load_seed_scenarios(), get_culture(culture), ctx.backends.get(adapter), target,
                                  config=cfg.generation())
        result = _summary(summary, adapter=_identity(ctx, adapter))
    else:
        scenarios = seed_scenarios_for(culture, cfg.n, cfg.seed) if cfg.source == "seeds" \
            else imported_scenarios_for(cfg.path, culture, cfg.n)
        JsonlStore(target, Scenario).write_all(scenarios)
        result = {"source": cfg.source, "produced": len(scenarios)}
    if not JsonlStore(target, Scenario).read():
        raise ClcaError(f"{culture}: no scenario could be produced (see {target.parent}) — use a stronger "
                        "`models.adapter`, or `scenarios.source: seeds`")
    return result


def run_roleplay(ctx: RunContext, culture: str) -> dict[str, Any]:
    from clca.roleplay import run_roleplay as run

    a_cfg, b_cfg = ctx.config.models.for_role("agent_a"), ctx.config.models.for_role("agent_b")
    summary = run(ctx.layout.scenarios(culture), ctx.layout.conversations(culture), ctx.backends.get(a_cfg),
                  ctx.backends.get(b_cfg), ctx.config.roleplay)
    return _summary(summary, agent_a=_identity(ctx, a_cfg), agent_b=_identity(ctx, b_cfg))


def run_judge(ctx: RunContext, culture: str) -> dict[str, Any]:
    from clca.judge import run_judge as run

    judge = ctx.config.models.for_role("judge")
    summary = run(ctx.layout.conversations(culture), ctx.layout.judgements(culture), ctx.backends.get(judge),
                  ctx.config.judge)
    return _summary(summary, judge=_identity(ctx, judge))


def run_intents(ctx: RunContext, culture: str) -> dict[str, Any]:
    from clca.intents import run_intents as run

    labeller = ctx.config.models.for_role("intents")
    summary = run(ctx.layout.conversations(culture), ctx.layout.intents(culture), ctx.backends.get(labeller),
                  ctx.config.intents, judgements_path=ctx.layout.judgements(culture))
    return _summary(summary, intents=_identity(ctx, labeller))


def _concatenate(paths: list[Path], target: Path) -> Path:
    """One input file for a shared adapter: the cultures' files one after another (ids are culture-prefixed)."""
    with open(target, "wb") as fh:
        for path in paths:
            if path.exists():
                fh.write(path.read_bytes())
    return target


def run_dataset(ctx: RunContext, scope: str) -> dict[str, Any]:
    from clca.training.dataset import build_dataset

    layout, members = ctx.layout, cultures_of_scope(ctx, scope)
    out_dir = layout.stage_dir(scope, "dataset")
    inputs = {}
    for name, path_of in (("conversations", layout.conversations), ("judgements", layout.judgements),
                          ("intents", layout.intents)):
        paths = [path_of(c) for c in members]
        inputs[name] = paths[0] if len(paths) == 1 else _concatenate(paths, out_dir / f"input.{paths[0].name}")
    judgements = inputs["judgements"] if ctx.config.dataset.data == "kept" else None
    manifest = build_dataset(inputs["conversations"], layout.dataset(scope), ctx.config.dataset,
                             judgements_path=judgements, intents_path=inputs["intents"])
    return {"counts": manifest.counts, "data_sha256": manifest.data_sha256}


def run_train(ctx: RunContext, scope: str) -> dict[str, Any]:
    from clca.training.trainer import train

    return train(ctx.layout.dataset(scope), ctx.layout.adapter(scope), ctx.config.train).model_dump(mode="json")


def adapter_spec(ctx: RunContext, culture: str) -> str:
    """The backend spec of the student with the adapter trained for `culture`."""
    from clca.training.schema import TrainSummary

    path = ctx.layout.train_summary(train_scope_of(ctx, culture))
    return TrainSummary.model_validate_json(path.read_text(encoding="utf-8")).adapter_spec


def languages_of(ctx: RunContext, culture: str) -> list[str]:
    """The languages a culture is evaluated in, resolved (`native` → the card's tag), English first, once each."""
    from clca.evaluation.language import resolve_languages

    return resolve_languages(ctx.config.evaluation.languages, culture)


def _asked_in(strategy: str, language: str) -> bool:
    from clca.evaluation.language import SYSTEM_TEMPLATES

    return language == "en" or strategy in SYSTEM_TEMPLATES  # a reasoning strategy has English prompts only


def clca_student(ctx: RunContext, culture: str) -> ModelConfig:
    """The trained student for `culture`: on the server that serves its adapter by name (`models.student_served`),
    or the local student with the adapter loaded."""
    models = ctx.config.models
    if models.student_served is not None:
        scope = train_scope_of(ctx, culture)
        return models.served_student(culture, scope, str(ctx.layout.adapter(scope)))
    return models.student.model_copy(update={"spec": adapter_spec(ctx, culture)})


def run_baselines(ctx: RunContext, culture: str) -> dict[str, Any]:
    """The student without CLCA, under each prompting strategy (persona = the paper's main baseline) and language."""
    from clca.evaluation.runner import run_evaluation

    cfg = ctx.config
    backend = ctx.backends.get(cfg.models.student)
    results: dict[str, Any] = {
        f"{strategy}@{language}": run_evaluation(backend, cfg.evaluation.for_run(culture, strategy, language),
                                                 ctx.layout.baseline_eval(culture, strategy, language)
                                                 ).model_dump(mode="json")
        for language in languages_of(ctx, culture) for strategy in cfg.evaluation.baselines
        if _asked_in(strategy, language)
    }
    results.update(_run_suites(ctx, culture, backend, ctx.layout.baseline_suite))
    results["models"] = {"student": _identity(ctx, cfg.models.student)}
    return results


def _run_suites(ctx: RunContext, culture: str, backend, folder_of) -> dict[str, Any]:
    from clca.suites.runner import run_suite

    return {f"suite:{section.suite}": run_suite(backend, ctx.config.evaluation.for_suite(culture, section),
                                                folder_of(culture, section.suite)).model_dump(mode="json")
            for section in ctx.config.evaluation.suites}


def run_clca_eval(ctx: RunContext, culture: str) -> dict[str, Any]:
    """The CLCA-trained student on the same personas, compared pairwise with its baseline in each language, and
    each model asked in another language compared with itself in English."""
    from clca.evaluation.runner import run_evaluation
    from clca.evaluation.scoring import compare_runs
    from clca.suites.scoring import compare_suite_runs

    cfg, layout = ctx.config, ctx.layout
    student = clca_student(ctx, culture)
    strategy = cfg.evaluation.clca_strategy
    result: dict[str, Any] = {}
    for language in languages_of(ctx, culture):
        if not _asked_in(strategy, language):
            continue
        summary = run_evaluation(ctx.backends.get(student), cfg.evaluation.for_run(culture, strategy, language),
                                 layout.clca_eval(culture, language))
        result[f"clca@{language}"] = summary.model_dump(mode="json")
        pairs = [(layout.clca_eval(culture, language), layout.baseline_eval(culture, strategy, language),
                  layout.comparison(culture, language))]
        if language != "en":
            pairs += [(layout.clca_eval(culture, language), layout.clca_eval(culture),
                       layout.language_comparison(culture, "clca", language)),
                      (layout.baseline_eval(culture, strategy, language), layout.baseline_eval(culture, strategy),
                       layout.language_comparison(culture, "baseline", language))]
        for a, b, target in pairs:
            if a.exists() and b.exists():
                result[target.name] = _compare(ctx, a, b, target, compare_runs)
    result.update(_run_suites(ctx, culture, ctx.backends.get(student), layout.clca_suite))
    for section in cfg.evaluation.suites:
        target = layout.suite_comparison(culture, section.suite)
        result[target.name] = _compare(ctx, layout.clca_suite(culture, section.suite),
                                       layout.baseline_suite(culture, section.suite), target, compare_suite_runs)
    result["models"] = {"student+adapter": _identity(ctx, student)}
    return result


def _compare(ctx: RunContext, a: Path, b: Path, target: Path, compare) -> dict[str, str]:
    """Compare two evaluation folders with `compare` (WVS or suite), write the result to `target`."""
    comparison = compare(a, b, ctx.config.evaluation.bootstrap_resamples, seed=ctx.config.evaluation.seed)
    write_json_atomic(target, comparison.model_dump(mode="json"))
    return {m: v.verdict for m, v in comparison.metrics.items()}


def run_report(ctx: RunContext, scope: str) -> dict[str, Any]:
    from clca.report.build import write_report

    paths = write_report(ctx.run_dir)
    return {"files": [str(p.relative_to(ctx.run_dir)) for p in paths]}


# ------------------------------------------------------------------------------------------- fingerprints


def scenarios_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    cfg = ctx.config.scenarios
    return {"scenarios": cfg.model_dump(mode="json", exclude={"batch_size"}),
            "adapter": _role_fingerprint(ctx, "adapter") if cfg.source == "adapt" else None}


def roleplay_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"roleplay": _section(ctx.config.roleplay), "agent_a": _role_fingerprint(ctx, "agent_a"),
            "agent_b": _role_fingerprint(ctx, "agent_b")}


def judge_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"judge": _section(ctx.config.judge), "model": _role_fingerprint(ctx, "judge")}


def intents_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"intents": _section(ctx.config.intents), "model": _role_fingerprint(ctx, "intents")}


def dataset_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"dataset": ctx.config.dataset.model_dump(mode="json")}


def train_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"train": ctx.config.train.model_dump(mode="json")}


def baseline_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    return {"evaluation": _section_of_eval(ctx, exclude={"clca_strategy"}),
            "student": _model_fingerprint(ctx.config.models.student)}


def clca_eval_settings(ctx: RunContext, scope: str) -> dict[str, Any]:
    settings = {"evaluation": _section_of_eval(ctx, exclude={"baselines"}),
                "student": _model_fingerprint(ctx.config.models.student)}
    if ctx.config.models.student_served is not None:  # only when set: fingerprints of local runs stay as they were
        settings["student_served"] = _model_fingerprint(ctx.config.models.student_served)
    return settings


def _section_of_eval(ctx: RunContext, exclude: set[str]) -> dict[str, Any]:
    return ctx.config.evaluation.model_dump(mode="json", exclude=exclude)


# ---------------------------------------------------------------------------------------------- upstream


def upstream_of_report(ctx: RunContext, scope: str) -> list[tuple[str, str]]:
    per_culture = ("scenarios", "roleplay", "judge", "intents", "baseline", "evaluate")
    return [(c, stage) for c in cultures(ctx) for stage in per_culture] + [(s, "train") for s in train_scopes(ctx)]


def _same_scope(*stages: str):
    def upstream(ctx: RunContext, scope: str) -> list[tuple[str, str]]:
        return [(scope, stage) for stage in stages]
    return upstream


def upstream_of_dataset(ctx: RunContext, scope: str) -> list[tuple[str, str]]:
    return [(c, stage) for c in cultures_of_scope(ctx, scope) for stage in ("roleplay", "judge", "intents")]


def upstream_of_clca_eval(ctx: RunContext, culture: str) -> list[tuple[str, str]]:
    return [(train_scope_of(ctx, culture), "train"), (culture, "baseline")]


def pipeline_stages() -> list[Stage]:
    """The stages of `clca run`, in order."""
    return [
        Stage(name="culture", run=run_culture, settings=lambda ctx, scope: {"code": scope},
              upstream=_same_scope(), scopes=cultures),
        Stage(name="scenarios", run=run_scenarios, settings=scenarios_settings, upstream=_same_scope("culture"),
              scopes=cultures, template_prefixes=("scenario_",)),
        Stage(name="roleplay", run=run_roleplay, settings=roleplay_settings, upstream=_same_scope("scenarios"),
              scopes=cultures, template_prefixes=("roleplay_",)),
        Stage(name="judge", run=run_judge, settings=judge_settings, upstream=_same_scope("roleplay"),
              scopes=cultures, template_prefixes=("judge_",)),
        Stage(name="intents", run=run_intents, settings=intents_settings, upstream=_same_scope("roleplay", "judge"),
              scopes=cultures, template_prefixes=("intents_",)),
        Stage(name="dataset", run=run_dataset, settings=dataset_settings, upstream=upstream_of_dataset,
              scopes=train_scopes, template_prefixes=("train_",)),
        Stage(name="train", run=run_train, settings=train_settings, upstream=_same_scope("dataset"),
              scopes=train_scopes),
        Stage(name="baseline", run=run_baselines, settings=baseline_settings, upstream=_same_scope("culture"),
              scopes=cultures, template_prefixes=("eval_",)),
        Stage(name="evaluate", run=run_clca_eval, settings=clca_eval_settings, upstream=upstream_of_clca_eval,
              scopes=cultures, template_prefixes=("eval_",)),
        Stage(name="report", run=run_report, settings=lambda ctx, scope: {"report": 1},
              upstream=upstream_of_report, scopes=report_scope),
    ]
