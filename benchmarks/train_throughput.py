"""Training throughput: clca's trainer vs a plain TRL SFT run on the same data and settings.

Both runs train the same LoRA (standard preset), batch size, learning rate, dtype and number of steps on the same
examples with the embedded model (SmolLM2-135M-Instruct). Differences:
- ours: examples pre-tokenised by `clca dataset build` (assistant-only labels) and padding-free batches;
- plain TRL: the same chat messages given to `SFTTrainer` as a conversational dataset, padded batches
  (TRL's defaults, except that activation checkpointing is switched off as in ours, and assistant-only loss is
  used when TRL can derive it for this chat template).
Each variant runs in its own process, so peak memory (max RSS on CPU, max allocated on CUDA) is its own.
Throughput counts real (non-padding) input tokens per second of training.

    .venv/bin/python benchmarks/train_throughput.py [--steps 6] [--batch 4]

Writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"
WORDS = ("please tea family honour respect work time thank you kindly we could perhaps discuss this later with "
         "my parents the shop needs help and I am grateful for your trust").split()


def make_inputs(root: Path, n_conversations: int, seed: int = 0) -> dict[str, Path]:
    """Conversations of varied length (2–9 turns, 5–60 words a turn), as real role-play output varies."""
    from clca.intents.schema import ConversationIntents, TurnIntent
    from clca.jsonl import JsonlStore
    from clca.judge.schema import Judgement, Verdict
    from clca.records import Provenance
    from clca.roleplay.schema import Conversation, Turn
    from clca.scenarios.schema import Participant, Scenario

    rng = random.Random(seed)
    convs, judgements, intents = [], [], []
    for i in range(n_conversations):
        sc = Scenario(
            id=f"bench-{i}", culture="CHN", setting="A teahouse in Suzhou", relationship="acquaintance",
            source="adapted",
            participants=(Participant(first_name="Mei", last_name="Zhang", age=50, goal="Ask Wei for a favour",
                                      secret="Mei is short of money"),
                          Participant(first_name="Wei", last_name="Li", age=25, goal="Decline politely")),
        )
        turns = [Turn(index=t, speaker=t % 2, speaker_name=("Mei", "Wei")[t % 2], action="speak",
                      text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))))
                 for t in range(rng.randint(2, 9))]
        conv = Conversation(id=f"{sc.id}#0", scenario=sc, sample_index=0, seed=i, turns=turns, termination="leave",
                            agent_provenance=(Provenance(), Provenance()))
        convs.append(conv)
        good = Verdict(label="good", confidence="confident")
        judgements.append(Judgement(id=conv.id, conversation_id=conv.id, culture="CHN", quality=good, meta=good,
                                    keep=True, keep_reason="bench"))
        intents.append(ConversationIntents(id=conv.id, conversation_id=conv.id, culture="CHN", intents=[
            TurnIntent(turn_index=t.index, speaker=t.speaker, intent="to be polite", kind="generic") for t in turns]))
    paths = {"conversations": root / "conversations.jsonl", "judgements": root / "judgements.jsonl",
             "intents": root / "intents.jsonl"}
    JsonlStore(paths["conversations"], Conversation).write_all(convs)
    JsonlStore(paths["judgements"], Judgement).write_all(judgements)
    JsonlStore(paths["intents"], ConversationIntents).write_all(intents)
    return paths


def run_ours(dataset_dir: Path, out: Path, args) -> dict:
    from clca.training.config import TrainConfig
    from clca.training.trainer import train

    cfg = TrainConfig(student=args.student, preset="standard", batch_size=args.batch, per_device_batch_size=args.batch,
                      max_steps=args.steps, save_steps=10_000, seed=0, max_length=args.max_length, resume=False,
                      batching=args.batching)
    summary = train(dataset_dir, out, cfg)
    return {"tokens_per_s": summary.tokens_per_s, "peak_memory_mb": summary.peak_memory_mb,
            "runtime_s": summary.runtime_s, "steps": summary.global_step, "last_loss": summary.last_loss,
            "batching": summary.batching}


def run_plain_trl(dataset_dir: Path, out: Path, args) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from clca.training.config import PRESETS
    from clca.training.student import load_student
    from clca.training.trainer import _peak_memory_mb

    model, tokenizer, _ = load_student(args.student)
    rows = datasets.load_from_disk(str(dataset_dir / "data"))
    conversational = datasets.Dataset.from_list([{"messages": json.loads(m)} for m in rows["messages"]])
    preset = PRESETS["standard"]
    lora = LoraConfig(r=preset["lora_r"], lora_alpha=preset["lora_alpha"], lora_dropout=preset["lora_dropout"],
                      target_modules=preset["target_modules"], task_type="CAUSAL_LM")
    result = {}
    for assistant_only in (True, False):
        sft_args = SFTConfig(
            output_dir=str(out), per_device_train_batch_size=args.batch, max_steps=args.steps,
            learning_rate=preset["learning_rate"], seed=0, data_seed=0, report_to="none", save_strategy="no",
            logging_steps=1, max_length=args.max_length, activation_checkpointing=False,
            assistant_only_loss=assistant_only, include_num_input_tokens_seen="non_padding",
            dataloader_pin_memory=torch.cuda.is_available(), disable_tqdm=True,
            bf16=model.dtype == torch.bfloat16, fp16=model.dtype == torch.float16,  # as ours: the model's dtype
        )
        try:
            trainer = SFTTrainer(model=model, args=sft_args, train_dataset=conversational,
                                 processing_class=tokenizer, peft_config=lora)
            break
        except (ValueError, RuntimeError) as exc:  # TRL cannot derive assistant masks for this template
            result["assistant_only_loss_error"] = str(exc).splitlines()[0]
    result["assistant_only_loss"] = assistant_only
    started = time.perf_counter()
    trainer.train()
    runtime = time.perf_counter() - started
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    result.update({"tokens_per_s": trainer.state.num_input_tokens_seen / runtime,
                   "peak_memory_mb": _peak_memory_mb("cuda" if torch.cuda.is_available() else "cpu"),
                   "runtime_s": runtime, "steps": trainer.state.global_step,
                   "last_loss": losses[-1] if losses else None})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--student", default="embedded", help="backend spec of the student (embedded | hf:PATH)")
    parser.add_argument("--results", default=str(RESULTS), help="where to write the JSON report")
    parser.add_argument("--ours", default="auto", help="comma-separated batching modes of our trainer to measure "
                        "(auto, padding_free, group_by_length, padded)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (median reported)")
    parser.add_argument("--variant", choices=["ours", "plain_trl"], help=argparse.SUPPRESS)
    parser.add_argument("--batching", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("CLCA_PROGRESS", "0")

    if args.variant:  # child process: one variant, result as JSON on the last stdout line
        with tempfile.TemporaryDirectory() as tmp:
            runner = run_ours if args.variant == "ours" else run_plain_trl
            print(json.dumps(runner(args.dataset, Path(tmp) / "out", args)))
        return

    from clca.training.config import DatasetConfig
    from clca.training.dataset import build_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.conversations)
        manifest = build_dataset(paths["conversations"], root / "ds",
                                 DatasetConfig(student=args.student, max_length=args.max_length),
                                 judgements_path=paths["judgements"], intents_path=paths["intents"])
        names = [f"ours_{mode}" for mode in args.ours.split(",")] + ["plain_trl"]
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeat):  # interleaved, so drift of the machine (clocks, other load) hits all alike
            for name in names:
                variant, _, mode = name.partition("_") if name.startswith("ours") else (name, "", "auto")
                cmd = [sys.executable, __file__, "--variant", variant, "--batching", mode,
                       "--dataset", str(root / "ds"), "--steps", str(args.steps), "--batch", str(args.batch),
                       "--max-length", str(args.max_length), "--student", args.student]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    sys.stderr.write(proc.stderr[-4000:])
                    raise SystemExit(f"variant {name} failed")
                runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(name, runs[name][-1], flush=True)
    results = {}
    for name, measured in runs.items():
        best = sorted(measured, key=lambda r: r["tokens_per_s"])[len(measured) // 2]  # median run
        results[name] = {**best, "tokens_per_s_all_runs": [r["tokens_per_s"] for r in measured]}

    import torch

    report = {
        "benchmark": "train_throughput",
        "model": args.student,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
        "platform": platform.platform(),
        "settings": {"steps": args.steps, "repeat": args.repeat, "batch": args.batch, "max_length": args.max_length,
                     "preset": "standard", "examples": manifest.examples,
                     "mean_tokens_per_example": manifest.tokens / manifest.examples},
        "results": results,
        "throughput_ratio_ours_vs_plain_trl": {
            name: r["tokens_per_s"] / results["plain_trl"]["tokens_per_s"]
            for name, r in results.items() if name.startswith("ours")},
        "note": "tokens/s counts non-padding input tokens; the machine may be shared, compare runs made together",
    }
    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("device", "throughput_ratio_ours_vs_plain_trl")}))


if __name__ == "__main__":
    main()
