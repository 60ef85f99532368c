"""`clca evaluate --suite NAME …` and `clca evaluate compare A B` on suite folders (wired in evaluation/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from clca.cli.common import open_model, print_json


def evaluate_suite(suite: str, *, model: str, api_key_env: str | None, out: Path, culture: str | None,
                   mode: str | None, seed: int | None, data: Path | None, overrides: list[str]) -> None:
    """Run one suite from command-line flags and print its summary.

    Args:
        suite: the task name (globalopinionqa | normad | culturalbench | culturalbench-hard).
        model: backend spec.
        api_key_env: env var holding the API key.
        out: output folder (reruns resume).
        culture: ISO3 code, or None for every country the suite has.
        mode: generate | logprob (None = the config default).
        seed: bootstrap and generation seed.
        data: a local copy of the dataset, or None for the hub.
        overrides: KEY=VALUE settings of `SuiteConfig`.
    """
    from clca.config import apply_overrides, validate
    from clca.locking import lock_output_dir
    from clca.suites.config import SuiteConfig
    from clca.suites.runner import prepare_suite, run_suite

    flags = {"suite": suite, "culture": culture, "mode": mode, "seed": seed, "data": str(data) if data else None}
    data_dict = apply_overrides({k: v for k, v in flags.items() if v is not None}, overrides)
    cfg = validate(SuiteConfig, data_dict, "command line")
    prepared = prepare_suite(cfg)  # bad data or an unreachable hub fails before the model loads
    backend = open_model(model, api_key_env)
    try:
        with lock_output_dir(out):
            summary = run_suite(backend, cfg, out, prepared)
    finally:
        backend.close()
    print_json(summary)


def is_suite_dir(path: Path) -> bool:
    """Whether `path` holds a suite run (its manifest says so), so `compare` can pick the right comparison."""
    from clca.suites.scoring import MANIFEST, SUITE_KIND

    try:
        return json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("kind") == SUITE_KIND
    except (OSError, ValueError, AttributeError):
        return False
