"""Role-play orchestration overhead: role-play of many conversations against the local test server.

The server (clca.testing.OpenAICompatServer, in this process) answers every request after exactly `--latency`
seconds with the deterministic scripted responder, set so that agents never leave: every conversation runs
`--max-turns` turns. The target (issue 7) is stated against the ideal time implied by the sequential turns:

    ideal = Σ over sequential turn batches b of ceil(|b| / C) · L        (C = concurrency, L = latency)

i.e. lockstep batches of `--group-sizes` conversations, each turn a batch that waits for its slowest request.
An HTTP backend does not advance in lockstep: `run_roleplay` sends each conversation's next turn as soon as its
last one is answered (`Backend.submit`), which can beat that ideal; its own floor is

    floor = max(max_turns · L, ceil(requests / C) · L)

Runs: `pipelined` (what `clca roleplay` does with an HTTP backend, default RoleplayConfig: at most
max(group_size, 2 × concurrency) = 128 conversations in progress, the rest start as those end), then `lockstep`
once per `--group-sizes`
entry (the same backend behind `clca.testing.BatchOnly`, as a local model is driven). What is left over the ideal
is prompt rendering, turn parsing, JSONL writes, HTTP client and server CPU time on this machine.

    .venv/bin/python benchmarks/roleplay_orchestration.py [--conversations 200] [--concurrency 64] \
        [--latency 0.05] [--max-turns 6] [--group-sizes 200 64]

Writes benchmarks/results/roleplay_orchestration.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from clca.jsonl import JsonlStore
from clca.llm import ModelConfig, open_backend
from clca.roleplay import Conversation, RoleplayConfig, run_roleplay
from clca.scenarios import load_seed_scenarios
from clca.scenarios.schema import Scenario
from clca.testing import BatchOnly, OpenAICompatServer
from clca.testing.scripted import ScriptedResponder

RESULTS = Path(__file__).resolve().parent / "results" / "roleplay_orchestration.json"
CONVERSATIONS_PER_SCENARIO = 2


def benchmark_scenarios(n_scenarios: int, culture: str) -> list[Scenario]:
    """`n_scenarios` scenarios cycling through the bundled seeds, each with a unique id (ids must be unique)."""
    seeds = load_seed_scenarios()
    return [seeds[i % len(seeds)].model_copy(update={"id": f"{seeds[i % len(seeds)].id}-b{i}", "culture": culture})
            for i in range(n_scenarios)]


def ideal_seconds(conversations: list[Conversation], order: list[str], group_size: int, concurrency: int,
                  latency: float) -> tuple[float, int]:
    """Σ over the sequential turn batches of ceil(batch size / concurrency) · latency; also the batch count.

    The batch for turn t of a lockstep group holds the group's conversations that had not ended before turn t,
    i.e. those with more than t turns (a conversation ending at turn t still takes part in turn t's batch).
    """
    turns = {c.id: len(c.turns) for c in conversations}
    total, batches = 0.0, 0
    for start in range(0, len(order), group_size):
        group = [turns[cid] for cid in order[start:start + group_size]]
        for t in range(max(group)):
            size = sum(n > t for n in group)
            total += math.ceil(size / concurrency) * latency
            batches += 1
    return total, batches


def run_once(server: OpenAICompatServer, scenarios: list[Scenario], args: argparse.Namespace,
             group_size: int | None) -> dict:
    """One role-play run: pipelined when `group_size` is None, else lockstep in groups of `group_size`."""
    backend = open_backend(ModelConfig(spec=f"openai:scripted@{server.base_url}", concurrency=args.concurrency,
                                       cache=False))
    if group_size is not None:
        backend = BatchOnly(backend)
    config = RoleplayConfig(max_turns=args.max_turns, conversations_per_scenario=CONVERSATIONS_PER_SCENARIO,
                            **({"group_size": group_size} if group_size else {}))  # pipelined: the defaults
    with tempfile.TemporaryDirectory(prefix="clca-bench-roleplay-") as tmp:
        out = Path(tmp) / "conversations.jsonl"
        server.reset_stats()
        calls_before = server.calls
        started = time.perf_counter()
        summary = run_roleplay(scenarios, out, backend, config=config)
        wall = time.perf_counter() - started
        calls = server.calls - calls_before
        max_in_flight = server.max_in_flight
        conversations = JsonlStore(out, Conversation).read()
    backend.close()
    # run_roleplay's pending order: scenario by scenario, sample index within
    order = [f"{s.id}#{k}" for s in scenarios for k in range(CONVERSATIONS_PER_SCENARIO)]
    reference_group = group_size or args.reference_group_size
    ideal, batches = ideal_seconds(conversations, order, reference_group, args.concurrency, args.latency)
    turns = sum(len(c.turns) for c in conversations)
    floor = max(args.max_turns, math.ceil(calls / args.concurrency)) * args.latency
    return {
        "advancing": "pipelined" if group_size is None else "lockstep",
        "group_size": group_size,
        "ideal_computed_for_group_size": reference_group,
        "conversations": len(conversations),
        "turns": turns,
        "terminations": summary.terminations,
        "turn_batches": batches,
        "wall_s": round(wall, 3),
        "ideal_wall_s": round(ideal, 3),
        "wall_over_ideal": round(wall / ideal, 3),
        "target_wall_over_ideal": 1.2,
        "meets_target": wall / ideal <= 1.2,
        "pipelined_floor_s": round(floor, 3),
        "wall_over_pipelined_floor": round(wall / floor, 3),
        "requests_per_s": round(calls / wall, 1),
        "server_calls": calls,
        "server_max_in_flight": max_in_flight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200, help="even: 2 conversations per scenario")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[200, 64], help="lockstep runs")
    parser.add_argument("--reference-group-size", type=int, default=64,
                        help="group size whose lockstep ideal the pipelined run is compared with (64: the default)")
    parser.add_argument("--culture", default="DEU", help="culture of the scenarios (its card goes into every prompt)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    scenarios = benchmark_scenarios(args.conversations // CONVERSATIONS_PER_SCENARIO, args.culture)
    load_before = os.getloadavg()
    # turns_before_leave far above max_turns: nobody leaves, so every conversation runs exactly max_turns turns
    with OpenAICompatServer(responder=ScriptedResponder(turns_before_leave=10**6), latency_s=args.latency) as server:
        # warm-up: imports, templates, culture card, connection pool
        run_once(server, scenarios[:2], argparse.Namespace(**{**vars(args), "max_turns": 2}), None)
        runs = [run_once(server, scenarios, args, g) for g in [None, *args.group_sizes]]
    report = {
        "benchmark": "roleplay_orchestration",
        "ideal_formula": "sum over sequential turn batches b of ceil(|b| / concurrency) * latency_s",
        "conversations": len(scenarios) * CONVERSATIONS_PER_SCENARIO,
        "scenarios": len(scenarios),
        "culture": args.culture,
        "concurrency": args.concurrency,
        "server_latency_s": args.latency,
        "max_turns": args.max_turns,
        "responder": "ScriptedResponder(turns_before_leave=10**6): agents never leave",
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    for run in runs:
        how = "pipelined" if run["group_size"] is None else f"lockstep, groups of {run['group_size']}"
        print(f"{how}: {run['wall_s']} s vs ideal {run['ideal_wall_s']} s ({run['wall_over_ideal']}x, target "
              f"<= 1.2x; pipelined floor {run['pipelined_floor_s']} s), {run['requests_per_s']} req/s, "
              f"max in flight {run['server_max_in_flight']}")


if __name__ == "__main__":
    main()
