"""Gather a run's artifacts into a `ReportData` and write `report.md`, `report.html` and the plots.

Reads only files the stages wrote (JSONL records, metrics.json, compare.json, loss.csv); recomputes no model
output, so `clca report <run_dir>` is instant and can be rerun on a partial run (missing parts are noted).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from clca.errors import InputDataError
from clca.intents.schema import ConversationIntents
from clca.jsonl import JsonlStore
from clca.judge.schema import Judgement
from clca.pipeline.manifest import Manifest
from clca.pipeline.stages import CONVERSATIONS, INTENTS, JUDGEMENTS, SCENARIOS, SHARED
from clca.records import Failure, utc_now
from clca.report import plots
from clca.report.model import (
    ComparisonRow,
    CultureDataStats,
    Estimate,
    ReportData,
    ResultRow,
    SampleConversation,
    SampleTurn,
)
from clca.report.render import render_html, render_markdown
from clca.roleplay.schema import Conversation
from clca.scenarios.schema import Scenario

METRICS = ("kl", "js", "emd", "accuracy")
METRIC_NAMES = {"kl": "KL", "js": "JS-D", "emd": "EMD", "accuracy": "accuracy", "invalid_rate": "invalid rate"}
MOVED_QUESTIONS = 4  # questions shown in the distribution plot


def _read(path: Path, model) -> list:
    return JsonlStore(path, model).read() if path.is_file() else []


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _estimate(entry: dict[str, Any] | None) -> Estimate:
    if not entry or entry.get("value") is None:
        return Estimate(value=None)
    ci = entry.get("ci95") or (None, None)
    return Estimate(value=entry["value"], ci_low=ci[0], ci_high=ci[1])


def _data_stats(run_dir: Path, culture: str) -> tuple[CultureDataStats, list[Conversation], dict[str, Any]]:
    base = run_dir / culture
    scenarios = _read(base / "scenarios" / SCENARIOS, Scenario)
    scenario_failures = _read(base / "scenarios" / "scenarios.failures.jsonl", Failure)
    conversations = _read(base / "roleplay" / CONVERSATIONS, Conversation)
    judgements = {j.conversation_id: j for j in _read(base / "judge" / JUDGEMENTS, Judgement)}
    intents = {i.conversation_id: i for i in _read(base / "intents" / INTENTS, ConversationIntents)}
    kept = [c for c in conversations if c.id in judgements and judgements[c.id].keep]
    turns = [t for c in kept for t in c.turns]
    labelled = [i for ci in intents.values() for i in ci.intents if i.kind is not None]
    breakdown: Counter[str] = Counter()
    for j in judgements.values():
        for part in ("quality", "cultural_alignment", "meta"):
            verdict = getattr(j, part)
            breakdown[f"{part}: {verdict.label} ({verdict.confidence})" if verdict else f"{part}: unparsed"] += 1
        breakdown[f"kept: {j.keep}"] += 1
    stats = CultureDataStats(
        culture=culture,
        scenarios=len(scenarios),
        scenario_failures=len(scenario_failures),
        conversations=len(conversations),
        conversation_errors=sum(c.termination == "error" for c in conversations),
        kept=len(kept),
        kept_ratio=len(kept) / len(judgements) if judgements else None,
        avg_turns=len(turns) / len(kept) if kept else None,
        avg_words_per_turn=sum(len(t.text.split()) for t in turns) / len(turns) if turns else None,
        cultural_intent_share=sum(i.kind == "cultural" for i in labelled) / len(labelled) if labelled else None,
        judge_breakdown=dict(sorted(breakdown.items())),
    )
    return stats, kept, intents


def _sample(kept: list[Conversation], intents: dict[str, ConversationIntents]) -> SampleConversation | None:
    labelled = [c for c in kept if c.id in intents] or kept
    if not labelled:
        return None
    conversation = max(labelled, key=lambda c: len(c.turns))  # the longest shows the most
    by_turn = {i.turn_index: i for i in intents[conversation.id].intents} if conversation.id in intents else {}
    return SampleConversation(
        conversation_id=conversation.id, culture=conversation.culture, setting=conversation.scenario.setting,
        turns=[SampleTurn(speaker=t.speaker_name, action=t.action, text=t.text,
                          intent=by_turn[t.index].intent if t.index in by_turn else None,
                          intent_kind=by_turn[t.index].kind if t.index in by_turn else None)
               for t in conversation.turns],
    )


def _result_row(culture: str, variant: str, metrics: dict[str, Any]) -> ResultRow:
    overall = metrics["overall"]
    return ResultRow(
        culture=culture, variant=variant, model=str(metrics.get("model", {}).get("model", "")),
        kl=_estimate(overall.get("kl")), jsd=_estimate(overall.get("js")), emd=_estimate(overall.get("emd")),
        accuracy=_estimate(overall.get("accuracy")),
        invalid_rate=(overall.get("invalid_rate") or {}).get("value"),
        n_personas=metrics.get("n_personas"), n_questions=len(metrics.get("per_question", {})),
        skipped_questions=sorted(metrics.get("skipped_questions") or {}),
    )


def _reference_rows(culture: str, metrics: dict[str, Any]) -> list[ResultRow]:
    rows = []
    for name in ("uniform", "majority"):
        ref = metrics.get("reference_rows", {}).get(name)
        if ref:
            rows.append(ResultRow(
                culture=culture, variant=f"{name} answers (reference)", kind="reference",
                kl=Estimate(value=ref.get("kl")), jsd=Estimate(value=ref.get("js")), emd=Estimate(value=ref.get("emd")),
                accuracy=Estimate(value=ref.get("accuracy")), invalid_rate=ref.get("invalid_rate"),
                n_questions=len(metrics.get("per_question", {})),
            ))
    return rows


def _comparisons(culture: str, compare: dict[str, Any], baseline: str) -> list[ComparisonRow]:
    rows = []
    for metric, c in compare["metrics"].items():
        if metric not in (*METRICS, "invalid_rate"):
            continue
        verdict = c["verdict"].replace("A better", "CLCA better").replace("B better", "baseline better")
        ci = c.get("ci95") or (None, None)
        rows.append(ComparisonRow(culture=culture, metric=METRIC_NAMES.get(metric, metric), baseline=baseline,
                                  candidate="CLCA", difference=c["a_minus_b"], ci_low=ci[0], ci_high=ci[1],
                                  verdict=verdict))
    return rows


def _moved_questions(baseline: dict[str, Any], clca: dict[str, Any]) -> list[tuple[str, list[str], dict]]:
    common = [q for q in clca["per_question"] if q in baseline["per_question"]]
    moved = sorted(common, key=lambda q: -abs(clca["per_question"][q]["kl"] - baseline["per_question"][q]["kl"]))
    panels = []
    for qid in moved[:MOVED_QUESTIONS]:
        b, c = baseline["per_question"][qid], clca["per_question"][qid]
        labels = list(c["survey_distribution"]) + ["invalid"]
        series = {
            "survey": [c["survey_distribution"][k] for k in labels[:-1]] + [0.0],
            "persona baseline": [b["model_distribution"].get(k, 0.0) for k in labels],
            "CLCA": [c["model_distribution"].get(k, 0.0) for k in labels],
        }
        title = f"{qid}: KL {b['kl']:.3f} → {c['kl']:.3f}"
        panels.append((title, labels, series))
    return panels


def _loss_curve(path: Path) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [(int(float(r["step"])), float(r["loss"])) for r in csv.DictReader(fh)]


def build_report_data(run_dir: Path) -> ReportData:
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise InputDataError(f"{run_dir}: no manifest.json — not a clca run directory (create one with `clca run`)")
    manifest = Manifest.load_or_new(manifest_path, run_dir.name)
    config = manifest.config
    cultures: list[str] = config.get("cultures", [])
    evaluation = config.get("evaluation", {})
    baseline_strategy = evaluation.get("clca_strategy", "persona")
    models = {role: (spec or {}).get("spec", "") for role, spec in config.get("models", {}).items() if spec}
    data = ReportData(run_name=manifest.name, created_at=utc_now(), cultures=cultures, models=models)

    plot_dir = run_dir / "report_files"
    loss_curves: dict[str, list[tuple[int, float]]] = {}
    distribution_panels: list = []
    category_deltas: dict[str, dict[str, float]] = {}
    samples = []
    for culture in cultures:
        stats, kept, intents = _data_stats(run_dir, culture)
        data.data_stats.append(stats)
        samples.append(_sample(kept, intents))

        references: list[ResultRow] = []
        baseline_metrics = None
        for strategy in evaluation.get("baselines", []):
            metrics = _json(run_dir / culture / "baseline" / strategy / "metrics.json")
            if metrics is None:
                data.notes.append(f"{culture}: no {strategy} baseline evaluation yet")
                continue
            label = f"{strategy} prompting" + (" (baseline)" if strategy == baseline_strategy else "")
            data.results.append(_result_row(culture, label, metrics))
            if strategy == baseline_strategy:
                baseline_metrics = metrics
            references = references or _reference_rows(culture, metrics)
        clca_metrics = _json(run_dir / culture / "evaluate" / "clca" / "metrics.json")
        if clca_metrics is None:
            data.notes.append(f"{culture}: the CLCA-trained student has not been evaluated yet")
        else:
            data.results.append(_result_row(culture, "CLCA", clca_metrics))
        data.results.extend(references)  # after the models: uniform / majority answers as yardsticks
        compare = _json(run_dir / culture / "evaluate" / "compare.json")
        if compare is not None:
            data.comparisons.extend(_comparisons(culture, compare, f"{baseline_strategy} baseline"))
        if baseline_metrics and clca_metrics:
            distribution_panels += [(f"{culture} {t}", labels, s)
                                    for t, labels, s in _moved_questions(baseline_metrics, clca_metrics)]
            category_deltas[culture] = {
                cat: clca_metrics["by_category"][cat]["kl"] - values["kl"]
                for cat, values in baseline_metrics["by_category"].items() if cat in clca_metrics["by_category"]
            }

    scopes = [SHARED] if config.get("adapter") == "shared" else cultures
    for scope in scopes:
        curve = _loss_curve(run_dir / scope / "train" / "adapter" / "loss.csv")
        if curve:
            loss_curves[scope] = curve

    data.sample = next((s for s in samples if s is not None), None)
    if distribution_panels:
        path = plots.plot_question_distributions(distribution_panels[: 2 * MOVED_QUESTIONS],
                                                 plot_dir / "moved_questions.png")
        data.plots["Answer distributions of the questions that moved most (survey vs persona baseline vs CLCA)"] = \
            str(path.relative_to(run_dir))
    if category_deltas:
        path = plots.plot_category_deltas(category_deltas, "KL", plot_dir / "category_deltas.png")
        data.plots["Per-category change in KL, CLCA − persona baseline"] = str(path.relative_to(run_dir))
    if loss_curves:
        path = plots.plot_loss_curves(loss_curves, plot_dir / "training_loss.png")
        data.plots["Training loss"] = str(path.relative_to(run_dir))
    return data


def write_report(run_dir: str | Path) -> list[Path]:
    """Write `report.md`, `report.html` (self-contained) and `report_data.json` into the run directory."""
    run_dir = Path(run_dir)
    data = build_report_data(run_dir)
    md_path, html_path, json_path = run_dir / "report.md", run_dir / "report.html", run_dir / "report_data.json"
    md_path.write_text(render_markdown(data), encoding="utf-8")
    html_path.write_text(render_html(data, run_dir), encoding="utf-8")
    json_path.write_text(data.model_dump_json(indent=2), encoding="utf-8")
    return [md_path, html_path, json_path]
