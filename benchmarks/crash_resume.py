"""Crash/resume proof at scale: `kill -9` of `clca run` at seeded moments, rerun after each kill; the final artifacts
must equal an uninterrupted run's, with no duplicated id and no torn JSONL line.

The full version of tests/test_crash_resume.py (whose helpers it imports: config, `clca run` launcher, manifest
reader): the data-generation stages (culture → scenarios (adapt) → role-play → judge → intents) on the real local
server with the deterministic scripted responder. Each `clca run` is stopped when the dataset stage starts
(training and evaluation on the embedded student are not covered).

Schedule (seeded by `random.Random(--seed)`): by default each round aims one kill at each data stage in pipeline
order (skipping stages a previous kill overshot into): the run is killed uniform(0, `--max-delay`) seconds after
the manifest shows the target stage running, so kills land in every stage; `--schedule time` kills
uniform(0.3 s, reference wall time) after launch, as the test
does (most kills then land in the longest stages). A crashed
run is rerun (and maybe killed again) until its data stages are done; then it is one *round*, and its artifacts
are compared with the reference. Rounds repeat in fresh run directories until `--kills` kills have landed.
After every kill the run directory is checked: complete JSONL lines must all parse (a torn *last* line is allowed
— the stores drop it on resume — and is counted); after the final rerun no torn line may remain at all.

    .venv/bin/python benchmarks/crash_resume.py [--kills 20] [--scenarios 6] [--seed 7] [--latency 0.05] \\
        [--schedule stage|time] [--max-delay 0.3]

Writes benchmarks/results/crash_resume.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from clca.testing.openai_server import OpenAICompatServer
from clca.testing.scripted import ScriptedResponder, jsonl_artifacts, torn_tails

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from test_crash_resume import (  # noqa: E402  (the test's helpers, not copies)
    DATA_STAGES,
    run_until,
    stage_status,
    write_config,
)

RESULTS = Path(__file__).resolve().parent / "results" / "crash_resume.json"


def make_config(tmp: Path, name: str, base_url: str, n_scenarios: int) -> Path:
    """The test's config, with more scenarios."""
    path = write_config(tmp, name, base_url)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["scenarios"]["n"] = n_scenarios
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def kill_in_stage(config: Path, run_dir: Path, stage: str, delay_s: float) -> str | None:
    """Start `clca run`; SIGKILL it `delay_s` seconds after the manifest shows `stage` running (or as soon as a
    later stage is seen, when `stage` was too quick to be observed). Returns the stage running at the kill, or
    None when the data stages finished first (the process is killed then too, like the test's `run_until`)."""
    later = set(DATA_STAGES[DATA_STAGES.index(stage) + 1:])
    proc = subprocess.Popen([sys.executable, "-m", "clca.cli.main", "run", "--config", str(config)],
                            env={**os.environ, "CLCA_PROGRESS": "0"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    seen_at = None
    try:
        while proc.poll() is None:
            status = stage_status(run_dir)
            running = [s for s, st in status.items() if st == "running" and s in DATA_STAGES]
            if all(status.get(s) == "done" for s in DATA_STAGES):
                return None
            if seen_at is None and running and (running[0] == stage or running[0] in later):
                seen_at = time.monotonic()
            if seen_at is not None and time.monotonic() - seen_at >= delay_s:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                status = stage_status(run_dir)
                running = [s for s, st in status.items() if st == "running"]
                return running[0] if running else "between stages"
            time.sleep(0.005)
        raise RuntimeError(f"clca run exited by itself (rc {proc.returncode}) before the data stages were done")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def torn_last_lines(run_dir: Path) -> list[str]:
    """JSONL files whose last line is incomplete (no newline) — left by the kill, dropped by the next run."""
    return [str(p.relative_to(run_dir)) for p in sorted(run_dir.rglob("*.jsonl"))
            if (raw := p.read_bytes()) and not raw.endswith(b"\n")]


def compare(expected: dict[str, list], got: dict[str, list]) -> list[str]:
    """Differences between two runs' JSONL artifacts (order-insensitive within a file; ids unique)."""
    problems = []
    if sorted(got) != sorted(expected):
        problems.append(f"files differ: missing {sorted(set(expected) - set(got))}, "
                        f"extra {sorted(set(got) - set(expected))}")
    for name in sorted(set(expected) & set(got)):
        if sorted(map(json.dumps, got[name])) != sorted(map(json.dumps, expected[name])):
            problems.append(f"{name}: {len(got[name])} records vs {len(expected[name])} in the reference, "
                            "or different content")
        ids = [r["id"] for r in got[name] if isinstance(r, dict) and "id" in r]
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        if duplicates:
            problems.append(f"{name}: duplicated ids {duplicates[:3]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--scenarios", type=int, default=6, help="adapted scenarios (× 2 conversations each)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the kill schedule")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="server latency per request (s); 0.05 keeps role-play long enough to be hit by its kills")
    parser.add_argument("--max-rounds", type=int, default=30)
    parser.add_argument("--schedule", choices=["stage", "time"], default="stage",
                        help="stage: pick a not-yet-done data stage at random, kill uniform(0, --max-delay) s after "
                             "it starts; time: kill uniform(0.3 s, reference wall time) after launch (the test's)")
    parser.add_argument("--max-delay", type=float, default=0.3, help="stage schedule: latest kill after stage start")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["CLCA_PROGRESS"] = "0"

    load_before = os.getloadavg()
    rng = random.Random(args.seed)
    kills: list[dict] = []
    rounds: list[dict] = []
    started_all = time.monotonic()
    with OpenAICompatServer(responder=ScriptedResponder(), latency_s=args.latency) as server, \
            tempfile.TemporaryDirectory(prefix="clca-bench-crash-") as tmp_name:
        tmp = Path(tmp_name)
        config = make_config(tmp, "reference", server.base_url, args.scenarios)
        started = time.monotonic()
        assert run_until(config, tmp / "runs" / "reference", None) == "data stages done"
        reference_s = time.monotonic() - started
        expected = jsonl_artifacts(tmp / "runs" / "reference")
        reference_counts = {name: len(records) for name, records in expected.items()}

        while len(kills) < args.kills and len(rounds) < args.max_rounds:
            name = f"crashed-{len(rounds)}"
            run_dir = tmp / "runs" / name
            config = make_config(tmp, name, server.base_url, args.scenarios)
            launches, round_kills, round_targets = 0, 0, []
            round_started = time.monotonic()
            while True:
                launches += 1
                if len(kills) >= args.kills:
                    assert run_until(config, run_dir, None) == "data stages done"
                    break
                if args.schedule == "time":
                    target, delay = "any", rng.uniform(0.3, reference_s)
                    killed = run_until(config, run_dir, delay) == "killed"
                    running = [s for s, st in stage_status(run_dir).items() if st == "running"]
                    stage = running[0] if running else "startup/between stages"
                else:  # one kill per stage and round, in pipeline order; stages already done are skipped
                    status = stage_status(run_dir)
                    targets = [s for s in DATA_STAGES if status.get(s) != "done" and s not in round_targets]
                    if not targets:
                        assert run_until(config, run_dir, None) == "data stages done"
                        break
                    target, delay = targets[0], rng.uniform(0.0, args.max_delay)
                    round_targets.append(target)
                    stage = kill_in_stage(config, run_dir, target, delay)
                    killed = stage is not None
                if not killed:
                    break  # data stages done
                kills.append({"round": len(rounds), "target": target, "after_s": round(delay, 3), "stage": stage,
                              "torn_last_lines": torn_last_lines(run_dir),
                              "corrupt_complete_lines": torn_tails(run_dir)})
                round_kills += 1
            try:
                problems = compare(expected, jsonl_artifacts(run_dir))  # raises on any torn line
                torn_after_resume = []
            except ValueError as exc:
                problems, torn_after_resume = [str(exc)], [str(exc)]
            rounds.append({"round": len(rounds), "kills": round_kills, "launches": launches,
                           "resumes": launches - 1, "wall_s": round(time.monotonic() - round_started, 2),
                           "identical_to_reference": not problems, "torn_lines_after_resume": torn_after_resume,
                           "problems": problems})
            print(f"round {rounds[-1]['round']}: {round_kills} kills, identical: {not problems}", flush=True)

    report = {
        "benchmark": "crash_resume",
        "stages": "data generation: culture, scenarios (adapt), roleplay, judge, intents (no training/eval)",
        "scenarios": args.scenarios,
        "conversations": args.scenarios * 2,
        "server_latency_s": args.latency,
        "schedule": (f"per round one kill aimed at each not-yet-done data stage in order, random.Random({args.seed})"
                     f".uniform(0, {args.max_delay}) s after the manifest shows it running"
                     if args.schedule == "stage" else
                     f"random.Random({args.seed}).uniform(0.3, reference_wall_s) seconds after each launch"),
        "reference_wall_s": round(reference_s, 2),
        "reference_records": reference_counts,
        "kills": len(kills),
        "kills_per_stage": dict(Counter(k["stage"] for k in kills)),
        "rounds": len(rounds),
        "resumes": sum(r["resumes"] for r in rounds),
        "all_identical": bool(rounds) and all(r["identical_to_reference"] for r in rounds),
        "torn_last_lines_after_kills": sum(len(k["torn_last_lines"]) for k in kills),
        "corrupt_complete_lines_after_kills": sum(len(k["corrupt_complete_lines"]) for k in kills),
        "torn_lines_after_resume": sum(len(r["torn_lines_after_resume"]) for r in rounds),
        "total_wall_s": round(time.monotonic() - started_all, 1),
        "kill_log": kills,
        "round_log": rounds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in {"kill_log", "round_log"}}, indent=2))
    print(f"{report['kills']} kills ({report['kills_per_stage']}), {report['resumes']} resumes in "
          f"{report['rounds']} rounds; identical to the uninterrupted run: {report['all_identical']}; "
          f"torn last lines seen after kills: {report['torn_last_lines_after_kills']}, corrupt complete lines: "
          f"{report['corrupt_complete_lines_after_kills']}, torn lines after resume: "
          f"{report['torn_lines_after_resume']}")
    if not report["all_identical"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
