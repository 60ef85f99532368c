"""Prompting strategies (named, extensible registry) and the answer parser.

- `persona` — the CLCA paper's baseline: respondent demographics in the system prompt, integer answer.
- `cultural` — Tao et al. (2024): "You are an average human being born in [country] and living in [country]
  responding to the following survey question." (no demographics).
- `anthropological` — AlKhamissi et al. (2024): persona + reason like an anthropologist first, then answer;
  generate mode only (the answer follows free-text reasoning, so there is no single-step option probability).

Register another with `register_strategy(Strategy(...))`; templates live in `clca/prompts/templates/eval_*.j2`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clca.errors import ConfigError
from clca.evaluation.personas import Persona
from clca.evaluation.questions import Question
from clca.llm.base import Message
from clca.prompts import load_template
from clca.records import PromptRef


@dataclass(frozen=True)
class Strategy:
    name: str
    system_template: str
    user_template: str
    reasoning: bool = False  # answer comes after free-text reasoning ("Answer: N")
    max_tokens: int = 12  # direct answers are an integer; a little slack for "Answer: 3"
    uses_demographics: bool = True

    @property
    def supports_logprob(self) -> bool:
        return not self.reasoning

    def messages(self, persona: Persona, question: Question) -> list[Message]:
        system = load_template(self.system_template).render(persona=persona)
        user = load_template(self.user_template).render(question=question)
        return [Message(role="system", content=system), Message(role="user", content=user)]

    def prompt_refs(self) -> list[PromptRef]:
        return [PromptRef(**load_template(n).provenance()) for n in (self.system_template, self.user_template)]


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> None:
    STRATEGIES[strategy.name] = strategy


# v2 question templates offer only the options read out to respondents (`Question.answer_options`).
register_strategy(Strategy("persona", "eval_persona_system.v1", "eval_question.v2"))
register_strategy(Strategy("cultural", "eval_cultural_system.v1", "eval_question.v2", uses_demographics=False))
register_strategy(
    Strategy("anthropological", "eval_anthropological_system.v1", "eval_question_reasoning.v2", reasoning=True,
             max_tokens=320)
)


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"strategy {name!r} is unknown — choose one of {', '.join(STRATEGIES)}") from None


# ----------------------------------------------------------------------------------------------- parsing

_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:：]?\s*\**\s*(-?\d+)(?!\d|\.\d)", re.I)
_INTEGER = re.compile(r"(?<![\d.])-?\d+(?![\d]|\.\d)")
# What may stand before the option number of a direct answer: decoration and "(my/the) (final) answer (is):".
_DIRECT_PREFIX = re.compile(r"[\s*_#>`\"'(\[]*(?:(?:my |the )?(?:final )?(?:answer|option|choice)(?: is)?\s*[:：]?"
                            r"[\s*_`\"'(\[]*)?", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|won't|cannot|can't|don't|refuse|neither|nor|without)\b|n't\b", re.I)
_ALTERNATIVE = re.compile(r"\s*\**\s*(?:or|and|/|to|-|–|,)\s*\**\s*-?\d", re.I)


def parse_answer(text: str, codes: list[int], reasoning: bool = False) -> tuple[int | None, str | None]:
    """(code, None) for a valid option, else (None, reason). Never guesses: anything unclear is invalid.

    Direct answers: the one integer in the reply, stated as the answer ("3", "3.", "Answer: 3", "**3** Agree");
    several different integers ("1 or 2", an echoed option list) or other words before it ("Definitely not 1",
    "I am 2 years old") are invalid. Reasoning answers: the last "Answer: N" that is neither negated ("I will not
    answer 3") nor followed by an alternative ("Answer: 2 or 3").

    Args:
        text: the model's reply.
        codes: the question's valid option codes.
        reasoning: whether the reply reasons first and ends with "Answer: N".

    Returns:
        (code, None) or (None, reason).
    """
    stripped = text.strip()
    if not stripped:
        return None, "empty answer"
    if reasoning:
        found = [m for m in _ANSWER_LINE.finditer(stripped)
                 if not _NEGATION.search(stripped[stripped.rfind("\n", 0, m.start()) + 1 : m.start()])]
        if not found:
            return None, "no 'Answer: N' line"
        last = found[-1]
        if _ALTERNATIVE.match(stripped, last.end()):
            return None, f"ambiguous: {stripped[last.start() : last.end() + 12]!r} names more than one option"
        value = int(last.group(1))
    else:
        matches = list(_INTEGER.finditer(stripped))
        integers = {int(m.group(0)) for m in matches}
        if not integers:
            return None, "no integer option in the answer"
        if len(integers) > 1:
            return None, f"ambiguous: several integers {sorted(integers)}"
        if not _DIRECT_PREFIX.fullmatch(stripped, 0, matches[0].start()):
            return None, f"the number is not stated as the answer: {stripped[: matches[0].end()][-60:]!r}"
        value = integers.pop()
    if value not in codes:
        return None, f"{value} is not an option ({', '.join(map(str, codes))})"
    return value, None


# ----------------------------------------------------------------------------------------------- self-alignment

SELF_ALIGNMENT_EXAMPLES = 5  # in-context examples per prompt
SELF_ALIGNMENT_POOL = "social-values"  # the questions examples are drawn from


@dataclass(frozen=True)
class SelfAlignmentStrategy(Strategy):
    """Self-alignment (Choenni & Shutova 2024): before the question, the same country's answers to *other* survey
    questions as in-context examples (user: that question; assistant: the country's majority answer in the bundled
    WVS tables). The asked question is never among its examples; which others are used is fixed per question.
    """

    n_examples: int = SELF_ALIGNMENT_EXAMPLES

    def examples(self, country: str, question: Question) -> list[tuple[Question, int]]:
        """The (question, majority answer code) examples shown before `question` for `country`.

        Args:
            country: ISO3 code whose bundled answers are used.
            question: the question being asked (excluded).

        Returns:
            Up to `n_examples` other questions with the country's most common answer, in a fixed order.
        """
        from clca.evaluation.questions import load_question_bank
        from clca.jsonl import stable_hash

        majority = _majority_answers(country)
        pool = [q for q in load_question_bank().select(SELF_ALIGNMENT_POOL) if q.id != question.id and q.id in majority]
        pool.sort(key=lambda q: stable_hash([question.id, q.id]))
        return [(q, majority[q.id]) for q in pool[:self.n_examples]]

    def messages(self, persona: Persona, question: Question) -> list[Message]:
        user = load_template(self.user_template)
        out = [Message(role="system", content=load_template(self.system_template).render(persona=persona))]
        for example, code in self.examples(persona.country, question):
            out += [Message(role="user", content=user.render(question=example)),
                    Message(role="assistant", content=str(code))]
        return [*out, Message(role="user", content=user.render(question=question))]


def _majority_answers(country: str) -> dict[str, int]:
    """The country's most common offered answer per question of the pool, from the bundled tables (cached)."""
    if country not in _MAJORITY_CACHE:
        from clca.evaluation.human import bundled_distributions
        from clca.evaluation.questions import load_question_bank

        questions = {q.id: q for q in load_question_bank().select(SELF_ALIGNMENT_POOL)}
        out = {}
        for qid, dist in bundled_distributions(country, list(questions.values())).items():
            if dist.not_asked or not dist.shares or sum(dist.shares) <= 0:
                continue
            code = dist.codes[max(range(len(dist.shares)), key=dist.shares.__getitem__)]
            if code in questions[qid].answer_codes:  # a majority on an unread option ("hard to say") is no example
                out[qid] = code
        _MAJORITY_CACHE[country] = out
    return _MAJORITY_CACHE[country]


_MAJORITY_CACHE: dict[str, dict[str, int]] = {}

register_strategy(SelfAlignmentStrategy("self-alignment", "eval_cultural_system.v1", "eval_question.v2",
                                        uses_demographics=False))
