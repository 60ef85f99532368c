"""The run configuration (`clca run --config FILE`): one YAML file, one section per stage.

Each stage section is the stage's own config model, so the keys are documented in one place (the stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from clca.config import StrictModel
from clca.evaluation.config import MAX_RESAMPLES, EvalConfig, Mode
from clca.intents.config import IntentsConfig
from clca.judge.config import JudgeConfig
from clca.layout import safe_component
from clca.llm.config import ModelConfig
from clca.roleplay.config import RoleplayConfig
from clca.scenarios.config import ScenariosConfig
from clca.suites.config import SuiteConfig
from clca.training.config import DatasetConfig, TrainConfig

ROLES = ("adapter", "agent_a", "agent_b", "judge", "intents")


class ModelsSection(StrictModel):
    """Which model plays which role. Roles left out use `default`; `student` is trained and evaluated."""

    default: ModelConfig = Field(default_factory=ModelConfig)
    adapter: ModelConfig | None = None  # rewrites seed scenarios for the culture
    agent_a: ModelConfig | None = None  # participant 1 in role-play
    agent_b: ModelConfig | None = None  # participant 2 in role-play
    judge: ModelConfig | None = None
    intents: ModelConfig | None = None
    student: ModelConfig = Field(default_factory=ModelConfig)
    # The trained student evaluated on a server that serves each adapter under its own model name (vLLM
    # --enable-lora --lora-modules DEU=<run>/DEU/train/adapter): an 'openai:' spec whose model name holds
    # {culture} (or {adapter}: the culture, or "shared" for a shared adapter), e.g. openai:{culture}@http://h:8000/v1.
    # None: the evaluation loads the adapter into the local student (`+adapter=`).
    student_served: ModelConfig | None = None

    @field_validator("student_served")
    @classmethod
    def _served_by_name(cls, served: ModelConfig | None) -> ModelConfig | None:
        if served is None:
            return None
        if not served.spec.startswith("openai:"):
            raise ValueError(f"student_served {served.spec!r} must be an 'openai:' spec (a server that serves the "
                             "adapters by name)")
        if served.served_adapter is not None:
            raise ValueError("student_served: leave served_adapter out — the run fills in the adapter it trained")
        return served

    def served_student(self, culture: str, scope: str, adapter_dir: str) -> ModelConfig:
        """The CLCA student on its server: the spec's placeholders filled in, the trained adapter recorded."""
        assert self.student_served is not None
        spec = self.student_served.spec.replace("{culture}", culture).replace("{adapter}", scope)
        return self.student_served.model_copy(update={"spec": spec, "served_adapter": adapter_dir})

    def for_role(self, role: str) -> ModelConfig:
        return getattr(self, role) or self.default


class ScenarioSourceSection(ScenariosConfig):
    """Where the run's scenarios come from.

    `adapt` (the paper): an LLM rewrites the bundled seed scenarios for each culture.
    `seeds`: the bundled culture-neutral seeds as they are (the culture then enters only through the role-play
    prompt's culture description) — useful with a model too small to rewrite scenarios reliably.
    `import`: scenarios from `path` (Sotopia or CLCA format), filtered to the run's culture when they carry one.
    """

    source: Literal["adapt", "seeds", "import"] = "adapt"
    path: Path | None = None

    def generation(self) -> ScenariosConfig:
        """The settings of scenario generation (`source: adapt`), without the run's source keys."""
        return ScenariosConfig.model_validate(self.model_dump(exclude={"source", "path"}))

    @model_validator(mode="after")
    def _path_for_import(self) -> ScenarioSourceSection:
        if self.source == "import" and self.path is None:
            raise ValueError("scenarios.source 'import' needs scenarios.path (a Sotopia or CLCA scenario file)")
        return self


class SuiteSection(StrictModel):
    """One extra evaluation suite for the baseline and the CLCA student (`clca.suites`; README "Beyond the 44")."""

    suite: str = Field(description="globalopinionqa | normad | culturalbench | culturalbench-hard")
    data: Path | None = Field(None, description="local copy of the dataset; None = the hub dataset")
    mode: Literal["generate", "logprob"] = "logprob"
    limit: int | None = Field(None, ge=1, description="first N items of the culture only")


class EvaluationSection(StrictModel):
    """WVS evaluation of the student before (prompting baselines) and after CLCA training, on the same personas.

    The keys after `clca_strategy` are `EvalConfig`'s (see `clca.evaluation.config` for what each means).
    """

    baselines: list[str] = Field(default_factory=lambda: ["persona", "cultural"], description="prompt strategies")
    languages: list[str] = Field(
        default_factory=lambda: ["en"], min_length=1,
        description="languages every evaluation is asked in: en, native (the culture's language) or BCP-47 tags; "
        "with more than one, each model is also compared with itself in English on the same personas")
    clca_strategy: str = Field("persona", description="prompt strategy for the CLCA-trained student")
    questions: str | list[str] = "social-values"
    personas: int = Field(1000, ge=1)
    mode: Mode = "generate"
    seed: int = Field(0, ge=0)
    wvs_file: Path | None = None
    human_source: Literal["auto", "bundled"] = "auto"
    weights: Literal["none", "wvs"] = "none"
    battery_form: Literal["list", "per_item"] = "list"
    country_samples: int = Field(20, ge=1, le=1000)
    sample_temperature: float = Field(1.0, gt=0.0, le=2.0)
    kl_epsilon: float | None = Field(None, gt=0, lt=0.1, description="None = the evaluation default")
    bootstrap_resamples: int = Field(1000, ge=0, le=MAX_RESAMPLES)
    suites: list[SuiteSection] = Field(default_factory=list, description="suites beyond the 44 WVS questions")

    def for_suite(self, culture: str, section: SuiteSection) -> SuiteConfig:
        return SuiteConfig(suite=section.suite, culture=culture, data=section.data, mode=section.mode,
                           limit=section.limit, seed=self.seed, bootstrap_resamples=self.bootstrap_resamples)

    def for_run(self, culture: str, strategy: str, language: str = "en") -> EvalConfig:
        values = self.model_dump(exclude={"baselines", "clca_strategy", "kl_epsilon", "languages", "suites"})
        values["language"] = language
        if len(self.languages) > 1:  # the list form has English templates only: ask every language the same way
            values["battery_form"] = "per_item"
        if self.kl_epsilon is not None:
            values["kl_epsilon"] = self.kl_epsilon
        return EvalConfig(culture=culture, strategy=strategy, **values)


class RunConfig(StrictModel):
    name: str = Field(min_length=1, description="run directory: <runs_dir>/<name>")
    runs_dir: Path = Path("runs")
    cultures: list[str] = Field(min_length=1, description="ISO 3166 alpha-3 codes, e.g. [DEU] or [CHN, DEU, MEX]")
    adapter: Literal["per_culture", "shared"] = "per_culture"
    models: ModelsSection = Field(default_factory=ModelsSection)
    scenarios: ScenarioSourceSection = Field(default_factory=ScenarioSourceSection)
    roleplay: RoleplayConfig = Field(default_factory=RoleplayConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    intents: IntentsConfig = Field(default_factory=IntentsConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)

    @field_validator("cultures")
    @classmethod
    def _known_cultures(cls, codes: list[str]) -> list[str]:
        from clca.cultures import get_culture
        from clca.errors import ClcaError

        try:
            resolved = [get_culture(code).code for code in codes]
        except ClcaError as exc:  # re-raised as a validation error so the message names the config file
            raise ValueError(str(exc)) from None
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"cultures listed twice: {codes}")
        return resolved

    @model_validator(mode="after")
    def _one_student(self) -> RunConfig:
        """The student is named once, in `models.student`; dataset and train follow it."""
        student = self.models.student.spec
        for section in (self.dataset, self.train):
            if "student" in section.model_fields_set and section.student != student:
                raise ValueError(
                    f"{type(section).__name__} student {section.student!r} differs from models.student.spec "
                    f"{student!r} — set the student only in models.student"
                )
            section.student = student
        return self

    @model_validator(mode="after")
    def _one_served_name_per_adapter(self) -> RunConfig:
        """Per-culture adapters on one server need one name each: the served spec must say which."""
        served = self.models.student_served
        if (served is not None and self.adapter == "per_culture" and len(self.cultures) > 1
                and "{culture}" not in served.spec and "{adapter}" not in served.spec):
            raise ValueError(f"models.student_served {served.spec!r} names one model for {len(self.cultures)} "
                             "per-culture adapters — put {culture} where each adapter's served name goes, e.g. "
                             "openai:{culture}@http://host:8000/v1")
        return self

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / safe_component(self.name, "run name")
