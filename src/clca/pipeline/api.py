"""Python entry points of the pipeline: `run_pipeline(config_path)` and the headline table of a finished run."""

from __future__ import annotations

from pathlib import Path

from clca.config import load_config
from clca.layout import RunLayout
from clca.pipeline.config import RunConfig
from clca.pipeline.context import RunContext
from clca.pipeline.runner import Runner
from clca.pipeline.stages import pipeline_stages
from clca.run_manifest import Manifest


def run_pipeline(
    config_path: str | Path,
    overrides: list[str] | None = None,
    only: str | None = None,
    start_from: str | None = None,
    force: list[str] | None = None,
) -> tuple[Manifest, Path]:
    """Run (or resume) the pipeline of a run config.

    Args:
        config_path: the run config YAML.
        overrides: `KEY=VALUE` overrides (`--set`).
        only: run just this stage.
        start_from: rerun this stage and every stage after it.
        force: rerun these stages even when done.

    Returns:
        The run manifest and the run directory.
    """
    config = load_config(RunConfig, config_path, overrides)
    ctx = RunContext(config=config, run_dir=config.run_dir)
    try:
        manifest = Runner(ctx, pipeline_stages()).run(only=only, start_from=start_from, force=force)
    finally:
        ctx.backends.close()
    return manifest, ctx.run_dir


def headline(run_dir: Path) -> str:
    """The WVS table of a finished run as plain text (what `make demo` prints at the end)."""
    from clca.report.model import ReportData

    data = ReportData.model_validate_json(RunLayout(run_dir).report_outputs()[2].read_bytes())
    lines = [f"{'culture':8} {'variant':34} {'KL':>8} {'JS-D':>8} {'EMD':>8} {'acc':>8} {'invalid':>8}"]

    def fmt(value: float | None) -> str:
        return f"{value:8.4f}" if value is not None else f"{'–':>8}"

    for row in data.results:
        lines.append(f"{row.culture:8} {row.variant[:34]:34} {fmt(row.kl.value)} {fmt(row.jsd.value)} "
                     f"{fmt(row.emd.value)} {fmt(row.accuracy.value)} {fmt(row.invalid_rate)}")
    for c in data.comparisons:
        lines.append(f"{c.culture}: {c.metric} {c.baseline} → {c.candidate}: {c.verdict}")
    return "\n".join(lines)
