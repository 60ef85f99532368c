"""The CLCA pipeline as a list of stages (see `clca.pipeline.runner` for skipping/resuming/invalidation).

culture card → scenarios → role-play → judge → intents → dataset → train → baseline eval → CLCA eval → report.
Each stage reads its upstream stages' output files and writes into its own directory `runs/<name>/<scope>/<stage>/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clca.errors import ClcaError
from clca.jsonl import JsonlStore, write_json_atomic
from clca.llm.config import ModelConfig
from clca.pipeline.config import RunConfig
from clca.pipeline.context import RunContext
from clca.pipeline.runner import Stage

SHARED = "shared"  # scope of the dataset/train stages when one adapter is trained for all cultures
ALL = "all"  # scope of the report

# File names inside the stage directories (the report reads them too).
SCENARIOS = "scenarios.jsonl"
CONVERSATIONS = "conversations.jsonl"
JUDGEMENTS = "judgements.jsonl"
INTENTS = "intents.jsonl"


def _cfg(ctx: RunContext) -> RunConfig:
    return ctx.config  # type: ignore[return-value]


def _model_identity(ctx: RunContext, role_cfg: ModelConfig) -> dict[str, Any]:
    return ctx.backends.get(role_cfg).identity.model_dump(mode="json")


# Settings that change how fast a stage runs but not what it produces: left out of fingerprints, so tuning them
# on a rerun resumes the stage instead of redoing it.
MODEL_EXECUTION_FIELDS = {"concurrency", "timeout_s", "max_retries", "retry_backoff_s", "batch_size", "cache"}
STAGE_EXECUTION_FIELDS = {"group_size", "chunk_size", "retry_errors"}


def _model_fingerprint(cfg: ModelConfig) -> dict[str, Any]:
    """A model for fingerprints: spec and options (its identity needs the model loaded, so not here)."""
    return cfg.model_dump(mode="json", exclude=MODEL_EXECUTION_FIELDS & set(type(cfg).model_fields))


def _role_fingerprint(ctx: RunContext, role: str) -> dict[str, Any]:
    return _model_fingerprint(_cfg(ctx).models.for_role(role))


def _section(model) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=STAGE_EXECUTION_FIELDS & set(type(model).model_fields))


def _per_culture(ctx: RunContext) -> list[str]:
    return list(_cfg(ctx).cultures)


def _train_scopes(ctx: RunContext) -> list[str]:
    return [SHARED] if _cfg(ctx).adapter == "shared" else _per_culture(ctx)


def _train_scope_of(ctx: RunContext, culture: str) -> str:
    return SHARED if _cfg(ctx).adapter == "shared" else culture


def _cultures_of_scope(ctx: RunContext, scope: str) -> list[str]:
    return _per_culture(ctx) if scope == SHARED else [scope]


def out(ctx: RunContext, scope: str, stage: str, name: str) -> Path:
    return ctx.stage_dir(scope, stage) / name


# ------------------------------------------------------------------------------------------------ culture


def run_culture(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.cultures import get_culture

    card = get_culture(scope)
    write_json_atomic(out_dir / "culture.json", card.model_dump(mode="json"))
    return {"name": card.name}


# ---------------------------------------------------------------------------------------------- scenarios


def run_scenarios(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.cultures import get_culture
    from clca.scenarios import Scenario, ScenariosConfig, adapt_scenarios, import_scenarios, load_seed_scenarios
    from clca.scenarios.generate import select_seeds

    cfg = _cfg(ctx).scenarios
    target = out_dir / SCENARIOS
    if cfg.source == "adapt":
        backend_cfg = _cfg(ctx).models.for_role("adapter")
        stage_cfg = ScenariosConfig.model_validate(cfg.model_dump(exclude={"source", "path"}))
        summary = adapt_scenarios(load_seed_scenarios(), get_culture(scope), ctx.backends.get(backend_cfg), target,
                                  config=stage_cfg)
        result = summary.model_dump(mode="json")
        result["models"] = {"adapter": _model_identity(ctx, backend_cfg)}
    else:
        if cfg.source == "seeds":
            chosen = [seed for seed, _ in select_seeds(load_seed_scenarios(), cfg.n, cfg.seed)]
            scenarios = [s.model_copy(update={"id": f"{scope}-{s.id}", "culture": scope, "source_scenario_id": s.id})
                         for s in chosen]
        else:
            scenarios = [s for s in import_scenarios(cfg.path, culture=scope) if s.culture == scope]
            scenarios = scenarios[: cfg.n] if cfg.n else scenarios
        if not scenarios:
            raise ClcaError(f"{cfg.path}: no scenario for culture {scope} — check the file's culture field")
        JsonlStore(target, Scenario).write_all(scenarios)
        result = {"source": cfg.source, "produced": len(scenarios)}
    if not JsonlStore(target, Scenario).read():
        raise ClcaError(
            f"{scope}: no scenario could be produced (see {out_dir}/scenarios.failures.jsonl) — use a stronger "
            "`models.adapter`, or `scenarios.source: seeds`"
        )
    return result


# ------------------------------------------------------------------------------------------------ roleplay


def run_roleplay_stage(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.roleplay.runner import run_roleplay

    cfg = _cfg(ctx)
    a_cfg, b_cfg = cfg.models.for_role("agent_a"), cfg.models.for_role("agent_b")
    summary = run_roleplay(out(ctx, scope, "scenarios", SCENARIOS), out_dir / CONVERSATIONS,
                           ctx.backends.get(a_cfg), ctx.backends.get(b_cfg), cfg.roleplay)
    result = summary.model_dump(mode="json")
    result["models"] = {"agent_a": _model_identity(ctx, a_cfg), "agent_b": _model_identity(ctx, b_cfg)}
    return result


# --------------------------------------------------------------------------------------------------- judge


def run_judge_stage(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.judge import run_judge

    cfg = _cfg(ctx)
    judge_cfg = cfg.models.for_role("judge")
    summary = run_judge(out(ctx, scope, "roleplay", CONVERSATIONS), out_dir / JUDGEMENTS,
                        ctx.backends.get(judge_cfg), cfg.judge)
    result = summary.model_dump(mode="json")
    result["models"] = {"judge": _model_identity(ctx, judge_cfg)}
    return result


# ------------------------------------------------------------------------------------------------- intents


def run_intents_stage(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.intents import run_intents

    cfg = _cfg(ctx)
    intents_cfg = cfg.models.for_role("intents")
    summary = run_intents(out(ctx, scope, "roleplay", CONVERSATIONS), out_dir / INTENTS,
                          ctx.backends.get(intents_cfg), cfg.intents,
                          judgements_path=out(ctx, scope, "judge", JUDGEMENTS))
    result = summary.model_dump(mode="json")
    result["models"] = {"intents": _model_identity(ctx, intents_cfg)}
    return result


# ------------------------------------------------------------------------------------------------- dataset


def _concatenate(paths: list[Path], target: Path) -> Path:
    """One input file for a shared adapter: the cultures' files one after another (ids are culture-prefixed)."""
    with open(target, "wb") as fh:
        for path in paths:
            if path.exists():
                fh.write(path.read_bytes())
    return target


def run_dataset(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.training.dataset import build_dataset

    cfg = _cfg(ctx)
    cultures = _cultures_of_scope(ctx, scope)
    inputs = {}
    for stage, name in (("roleplay", CONVERSATIONS), ("judge", JUDGEMENTS), ("intents", INTENTS)):
        paths = [out(ctx, c, stage, name) for c in cultures]
        inputs[stage] = paths[0] if len(paths) == 1 else _concatenate(paths, out_dir / f"input.{name}")
    judgements = inputs["judge"] if cfg.dataset.data == "kept" else None
    manifest = build_dataset(inputs["roleplay"], out_dir / "dataset", cfg.dataset, judgements_path=judgements,
                             intents_path=inputs["intents"])
    return {"counts": manifest.counts, "data_sha256": manifest.data_sha256}


# --------------------------------------------------------------------------------------------------- train


def run_train(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.training.trainer import train

    summary = train(out(ctx, scope, "dataset", "dataset"), out_dir / "adapter", _cfg(ctx).train)
    return summary.model_dump(mode="json")


def adapter_spec(ctx: RunContext, culture: str) -> str:
    from clca.training.trainer import TrainSummary

    summary_file = out(ctx, _train_scope_of(ctx, culture), "train", "adapter") / "summary.json"
    return TrainSummary.model_validate_json(summary_file.read_text(encoding="utf-8")).adapter_spec


# ------------------------------------------------------------------------------------------------ evaluate


def run_baselines(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    """The student without CLCA, under each prompting strategy (persona = the paper's main baseline)."""
    from clca.evaluation.runner import run_evaluation

    cfg = _cfg(ctx)
    backend = ctx.backends.get(cfg.models.student)
    results = {}
    for strategy in cfg.evaluation.baselines:
        summary = run_evaluation(backend, cfg.evaluation.for_run(scope, strategy), out_dir / strategy)
        results[strategy] = summary.model_dump(mode="json")
    results["models"] = {"student": _model_identity(ctx, cfg.models.student)}
    return results


def run_clca_eval(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    """The CLCA-trained student, evaluated on the same personas, then compared pairwise with the baseline."""
    from clca.evaluation.runner import compare_runs, run_evaluation

    cfg = _cfg(ctx)
    student = cfg.models.student.model_copy(update={"spec": adapter_spec(ctx, scope)})
    strategy = cfg.evaluation.clca_strategy
    summary = run_evaluation(ctx.backends.get(student), cfg.evaluation.for_run(scope, strategy), out_dir / "clca")
    result: dict[str, Any] = {"clca": summary.model_dump(mode="json")}
    baseline_dir = ctx.stage_dir(scope, "baseline") / strategy
    if baseline_dir.exists():
        comparison = compare_runs(out_dir / "clca", baseline_dir, cfg.evaluation.bootstrap_resamples,
                                  seed=cfg.evaluation.seed)
        write_json_atomic(out_dir / "compare.json", comparison)
        result["comparison"] = {m: v["verdict"] for m, v in comparison["metrics"].items()}
    result["models"] = {"student+adapter": _model_identity(ctx, student)}
    return result


# -------------------------------------------------------------------------------------------------- report


def run_report(ctx: RunContext, scope: str, out_dir: Path) -> dict[str, Any]:
    from clca.report.build import write_report

    paths = write_report(ctx.run_dir)
    return {"files": [str(p.relative_to(ctx.run_dir)) for p in paths]}


# ---------------------------------------------------------------------------------------------- the stages


def pipeline_stages() -> list[Stage]:
    c = _cfg

    def same(stage: str):
        return lambda ctx, scope: [(scope, stage)]

    return [
        Stage("culture", run_culture, lambda ctx, s: {"code": s}, lambda ctx, s: [], _per_culture),
        Stage("scenarios", run_scenarios,
              lambda ctx, s: {"scenarios": c(ctx).scenarios.model_dump(mode="json", exclude={"batch_size"}),
                              "adapter": _role_fingerprint(ctx, "adapter") if c(ctx).scenarios.source == "adapt"
                              else None},
              same("culture"), _per_culture, ("scenario_",)),
        Stage("roleplay", run_roleplay_stage,
              lambda ctx, s: {"roleplay": _section(c(ctx).roleplay),
                              "agent_a": _role_fingerprint(ctx, "agent_a"),
                              "agent_b": _role_fingerprint(ctx, "agent_b")},
              same("scenarios"), _per_culture, ("roleplay_",)),
        Stage("judge", run_judge_stage,
              lambda ctx, s: {"judge": _section(c(ctx).judge), "model": _role_fingerprint(ctx, "judge")},
              same("roleplay"), _per_culture, ("judge_",)),
        Stage("intents", run_intents_stage,
              lambda ctx, s: {"intents": _section(c(ctx).intents),
                              "model": _role_fingerprint(ctx, "intents")},
              lambda ctx, s: [(s, "roleplay"), (s, "judge")], _per_culture, ("intents_",)),
        Stage("dataset", run_dataset,
              lambda ctx, s: {"dataset": c(ctx).dataset.model_dump(mode="json")},
              lambda ctx, s: [(cu, st) for cu in _cultures_of_scope(ctx, s) for st in ("roleplay", "judge", "intents")],
              _train_scopes, ("train_",)),
        Stage("train", run_train, lambda ctx, s: {"train": c(ctx).train.model_dump(mode="json")},
              same("dataset"), _train_scopes),
        Stage("baseline", run_baselines,
              lambda ctx, s: {"evaluation": c(ctx).evaluation.model_dump(mode="json", exclude={"clca_strategy"}),
                              "student": _model_fingerprint(c(ctx).models.student)},
              same("culture"), _per_culture, ("eval_",)),
        Stage("evaluate", run_clca_eval,
              lambda ctx, s: {"evaluation": c(ctx).evaluation.model_dump(mode="json", exclude={"baselines"}),
                              "student": _model_fingerprint(c(ctx).models.student)},
              lambda ctx, s: [(_train_scope_of(ctx, s), "train"), (s, "baseline")], _per_culture, ("eval_",)),
        Stage("report", run_report, lambda ctx, s: {"report": 1},
              lambda ctx, s: [(cu, st) for cu in _per_culture(ctx)
                              for st in ("scenarios", "roleplay", "judge", "intents", "baseline", "evaluate")]
              + [(sc, "train") for sc in _train_scopes(ctx)],
              lambda ctx: [ALL]),
    ]
