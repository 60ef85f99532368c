"""The bundled WVS wave 7 question bank (`clca/data/wvs/questions.yaml`) and selection of questions.

A question carries everything answering and scoring need: its id (`Q27`), category, the prompt wording (battery
stem + item), the valid answer codes with labels, the scale type (ordinal / binary / nominal) and what increasing
codes mean; codes the questionnaire does not read out ("Hard to say" in Q122-Q129) are in the scale but not in
`answer_options`. Selections: a named set (`social-values` = the CLCA paper's 44, `q50`), a category name, or ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from clca.errors import ConfigError
from clca.paths import PACKAGE_DATA_DIR

QUESTION_BANK_PATH = PACKAGE_DATA_DIR / "wvs" / "questions.yaml"

ScaleType = Literal["ordinal", "binary", "nominal"]


# The agree/disagree items that some countries fielded on 3 points (stored as codes 2/3/4 of the 5-point variable;
# the codebook's `Q33_3`… collapse the 5 points to 1 agree / 2 disagree / 3 neither in every country).
THREE_POINT_ITEMS = frozenset(f"Q{n}" for n in range(33, 42))
THREE_POINT_OPTIONS = {2: "Agree", 3: "Neither agree nor disagree", 4: "Disagree"}


# The questionnaire's blocks, for per-block results (first and last question number of each).
BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("importance of life domains (Q1-Q6)", 1, 6),
    ("child qualities (Q7-Q17)", 7, 17),
    ("neighbours (Q18-Q26)", 18, 26),
    ("attitudes: work, family, gender (Q27-Q41)", 27, 41),
    ("changes in the way of life (Q43-Q45)", 43, 45),
    ("immigration (Q122-Q129)", 122, 129),
    ("security (Q132-Q138)", 132, 138),
    ("science and technology (Q158-Q162)", 158, 162),
    ("religion (Q169-Q170)", 169, 170),
    ("surveillance (Q196-Q198)", 196, 198),
    ("elections (Q224-Q233)", 224, 233),
)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    category: str
    stem: str
    text: str
    scale_type: ScaleType
    direction: str
    options: dict[int, str]  # valid WVS code -> label, in code order (the survey distribution's support)
    unread_codes: tuple[int, ...] = ()  # valid in the data, never read out to respondents (so never offered)
    variant: str | None = None  # e.g. "3-point": a country's fielding differs from the master scale

    @property
    def codes(self) -> list[int]:
        return list(self.options)

    @property
    def answer_options(self) -> dict[int, str]:
        """The options read out to a respondent, hence offered to a model (without `unread_codes`)."""
        return {code: label for code, label in self.options.items() if code not in self.unread_codes}

    @property
    def answer_codes(self) -> list[int]:
        return list(self.answer_options)

    @property
    def number(self) -> int:
        return int(self.id[1:])

    @property
    def block(self) -> str:
        """The questionnaire block the question belongs to (its category when outside the known blocks)."""
        return next((name for name, first, last in BLOCKS if first <= self.number <= last), self.category)

    def three_point_variant(self) -> Question:
        """The 3-point fielding of Q33–Q41 (some countries): codes 2 Agree / 3 Neither / 4 Disagree.

        Returns:
            A copy with those three options and `variant="3-point"`; scored over codes 2-4 only.

        Raises:
            ConfigError: the question is not one of the 5-point agree items Q33–Q41.
        """
        if self.id not in THREE_POINT_ITEMS or self.codes != [1, 2, 3, 4, 5]:
            raise ConfigError(f"{self.id} has no 3-point variant — only the 5-point agree items Q33-Q41 do")
        return self.model_copy(update={
            "options": dict(THREE_POINT_OPTIONS), "variant": "3-point", "unread_codes": (),
            "direction": "higher code = more disagreement (2 agree, 3 neither, 4 disagree)",
        })


class BatterySpec(BaseModel):
    """Items the questionnaire asks as one list ("choose up to five"), not one by one."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    items: tuple[str, ...]
    max_choices: int
    stem: str


class QuestionBank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    questions: dict[str, Question]
    sets: dict[str, list[str]]
    batteries: dict[str, BatterySpec] = {}

    @property
    def categories(self) -> list[str]:
        return sorted({q.category for q in self.questions.values()})

    def get(self, qid: str) -> Question:
        try:
            return self.questions[qid]
        except KeyError:
            raise ConfigError(
                f"unknown WVS question {qid!r} — the bank has {', '.join(self.questions)}"
            ) from None

    def select(self, selection: str | Sequence[str]) -> list[Question]:
        """Resolve a selection: a named set, a category, a comma-separated id list, or a list of any of these."""
        items = [s.strip() for s in selection.split(",")] if isinstance(selection, str) else list(selection)
        chosen: dict[str, Question] = {}
        for item in items:
            if not item:
                continue
            if item in self.sets:
                ids = self.sets[item]
            elif item in self.categories:
                ids = [q.id for q in self.questions.values() if q.category == item]
            elif item.upper() in self.questions:
                ids = [item.upper()]
            else:
                raise ConfigError(
                    f"questions: {item!r} is not a question set ({', '.join(self.sets)}), a category "
                    f"({', '.join(self.categories)}) or a question id such as Q27"
                )
            for qid in ids:
                chosen.setdefault(qid, self.questions[qid])
        if not chosen:
            raise ConfigError("questions: the selection is empty — name a set such as social-values or q50")
        return sorted(chosen.values(), key=lambda q: q.number)


@lru_cache(maxsize=1)
def load_question_bank() -> QuestionBank:
    raw = yaml.safe_load(QUESTION_BANK_PATH.read_text(encoding="utf-8"))
    scales, stems = raw["scales"], raw["stems"]
    questions = {}
    for item in raw["questions"]:
        scale = scales[item["scale"]]
        questions[item["id"]] = Question(
            id=item["id"],
            category=item["category"],
            stem=stems[item["stem"]],
            text=str(item["text"]),
            scale_type=scale["type"],
            direction=scale["direction"],
            options={int(code): str(label) for code, label in scale["options"].items()},
            unread_codes=tuple(int(code) for code in scale.get("unread", ())),
        )
    for name, ids in raw["sets"].items():
        missing = [qid for qid in ids if qid not in questions]
        if missing:  # a broken bundled file is a packaging bug, not user input
            raise RuntimeError(f"{QUESTION_BANK_PATH}: set {name!r} names unknown questions {missing}")
    batteries = {name: BatterySpec(name=name, **spec) for name, spec in raw.get("batteries", {}).items()}
    for spec in batteries.values():
        if any(qid not in questions for qid in spec.items):
            raise RuntimeError(f"{QUESTION_BANK_PATH}: battery {spec.name!r} names unknown questions")
    return QuestionBank(questions=questions, sets=raw["sets"], batteries=batteries)
