"""clca.training — multi-task dataset builder and LoRA trainer.

    from clca.training import DatasetConfig, TrainConfig, build_dataset, train
    manifest = build_dataset("conversations.jsonl", "dataset/", DatasetConfig(), judgements_path=..., intents_path=...)
    summary = train("dataset/", "adapter/", TrainConfig(preset="paper"))   # summary.adapter_spec → evaluation
"""

from clca.training.config import DatasetConfig, TrainConfig
from clca.training.dataset import build_dataset
from clca.training.schema import DatasetManifest, TrainSummary
from clca.training.trainer import train

__all__ = ["DatasetConfig", "DatasetManifest", "TrainConfig", "TrainSummary", "build_dataset", "train"]
