"""Suites beyond the 44 WVS questions: task files, data loading, items, scorers against hand-computed values, the
paired comparison, and each suite end to end on the embedded model over its fixture (tests/fixtures/suites/, written
for this project in each dataset's exact schema; the shares and stories are invented)."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, wasserstein_distance
from typer.testing import CliRunner

from clca.errors import ConfigError, InputDataError
from clca.jsonl import JsonlStore, write_json_atomic
from clca.suites.config import SuiteConfig
from clca.suites.data import load_rows
from clca.suites.items import build_items
from clca.suites.runner import prepare_suite, run_suite
from clca.suites.schema import SuiteRecord
from clca.suites.scoring import SUITE_KIND, compare_suite_runs, compute_suite_metrics, item_scores
from clca.suites.tasks import load_task, task_names

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "suites"
SRC = Path(__file__).resolve().parents[1] / "src"
EPS = 1e-4


def _rows(name: str) -> list[dict[str, str]]:
    with open(FIXTURES / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------ task files and items


def test_every_task_file_names_its_data_licence_template_and_metric():
    assert task_names() == ["culturalbench", "culturalbench-hard", "globalopinionqa", "normad"]
    licences = {name: load_task(name).license for name in task_names()}
    assert licences == {"culturalbench": "CC-BY-4.0", "culturalbench-hard": "CC-BY-4.0",
                        "globalopinionqa": "CC-BY-NC-SA-4.0", "normad": "CC-BY-4.0"}
    for name in task_names():
        task = load_task(name)
        assert task.prompt_refs(with_system=True)[1].sha256  # the template exists and is hashed
    with pytest.raises(ConfigError, match="unknown"):
        load_task("mmlu")


def test_globalopinionqa_items_are_the_country_s_rows_with_normalised_shares():
    task = load_task("globalopinionqa")
    rows, source = load_rows(task, FIXTURES / "globalopinionqa.csv")
    items, skipped = build_items(rows, task, "DEU")
    assert source.endswith("globalopinionqa.csv")
    assert [i.id for i in items] == ["row-0", "row-1", "row-3"]  # row 2 has no German answers
    assert skipped == {"row-4": "selections: not a Python literal (ValueError)"}  # the __import__ row
    assert items[0].human == pytest.approx([0.1, 0.4, 0.3, 0.2]) and items[0].labels == list("ABCD")
    assert items[2].human == pytest.approx([0.35, 0.65]) and items[2].labels == ["A", "B"]
    with pytest.raises(ConfigError, match="needs --culture"):
        build_items(rows, task, None)


@pytest.mark.parametrize("suite, file, culture, expected", [
    ("normad", "normad.csv", "DEU", [0, 1, 2]), ("normad", "normad.csv", None, [0, 1, 2, 1, 0]),
    ("culturalbench", "culturalbench_easy.csv", "DEU", [0, 2, 1]),
    ("culturalbench-hard", "culturalbench_hard.csv", "DEU", [1, 1, 0, 1]),
    ("culturalbench", "culturalbench_easy.csv", "JPN", [2]),
])
def test_accuracy_suites_read_gold_labels(suite, file, culture, expected):
    task = load_task(suite)
    items, skipped = build_items(load_rows(task, FIXTURES / file)[0], task, culture)
    assert [i.gold for i in items] == expected and skipped == {}


def test_local_copies_as_a_folder_and_as_a_saved_dataset(tmp_path):
    import datasets

    task = load_task("normad")
    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "normad_etiquette_final_data.csv").write_bytes((FIXTURES / "normad.csv").read_bytes())
    rows, _ = load_rows(task, folder)
    assert len(rows) == 5
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    saved, _ = load_rows(task, tmp_path / "saved")
    assert saved == rows
    with pytest.raises(InputDataError, match="not found"):
        load_rows(task, tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputDataError, match="unknown data format"):
        load_rows(task, tmp_path / "x.txt")


def test_wrong_data_for_a_suite_is_one_clear_error(tmp_path):
    cfg = SuiteConfig(suite="culturalbench", culture="DEU", data=FIXTURES / "normad.csv")
    with pytest.raises(InputDataError, match="no usable CulturalBench-Easy items for DEU"):
        prepare_suite(cfg)


def test_offline_without_a_local_copy_is_one_line_naming_the_data_option(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "clca.cli.main", "evaluate", "--suite", "normad", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--data" in lines[0] and "akhilayerukola/NormAd" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ scorers, by hand


def _record(**kw) -> SuiteRecord:
    base = {"id": "row-0", "suite": "globalopinionqa", "country": "DEU", "mode": "logprob", "prompt_hash": "h",
            "labels": list("ABCD")}
    return SuiteRecord(**(base | kw))


def test_distribution_scores_match_hand_computed_values():
    s = item_scores(_record(option_probs=[0.25] * 4, prediction=0, human=[0.1, 0.4, 0.3, 0.2]), "distribution", EPS)
    # CDFs .25/.50/.75 vs .10/.50/.80 at gaps of 1/3: (0.15 + 0 + 0.05) / 3
    assert s["emd"] == pytest.approx(0.2 / 3)
    p = (np.array([0.25, 0.25, 0.25, 0.25, 0.0]) + EPS) / (1 + 5 * EPS)
    q = (np.array([0.1, 0.4, 0.3, 0.2, 0.0]) + EPS) / (1 + 5 * EPS)
    assert s["kl"] == pytest.approx(float(np.sum(p * np.log(p / q)))) == pytest.approx(entropy(p, q))
    assert s["js"] == pytest.approx(jensenshannon([0.25] * 4 + [0], [0.1, 0.4, 0.3, 0.2, 0], base=2))
    assert s["invalid_rate"] == 0.0
    invalid = item_scores(_record(mode="generate", raw_output="?", prediction=None, invalid_reason="x",
                                  human=[0.1, 0.4, 0.3, 0.2]), "distribution", EPS)
    assert invalid["emd"] == 1.0 and invalid["invalid_rate"] == 1.0 and invalid["js"] == pytest.approx(1.0)
    answered = item_scores(_record(mode="generate", raw_output="B", prediction=1, human=[0.1, 0.4, 0.3, 0.2]),
                           "distribution", EPS)
    assert answered["emd"] == pytest.approx(0.8 / 3)  # CDFs 0/1/1 vs .1/.5/.8: (.1 + .5 + .2) / 3


def test_accuracy_scores_count_invalid_answers_as_wrong():
    right = item_scores(_record(suite="normad", labels=["yes", "no", "neither"], prediction=1, gold=1), "accuracy")
    wrong = item_scores(_record(suite="normad", labels=["yes", "no", "neither"], prediction=0, gold=1), "accuracy")
    invalid = item_scores(_record(suite="normad", labels=["yes", "no", "neither"], prediction=None, gold=1),
                          "accuracy")
    assert (right, wrong, invalid) == ({"accuracy": 1.0, "invalid_rate": 0.0}, {"accuracy": 0.0, "invalid_rate": 0.0},
                                       {"accuracy": 0.0, "invalid_rate": 1.0})


def _suite_dir(path: Path, predictions: list[int | None], gold: list[int], model: str) -> Path:
    path.mkdir(parents=True)
    task = load_task("culturalbench").model_dump(mode="json")
    config = SuiteConfig(suite="culturalbench", culture="DEU").model_dump(mode="json")
    write_json_atomic(path / "manifest.json", {"kind": SUITE_KIND, "task": task, "config": config,
                                               "model": {"name": model}, "items_sha": "same"})
    JsonlStore(path / "records.jsonl", SuiteRecord).write_all([
        SuiteRecord(id=f"row-{i}", suite="culturalbench", country="DEU" if i % 2 else "JPN", mode="logprob",
                    prompt_hash="h", labels=list("ABCD"), prediction=p, gold=g)
        for i, (p, g) in enumerate(zip(predictions, gold, strict=True))])
    return path


def test_metrics_and_paired_comparison_match_hand_counts(tmp_path):
    gold = [0, 1, 2, 3] * 5
    a = _suite_dir(tmp_path / "clca", [g if i < 18 else (g + 1) % 4 for i, g in enumerate(gold)], gold, "clca")
    b = _suite_dir(tmp_path / "base", [g if i < 6 else None for i, g in enumerate(gold)], gold, "base")
    ma = compute_suite_metrics(a, bootstrap_resamples=500, seed=1)
    assert ma.overall["accuracy"].value == pytest.approx(18 / 20)
    lo, hi = ma.overall["accuracy"].ci95
    assert lo <= 0.9 <= hi < 1.0 + 1e-12
    assert ma.by_country["DEU"]["n_items"] == 10 and ma.by_country["DEU"]["accuracy"] == pytest.approx(9 / 10)
    assert compute_suite_metrics(b, 0).overall["invalid_rate"].value == pytest.approx(14 / 20)
    comparison = compare_suite_runs(a, b, bootstrap_resamples=1000, seed=0)
    acc = comparison.metrics["accuracy"]
    assert acc.a_minus_b == pytest.approx(18 / 20 - 6 / 20) and acc.verdict == "a better"
    assert acc.differing_questions == 12 and acc.ci95[0] > 0
    same = compare_suite_runs(a, a, bootstrap_resamples=200)
    assert same.metrics["accuracy"].verdict == "not testable"
    result = CliRunner().invoke(_app(), ["evaluate", "compare", str(a), str(b), "--resamples", "200"])
    assert result.exit_code == 0 and json.loads(result.stdout)["metrics"]["accuracy"]["verdict"] == "a better"


def _app():
    from clca.cli.main import app

    return app


def test_comparison_refuses_runs_on_other_items(tmp_path):
    a = _suite_dir(tmp_path / "a", [0] * 3, [0] * 3, "a")
    b = _suite_dir(tmp_path / "b", [0] * 3, [0] * 3, "b")
    manifest = json.loads((b / "manifest.json").read_text())
    write_json_atomic(b / "manifest.json", manifest | {"items_sha": "other"})
    with pytest.raises(ConfigError, match="different items"):
        compare_suite_runs(a, b)


# ------------------------------------------------------------------------------------------ end to end, embedded


def _hand_distribution_scores(record: SuiteRecord, shares: list[float]) -> tuple[float, float, float]:
    p = np.append(record.option_probs, 0.0)
    q = np.append(shares, 0.0)
    kl = entropy((p + EPS) / (1 + len(p) * EPS), (q + EPS) / (1 + len(q) * EPS))
    positions = np.linspace(0, 1, len(shares))
    emd = wasserstein_distance(positions, positions, record.option_probs, shares)
    return kl, jensenshannon(p, q, base=2), emd


@pytest.mark.slow
def test_globalopinionqa_end_to_end_resumes_and_matches_hand_scores(embedded_backend, tmp_path):
    cfg = SuiteConfig(suite="globalopinionqa", culture="DEU", data=FIXTURES / "globalopinionqa.csv",
                      bootstrap_resamples=200)
    summary = run_suite(embedded_backend, cfg, tmp_path / "goqa")
    assert summary.n_items == 3 and summary.skipped_rows == 1 and summary.failures == 0
    records = JsonlStore(tmp_path / "goqa" / "records.jsonl", SuiteRecord).read()
    shares = {f"row-{i}": [x / sum(v) for x in v] for i, row in enumerate(_rows("globalopinionqa.csv"))
              for k, v in [next(iter(_german(row["selections"])), ("", []))] if v}
    hand = np.array([_hand_distribution_scores(r, shares[r.id]) for r in records])
    for r in records:
        assert sum(r.option_probs) == pytest.approx(1.0) and r.prediction == int(np.argmax(r.option_probs))
    metrics = json.loads((tmp_path / "goqa" / "metrics.json").read_text())
    for column, name in enumerate(("kl", "js", "emd")):
        assert metrics["overall"][name]["value"] == pytest.approx(hand[:, column].mean())
    manifest = json.loads((tmp_path / "goqa" / "manifest.json").read_text())
    assert manifest["model"]["backend"] == "embedded" and manifest["seed"] == 0
    assert {p["name"] for p in manifest["prompts"]} == {"suite_system.v1", "suite_globalopinionqa.v1"}

    path = tmp_path / "goqa" / "records.jsonl"  # a crash after two items, with a torn tail
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][:15])
    run_suite(embedded_backend, cfg, tmp_path / "goqa")
    again = JsonlStore(path, SuiteRecord).read()
    assert [r.id for r in again] == [r.id for r in records]
    for old, new in zip(records, again, strict=True):
        assert new.option_probs == pytest.approx(old.option_probs, abs=1e-5)
    with pytest.raises(ConfigError, match="other data, config"):
        run_suite(embedded_backend, cfg.model_copy(update={"context": "none"}), tmp_path / "goqa")


def _german(selections: str):
    """The fixture's German shares, read with the standard library alone (the check is independent of clca)."""
    body = selections.removeprefix("defaultdict(<class 'list'>, ").removesuffix(")")
    try:
        value = ast.literal_eval(body)
    except ValueError:
        return
    if "Germany" in value:
        yield "Germany", value["Germany"]


@pytest.mark.slow
@pytest.mark.parametrize("suite, file, culture, mode, gold_column, to_index", [
    ("normad", "normad.csv", None, "generate", "Gold Label", {"yes": 0, "no": 1, "neutral": 2}.get),
    ("culturalbench", "culturalbench_easy.csv", "DEU", "logprob", "answer", "ABCD".index),
    ("culturalbench-hard", "culturalbench_hard.csv", "DEU", "logprob", "answer", {"True": 0, "False": 1}.get),
])
def test_accuracy_suite_end_to_end_matches_hand_accuracy(embedded_backend, tmp_path, suite, file, culture, mode,
                                                         gold_column, to_index):
    cfg = SuiteConfig(suite=suite, culture=culture, data=FIXTURES / file, mode=mode, bootstrap_resamples=200)
    run_suite(embedded_backend, cfg, tmp_path / suite)
    records = {r.id: r for r in JsonlStore(tmp_path / suite / "records.jsonl", SuiteRecord).read()}
    rows = {f"row-{i}": row for i, row in enumerate(_rows(file))
            if culture is None or row["country"] == "Germany"}
    assert set(records) == set(rows)
    correct = [records[i].prediction == to_index(row[gold_column]) for i, row in rows.items()]
    metrics = json.loads((tmp_path / suite / "metrics.json").read_text())
    assert metrics["overall"]["accuracy"]["value"] == pytest.approx(np.mean(correct))
    assert metrics["n_items"] == len(rows)
    for r in records.values():
        if mode == "logprob":
            assert r.prediction == int(np.argmax(r.option_probs))
        else:  # every generated answer is parsed to a label or kept as invalid with its reason
            assert r.raw_output is not None and (r.prediction is None) == (r.invalid_reason is not None)
    if culture is None:
        assert set(metrics["by_country"]) == {"DEU", "JPN"}


class _FailingItems:
    """Fault injection: the real backend, except that option scoring fails for the prompts mentioning `marker`."""

    def __init__(self, backend, marker: str):
        self.backend, self.marker = backend, marker

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def score_options(self, requests):
        from clca.llm.base import ScoringFailure

        real = self.backend.score_options(requests)
        return [ScoringFailure(len(r.options), "injected: server error") if self.marker in r.messages[-1].content
                else lp for r, lp in zip(requests, real, strict=True)]


@pytest.mark.slow
def test_backend_failures_are_recorded_and_retried_on_rerun(embedded_backend, tmp_path):
    cfg = SuiteConfig(suite="culturalbench", culture="DEU", data=FIXTURES / "culturalbench_easy.csv",
                      bootstrap_resamples=0)
    out = tmp_path / "cb"
    summary = run_suite(_FailingItems(embedded_backend, "Advent"), cfg, out)
    assert summary.n_items == 2 and summary.failures == 1
    failures = [json.loads(line) for line in (out / "suite.failures.jsonl").read_text().splitlines()]
    assert [(f["id"], f["reason"]) for f in failures] == [("row-2", "injected: server error")]
    assert summary.overall["accuracy"].ci95 is None
    summary = run_suite(embedded_backend, cfg, out)  # the server is back: only the failed item is asked again
    assert summary.n_items == 3 and summary.failures == 0
    assert sorted(r.id for r in JsonlStore(out / "records.jsonl", SuiteRecord).read()) == ["row-0", "row-1", "row-2"]
    with pytest.raises(InputDataError, match="every item failed"):
        run_suite(_FailingItems(embedded_backend, "Germany"), cfg, tmp_path / "all-failed")


@pytest.mark.slow
def test_cli_runs_a_suite_with_overrides(tmp_path):
    result = CliRunner().invoke(_app(), [
        "evaluate", "--suite", "culturalbench-hard", "--culture", "DEU", "--data",
        str(FIXTURES / "culturalbench_hard.csv"), "--out", str(tmp_path / "cli"), "--set", "context=none",
        "--set", "bootstrap_resamples=100"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["suite"] == "culturalbench-hard" and summary["n_items"] == 4
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["config"]["context"] == "none" and [p["name"] for p in manifest["prompts"]] == \
        ["suite_culturalbench_hard.v1"]
