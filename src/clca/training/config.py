"""Configuration of the dataset builder and the LoRA trainer (YAML sections `dataset:` and `train:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from clca.config import StrictModel

Tasks = Literal["dialogue", "intent", "both"]
DataSelection = Literal["kept", "unfiltered"]
Preset = Literal["paper", "standard"]


class DatasetConfig(StrictModel):
    """How conversations become training examples (see `clca.training.dataset.build_dataset`)."""

    student: str = Field("embedded", description="backend spec whose tokenizer/chat template the data is built for")
    tasks: Tasks = "both"
    data: DataSelection = Field("kept", description="kept = judge-filtered; unfiltered = the no-filter ablation")
    # Per-task sampling factor: 1.0 keeps every example of the task once, 0.5 a random half, 2.0 each twice
    # (whole copies first, the fractional rest sampled). The paper uses every view once (1.0 / 1.0).
    dialogue_weight: float = Field(1.0, ge=0.0)
    intent_weight: float = Field(1.0, ge=0.0)
    max_length: int = Field(2048, ge=16, description="examples longer than this are truncated (keep the start)")
    seed: int = 0

    @model_validator(mode="after")
    def _some_task_selected(self) -> DatasetConfig:
        wanted = {"dialogue": ["dialogue"], "intent": ["intent"], "both": ["dialogue", "intent"]}[self.tasks]
        if all(getattr(self, f"{t}_weight") == 0 for t in wanted):
            raise ValueError(f"tasks '{self.tasks}' selected but every selected task has weight 0")
        return self


# Every preset field can be overridden by setting it explicitly in `train:` (None = take it from the preset).
PRESETS: dict[str, dict[str, object]] = {
    # As printed in the paper (alpha 0.1 and dropout 0.5 are unusual, kept verbatim for reproduction).
    "paper": {
        "lora_r": 4,
        "lora_alpha": 0.1,
        "lora_dropout": 0.5,
        "target_modules": ["q_proj", "v_proj"],
        "learning_rate": 1e-4,
        "num_epochs": 3.0,
        "batch_size": 8,
    },
    # A conventional LoRA setting.
    "standard": {
        "lora_r": 16,
        "lora_alpha": 32.0,
        "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "learning_rate": 1e-4,
        "num_epochs": 3.0,
        "batch_size": 8,
    },
}


class TrainConfig(StrictModel):
    """LoRA SFT of a student on a built dataset (see `clca.training.trainer.train`)."""

    student: str = Field("embedded", description="backend spec: embedded | hf:<path or name>")
    preset: Preset = "paper"
    lora_r: int | None = Field(None, ge=1)
    lora_alpha: float | None = Field(None, gt=0)
    lora_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None
    learning_rate: float | None = Field(None, gt=0)
    num_epochs: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=1, description="examples per optimiser step, over all devices")
    per_device_batch_size: int | None = Field(
        None, ge=1, description="examples per forward pass; the rest of batch_size comes from gradient accumulation"
    )
    max_steps: int = Field(-1, description="stop after this many optimiser steps (-1 = train num_epochs)")
    max_length: int | None = Field(None, ge=16, description="truncate examples (None = as built by the dataset)")
    lr_scheduler: str = "linear"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    optimizer: str = "adamw_torch"
    seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    load_in_4bit: bool | None = Field(None, description="None = QLoRA when CUDA and bitsandbytes are present")
    gradient_checkpointing: bool = False
    # How examples form a batch (the loss is the same in every mode; only speed/memory differ):
    # padding_free — concatenate the batch into one row (no pad tokens; position ids keep examples apart);
    # group_by_length — padded batches of similar-length examples; padded — plain padded random batches;
    # auto — padding_free on CPU (measured 1.24x the tokens/s of padded batches and 29% less memory) and with
    # flash-attention; group_by_length on CUDA otherwise: there SDPA gets a block mask over the whole packed row,
    # and on an H100 the three modes were within noise (benchmarks/results/train_throughput_*.json).
    batching: Literal["auto", "padding_free", "group_by_length", "padded"] = "auto"
    save_steps: int = Field(50, ge=1, description="checkpoint every N optimiser steps (resume point)")
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    resume: bool = Field(True, description="continue from the newest checkpoint in the output dir if there is one")

    def resolved(self) -> TrainConfig:
        """A copy with every preset-controlled field filled in (what is recorded with the adapter)."""
        values = self.model_dump()
        for key, value in PRESETS[self.preset].items():
            if values.get(key) is None:
                values[key] = value
        if values["per_device_batch_size"] is None:
            values["per_device_batch_size"] = values["batch_size"]
        return TrainConfig.model_validate(values)

    @model_validator(mode="after")
    def _batch_divides(self) -> TrainConfig:
        if self.batch_size and self.per_device_batch_size and self.batch_size % self.per_device_batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of per_device_batch_size {self.per_device_batch_size}"
            )
        return self
