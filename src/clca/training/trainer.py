"""`train`: LoRA SFT of a student on a dataset built by `build_dataset` (TRL `SFTTrainer` + PEFT).

Output folder (`out_dir`):
- `adapter_config.json`, `adapter_model.safetensors` — the PEFT adapter; evaluation loads it with the backend spec
  `<student>+adapter=<out_dir>` (e.g. `embedded+adapter=runs/chn/train`);
- `training_config.json` — the fully resolved `TrainConfig` (preset filled in), the dataset manifest's data hash and
  source hashes, student identity, seed, library versions;
- `loss.csv` and `loss.png` — the training loss per logged step; `summary.json` — the returned `TrainSummary`;
- `README.md` — a model card; `checkpoints/` — resume points (`resume: true` continues from the newest).

Runs unchanged under `accelerate launch` / `torchrun`: the Trainer reads the distributed environment, the global
batch size is kept by dividing gradient accumulation by the number of processes, and only the main process writes.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import resource
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from clca import __version__
from clca.errors import ConfigError, InputDataError
from clca.jsonl import write_json_atomic
from clca.llm.base import Message
from clca.outdir import claim_output_dir
from clca.records import utc_now
from clca.training.config import TrainConfig
from clca.training.dataset import DATA_DIR, DatasetManifest, load_manifest, rows_sha256
from clca.training.student import load_student
from clca.training.tokenize import encode_chat, tokenizer_fingerprint

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
_FINGERPRINT_KEYS = ("vocab_sha256", "chat_template_sha256")


class TrainSummary(BaseModel):
    """What `train` returns and writes to `summary.json`."""

    model_config = ConfigDict(extra="forbid")
    clca_version: str = __version__
    created_at: str = Field(default_factory=utc_now)
    out_dir: str
    adapter_spec: str  # backend spec that loads the trained adapter
    dataset_dir: str
    data_sha256: str  # hash of the token ids/labels actually trained on
    config: TrainConfig  # resolved
    examples: int
    global_step: int
    epochs_done: float
    resumed_from: str | None
    train_loss: float | None  # mean loss over this run's steps (Trainer's `train_loss`)
    first_loss: float | None
    last_loss: float | None
    runtime_s: float
    tokens_per_s: float  # input tokens processed per second in this run (padding excluded)
    peak_memory_mb: float
    batching: str  # the resolved batching mode
    quantized_4bit: bool
    world_size: int


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _load_rows(dataset_dir: Path, manifest: DatasetManifest, tokenizer, max_length: int | None):
    """The dataset's input_ids/labels, re-tokenised from the stored messages if the student's tokenizer differs."""
    import datasets

    data_dir = dataset_dir / DATA_DIR
    if not data_dir.is_dir():
        raise InputDataError(f"{data_dir}: dataset folder missing — rebuild with `clca dataset build`")
    dataset = datasets.load_from_disk(str(data_dir))
    current = tokenizer_fingerprint(tokenizer)
    retokenised = any(manifest.tokenizer.get(k) != current[k] for k in _FINGERPRINT_KEYS)
    if retokenised:
        log.warning("dataset %s was built for another tokenizer/chat template; re-tokenising for this student",
                    dataset_dir)

        def _encode(example):
            messages = [Message.model_validate(m) for m in json.loads(example["messages"])]
            input_ids, labels = encode_chat(tokenizer, messages)
            return {"input_ids": input_ids, "labels": labels}

        dataset = dataset.map(_encode, desc="re-tokenising")
    if max_length is not None:
        dataset = dataset.map(lambda ex: {"input_ids": ex["input_ids"][:max_length],
                                          "labels": ex["labels"][:max_length]})
        dataset = dataset.filter(lambda ex: any(label != -100 for label in ex["labels"]))
    if len(dataset) == 0:
        raise InputDataError(f"{data_dir}: no example keeps a labelled token after truncation — raise max_length")
    rows = dataset.select_columns(["id", "input_ids", "labels"])
    return rows, rows_sha256(rows), retokenised


def _last_checkpoint(checkpoint_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not checkpoint_dir.is_dir():
        return None
    return get_last_checkpoint(str(checkpoint_dir))


def _peak_memory_mb(device_type: str) -> float:
    if device_type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def train(dataset_dir: str | Path, out_dir: str | Path, config: TrainConfig | None = None) -> TrainSummary:
    """Train a LoRA adapter for `config.student` on the dataset in `dataset_dir`; write it to `out_dir`."""
    import time

    import torch
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    config = (config or TrainConfig()).resolved()
    dataset_dir, out_dir = Path(dataset_dir), claim_output_dir(out_dir, "adapter")
    manifest = load_manifest(dataset_dir)
    world_size = _world_size()
    per_step = config.per_device_batch_size * world_size
    if config.batch_size % per_step:
        raise ConfigError(
            f"train.batch_size {config.batch_size} is not divisible by per_device_batch_size "
            f"{config.per_device_batch_size} × {world_size} process(es) — adjust one of them"
        )
    accumulation = config.batch_size // per_step

    set_seed(config.seed)
    model, tokenizer, quantized = load_student(config.student, config.dtype, load_in_4bit=config.load_in_4bit)
    rows, data_sha256, retokenised = _load_rows(dataset_dir, manifest, tokenizer, config.max_length)
    missing = [m for m in config.target_modules if not any(n.endswith(f".{m}") for n, _ in model.named_modules())]
    if missing:
        raise ConfigError(f"train.target_modules: {missing} not found in {config.student} — check the module names "
                          "(e.g. q_proj, k_proj, v_proj, o_proj for Llama-style models)")

    peft_config = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM",
    )
    model_dtype = next(model.parameters()).dtype
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    batching = resolve_batching(config.batching, device_type, model)
    args = SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS),
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps (transformers 5)
        weight_decay=config.weight_decay,
        optim=config.optimizer,
        seed=config.seed,
        data_seed=config.seed,
        bf16=model_dtype == torch.bfloat16,
        fp16=model_dtype == torch.float16,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        dataloader_pin_memory=device_type == "cuda",
        # on CPU, accelerate sets up multi-process (gloo) training only when told it is CPU: without this, every
        # torchrun process trained its own replica as "rank 0" and all of them wrote the outputs
        use_cpu=device_type == "cpu",
        ddp_find_unused_parameters=False,  # every LoRA parameter takes part in every forward pass
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        report_to="none",
        disable_tqdm=os.environ.get("CLCA_PROGRESS", "1") == "0",
        # Examples are already tokenised and truncated by us, so TRL's own truncation stays off; padding-free
        # batches then concatenate examples instead of padding them.
        max_length=None,
        padding_free=batching == "padding_free",
        train_sampling_strategy="group_by_length" if batching == "group_by_length" else "random",
        dataset_num_proc=None,
        # Padding-free batches hold no pad tokens, so "all" is exact there; padded batches count the mask.
        include_num_input_tokens_seen="all" if batching == "padding_free" else "non_padding",
    )
    if args.world_size != world_size:
        raise ConfigError(f"launched as {world_size} processes (WORLD_SIZE) but the trainer runs {args.world_size} "
                          "— launch with `torchrun` or `accelerate launch` so that every process joins one job")
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer,
                         peft_config=peft_config)

    resume_from = _last_checkpoint(out_dir / CHECKPOINTS) if config.resume else None
    if resume_from:
        log.warning("resuming from %s", resume_from)
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    runtime = time.perf_counter() - started
    state = trainer.state
    steps_this_run = state.global_step - (_step_of(resume_from) if resume_from else 0)
    tokens_this_run = state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)
    losses = [(e["step"], e["loss"]) for e in state.log_history if "loss" in e]

    summary = TrainSummary(
        out_dir=str(out_dir),
        adapter_spec=f"{config.student}+adapter={out_dir}",
        dataset_dir=str(dataset_dir), data_sha256=data_sha256, config=config, examples=len(rows),
        global_step=state.global_step, epochs_done=float(state.epoch or 0.0), resumed_from=resume_from,
        train_loss=result.training_loss if steps_this_run else None,
        first_loss=losses[0][1] if losses else None, last_loss=losses[-1][1] if losses else None,
        runtime_s=runtime, tokens_per_s=tokens_this_run / runtime if runtime > 0 else 0.0,
        peak_memory_mb=_peak_memory_mb(device_type), batching=batching, quantized_4bit=quantized, world_size=world_size,
    )
    if trainer.is_world_process_zero():
        trainer.save_model(str(out_dir))  # adapter_config.json + adapter_model.safetensors
        _write_outputs(out_dir, summary, manifest, losses, retokenised, tokenizer)
    if world_size > 1:
        trainer.accelerator.wait_for_everyone()
    return summary


def resolve_batching(batching: str, device_type: str, model) -> str:
    """`auto` → padding-free where it is fast (CPU; varlen flash-attention), length-grouped padding elsewhere."""
    if batching != "auto":
        return batching
    attention = str(getattr(model.config, "_attn_implementation", "") or "")
    if device_type == "cpu" or "flash" in attention:
        return "padding_free"
    return "group_by_length"


def _step_of(checkpoint: str) -> int:
    try:
        return int(Path(checkpoint).name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _versions() -> dict[str, str]:
    import datasets
    import peft
    import torch
    import transformers
    import trl

    return {"clca": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "trl": trl.__version__, "datasets": datasets.__version__,
            "python": sys.version.split()[0]}


def _write_outputs(out_dir: Path, summary: TrainSummary, manifest: DatasetManifest, losses, retokenised: bool,
                   tokenizer) -> None:
    write_json_atomic(out_dir / "training_config.json", {
        "config": summary.config.model_dump(mode="json"),
        "seed": summary.config.seed,
        "student": summary.config.student,
        "student_tokenizer": tokenizer_fingerprint(tokenizer),
        "data_sha256": summary.data_sha256,
        "dataset": {"dir": summary.dataset_dir, "data_sha256_at_build": manifest.data_sha256,
                    "retokenised_for_student": retokenised, "config": manifest.config.model_dump(mode="json"),
                    "sources": {k: v.model_dump() for k, v in manifest.sources.items()},
                    "prompts": [p.model_dump() for p in manifest.prompts], "counts": manifest.counts},
        "world_size": summary.world_size,
        "quantized_4bit": summary.quantized_4bit,
        "versions": _versions(),
    })
    write_json_atomic(out_dir / "summary.json", summary.model_dump(mode="json"))
    tmp = out_dir / "loss.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "loss"])
        writer.writerows(losses)
    tmp.replace(out_dir / "loss.csv")
    _plot_loss(out_dir / "loss.png", losses, summary)
    (out_dir / "README.md").write_text(_model_card(summary, manifest), encoding="utf-8")


def _plot_loss(path: Path, losses, summary: TrainSummary) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if losses:
        ax.plot([s for s, _ in losses], [v for _, v in losses], marker="." if len(losses) < 50 else None)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (assistant tokens)")
    ax.set_title(f"LoRA SFT of {summary.config.student} ({summary.config.preset} preset)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _model_card(summary: TrainSummary, manifest: DatasetManifest) -> str:
    c = summary.config
    counts = manifest.counts
    loss = f"{summary.first_loss:.4f} → {summary.last_loss:.4f}" if summary.first_loss is not None else "n/a"
    return f"""---
library_name: peft
tags: [clca, lora, culture-adaptation]
---
# CLCA LoRA adapter for `{c.student}`

A LoRA adapter trained with clca {__version__} (cultural-learning-based culture adaptation, Liu et al., ACL 2025)
on multi-task role-play data: participant views (dialogue) and per-turn intent prediction.

Load it with the backend spec `{summary.adapter_spec}`.

## Data
- dataset: `{summary.dataset_dir}` — {summary.examples} examples ({counts.get('dialogue_examples', 0)} dialogue,
  {counts.get('intent_examples', 0)} intent) from {counts.get('conversations_used', 0)} conversations
  (selection: `{manifest.config.data}`, tasks: `{manifest.config.tasks}`)
- data hash (token ids + labels): `{summary.data_sha256}`
- sources: {", ".join(f"{k} `{v.sha256[:12]}`" for k, v in manifest.sources.items())}

## Training
- preset `{c.preset}`: LoRA r={c.lora_r}, alpha={c.lora_alpha}, dropout={c.lora_dropout}, targets {c.target_modules}
- lr {c.learning_rate}, schedule {c.lr_scheduler}, epochs {c.num_epochs}, max steps {c.max_steps},
  batch {c.batch_size} (per device {c.per_device_batch_size} × {summary.world_size} process(es)), seed {c.seed}
- 4-bit base (QLoRA): {summary.quantized_4bit}; gradient checkpointing: {c.gradient_checkpointing}
- steps {summary.global_step}, epochs {summary.epochs_done:.2f}, loss {loss}
- loss only on the trained speaker's / intent answers' tokens; see `training_config.json`, `loss.csv`, `loss.png`
"""
