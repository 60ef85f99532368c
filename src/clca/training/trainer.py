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
import time
from pathlib import Path

import jinja2

from clca import __version__
from clca.errors import ConfigError, InputDataError
from clca.jsonl import write_json_atomic
from clca.llm.base import Message
from clca.outdir import claim_output_dir
from clca.training.config import TrainConfig
from clca.training.dataset import DATA_DIR, load_manifest, rows_sha256
from clca.training.schema import DatasetManifest, TrainSummary
from clca.training.student import load_student
from clca.training.tokenize import encode_chat, tokenizer_fingerprint

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
_FINGERPRINT_KEYS = ("vocab_sha256", "chat_template_sha256")


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


def _gradient_accumulation(config: TrainConfig, world_size: int) -> int:
    """Steps to accumulate so that the global batch is `batch_size` whatever the number of processes."""
    per_step = config.per_device_batch_size * world_size
    if config.batch_size % per_step:
        raise ConfigError(
            f"train.batch_size {config.batch_size} is not divisible by per_device_batch_size "
            f"{config.per_device_batch_size} × {world_size} process(es) — adjust one of them"
        )
    return config.batch_size // per_step


def _lora_config(config: TrainConfig, model):
    from peft import LoraConfig

    missing = [m for m in config.target_modules if not any(n.endswith(f".{m}") for n, _ in model.named_modules())]
    if missing:
        raise ConfigError(f"train.target_modules: {missing} not found in {config.student} — check the module names "
                          "(e.g. q_proj, k_proj, v_proj, o_proj for Llama-style models)")
    return LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM",
    )


def train(dataset_dir: str | Path, out_dir: str | Path, config: TrainConfig | None = None) -> TrainSummary:
    """Train a LoRA adapter for `config.student` on the dataset in `dataset_dir`; write it to `out_dir`.

    Args:
        dataset_dir: a folder `build_dataset` wrote.
        out_dir: the adapter folder (checkpoints inside it; `resume: true` continues from the newest).
        config: preset, LoRA and optimiser settings, the student and its seed.

    Returns:
        The summary, also written to `out_dir/summary.json`.
    """
    import torch
    from transformers import set_seed
    from trl import SFTTrainer

    config = (config or TrainConfig()).resolved()
    dataset_dir, out_dir = Path(dataset_dir), claim_output_dir(out_dir, "adapter")
    manifest = load_manifest(dataset_dir)
    world_size = _world_size()
    accumulation = _gradient_accumulation(config, world_size)
    set_seed(config.seed)
    model, tokenizer, quantized = load_student(config.student, config.dtype, load_in_4bit=config.load_in_4bit)
    rows, data_sha256, retokenised = _load_rows(dataset_dir, manifest, tokenizer, config.max_length)
    peft_config = _lora_config(config, model)
    model_dtype = next(model.parameters()).dtype
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    batching = resolve_batching(config.batching, device_type, model)
    args = _sft_args(config, out_dir, accumulation, model_dtype, device_type, batching)
    if args.world_size != world_size:
        raise ConfigError(f"launched as {world_size} processes (WORLD_SIZE) but the trainer runs {args.world_size} "
                          "— launch with `torchrun` or `accelerate launch` so that every process joins one job")
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer,
                         peft_config=peft_config)
    from clca.training.progress import show_progress_in_clca_bar  # imports transformers: only when training

    show_progress_in_clca_bar(trainer)

    resume_from = _last_checkpoint(out_dir / CHECKPOINTS) if config.resume else None
    if resume_from:
        log.warning("resuming from %s", resume_from)
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    runtime = time.perf_counter() - started
    losses = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    summary = TrainSummary(
        out_dir=str(out_dir), adapter_spec=f"{config.student}+adapter={out_dir}", dataset_dir=str(dataset_dir),
        data_sha256=data_sha256, config=config, examples=len(rows), resumed_from=resume_from,
        **_run_figures(trainer, result, resume_from, runtime, losses),
        peak_memory_mb=_peak_memory_mb(device_type), batching=batching, quantized_4bit=quantized, world_size=world_size,
    )
    if trainer.is_world_process_zero():
        trainer.save_model(str(out_dir))  # adapter_config.json + adapter_model.safetensors
        _write_outputs(out_dir, summary, manifest, losses, retokenised, tokenizer)
    if world_size > 1:
        trainer.accelerator.wait_for_everyone()
    return summary


def _run_figures(trainer, result, resume_from: str | None, runtime: float, losses: list) -> dict:
    """Steps, epochs, losses and throughput of this run (a resumed run counts only its own steps and tokens)."""
    state = trainer.state
    steps_this_run = state.global_step - (_step_of(resume_from) if resume_from else 0)
    tokens_this_run = state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)
    return {
        "global_step": state.global_step, "epochs_done": float(state.epoch or 0.0),
        "train_loss": result.training_loss if steps_this_run else None,
        "first_loss": losses[0][1] if losses else None, "last_loss": losses[-1][1] if losses else None,
        "runtime_s": runtime, "tokens_per_s": tokens_this_run / runtime if runtime > 0 else 0.0,
    }


def _sft_args(config: TrainConfig, out_dir: Path, accumulation: int, model_dtype, device_type: str,
              batching: str):
    """TRL's SFTConfig from ours: the one place where clca's training settings meet the Trainer's."""
    import torch
    from trl import SFTConfig

    return SFTConfig(
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
        disable_tqdm=True,  # progress and loss go to clca's own bar (TrainingProgress)
        # Examples are already tokenised and truncated by us, so TRL's own truncation stays off; padding-free
        # batches then concatenate examples instead of padding them.
        max_length=None,
        padding_free=batching == "padding_free",
        train_sampling_strategy="group_by_length" if batching == "group_by_length" else "random",
        dataset_num_proc=None,
        # Padding-free batches hold no pad tokens, so "all" is exact there; padded batches count the mask.
        include_num_input_tokens_seen="all" if batching == "padding_free" else "non_padding",
    )


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
    from clca.plotting import plot_loss_curves  # matplotlib: only when there is a curve to draw

    plot_loss_curves({summary.config.student: losses}, out_dir / "loss.png",
                     title=f"LoRA SFT of {summary.config.student} ({summary.config.preset} preset)")
    (out_dir / "README.md").write_text(_model_card(summary, manifest), encoding="utf-8")


def _model_card(summary: TrainSummary, manifest: DatasetManifest) -> str:
    loss = f"{summary.first_loss:.4f} → {summary.last_loss:.4f}" if summary.first_loss is not None else "n/a"
    template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(
        (Path(__file__).parent / "templates" / "model_card.md.j2").read_text(encoding="utf-8"))
    return template.render(c=summary.config, s=summary, m=manifest, counts=manifest.counts, loss=loss,
                           version=__version__)
