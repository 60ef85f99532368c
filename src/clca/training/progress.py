"""Training progress in clca's own bar (step, loss, tokens/s) instead of the Trainer's printed log dicts."""

from __future__ import annotations

import time

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from clca.progress import Bar


class TrainingProgress(TrainerCallback):
    """Advances a clca progress bar per optimiser step and shows the latest loss and throughput in its label."""

    def __init__(self) -> None:
        self.bar: Bar | None = None
        self.started = 0.0
        self.tokens_at_start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = Bar(state.max_steps, "training")
            self.bar.advance(state.global_step)  # a resumed run starts part-way
            self.started, self.tokens_at_start = time.perf_counter(), state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.advance(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs or "loss" not in logs:
            return
        elapsed = time.perf_counter() - self.started
        rate = (state.num_input_tokens_seen - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0
        self.bar.describe(f"training: step {state.global_step}, loss {float(logs['loss']):.4f}, {rate:.0f} tokens/s")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def show_progress_in_clca_bar(trainer) -> None:
    """Replace the Trainer's own progress and log printing with `TrainingProgress`."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress())
