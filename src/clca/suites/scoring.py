"""Scoring a suite folder (metrics.json) and comparing two of them, from the records alone (no model calls).

Per item: accuracy suites score 1 for the gold label, 0 otherwise (an invalid answer is wrong); distribution
suites compare the model's distribution over the options plus an invalid slot with the country's shares (KL in
nats with ε-smoothing, JS distance base 2, EMD over the options in their listed order, as in
`clca.evaluation.metrics`). Intervals: percentile bootstrap over items; comparisons: a paired bootstrap over the
items both runs answered, judged by `metrics.paired_test` (which refuses a verdict from too few items).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from clca.errors import ConfigError, InputDataError
from clca.evaluation import metrics as M
from clca.evaluation.schema import MetricComparison, MetricValue
from clca.jsonl import JsonlStore
from clca.records import Failure
from clca.suites.schema import SuiteComparison, SuiteMetrics, SuiteRecord

MANIFEST, RECORDS, FAILURES, METRICS = "manifest.json", "records.jsonl", "suite.failures.jsonl", "metrics.json"
SUITE_KIND = "clca-suite-evaluation"
METRICS_BY_KIND = {"accuracy": ("accuracy", "invalid_rate"), "distribution": ("kl", "js", "emd", "invalid_rate")}
_VERDICTS = {"A better beyond noise": "a better", "B better beyond noise": "b better",
             "no significant difference": "no significant difference"}


def model_distribution(record: SuiteRecord) -> np.ndarray:
    """The model's distribution over the options plus a final invalid slot."""
    k = len(record.labels)
    if record.option_probs is not None:
        return np.append(np.asarray(record.option_probs, dtype=np.float64), 0.0)
    out = np.zeros(k + 1)
    out[k if record.prediction is None else record.prediction] = 1.0
    return out


def item_scores(record: SuiteRecord, metric: str, epsilon: float = M.KL_EPSILON) -> dict[str, float]:
    """One item's metric values.

    Args:
        record: the item's record.
        metric: "accuracy" or "distribution".
        epsilon: KL smoothing.

    Returns:
        {metric name: value} for the names in `METRICS_BY_KIND[metric]`.
    """
    invalid = float(record.prediction is None)
    if metric == "accuracy":
        return {"accuracy": float(record.prediction is not None and record.prediction == record.gold),
                "invalid_rate": invalid}
    model = model_distribution(record)
    human = np.asarray(record.human, dtype=np.float64)
    codes = list(range(len(human)))
    return {"kl": float(M.kl_divergence(model, np.append(human, 0.0), epsilon)),
            "js": float(M.js_distance(model, np.append(human, 0.0))),
            "emd": float(M.emd_for_scale(model, human, codes, "ordinal")[0]),
            "invalid_rate": float(model[-1])}


def read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise InputDataError(f"{out_dir}: no readable {MANIFEST} — not a clca suite folder") from None
    if manifest.get("kind") != SUITE_KIND:
        raise InputDataError(f"{out_dir}: not a clca suite folder (kind {manifest.get('kind')!r})")
    return manifest


def _values(records: list[SuiteRecord], metric: str, epsilon: float) -> dict[str, np.ndarray]:
    scores = [item_scores(r, metric, epsilon) for r in records]
    return {name: np.array([s[name] for s in scores]) for name in METRICS_BY_KIND[metric]}


def _interval(values: np.ndarray, weights: np.ndarray | None) -> tuple[float, float] | None:
    if weights is None:
        return None
    return M.percentile_interval(weights @ values / weights.sum(axis=1))


def compute_suite_metrics(out_dir: str | Path, bootstrap_resamples: int = 1000, seed: int = 0) -> SuiteMetrics:
    """Metrics of one suite folder: means over items with item-bootstrap 95% intervals, and per country.

    Args:
        out_dir: the suite folder.
        bootstrap_resamples: resamples of the intervals (0 = none).
        seed: the bootstrap's seed.

    Returns:
        The typed content of metrics.json.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    task, config = manifest["task"], manifest["config"]
    records = JsonlStore(out_dir / RECORDS, SuiteRecord).read()
    failures = JsonlStore(out_dir / FAILURES, Failure).read()
    if not records:
        raise InputDataError(f"{out_dir}: every item failed ({len(failures)} failures in {FAILURES}) — fix the "
                             "backend and rerun to retry them")
    values = _values(records, task["metric"], config["kl_epsilon"])
    weights = M.bootstrap_weights(len(records), bootstrap_resamples, seed) \
        if bootstrap_resamples > 0 and len(records) > 1 else None
    countries = sorted({r.country for r in records})
    by_country = {c: {"n_items": float(sum(r.country == c for r in records)),
                      **{name: float(v[[r.country == c for r in records]].mean()) for name, v in values.items()}}
                  for c in countries}
    return SuiteMetrics(
        suite=task["name"], title=task["title"], license=task["license"], culture=config["culture"],
        mode=config["mode"], model=manifest["model"], metric=task["metric"], n_items=len(records),
        failures=len(failures), invalid_answers=sum(r.prediction is None for r in records),
        overall={name: MetricValue(value=float(v.mean()), ci95=_interval(v, weights)) for name, v in values.items()},
        by_country=by_country, settings={"kl_epsilon": config["kl_epsilon"], "seed": seed},
        resampling=f"percentile bootstrap over {len(records)} items, {bootstrap_resamples} resamples, seed {seed}"
        if weights is not None else "none")


def _check_comparable(a: dict[str, Any], b: dict[str, Any], a_dir: Path, b_dir: Path) -> None:
    for key in ("suite", "culture", "mode", "kl_epsilon", "context"):
        if a["config"].get(key) != b["config"].get(key):
            raise ConfigError(f"{a_dir} and {b_dir} differ in {key}: {a['config'].get(key)!r} vs "
                              f"{b['config'].get(key)!r} — compare runs of one suite made with the same settings")
    if a["items_sha"] != b["items_sha"]:
        raise ConfigError(f"{a_dir} and {b_dir} asked different items (other data or --limit) — rerun both on the "
                          "same data")


def compare_suite_runs(a_dir: str | Path, b_dir: str | Path, bootstrap_resamples: int = 1000,
                       seed: int = 0) -> SuiteComparison:
    """Paired bootstrap of A − B over the items both runs answered (e.g. A = CLCA, B = its baseline).

    Args:
        a_dir: suite folder of model A.
        b_dir: suite folder of model B (same suite, culture, mode, items).
        bootstrap_resamples: resamples of the paired bootstrap.
        seed: its seed.

    Returns:
        A verdict per metric, or "not testable" with the reason.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    ma, mb = read_manifest(a_dir), read_manifest(b_dir)
    _check_comparable(ma, mb, a_dir, b_dir)
    ra = {r.id: r for r in JsonlStore(a_dir / RECORDS, SuiteRecord).read()}
    rb = {r.id: r for r in JsonlStore(b_dir / RECORDS, SuiteRecord).read()}
    common = [i for i in ra if i in rb]
    if not common:
        raise InputDataError(f"{a_dir} and {b_dir} have no answered item in common — rerun the failed items")
    metric, epsilon = ma["task"]["metric"], ma["config"]["kl_epsilon"]
    va = _values([ra[i] for i in common], metric, epsilon)
    vb = _values([rb[i] for i in common], metric, epsilon)
    resamples = max(bootstrap_resamples, 1)
    weights = M.bootstrap_weights(len(common), resamples, seed)
    units = M.ResamplingUnits("items", 1, len(common), resamples, seed)
    out = {}
    for name in va:
        diff = va[name] - vb[name]
        test = M.paired_test(weights @ diff / weights.sum(axis=1), name, units, per_question_diff=diff)
        verdict = _VERDICTS.get(test.verdict, "not testable")
        out[name] = MetricComparison(
            a=float(va[name].mean()), b=float(vb[name].mean()), a_minus_b=float(diff.mean()), ci95=test.ci,
            lower_is_better=M.LOWER_IS_BETTER[name], verdict=verdict, differing_questions=test.differing_questions,
            reason=test.verdict.removeprefix("not testable: ") if verdict == "not testable" else "over items")
    return SuiteComparison(a=str(a_dir), b=str(b_dir), suite=ma["config"]["suite"], a_model=ma["model"],
                           b_model=mb["model"], n_items=len(common), metrics=out,
                           resampling=f"paired percentile bootstrap over {len(common)} items, {resamples} "
                           f"resamples, seed {seed}")
