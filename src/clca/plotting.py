"""Figures shared by stages and the report (matplotlib, headless PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers / CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def plot_loss_curves(curves: dict[str, list[tuple[int, float]]], path: Path, title: str = "CLCA LoRA training loss"
                     ) -> Path:
    """Training loss per optimiser step, one line per curve (adapter).

    Args:
        curves: label → [(step, loss)].
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path`.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for label, points in curves.items():
        if points:
            steps, losses = zip(*points, strict=True)
            ax.plot(steps, losses, marker="." if len(points) < 50 else None, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (assistant tokens)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
