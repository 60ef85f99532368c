"""Data-generation benchmark: 10 seed scenarios (as China) → role-play (2 conversations each) → judge → intents,
all with the embedded SmolLM2-135M model on CPU. Writes benchmarks/results/datagen_embedded.json.

    .venv/bin/python benchmarks/datagen_embedded.py [--scenarios 10] [--max-turns 6] [--max-tokens 60] [--out DIR]

Resumable: rerunning with the same --out continues where it stopped (timings then cover only the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from clca.intents import ConversationIntents, IntentsConfig, run_intents
from clca.jsonl import JsonlStore, write_json_atomic
from clca.judge import JudgeConfig, run_judge
from clca.llm import ModelConfig, open_backend
from clca.roleplay import Conversation, RoleplayConfig, run_roleplay
from clca.scenarios import load_seed_scenarios

RESULTS = Path(__file__).resolve().parent / "results" / "datagen_embedded.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--culture", default="CHN")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-datagen"))
    args = parser.parse_args()

    started = time.perf_counter()
    backend = open_backend(ModelConfig(spec="embedded", cache=False))
    load_s = time.perf_counter() - started
    scenarios = [s.model_copy(update={"culture": args.culture}) for s in load_seed_scenarios()[: args.scenarios]]
    out = args.out
    sampling = {"max_tokens": args.max_tokens}
    roleplay = run_roleplay(scenarios, out / "conversations.jsonl", backend,
                            config=RoleplayConfig(max_turns=args.max_turns, agent_a=sampling, agent_b=sampling))
    judge = run_judge(out / "conversations.jsonl", out / "judgements.jsonl", backend, JudgeConfig(mode="logprob"))
    intents = run_intents(out / "conversations.jsonl", out / "intents.jsonl", backend, IntentsConfig(max_tokens=24),
                          judgements_path=out / "judgements.jsonl")

    conversations = {c.id: c for c in JsonlStore(out / "conversations.jsonl", Conversation).read()}
    labelled = JsonlStore(out / "intents.jsonl", ConversationIntents).read()
    example = None
    if labelled:
        record = max(labelled, key=lambda r: len(r.intents))
        conv = conversations[record.id]
        by_turn = {i.turn_index: i for i in record.intents}
        example = {
            "id": conv.id,
            "setting": conv.scenario.setting,
            "termination": conv.termination,
            "turns": [
                {"speaker": t.speaker_name, "action": t.action, "text": t.text,
                 "intent": by_turn[t.index].intent if t.index in by_turn else None,
                 "kind": by_turn[t.index].kind if t.index in by_turn else None}
                for t in conv.turns
            ],
        }
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_avg_at_end": os.getloadavg()},
        "settings": vars(args) | {"out": str(args.out)},
        "model_load_s": round(load_s, 2),
        "roleplay": roleplay.model_dump(),
        "judge": judge.model_dump(),
        "intents": intents.model_dump(),
        "total_s": round(time.perf_counter() - started, 2),
        "example": example,
    }
    write_json_atomic(RESULTS, result)
    print(json.dumps({k: result[k] for k in ("model_load_s", "total_s")} | {
        "conversations": roleplay.conversations, "roleplay_s": roleplay.seconds, "kept_ratio": judge.kept_ratio,
        "judge_s": judge.seconds, "cultural_share": intents.cultural_share, "intents_s": intents.seconds}, indent=2))


if __name__ == "__main__":
    main()
