"""A run evaluated in English and in the culture's language: the report shows both rows side by side and the
paired comparison of each model with itself in English, read from the files the pipeline's layout names."""

from __future__ import annotations

import pytest

from clca.evaluation.scoring import compare_runs, compute_run_metrics
from clca.jsonl import write_json_atomic
from clca.layout import EvalFiles, RunLayout
from clca.report.build import build_report_data
from clca.run_manifest import Manifest
from test_eval_compare import BINARY, write_run


def _evaluation(folder, answers, survey):
    write_run(folder, answers, survey)
    write_json_atomic(folder / EvalFiles.METRICS,
                      compute_run_metrics(folder, bootstrap_resamples=50).model_dump(mode="json"))


def test_english_and_native_rows_and_the_language_comparisons(tmp_path):
    layout = RunLayout(tmp_path / "run")
    config = {"cultures": ["DEU"], "evaluation": {"baselines": ["persona"], "clca_strategy": "persona",
                                                  "languages": ["en", "native"]}}
    layout.run_dir.mkdir()
    Manifest(name="run", config=config).save(layout.manifest)
    survey = {q: [0.7, 0.3] for q in BINARY}
    en = {q: [1, 2, 1] for q in BINARY}
    de = {q: [2, 2, 1] for q in BINARY}
    for language, answers in (("en", en), ("de", de)):
        _evaluation(layout.baseline_eval("DEU", "persona", language), answers, survey)
        _evaluation(layout.clca_eval("DEU", language), answers, survey)
    assert layout.clca_eval("DEU", "de").name == "clca.de" and layout.comparison("DEU", "de").name == "compare.de.json"
    for a, b, target in ((layout.clca_eval("DEU", "de"), layout.clca_eval("DEU"),
                          layout.language_comparison("DEU", "clca", "de")),
                         (layout.clca_eval("DEU"), layout.baseline_eval("DEU", "persona"), layout.comparison("DEU"))):
        write_json_atomic(target, compare_runs(a, b, bootstrap_resamples=50).model_dump(mode="json"))

    data = build_report_data(layout.run_dir)
    variants = [row.variant for row in data.results if row.kind == "model"]
    assert variants == ["persona prompting (baseline)", "CLCA", "persona prompting (baseline) [de]", "CLCA [de]"]
    pairs = {(c.baseline, c.candidate) for c in data.comparisons}
    assert ("persona baseline", "CLCA") in pairs and ("CLCA in English", "CLCA in de") in pairs
    kl = next(c for c in data.comparisons if c.candidate == "CLCA in de" and c.metric == "KL")
    assert kl.difference is not None and kl.difference > 0  # the German answers are further from the survey


def test_extra_suites_get_a_row_per_variant_and_their_comparison(tmp_path):
    from clca.suites.scoring import METRICS, compare_suite_runs, compute_suite_metrics
    from test_suites import _suite_dir

    layout = RunLayout(tmp_path / "run")
    layout.run_dir.mkdir()
    config = {"cultures": ["DEU"], "evaluation": {"baselines": [], "suites": [{"suite": "culturalbench"}]}}
    Manifest(name="run", config=config).save(layout.manifest)
    gold = [0, 1, 2, 3] * 5
    clca = _suite_dir(layout.clca_suite("DEU", "culturalbench"), gold, gold, "clca")
    base = _suite_dir(layout.baseline_suite("DEU", "culturalbench"), [(g + 1) % 4 for g in gold], gold, "base")
    for folder in (clca, base):
        write_json_atomic(folder / METRICS, compute_suite_metrics(folder, 100).model_dump(mode="json"))
    write_json_atomic(layout.suite_comparison("DEU", "culturalbench"),
                      compare_suite_runs(clca, base, 200).model_dump(mode="json"))

    data = build_report_data(layout.run_dir)
    assert [(s.variant, s.metrics["accuracy"].value) for s in data.suite_results] == [("persona baseline", 0.0),
                                                                                     ("CLCA", 1.0)]
    [accuracy] = [c for c in data.comparisons if c.metric == "culturalbench: accuracy"]
    assert accuracy.verdict.startswith("CLCA better")


def _english_run(tmp_path, clca_answers):
    layout = RunLayout(tmp_path / "run")
    layout.run_dir.mkdir()
    config = {"cultures": ["DEU"], "evaluation": {"baselines": ["persona"], "clca_strategy": "persona"}}
    Manifest(name="run", config=config).save(layout.manifest)
    survey = {q: [0.7, 0.3] for q in BINARY}
    _evaluation(layout.baseline_eval("DEU", "persona"), {q: [1, 2, 1] for q in BINARY}, survey)
    _evaluation(layout.clca_eval("DEU"), clca_answers, survey)
    return layout


def test_only_questions_that_moved_are_plotted_with_option_words_and_blocks_are_the_questionnaires(tmp_path):
    from clca.evaluation.schema import RunMetrics
    from clca.report.build import _moved_questions

    answers = {q: [1, 2, 1] for q in BINARY}
    answers["Q8"] = [1, 1, 1]  # only Q8 moved
    layout = _english_run(tmp_path, answers)
    read = [RunMetrics.model_validate_json((folder / EvalFiles.METRICS).read_bytes())
            for folder in (layout.baseline_eval("DEU", "persona"), layout.clca_eval("DEU"))]
    [(title, labels, _)] = _moved_questions(*read)
    assert title.startswith("Q8:") and labels == ["1 Mentioned", "2 Not mentioned", "invalid"]
    assert set(read[1].by_category) == {"child qualities (Q7-Q17)"}


@pytest.mark.parametrize("corrupt", ["{", '{"culture": 3}', "[]"])
def test_a_corrupt_artifact_is_one_line_naming_it(tmp_path, corrupt):
    import subprocess
    import sys

    layout = _english_run(tmp_path, {q: [1, 2, 1] for q in BINARY})
    (layout.clca_eval("DEU") / EvalFiles.METRICS).write_text(corrupt)
    result = subprocess.run([sys.executable, "-m", "clca.cli.main", "report", str(layout.run_dir)],
                            capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert "metrics.json" in lines[0] and "corrupt" in lines[0]
