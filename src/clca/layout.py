"""Where clca writes: the run directory of `clca run` and the file names inside every stage's output.

This module is the one owner of paths. Stages, the pipeline and the report ask it for a path instead of joining
names by hand, so a file can be renamed or moved in one place:

    runs/<name>/manifest.json                          the run manifest (`clca.run_manifest`)
    runs/<name>/<culture>/<stage>/…                    per-culture stages (culture, scenarios, roleplay, …)
    runs/<name>/shared/{dataset,train}/…               one adapter trained for all cultures (`adapter: shared`)
    runs/<name>/report.{md,html}, report_files/        the report

A stage that writes `<name>.jsonl` writes its summary to `<name>.summary.json` and the items it could not
produce to `<name>.failures.jsonl` beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clca.errors import ConfigError

SHARED_SCOPE = "shared"  # scope of the dataset/train stages when one adapter is trained for all cultures
REPORT_SCOPE = "all"  # scope of the report stage

RUN_MANIFEST = "manifest.json"
CULTURE_CARD = "culture.json"
SCENARIOS = "scenarios.jsonl"
CONVERSATIONS = "conversations.jsonl"
JUDGEMENTS = "judgements.jsonl"
INTENTS = "intents.jsonl"
DATASET = "dataset"
ADAPTER = "adapter"
TRAIN_SUMMARY = "summary.json"  # inside the adapter folder
LOSS_CSV = "loss.csv"  # inside the adapter folder
CLCA_EVAL = "clca"  # the CLCA student's evaluation folder inside the evaluate stage
COMPARISON = "compare.json"
REPORT_MD, REPORT_HTML, REPORT_DATA, REPORT_FILES = "report.md", "report.html", "report_data.json", "report_files"


class EvalFiles:
    """The files of one WVS evaluation folder (`clca evaluate --out DIR`)."""

    MANIFEST = "manifest.json"
    PERSONAS = "personas.jsonl"
    RECORDS = "records.jsonl"
    MESSAGES = "messages.jsonl"  # every distinct prompt message, so each record's prompt can be read back
    FAILURES = "evaluation.failures.jsonl"
    METRICS = "metrics.json"
    SURVEY = "survey.json"


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def safe_component(value: str, what: str) -> str:
    """A path component derived from user input; refuses anything that could escape the run directory."""
    if not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise ConfigError(
            f"{what} {value!r} is not a safe name — use letters, digits, '.', '_' or '-' (no '/', no '..')"
        )
    return value


def _with_language(name: str, language: str) -> str:
    """English outputs keep their plain names; another language's sit beside them (`clca.de`, `compare.de.json`)."""
    if language == "en":
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}.{safe_component(language, 'language')}{dot}{suffix}"


def summary_path(out_path: str | Path) -> Path:
    """`conversations.jsonl` → `conversations.summary.json`."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name.removesuffix(".jsonl") + ".summary.json")


def failures_path(out_path: str | Path) -> Path:
    """`scenarios.jsonl` → `scenarios.failures.jsonl`."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name.removesuffix(".jsonl") + ".failures.jsonl")


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory."""

    run_dir: Path

    @property
    def manifest(self) -> Path:
        return self.run_dir / RUN_MANIFEST

    def stage_dir(self, scope: str, stage: str) -> Path:
        return self.run_dir / safe_component(scope, "culture/scope") / safe_component(stage, "stage")

    def culture_card(self, culture: str) -> Path:
        return self.stage_dir(culture, "culture") / CULTURE_CARD

    def scenarios(self, culture: str) -> Path:
        return self.stage_dir(culture, "scenarios") / SCENARIOS

    def conversations(self, culture: str) -> Path:
        return self.stage_dir(culture, "roleplay") / CONVERSATIONS

    def judgements(self, culture: str) -> Path:
        return self.stage_dir(culture, "judge") / JUDGEMENTS

    def intents(self, culture: str) -> Path:
        return self.stage_dir(culture, "intents") / INTENTS

    def dataset(self, scope: str) -> Path:
        return self.stage_dir(scope, "dataset") / DATASET

    def adapter(self, scope: str) -> Path:
        return self.stage_dir(scope, "train") / ADAPTER

    def train_summary(self, scope: str) -> Path:
        return self.adapter(scope) / TRAIN_SUMMARY

    def loss_csv(self, scope: str) -> Path:
        return self.adapter(scope) / LOSS_CSV

    def baseline_eval(self, culture: str, strategy: str, language: str = "en") -> Path:
        return self.stage_dir(culture, "baseline") / _with_language(safe_component(strategy, "strategy"), language)

    def clca_eval(self, culture: str, language: str = "en") -> Path:
        return self.stage_dir(culture, "evaluate") / _with_language(CLCA_EVAL, language)

    def comparison(self, culture: str, language: str = "en") -> Path:
        """CLCA vs its baseline, both asked in `language`."""
        return self.stage_dir(culture, "evaluate") / _with_language(COMPARISON, language)

    def language_comparison(self, culture: str, variant: str, language: str) -> Path:
        """One model (`clca` or `baseline`) asked in `language` vs in English, on the same personas."""
        return self.stage_dir(culture, "evaluate") / f"{safe_component(language, 'language')}_vs_en.{variant}.json"

    def baseline_suite(self, culture: str, suite: str) -> Path:
        return self.stage_dir(culture, "baseline") / f"suite-{safe_component(suite, 'suite')}"

    def clca_suite(self, culture: str, suite: str) -> Path:
        return self.stage_dir(culture, "evaluate") / f"suite-{safe_component(suite, 'suite')}"

    def suite_comparison(self, culture: str, suite: str) -> Path:
        return self.stage_dir(culture, "evaluate") / f"compare.suite-{safe_component(suite, 'suite')}.json"

    def report_files(self) -> Path:
        return self.run_dir / REPORT_FILES

    def report_outputs(self) -> tuple[Path, Path, Path]:
        """report.md, report.html, report_data.json."""
        return self.run_dir / REPORT_MD, self.run_dir / REPORT_HTML, self.run_dir / REPORT_DATA
