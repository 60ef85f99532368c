"""Report figures (matplotlib, headless PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers / CI
import matplotlib.pyplot as plt  # noqa: E402

from clca.plotting import plot_loss_curves, save_figure  # noqa: E402

__all__ = ["plot_category_deltas", "plot_loss_curves", "plot_question_distributions"]


def plot_question_distributions(
    panels: list[tuple[str, list[str], dict[str, list[float]]]], path: Path
) -> Path:
    """One panel per question: grouped bars of answer shares for the survey and each model variant.

    `panels` = [(title, option labels, {series name: shares aligned with labels})].
    """
    n = len(panels)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, labels, series) in zip(axes.flat, panels, strict=False):
        width = 0.8 / max(len(series), 1)
        for i, (name, shares) in enumerate(series.items()):
            ax.bar([x + i * width for x in range(len(labels))], shares, width=width, label=name)
        ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("share of answers")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return save_figure(fig, path)


def plot_category_deltas(deltas: dict[str, dict[str, float]], metric: str, path: Path) -> Path:
    """Bars of (CLCA − baseline) per question category, one group per culture."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    cultures = list(deltas)
    categories = sorted({cat for per in deltas.values() for cat in per})
    width = 0.8 / max(len(cultures), 1)
    for i, culture in enumerate(cultures):
        ax.bar([x + i * width for x in range(len(categories))],
               [deltas[culture].get(cat, 0.0) for cat in categories], width=width, label=culture)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([x + width * (len(cultures) - 1) / 2 for x in range(len(categories))], categories,
                  rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"Δ {metric} (CLCA − persona baseline)")
    ax.set_title(f"Per-category change in {metric} (negative = closer to the survey)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
