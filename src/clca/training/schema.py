"""Records of the training stage: the dataset manifest (`clca dataset build`), the training summary (`clca train`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from clca import __version__
from clca.records import PromptRef, utc_now
from clca.training.config import DatasetConfig, TrainConfig

DATA_DIR = "data"  # the `datasets` folder inside a dataset folder


class SourceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str
    records: int


class DatasetManifest(BaseModel):
    """What `build_dataset` returns and writes to `manifest.json`."""

    model_config = ConfigDict(extra="forbid")
    clca_version: str = __version__
    created_at: str = Field(default_factory=utc_now)
    out_dir: str
    config: DatasetConfig
    sources: dict[str, SourceFile]
    tokenizer: dict[str, object]
    prompts: list[PromptRef]
    counts: dict[str, int]  # conversations seen/used/skipped (by reason), views and examples per task
    examples: int
    tokens: int
    label_tokens: int
    truncated: int
    data_sha256: str  # hash of every example's id, input_ids and labels: what the trainer records

    @property
    def data_dir(self) -> Path:
        return Path(self.out_dir) / DATA_DIR


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
