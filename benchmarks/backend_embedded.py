"""Embedded backend speed: generation tokens/s at batch 1, 4, 16; option scoring vs one plain forward pass.

- generation: greedy, `--max-tokens` new tokens per prompt, prompts asking for long answers; tokens/s counts the
  generated tokens of all prompts over the wall time of the whole `generate` call (batch_size = the batch size);
- scoring: `--prompts` prompts × 4 options with `score_options`, vs one plain forward pass over the same prompts
  (left-padded, same batch size) — the floor any scorer must pay just to read the prompts.

    .venv/bin/python benchmarks/backend_embedded.py [--max-tokens 32] [--prompts 16]

Writes benchmarks/results/backend_embedded.json. Numbers depend on the machine and on other load: the
1-minute load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch  # noqa: E402,I001

from clca.llm import GenerationRequest, Message, OptionScoringRequest, load_backend  # first: sets OMP_WAIT_POLICY

RESULTS = Path(__file__).resolve().parent / "results" / "backend_embedded.json"
TOPICS = ["a lighthouse keeper", "a market in Lagos", "a tea ceremony", "a chess club", "a rainy Monday",
          "a village wedding", "a lost umbrella", "a night train", "a bakery", "a football match", "a library",
          "a family dinner", "a mountain hike", "a job interview", "a new neighbour", "a school trip"]
OPTIONS = [" 1", " 4", " 7", " 10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    started = time.perf_counter()
    backend = load_backend("embedded", cache=False)
    load_s = time.perf_counter() - started
    story = [[Message(role="user", content=f"Write a long, detailed story about {t}.")] for t in TOPICS]
    backend.generate([GenerationRequest(messages=story[0], max_tokens=4)])  # warm-up

    generation = {}
    for batch in (1, 4, 16):
        n = max(batch, 2)
        requests = [GenerationRequest(messages=story[i % len(story)], max_tokens=args.max_tokens) for i in range(n)]
        backend.batch_size = batch
        started = time.perf_counter()
        results = backend.generate(requests)
        wall = time.perf_counter() - started
        tokens = sum(r.completion_tokens or 0 for r in results)
        generation[f"batch_{batch}"] = {"prompts": n, "generated_tokens": tokens, "wall_s": round(wall, 3),
                                        "tokens_per_s": round(tokens / wall, 1)}
        print(f"generation batch {batch}: {tokens / wall:.1f} tokens/s", flush=True)

    backend.batch_size = 8
    questions = [[Message(role="system", content="Answer with a number from 1 to 10."),
                  Message(role="user", content=f"How much do you enjoy {TOPICS[i % len(TOPICS)]}? Think of how "
                                               "people in your country see it, then answer.")]
                 for i in range(args.prompts)]
    scoring_requests = [OptionScoringRequest(messages=q, options=OPTIONS) for q in questions]
    backend.score_options(scoring_requests[:2])  # warm-up
    started = time.perf_counter()
    backend.score_options(scoring_requests)
    score_wall = time.perf_counter() - started

    prompt_ids = [backend.prompt_ids(q) for q in questions]
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(prompt_ids), backend.batch_size):
            ids, mask = backend._left_pad(prompt_ids[start:start + backend.batch_size],
                                          backend.tokenizer.pad_token_id, backend.device)
            backend.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
    forward_wall = time.perf_counter() - started

    report = {
        "benchmark": "backend_embedded",
        "model": backend.identity.model,
        "dtype": str(next(backend.model.parameters()).dtype),
        "torch_threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "max_new_tokens": args.max_tokens,
        "generation": generation,
        "scoring": {
            "prompts": args.prompts,
            "options_per_prompt": len(OPTIONS),
            "mean_prompt_tokens": round(sum(map(len, prompt_ids)) / len(prompt_ids), 1),
            "batch_size": backend.batch_size,
            "score_options_wall_s": round(score_wall, 3),
            "score_options_prompts_per_s": round(args.prompts / score_wall, 2),
            "plain_forward_wall_s": round(forward_wall, 3),
            "plain_forward_prompts_per_s": round(args.prompts / forward_wall, 2),
            "score_over_forward_time": round(score_wall / forward_wall, 2),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_1m": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
