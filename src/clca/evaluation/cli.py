"""`clca evaluate`: WVS evaluation of a model for one culture, and `clca evaluate compare A B`."""

from __future__ import annotations

from pathlib import Path

import typer

from clca.cli.common import open_model, print_json
from clca.evaluation.config import MAX_RESAMPLES

evaluate_app = typer.Typer(help="WVS wave 7 evaluation (culture-level KL/JS/EMD, individual accuracy).",
                           no_args_is_help=False)

WVS_FILE_HELP = (
    "Official WVS wave 7 CSV with respondents (cross-national or per-country download; `clca data add-wvs FILE` "
    "registers one for every later run, CLCA_WVS_FILE names one). Without one, the bundled per-country tables "
    "and a country-only prompt are used. Shares are unweighted unless --weights wvs."
)


@evaluate_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    model: str = typer.Option("embedded", "--model", help="Backend spec (embedded, hf:…, openai:…)."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    culture: str | None = typer.Option(None, "--culture", help="ISO3 country, e.g. DEU, GBR, CHN, MEX, JPN."),
    questions: str | None = typer.Option(None, "--questions", help="social-values | q50 | category | ids."),
    personas: int | None = typer.Option(None, "--personas", help="Respondents sampled (default 1000)."),
    strategy: str | None = typer.Option(None, "--strategy",
                                        help="persona | cultural | anthropological | self-alignment."),
    mode: str | None = typer.Option(None, "--mode", help="generate | logprob."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of persona sampling and bootstrap (≥ 0)."),
    wvs_file: Path | None = typer.Option(None, "--wvs-file", help=WVS_FILE_HELP),
    weights: str | None = typer.Option(None, "--weights", help="none (default: every respondent counts once, as "
                                       "in the paper) | wvs (the survey's W_WEIGHT)."),
    language: str | None = typer.Option(None, "--language", help="en (default) | native | a BCP-47 tag with a "
                                        "translation (bundled: de, es-MX, ja, zh-Hans)."),
    allow_unreviewed_translation: bool = typer.Option(False, "--allow-unreviewed-translation",
                                                      help="Accept a translation file with unreviewed items."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (reruns resume)."),
    config: Path | None = typer.Option(None, "--config", help="YAML with EvalConfig keys."),
    overrides: list[str] = typer.Option([], "--set", help="KEY=VALUE override, e.g. --set kl_epsilon=1e-3."),
    suite: str | None = typer.Option(None, "--suite", help="Run a suite instead of the WVS questions: "
                                     "globalopinionqa | normad | culturalbench | culturalbench-hard."),
    data: Path | None = typer.Option(None, "--data", help="With --suite: a local copy of its dataset "
                                     "(csv/json/jsonl/parquet file or folder); default: the hub dataset."),
) -> None:
    """Evaluate a model on WVS questions: `clca evaluate --model embedded --culture DEU --out runs/deu`."""
    if ctx.invoked_subcommand is not None:
        return
    from clca.errors import ConfigError

    if out is None:
        raise ConfigError("--out is required: the folder for records, metrics and manifest")
    if suite is not None:
        from clca.suites.cli import evaluate_suite

        evaluate_suite(suite, model=model, api_key_env=api_key_env, out=out, culture=culture, mode=mode, seed=seed,
                       data=data, overrides=overrides)
        return
    flags = {"culture": culture, "questions": questions, "personas": personas, "strategy": strategy, "mode": mode,
             "seed": seed, "wvs_file": str(wvs_file) if wvs_file else None, "weights": weights,
             "language": language, "allow_unreviewed_translation": allow_unreviewed_translation or None}
    _evaluate_wvs(model, api_key_env, out, config, overrides, flags)


def _evaluate_wvs(model: str, api_key_env: str | None, out: Path, config: Path | None, overrides: list[str],
                  flags: dict[str, object]) -> None:
    from clca.config import apply_overrides, load_yaml, validate
    from clca.evaluation.config import EvalConfig
    from clca.evaluation.runner import run_evaluation
    from clca.locking import lock_output_dir
    from clca.outdir import claim_output_dir

    values = load_yaml(config) if config is not None else {}
    values.update({key: value for key, value in flags.items() if value is not None})
    cfg = validate(EvalConfig, apply_overrides(values, overrides), str(config) if config else "command line")
    out = claim_output_dir(out, "evaluation")  # before the lock (no lock file in a user's folder) and the model
    backend = open_model(model, api_key_env)
    try:
        with lock_output_dir(out):
            summary = run_evaluation(backend, cfg, out)
    finally:
        backend.close()
    print_json(summary)


@evaluate_app.command("compare")
def compare(
    a_dir: Path = typer.Argument(..., help="Evaluation folder of model A."),
    b_dir: Path = typer.Argument(..., help="Evaluation folder of model B (same culture, personas, questions)."),
    resamples: int = typer.Option(1000, "--resamples", min=1, max=MAX_RESAMPLES, help="Paired bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap seed."),
    out: Path | None = typer.Option(None, "--out", help="Also write the comparison JSON here."),
) -> None:
    """Paired two-way bootstrap of two evaluations of the same personas → a verdict per metric, or why none."""
    from clca.evaluation.scoring import compare_runs
    from clca.jsonl import write_json_atomic
    from clca.suites.cli import is_suite_dir
    from clca.suites.scoring import compare_suite_runs

    compare_fn = compare_suite_runs if is_suite_dir(a_dir) else compare_runs
    result = compare_fn(a_dir, b_dir, bootstrap_resamples=resamples, seed=seed)
    if out is not None:
        write_json_atomic(out, result.model_dump(mode="json"))
    print_json(result)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root `clca` app."""
    app.add_typer(evaluate_app, name="evaluate")
