"""Orchestration overhead of the openai backend: N requests to the local test server with a fixed latency.

The ideal wall time at concurrency C with server latency L is N·L/C (the server answers every request after exactly
L seconds, in parallel). We report requests/s, wall time vs ideal, and the mean per-request latency seen by the
client minus L (client + HTTP + server-thread overhead per request).

    .venv/bin/python benchmarks/backend_orchestration.py [--requests 2000] [--concurrency 64] [--latency 0.05]

Writes benchmarks/results/backend_orchestration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from clca.llm import GenerationRequest, Message, load_backend
from clca.testing import OpenAICompatServer

RESULTS = Path(__file__).resolve().parent / "results" / "backend_orchestration.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    requests = [GenerationRequest(messages=[Message(role="user", content=f"request {i}")], max_tokens=16)
                for i in range(args.requests)]
    with OpenAICompatServer(latency_s=args.latency) as server:
        backend = load_backend(f"openai:bench@{server.base_url}", cache=False, concurrency=args.concurrency)
        backend.generate(requests[:args.concurrency])  # warm-up: imports, connection pool
        server.reset_stats()
        calls_before = server.calls
        started = time.perf_counter()
        results = backend.generate(requests)
        wall = time.perf_counter() - started
        calls = server.calls - calls_before
        max_in_flight = server.max_in_flight
    failures = sum(not r.ok for r in results)
    ideal = args.requests * args.latency / args.concurrency
    latencies = [r.latency_s for r in results if r.ok]
    report = {
        "benchmark": "backend_orchestration",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "server_latency_s": args.latency,
        "wall_s": round(wall, 3),
        "ideal_wall_s": round(ideal, 3),
        "wall_over_ideal": round(wall / ideal, 3),
        "requests_per_s": round(args.requests / wall, 1),
        "ideal_requests_per_s": round(args.concurrency / args.latency, 1),
        "mean_request_latency_s": round(statistics.mean(latencies), 4),
        "mean_overhead_per_request_ms": round((statistics.mean(latencies) - args.latency) * 1000, 2),
        "p95_request_latency_s": round(statistics.quantiles(latencies, n=20)[-1], 4),
        "server_max_in_flight": max_in_flight,
        "server_calls": calls,
        "failures": failures,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
