"""Cost of a response-cache hit: CachedBackend (SQLite, WAL) around the openai backend and the local test server.

The cache lives in a fresh temporary CLCA_CACHE_DIR. Phase 1 fills it with `--requests` seeded generate results
(prompts about the size of a role-play turn: a ~1.5 KB system prompt plus a short user message) and, with
`--score-requests` > 0, option-scoring results (4 options each; the server scores prompts one "token" per
character). Phase 2 asks the same requests again — every one must be a hit and the server must see no new call —
and times:

- batch lookups: `generate(all requests)` / `score_options(all requests)`, time per hit (best and mean of
  `--repeats` rounds), with the share spent computing keys and in the SQLite query;
- single-request lookups: `generate([request])` one by one, mean / median / p95 per hit.

Target: < 1 ms per hit.

    .venv/bin/python benchmarks/cache_hits.py [--requests 2000] [--score-requests 500] [--repeats 5]

Writes benchmarks/results/cache_hits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from clca.llm import GenerationRequest, Message, ModelConfig, OptionScoringRequest, open_backend
from clca.llm.cache import CachedBackend, cache_key
from clca.testing import OpenAICompatServer

RESULTS = Path(__file__).resolve().parent / "results" / "cache_hits.json"
# Stands in for a role-play system prompt (setting, profiles, culture paragraph): hits carry realistic sizes.
SYSTEM_PROMPT = ("You are Lena Becker, a 34-year-old teacher, in a role-play of a social interaction in Germany. "
                 "Setting: two neighbours discuss the shared garden and who pays for the new fence. ") * 8
OPTIONS = ["1", "2", "3", "4"]


def char_scorer(prompt: str) -> list[tuple[str, float | None]]:
    """One "token" per character at log-prob -0.1 (the first has none, like vLLM)."""
    return [(ch, None if i == 0 else -0.1) for i, ch in enumerate(prompt)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 4)


def per_hit_stats(samples_s: list[float]) -> dict[str, float]:
    return {"mean_ms": ms(statistics.mean(samples_s)), "median_ms": ms(statistics.median(samples_s)),
            "p95_ms": ms(statistics.quantiles(samples_s, n=20)[-1]), "max_ms": ms(max(samples_s))}


def time_batches(call, n_items: int, repeats: int) -> dict[str, float]:
    rounds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        rounds.append((time.perf_counter() - started) / n_items)
    return {"best_per_hit_ms": ms(min(rounds)), "mean_per_hit_ms": ms(statistics.mean(rounds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--score-requests", type=int, default=500, help="0 skips score_options")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the batch lookup")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    tokenizer_dir = None
    if args.score_requests:
        from clca.llm.weights import embedded_model_dir

        tokenizer_dir = str(embedded_model_dir()[0])  # resolved in the real user cache, before it is redirected

    requests = [GenerationRequest(messages=[Message(role="system", content=SYSTEM_PROMPT),
                                            Message(role="user", content=f"Your turn, Lena. (request {i})")],
                                  max_tokens=160, temperature=0.7, top_p=0.7, seed=i)  # seeded: cacheable
                for i in range(args.requests)]
    score_requests = [OptionScoringRequest(messages=[Message(role="user", content=f"Question {i}: how important "
                                                             "is family in your life? Answer 1-4.")],
                                           options=OPTIONS) for i in range(args.score_requests)]
    load_before = os.getloadavg()
    report: dict = {"benchmark": "cache_hits", "requests": args.requests, "score_requests": args.score_requests,
                    "options_per_score_request": len(OPTIONS), "target_per_hit_ms": 1.0}
    previous_cache_dir = os.environ.get("CLCA_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="clca-bench-cache-") as cache_home, \
            OpenAICompatServer(scorer=char_scorer) as server:
        os.environ["CLCA_CACHE_DIR"] = cache_home
        try:
            backend = open_backend(ModelConfig(spec=f"openai:bench@{server.base_url}", cache=True,
                                               concurrency=args.concurrency, tokenizer=tokenizer_dir))
            assert isinstance(backend, CachedBackend)

            # phase 1: fill
            started = time.perf_counter()
            filled = backend.generate(requests)
            report["fill_generate_s"] = round(time.perf_counter() - started, 3)
            assert all(r.ok and not r.cached for r in filled), "fill: every request must reach the server and succeed"
            if score_requests:
                started = time.perf_counter()
                filled_scores = backend.score_options(score_requests)
                report["fill_score_options_s"] = round(time.perf_counter() - started, 3)
            calls_after_fill = server.calls
            report["cache_entries"] = len(backend.cache)
            report["cache_file_mb"] = round(sum(p.stat().st_size for p in Path(cache_home).glob("responses.sqlite*"))
                                            / 2**20, 2)

            # phase 2: all hits
            again = backend.generate(requests)
            assert all(r.cached for r in again), "second pass: every request must be a cache hit"
            assert [r.text for r in again] == [r.text for r in filled]
            generate_batch = time_batches(lambda: backend.generate(requests), len(requests), args.repeats)
            identity = backend.identity
            started = time.perf_counter()
            keys = [cache_key("generate", identity, r) for r in requests]
            key_s = time.perf_counter() - started
            started = time.perf_counter()
            found = backend.cache.get_many(keys)
            lookup_s = time.perf_counter() - started
            assert len(found) == len(requests)
            generate_batch["key_computation_per_hit_ms"] = ms(key_s / len(requests))
            generate_batch["sqlite_get_many_per_hit_ms"] = ms(lookup_s / len(requests))
            single = []
            for request in requests:
                started = time.perf_counter()
                [result] = backend.generate([request])
                single.append(time.perf_counter() - started)
                assert result.cached
            report["generate"] = {"batch": generate_batch, "single": per_hit_stats(single)}

            if score_requests:
                assert backend.score_options(score_requests) == filled_scores
                score_batch = time_batches(lambda: backend.score_options(score_requests), len(score_requests),
                                           args.repeats)
                single = []
                for request in score_requests:
                    started = time.perf_counter()
                    backend.score_options([request])
                    single.append(time.perf_counter() - started)
                report["score_options"] = {"batch": score_batch, "single": per_hit_stats(single)}

            new_calls = server.calls - calls_after_fill
            assert new_calls == 0, f"the server saw {new_calls} calls during the all-hits phase"
            report["server_calls_during_hits"] = new_calls
            backend.close()
        finally:
            if previous_cache_dir is None:
                os.environ.pop("CLCA_CACHE_DIR", None)
            else:
                os.environ["CLCA_CACHE_DIR"] = previous_cache_dir

    worst = max([report["generate"]["single"]["mean_ms"], report["generate"]["batch"]["mean_per_hit_ms"]]
                + ([report["score_options"]["single"]["mean_ms"]] if score_requests else []))
    report["meets_target"] = worst < 1.0
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                         "load_average_before": [round(x, 2) for x in load_before],
                         "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    g = report["generate"]
    print(f"generate hit: batch {g['batch']['mean_per_hit_ms']} ms/hit, single mean {g['single']['mean_ms']} ms "
          f"(median {g['single']['median_ms']}, p95 {g['single']['p95_ms']}); target < 1 ms")
    if score_requests:
        s = report["score_options"]
        print(f"score_options hit: batch {s['batch']['mean_per_hit_ms']} ms/hit, single mean {s['single']['mean_ms']} "
              f"ms (p95 {s['single']['p95_ms']})")


if __name__ == "__main__":
    main()
