"""Gather a run's artifacts into a `ReportData` and write `report.md`, `report.html` and the plots.

Reads only files the stages wrote (JSONL records, metrics.json, compare.json, loss.csv); recomputes no model
output, so `clca report <run_dir>` is instant and can be rerun on a partial run (missing parts are noted).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from clca.errors import InputDataError
from clca.evaluation.language import resolve_languages
from clca.evaluation.schema import Comparison, MetricValue, Resampling, RunMetrics
from clca.intents.schema import ConversationIntents
from clca.jsonl import JsonlStore
from clca.judge.schema import Judgement
from clca.layout import SHARED_SCOPE, EvalFiles, RunLayout, failures_path
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
    SuiteRow,
)
from clca.report.render import render_html, render_markdown
from clca.roleplay.schema import Conversation
from clca.run_manifest import Manifest
from clca.scenarios.schema import Scenario
from clca.suites.schema import SuiteComparison, SuiteMetrics
from clca.training.dataset import load_manifest

METRICS = ("kl", "js", "emd", "accuracy")
METRIC_NAMES = {"kl": "KL", "js": "JS-D", "emd": "EMD", "accuracy": "accuracy", "invalid_rate": "invalid rate"}
MOVED_QUESTIONS = 4  # questions shown in the distribution plot
MOVED_THRESHOLD = 1e-9  # total variation between baseline and CLCA answers below which a question did not move


def _read(path: Path, model) -> list:
    return JsonlStore(path, model).read() if path.is_file() else []


M = TypeVar("M", bound=BaseModel)


def _typed(path: Path, model: type[M]) -> M | None:
    """A stage's JSON output as its type; None when it is not there yet, one clear error when it is corrupt."""
    if not path.is_file():
        return None
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<document>"
        raise InputDataError(f"{path}: {where}: {first['msg'][:200]} — the file is corrupt; rerun the stage that "
                             "wrote it (`clca run --force STAGE`)") from None


def _estimate(entry: MetricValue | None) -> Estimate:
    if entry is None or entry.value is None:
        return Estimate(value=None)
    ci = entry.ci95 or (None, None)
    return Estimate(value=entry.value, ci_low=ci[0], ci_high=ci[1])


class _CultureData:
    """One culture's data stages read back: counts for the data table and the funnel, and sample conversations."""

    def __init__(self, layout: RunLayout, culture: str, dataset_dir: Path | None):
        self.culture = culture
        self.scenarios = _read(layout.scenarios(culture), Scenario)
        self.scenario_failures = _read(failures_path(layout.scenarios(culture)), Failure)
        self.conversations = _read(layout.conversations(culture), Conversation)
        self.judgements = {j.conversation_id: j for j in _read(layout.judgements(culture), Judgement)}
        self.intents = {i.conversation_id: i for i in _read(layout.intents(culture), ConversationIntents)}
        self.kept = [c for c in self.conversations if c.id in self.judgements and self.judgements[c.id].keep]
        self.dropped = [c for c in self.conversations if c.id in self.judgements and not self.judgements[c.id].keep]
        manifest_path = dataset_dir / "manifest.json" if dataset_dir is not None else None
        self.used = None
        if manifest_path is not None and manifest_path.is_file():
            self.used = load_manifest(dataset_dir).counts.get("conversations_used")

    def stats(self, gate_action: str) -> CultureDataStats:
        turns = [t for c in self.kept for t in c.turns]
        labelled = [i for ci in self.intents.values() for i in ci.intents if i.kind is not None]
        breakdown: Counter[str] = Counter()
        gated = [j.gate for j in self.judgements.values() if j.gate is not None]
        for j in self.judgements.values():
            for part in ("quality", "cultural_alignment", "meta"):
                verdict = getattr(j, part)
                breakdown[f"{part}: {verdict.label} ({verdict.confidence})" if verdict else f"{part}: unparsed"] += 1
            breakdown[f"kept: {j.keep}"] += 1
        return CultureDataStats(
            culture=self.culture, scenarios=len(self.scenarios), scenario_failures=len(self.scenario_failures),
            conversations=len(self.conversations),
            conversation_errors=sum(c.termination == "error" for c in self.conversations),
            kept=len(self.kept), kept_ratio=len(self.kept) / len(self.judgements) if self.judgements else None,
            avg_turns=len(turns) / len(self.kept) if self.kept else None,
            avg_words_per_turn=sum(len(t.text.split()) for t in turns) / len(turns) if turns else None,
            cultural_intent_share=sum(i.kind == "cultural" for i in labelled) / len(labelled) if labelled else None,
            judge_breakdown=dict(sorted(breakdown.items())),
            passed_gate=sum(g.passed for g in gated) if gated else None, gate_action=gate_action if gated else "",
            gate_rejections=dict(Counter(check for g in gated if not g.passed for check in g.checks)),
            used_in_training=self.used,
        )

    def kept_sample(self) -> SampleConversation | None:
        labelled = [c for c in self.kept if c.id in self.intents] or self.kept
        if not labelled:
            return None
        conversation = max(labelled, key=lambda c: len(c.turns))  # the longest shows the most
        return _sample(conversation, self.intents.get(conversation.id), self.judgements[conversation.id].keep_reason)

    def rejected_sample(self) -> SampleConversation | None:
        if not self.dropped:
            return None
        conversation = max(self.dropped, key=lambda c: len(c.turns))
        return _sample(conversation, None, self.judgements[conversation.id].keep_reason)


def _sample(conversation: Conversation, intents: ConversationIntents | None, reason: str) -> SampleConversation:
    by_turn = {i.turn_index: i for i in intents.intents} if intents is not None else {}
    return SampleConversation(
        conversation_id=conversation.id, culture=conversation.culture, setting=conversation.scenario.setting,
        turns=[SampleTurn(speaker=t.speaker_name, action=t.action, text=t.text,
                          intent=by_turn[t.index].intent if t.index in by_turn else None,
                          intent_kind=by_turn[t.index].kind if t.index in by_turn else None)
               for t in conversation.turns],
        reason=reason,
    )


def _result_row(culture: str, variant: str, metrics: RunMetrics) -> ResultRow:
    overall = metrics.overall
    return ResultRow(
        culture=culture, variant=variant, model=str(metrics.model.get("model", "")),
        kl=_estimate(overall.get("kl")), jsd=_estimate(overall.get("js")), emd=_estimate(overall.get("emd")),
        accuracy=_estimate(overall.get("accuracy")),
        invalid_rate=overall["invalid_rate"].value if "invalid_rate" in overall else None,
        n_personas=metrics.n_personas, n_questions=len(metrics.per_question),
        skipped_questions=sorted(metrics.skipped_questions),
        distribution=metrics.model_distribution, weighting=metrics.settings.weighting,
        resampling=_resampling_text(metrics.resampling), protocols=metrics.protocols,
        scale_variants=metrics.scale_variants,
    )


def _resampling_text(r: Resampling | None) -> str:
    if r is None:
        return "no intervals (bootstrap off)"
    personas = f"{r.n_personas} persona" + ("s" if r.n_personas != 1 else "")
    return (f"{r.method}: {r.resamples} resamples of {r.units} ({personas} × {r.n_questions} questions), "
            f"seed {r.seed}; an effect generalises over {r.scope}")


def _reference_rows(culture: str, metrics: RunMetrics) -> list[ResultRow]:
    return [
        ResultRow(culture=culture, variant=f"{name} answers (reference)", kind="reference",
                  kl=Estimate(value=ref.kl), jsd=Estimate(value=ref.js), emd=Estimate(value=ref.emd),
                  accuracy=Estimate(value=ref.accuracy), invalid_rate=ref.invalid_rate,
                  n_questions=len(metrics.per_question))
        for name, ref in metrics.reference_rows.items() if name in ("uniform", "majority")
    ]


def _verdict_text(verdict: str, candidate: str, baseline: str, reason: str) -> str:
    text = {"a better": f"{candidate} better beyond noise", "b better": f"{baseline} better beyond noise",
            "no significant difference": "no significant difference", "not testable": "not testable"}[verdict]
    return text + (f"; {reason}" if reason and verdict != "no significant difference" else "")


def _comparisons(culture: str, compare: Comparison | SuiteComparison, baseline: str,
                 candidate: str = "CLCA") -> list[ComparisonRow]:
    rows = []
    for metric, c in compare.metrics.items():
        if metric not in (*METRICS, "invalid_rate"):
            continue
        ci = c.ci95 or (None, None)
        rows.append(ComparisonRow(culture=culture, metric=METRIC_NAMES.get(metric, metric), baseline=baseline,
                                  candidate=candidate, difference=c.a_minus_b, ci_low=ci[0], ci_high=ci[1],
                                  verdict=_verdict_text(c.verdict, candidate, baseline, c.reason)))
    return rows


def _moved_questions(baseline: RunMetrics, clca: RunMetrics) -> list[tuple[str, list[str], dict]]:
    """The questions whose answer distribution changed most between the baseline and CLCA (only those that moved)."""
    def moved_by(qid: str) -> float:
        b, c = baseline.per_question[qid].model_distribution, clca.per_question[qid].model_distribution
        return sum(abs(c.get(k, 0.0) - b.get(k, 0.0)) for k in set(b) | set(c)) / 2

    moved = [q for q in clca.per_question if q in baseline.per_question and moved_by(q) > MOVED_THRESHOLD]
    panels = []
    for qid in sorted(moved, key=moved_by, reverse=True)[:MOVED_QUESTIONS]:
        b, c = baseline.per_question[qid], clca.per_question[qid]
        codes = list(c.survey_distribution)
        labels = [_short(f"{code} {c.option_labels.get(code, '')}".strip()) for code in codes] + ["invalid"]
        series = {
            "survey": [c.survey_distribution[k] for k in codes] + [0.0],
            "persona baseline": [b.model_distribution.get(k, 0.0) for k in [*codes, "invalid"]],
            "CLCA": [c.model_distribution.get(k, 0.0) for k in [*codes, "invalid"]],
        }
        panels.append((f"{qid}: KL {b.kl:.3f} → {c.kl:.3f}", labels, series))
    return panels


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _loss_curve(path: Path) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8") as fh:
            return [(int(float(r["step"])), float(r["loss"])) for r in csv.DictReader(fh)]
    except (KeyError, ValueError, TypeError) as exc:
        raise InputDataError(f"{path}: not a loss table with step and loss columns ({exc}) — rerun "
                             "`clca run --force train`") from None


class _Evaluations:
    """One culture's evaluation results in each of its languages, gathered into result rows, comparison rows and
    plot data (the plots use the English runs)."""

    def __init__(self, layout: RunLayout, culture: str, baselines: list[str], baseline_strategy: str,
                 languages: list[str]):
        self.layout, self.culture, self.baseline_strategy = layout, culture, baseline_strategy
        self.baseline: RunMetrics | None = None
        self.clca: RunMetrics | None = None
        self.rows: list[ResultRow] = []
        self.references: list[ResultRow] = []
        self.comparisons: list[ComparisonRow] = []
        self.notes: list[str] = []
        for language in languages:
            self._read_language(baselines, language)

    def _read_language(self, baselines: list[str], language: str) -> None:
        layout, culture, tag = self.layout, self.culture, "" if language == "en" else f" [{language}]"
        for strategy in baselines:
            metrics = _typed(layout.baseline_eval(culture, strategy, language) / EvalFiles.METRICS, RunMetrics)
            if metrics is None:
                self.notes.append(f"{culture}: no {strategy} baseline evaluation{tag} yet")
                continue
            label = f"{strategy} prompting" + (" (baseline)" if strategy == self.baseline_strategy else "") + tag
            self.rows.append(_result_row(culture, label, metrics))
            if language == "en":
                self.baseline = metrics if strategy == self.baseline_strategy else self.baseline
                self.references = self.references or _reference_rows(culture, metrics)
        clca = _typed(layout.clca_eval(culture, language) / EvalFiles.METRICS, RunMetrics)
        if clca is None:
            self.notes.append(f"{culture}: the CLCA-trained student has not been evaluated{tag} yet")
        else:
            self.rows.append(_result_row(culture, "CLCA" + tag, clca))
            self.clca = clca if language == "en" else self.clca
        baseline_name = f"{self.baseline_strategy} baseline"
        found = [(layout.comparison(culture, language), baseline_name + tag, "CLCA" + tag)]
        if language != "en":
            found += [(layout.language_comparison(culture, "clca", language), "CLCA in English", f"CLCA in {language}"),
                      (layout.language_comparison(culture, "baseline", language), f"{baseline_name} in English",
                       f"{baseline_name} in {language}")]
        for path, baseline, candidate in found:
            if (comparison := _typed(path, Comparison)) is not None:
                self.comparisons += _comparisons(culture, comparison, baseline, candidate)

    def category_deltas(self) -> dict[str, float]:
        if self.baseline is None or self.clca is None:
            return {}
        return {cat: self.clca.by_category[cat]["kl"] - values["kl"]
                for cat, values in self.baseline.by_category.items() if cat in self.clca.by_category}


def _suites(layout: RunLayout, culture: str, suites: list[str]) -> tuple[list[SuiteRow], list[ComparisonRow]]:
    """Each extra suite's baseline and CLCA rows and their paired comparison (what is there so far)."""
    rows, comparisons = [], []
    for suite in suites:
        for variant, folder in (("persona baseline", layout.baseline_suite(culture, suite)),
                                ("CLCA", layout.clca_suite(culture, suite))):
            if (m := _typed(folder / EvalFiles.METRICS, SuiteMetrics)) is not None:
                rows.append(SuiteRow(culture=culture, suite=m.title, license=m.license, variant=variant,
                                     metrics={k: _estimate(v) for k, v in m.overall.items()}, n_items=m.n_items,
                                     invalid_answers=m.invalid_answers, failures=m.failures))
        if (c := _typed(layout.suite_comparison(culture, suite), SuiteComparison)) is not None:
            comparisons += [row.model_copy(update={"metric": f"{suite}: {row.metric}"})
                            for row in _comparisons(culture, c, "persona baseline")]  # type: ignore[arg-type]
    return rows, comparisons


def build_report_data(run_dir: Path) -> ReportData:
    """Everything the report shows, read from a run directory's artifacts (nothing is recomputed)."""
    layout = RunLayout(run_dir)
    if not layout.manifest.is_file():
        raise InputDataError(f"{run_dir}: no manifest.json — not a clca run directory (create one with `clca run`)")
    manifest = Manifest.load_or_new(layout.manifest, run_dir.name)
    config = manifest.config
    cultures: list[str] = config.get("cultures", [])
    evaluation = config.get("evaluation", {})
    baseline_strategy = evaluation.get("clca_strategy", "persona")
    models = {role: (spec or {}).get("spec", "") for role, spec in config.get("models", {}).items() if spec}
    data = ReportData(run_name=manifest.name, created_at=utc_now(), cultures=cultures, models=models)

    distribution_panels: list = []
    category_deltas: dict[str, dict[str, float]] = {}
    found_data = []
    gate_action = config.get("judge", {}).get("gate", {}).get("action", "drop")
    for culture in cultures:
        dataset_dir = None if config.get("adapter") == "shared" else layout.dataset(culture)
        culture_data = _CultureData(layout, culture, dataset_dir)
        data.data_stats.append(culture_data.stats(gate_action))
        found_data.append(culture_data)
        found = _Evaluations(layout, culture, evaluation.get("baselines", []), baseline_strategy,
                             resolve_languages(evaluation.get("languages", ["en"]), culture))
        data.notes += found.notes
        data.results += found.rows + found.references  # uniform / majority answers as yardsticks after the models
        data.comparisons += found.comparisons
        suite_rows, suite_comparisons = _suites(layout, culture, [s["suite"] for s in evaluation.get("suites", [])])
        data.suite_results += suite_rows
        data.comparisons += suite_comparisons
        if found.baseline is not None and found.clca is not None:
            distribution_panels += [(f"{culture} {t}", labels, series)
                                    for t, labels, series in _moved_questions(found.baseline, found.clca)]
            category_deltas[culture] = found.category_deltas()
    data.sample = next((s for d in found_data if (s := d.kept_sample()) is not None), None)
    data.rejected_sample = next((s for d in found_data if (s := d.rejected_sample()) is not None), None)
    scopes = [SHARED_SCOPE] if config.get("adapter") == "shared" else cultures
    loss_curves = {scope: curve for scope in scopes if (curve := _loss_curve(layout.loss_csv(scope)))}
    _add_plots(data, layout, distribution_panels, category_deltas, loss_curves)
    return data


def _add_plots(data: ReportData, layout: RunLayout, distribution_panels: list,
               category_deltas: dict[str, dict[str, float]], loss_curves: dict[str, list[tuple[int, float]]]) -> None:
    plot_dir = layout.report_files()
    if distribution_panels:
        path = plots.plot_question_distributions(distribution_panels[: 2 * MOVED_QUESTIONS],
                                                 plot_dir / "moved_questions.png")
        data.plots["Answer distributions of the questions that moved most (survey vs persona baseline vs CLCA)"] = \
            str(path.relative_to(layout.run_dir))
    if category_deltas:
        path = plots.plot_category_deltas(category_deltas, "KL", plot_dir / "category_deltas.png")
        caption = "Per-block change in KL, CLCA − persona baseline (questionnaire blocks)"
        data.plots[caption] = str(path.relative_to(layout.run_dir))
    if loss_curves:
        path = plots.plot_loss_curves(loss_curves, plot_dir / "training_loss.png")
        data.plots["Training loss"] = str(path.relative_to(layout.run_dir))


def write_report(run_dir: str | Path) -> list[Path]:
    """Write `report.md`, `report.html` (self-contained) and `report_data.json` into the run directory.

    Args:
        run_dir: a run directory made by `clca run` (finished or not: missing parts are noted).

    Returns:
        The three paths written.
    """
    layout = RunLayout(Path(run_dir))
    data = build_report_data(layout.run_dir)
    md_path, html_path, json_path = layout.report_outputs()
    md_path.write_text(render_markdown(data), encoding="utf-8")
    html_path.write_text(render_html(data, layout.run_dir), encoding="utf-8")
    json_path.write_text(data.model_dump_json(indent=2), encoding="utf-8")
    return [md_path, html_path, json_path]
