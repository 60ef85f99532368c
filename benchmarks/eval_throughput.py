"""Throughput of WVS answering on the embedded model: persona × question items per second in logprob and
generate modes, and the ratio to the floor — one plain batched forward pass over the same prompts (no option
scoring, no decoding). Real DEU respondents from the file you name (`--wvs-file`, else `CLCA_WVS_FILE` or a file
registered with `clca data add-wvs`); without one, the bundled table's single country-only persona is measured
instead and written to a separate results file (its items are not comparable with the respondent run's).

Usage: .venv/bin/python benchmarks/eval_throughput.py [--personas 8] [--questions Q1,Q7,Q27,Q33] [--wvs-file F]
Writes benchmarks/results/eval_throughput.json (or eval_throughput_country_only.json without respondents).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("CLCA_PROGRESS", "0")

from clca.evaluation.config import EvalConfig  # noqa: E402
from clca.evaluation.human import load_human_data  # noqa: E402
from clca.evaluation.personas import country_only_persona, persona_from_respondent  # noqa: E402
from clca.evaluation.questions import load_question_bank  # noqa: E402
from clca.evaluation.runner import run_evaluation  # noqa: E402
from clca.evaluation.strategies import get_strategy  # noqa: E402
from clca.evaluation.survey import sample_respondents  # noqa: E402
from clca.llm import ModelConfig, open_backend  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "eval_throughput.json"
RESULTS_COUNTRY_ONLY = RESULTS.with_name("eval_throughput_country_only.json")


def plain_forward_seconds(backend, prompts: list[list[int]]) -> float:
    """The floor: batched forward passes over the prompts (left-padded, same batch size as the backend)."""
    pad = backend.tokenizer.pad_token_id
    start = time.perf_counter()
    with torch.inference_mode():
        ordered = sorted(prompts, key=len)
        for i in range(0, len(ordered), backend.batch_size):
            chunk = ordered[i:i + backend.batch_size]
            width = max(map(len, chunk))
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            backend.model(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device), logits_to_keep=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--personas", type=int, default=8)
    parser.add_argument("--questions", default="Q1,Q7,Q27,Q33")
    parser.add_argument("--wvs-file", type=Path, default=None, help="WVS wave 7 CSV with DEU respondents")
    args = parser.parse_args()
    backend = open_backend(ModelConfig(spec="embedded", cache=False))
    questions = load_question_bank().select(args.questions)
    human = load_human_data("DEU", questions, wvs_file=args.wvs_file)
    if human.respondents:
        personas = [persona_from_respondent(r) for r in sample_respondents(human.respondents, args.personas, 0)]
        wvs_file, results_path = Path(human.source), RESULTS
    else:
        print("no DEU respondent file named (--wvs-file, CLCA_WVS_FILE or `clca data add-wvs`): measuring the "
              f"bundled table's country-only persona, results in {RESULTS_COUNTRY_ONLY.name}")
        personas, wvs_file, results_path = [country_only_persona("DEU")], None, RESULTS_COUNTRY_ONLY
    strategy = get_strategy("persona")
    prompts = [backend.prompt_ids(strategy.messages(p, q)) for p in personas for q in questions]
    n_items = len(prompts)
    plain_forward_seconds(backend, prompts[: backend.batch_size])  # warm-up
    floor = plain_forward_seconds(backend, prompts)
    results = {"items": n_items, "personas": len(personas), "questions": args.questions,
               "human_source": human.source, "human_kind": human.kind,
               "mean_prompt_tokens": sum(map(len, prompts)) / n_items,
               "floor_plain_forward": {"seconds": floor, "items_per_s": n_items / floor}}
    for mode in ("logprob", "generate"):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = EvalConfig(culture="DEU", questions=args.questions, personas=len(personas), mode=mode,
                             bootstrap_resamples=0, wvs_file=wvs_file)
            start = time.perf_counter()
            run_evaluation(backend, cfg, tmp)
            seconds = time.perf_counter() - start
        results[mode] = {"seconds": seconds, "items_per_s": n_items / seconds, "ratio_to_floor": seconds / floor}
    results["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads":
                          torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0]}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
