"""Local prefix reuse in `score_options`: persona × question items/s on the embedded model, against the floor.

Three ways over the same WVS prompts (persona strategy, real DEU respondents when a file is named, else the
bundled table's country-only personas of several countries):
- floor: one plain batched forward pass over each full prompt (left-padded, the backend's batch size; no options);
- full prompts: every prompt's own forward pass, then its options (score_options without prefix reuse);
- prefix reuse: `score_options` as it is, computing each persona's shared prefix once.
Each is timed `--repeats` times, interleaved, and the fastest kept; one torch thread by default, since on a
machine shared with other jobs multi-threaded timings swing by 2-3× from one run to the next. The scores of the
last two must agree within 1e-4.

Usage: .venv/bin/python benchmarks/prefix_reuse.py [--personas 4] [--questions Q1,Q2,...] [--wvs-file F]
Writes benchmarks/results/prefix_reuse.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

os.environ.setdefault("CLCA_PROGRESS", "0")

from clca.evaluation.human import load_human_data  # noqa: E402
from clca.evaluation.personas import country_only_persona, persona_from_respondent  # noqa: E402
from clca.evaluation.questions import load_question_bank  # noqa: E402
from clca.evaluation.strategies import get_strategy  # noqa: E402
from clca.evaluation.survey import sample_respondents  # noqa: E402
from clca.llm import ModelConfig, OptionScoringRequest, open_backend  # noqa: E402
from clca.llm.prefix import group_by_prefix  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "prefix_reuse.json"
QUESTIONS = "Q1,Q2,Q3,Q4,Q7,Q8,Q27,Q33"


def plain_forward(backend, prompts: list[list[int]]) -> None:
    """The floor: batched forward passes over the full prompts, as `benchmarks/eval_throughput.py` measures it."""
    pad = backend.tokenizer.pad_token_id
    with torch.inference_mode():
        ordered = sorted(prompts, key=len)
        for i in range(0, len(ordered), backend.batch_size):
            chunk = ordered[i:i + backend.batch_size]
            width = max(map(len, chunk))
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            backend.model(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device), logits_to_keep=1)


def full_prompts(backend, prompts, options) -> list[list[float]]:
    """score_options without prefix reuse: batches of whole prompts (the same sort and batch size)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    scores: list = [None] * len(prompts)
    for i in range(0, len(order), backend.batch_size):
        chunk = order[i:i + backend.batch_size]
        for k, s in zip(chunk, backend._score_batch([prompts[k] for k in chunk], [options[k] for k in chunk]),
                        strict=True):
            scores[k] = s
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--personas", type=int, default=3)
    parser.add_argument("--questions", default=QUESTIONS)
    parser.add_argument("--wvs-file", type=Path, default=None, help="WVS wave 7 CSV with DEU respondents")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps timings stable on a machine shared with other jobs")
    args = parser.parse_args()
    backend = open_backend(ModelConfig(spec="embedded", cache=False))
    torch.set_num_threads(args.threads)
    questions = load_question_bank().select(args.questions)
    human = load_human_data("DEU", questions, wvs_file=args.wvs_file)
    if human.respondents:
        personas = [persona_from_respondent(r) for r in sample_respondents(human.respondents, args.personas, 0)]
    else:
        personas = [country_only_persona(c) for c in ("DEU", "MEX", "JPN", "CHN", "USA")[: args.personas]]
    strategy = get_strategy("persona")
    requests = [OptionScoringRequest(messages=strategy.messages(p, q), options=[str(c) for c in q.answer_codes])
                for p in personas for q in questions]
    prompts = [backend.prompt_ids(r.messages) for r in requests]
    options = [[backend.option_ids(o) for o in r.options] for r in requests]
    groups, singles = group_by_prefix(prompts)
    plain_forward(backend, prompts[: backend.batch_size])  # warm-up
    times: dict[str, list[float]] = {"floor": [], "full_prompts": [], "prefix_reuse": []}
    for _ in range(args.repeats):
        for name, run in (("floor", lambda: plain_forward(backend, prompts)),
                          ("full_prompts", lambda: full_prompts(backend, prompts, options)),
                          ("prefix_reuse", lambda: backend.score_options(requests))):
            start = time.perf_counter()
            outcome = run()
            times[name].append(time.perf_counter() - start)
            if name == "full_prompts":
                reference = outcome
            elif name == "prefix_reuse":
                reused = outcome
    diff = max(abs(a - b) for x, y in zip(reference, reused, strict=True) for a, b in zip(x, y, strict=True))
    n, floor = len(requests), min(times["floor"])
    results = {
        "items": n, "personas": len(personas), "questions": len(questions), "human_source": human.source,
        "mean_prompt_tokens": sum(map(len, prompts)) / n,
        "prefix_groups": len(groups), "ungrouped_prompts": len(singles),
        "mean_prefix_tokens": sum(g.prefix_len for g in groups) / len(groups) if groups else 0,
        "max_abs_score_difference": diff,
        **{name: {"seconds": min(t), "items_per_s": n / min(t), "ratio_to_floor": min(t) / floor,
                  "all_seconds": t} for name, t in times.items()},
        "goal_ratio_to_floor": 0.6,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_avg_1min": os.getloadavg()[0]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
