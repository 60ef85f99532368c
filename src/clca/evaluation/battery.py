"""Multi-select batteries asked as the questionnaire asks them: one list, "choose up to five".

The WVS-7 master questionnaire asks the child qualities Q7–Q17 as one list ("Which, if any, do you consider to be
especially important? Please choose up to five!") and tells interviewers not to ask yes/no per item. The list
form (`battery_form: list`, the default) gives a persona the whole list in one prompt and derives the 11 binary
answers from the chosen set: 1 = mentioned, 2 = not mentioned. The per-item form (`battery_form: per_item`) keeps
the old 11 independent yes/no prompts for comparison with earlier runs.

Runner API (one battery per persona instead of one prompt per item):
- `split_batteries(questions, form)` → (batteries to ask as lists, questions to ask one by one);
- generate mode: `battery_messages(persona, strategy, battery)` → messages; generate with
  `battery_max_tokens(strategy)`; `parse_battery(text, battery, reasoning=strategy.reasoning)` → (codes, None)
  with a code for every item of the battery, or (None, reason): a failed answer for all items, never a guess;
- logprob mode: `battery_scoring_request(persona, strategy, battery)` scores the persona's *first* choice over the
  item numbers "1"…"11" (each as the complete reply); `battery_answers_from_logprobs(logprobs, battery)` turns
  those into per-item option probabilities {"1": P(mentioned), "2": 1 − P(mentioned)} under a Plackett–Luce
  model: the respondent names `max_choices` items one after another, each time choosing among the items not yet
  named in proportion to the first-choice probabilities (exact over all subsets, `mention_probabilities`). Its
  mention probabilities sum to `max_choices` (respondents who name fewer than five are not modelled; documented
  as a limitation of the logprob form);
- `battery_prompt_refs(strategy, mode)` for provenance.
A battery always shows all of its items (the question *is* the list); the runner keeps the items it selected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from clca.errors import ConfigError
from clca.evaluation.personas import Persona
from clca.evaluation.questions import Question, load_question_bank
from clca.evaluation.strategies import Strategy
from clca.llm.base import Message, OptionScoringRequest
from clca.prompts import load_template
from clca.records import PromptRef

BatteryForm = Literal["list", "per_item"]
DEFAULT_BATTERY_FORM: BatteryForm = "list"
MENTIONED, NOT_MENTIONED = 1, 2

LIST_TEMPLATE = "eval_battery.v1"
LIST_REASONING_TEMPLATE = "eval_battery_reasoning.v1"
FIRST_CHOICE_TEMPLATE = "eval_battery_first.v1"


class Battery(BaseModel):
    """One list question: its stem, all of its items in questionnaire order, and the most a respondent may name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    stem: str
    max_choices: int
    items: tuple[Question, ...]

    @property
    def item_ids(self) -> list[str]:
        return [q.id for q in self.items]


def get_battery(name: str) -> Battery:
    """The bundled battery `name` (e.g. `child_qualities`) with its questions."""
    bank = load_question_bank()
    if name not in bank.batteries:
        raise ConfigError(f"battery {name!r} is unknown — choose one of {', '.join(bank.batteries)}")
    spec = bank.batteries[name]
    return Battery(name=spec.name, stem=spec.stem, max_choices=spec.max_choices,
                   items=tuple(bank.get(qid) for qid in spec.items))


def split_batteries(questions: Sequence[Question], form: BatteryForm = DEFAULT_BATTERY_FORM
                    ) -> tuple[list[Battery], list[Question]]:
    """Split a selection into batteries asked as lists and questions asked one by one.

    Args:
        questions: the selected questions.
        form: `list` asks every battery with at least one selected item as a list; `per_item` asks all singly.

    Returns:
        (batteries, single questions in selection order).
    """
    if form == "per_item":
        return [], list(questions)
    if form != "list":
        raise ConfigError(f"battery_form {form!r} is unknown — choose list or per_item")
    selected = {q.id for q in questions}
    batteries = [get_battery(name) for name, spec in load_question_bank().batteries.items()
                 if selected & set(spec.items)]
    in_lists = {qid for b in batteries for qid in b.item_ids}
    return batteries, [q for q in questions if q.id not in in_lists]


def battery_messages(persona: Persona, strategy: Strategy, battery: Battery) -> list[Message]:
    """System prompt of `strategy` for `persona`, then the whole list (reasoning strategies reason first)."""
    user_template = LIST_REASONING_TEMPLATE if strategy.reasoning else LIST_TEMPLATE
    return _messages(persona, strategy, battery, user_template)


def battery_max_tokens(strategy: Strategy) -> int:
    """Room for up to five numbers (or names) after a direct prompt; the strategy's own budget when reasoning."""
    return strategy.max_tokens if strategy.reasoning else 48


def battery_scoring_request(persona: Persona, strategy: Strategy, battery: Battery) -> OptionScoringRequest:
    """Logprob mode: the persona's first choice, scored over the item numbers "1" … "n"."""
    if strategy.reasoning:
        raise ConfigError(f"strategy {strategy.name!r} reasons before answering — use --mode generate with it")
    messages = _messages(persona, strategy, battery, FIRST_CHOICE_TEMPLATE)
    return OptionScoringRequest(messages=messages, options=[str(i) for i in range(1, len(battery.items) + 1)])


def battery_prompt_refs(strategy: Strategy, mode: Literal["generate", "logprob"]) -> list[PromptRef]:
    """Templates behind a battery prompt, for provenance and the run fingerprint."""
    if mode == "logprob":
        user = FIRST_CHOICE_TEMPLATE
    else:
        user = LIST_REASONING_TEMPLATE if strategy.reasoning else LIST_TEMPLATE
    return [PromptRef(**load_template(n).provenance()) for n in (strategy.system_template, user)]


def _messages(persona: Persona, strategy: Strategy, battery: Battery, user_template: str) -> list[Message]:
    system = load_template(strategy.system_template).render(persona=persona)
    user = load_template(user_template).render(battery=battery)
    return [Message(role="system", content=system), Message(role="user", content=user)]


# ----------------------------------------------------------------------------------------------- logprob form


def mention_probabilities(first_choice_logprobs: Sequence[float], k: int) -> np.ndarray:
    """P(item i is among the first `k` named) when items are named one by one without replacement (Plackett–Luce).

    Args:
        first_choice_logprobs: log-probabilities (any constant offset) of naming each item first.
        k: how many items are named (capped at the number of items).

    Returns:
        One probability per item; they sum to min(k, n).
    """
    values = np.asarray(first_choice_logprobs, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"first-choice log-probabilities must be finite and non-empty, got {values.tolist()}")
    weights = np.exp(values - values.max())
    weights /= weights.sum()
    n, k = values.size, min(k, values.size)
    # reach[mask] = probability that the first popcount(mask) picks are exactly the items in mask (any order)
    reach = np.zeros(1 << n)
    reach[0] = 1.0
    mentioned = np.zeros(n)
    masks_by_size: list[list[int]] = [[] for _ in range(n + 1)]
    for mask in range(1 << n):
        masks_by_size[mask.bit_count()].append(mask)
    for size in range(k):
        for mask in masks_by_size[size]:
            if reach[mask] == 0.0:
                continue
            left = 1.0 - sum(weights[i] for i in range(n) if mask >> i & 1)
            for i in range(n):
                if not mask >> i & 1 and left > 0:
                    reach[mask | 1 << i] += reach[mask] * weights[i] / left
    for mask in masks_by_size[k]:
        for i in range(n):
            if mask >> i & 1:
                mentioned[i] += reach[mask]
    return np.clip(mentioned, 0.0, 1.0)


def battery_answers_from_logprobs(first_choice_logprobs: Sequence[float], battery: Battery
                                  ) -> dict[str, dict[str, object]]:
    """Per item: `option_probs` {"1": P(mentioned), "2": 1 − P}, and `prediction` (1 for the k most probable).

    Args:
        first_choice_logprobs: what `score_options` returned for `battery_scoring_request`.
        battery: the battery that was asked.

    Returns:
        {question id: {"option_probs": {...}, "prediction": 1 | 2}} for every item of the battery.
    """
    p = mention_probabilities(first_choice_logprobs, battery.max_choices)
    order = np.argsort(-np.asarray(first_choice_logprobs, dtype=np.float64), kind="stable")
    top = set(order[:battery.max_choices].tolist())
    return {q.id: {"option_probs": {str(MENTIONED): float(p[i]), str(NOT_MENTIONED): float(1.0 - p[i])},
                   "prediction": MENTIONED if i in top else NOT_MENTIONED}
            for i, q in enumerate(battery.items)}


# ----------------------------------------------------------------------------------------------- parsing

_ANSWER_LINE = re.compile(r"^\W*answer\s*(?:is)?\s*[:：]\s*(.*)$", re.I | re.M)
_LEAD_IN = re.compile(r"^\s*(?:answer|my answer|my choices?|i choose|chosen|choices?)\s*(?:is|are)?\s*[:：]?\s*", re.I)
_NONE = re.compile(r"^\s*(?:none|none of them|none of these|nothing)\s*[.!]?\s*$", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|except|without|but|neither|nor|instead|or|exclude|excluding|don't|"
                       r"doesn't|won't|isn't)\b|n't\b", re.I)
_SEPARATORS = re.compile(r"\s*(?:[,;/&+\n]|\band\b)\s*", re.I)
_SEGMENT = re.compile(r"[-*•]?\s*(?:#?(\d+)\s*[.):\-]?\s*)?(?:\(?\s*\ue000(\d+)\ue001\s*\)?)?\s*[.!]?")


def _aliases(battery: Battery) -> dict[str, int]:
    """Lower-case names a reply may use for each item (1-based): the full text and its obvious parts."""
    names: dict[str, int] = {}
    for index, q in enumerate(battery.items, start=1):
        text = q.text.casefold().rstrip(".")
        candidates = {text, text.split("(")[0], text.split(",")[0]}
        candidates |= set(re.findall(r"\(([^)]*)\)", text))
        for name in candidates:
            name = name.strip()
            if len(name) >= 4:
                names.setdefault(name, index)
    return names


def parse_battery(text: str, battery: Battery, reasoning: bool = False) -> tuple[dict[str, int] | None, str | None]:
    """({question id: 1 mentioned | 2 not mentioned} for every item, None) or (None, reason). Never guesses.

    Accepted: item numbers or item names separated by commas, "and", semicolons or lines ("1, 4, 9",
    "3. Hard work; 9. Obedience", "Good manners and Imagination"), or "none". Failures: more than
    `max_choices` items, numbers outside the list, a number whose attached name is another item (contradiction),
    negations or alternatives ("all but 3", "1 or 2"), "none" together with items, anything else left over.
    Reasoning answers: the last "Answer: …" line is parsed.
    """
    body = text.replace("\ue000", " ").replace("\ue001", " ").strip()
    if not body:
        return None, "empty answer"
    if reasoning:
        found = _ANSWER_LINE.findall(body)
        if not found:
            return None, "no 'Answer: …' line"
        body = found[-1]
    body = body.replace("’", "'").replace("**", "").replace("`", "").strip()
    if _NONE.match(body):
        return {q.id: NOT_MENTIONED for q in battery.items}, None
    names = _aliases(battery)
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    body = re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", lambda m: f" \ue000{names[m.group(0).casefold()]}\ue001 ", body,
                  flags=re.I)
    negation = _NEGATION.search(body)
    if negation:
        return None, f"negation or alternative {negation.group(0)!r} in the answer — not parsed"
    body = _LEAD_IN.sub("", body, count=1)
    chosen: set[int] = set()
    for segment in _SEPARATORS.split(body):
        segment = segment.strip()
        if not segment:
            continue
        if _NONE.match(segment):
            return None, "contradiction: 'none' together with chosen qualities"
        match = _SEGMENT.fullmatch(segment)
        if not match or not (match.group(1) or match.group(2)):
            return None, f"unparseable part {segment.replace(chr(0xE000), '').replace(chr(0xE001), '')!r}"
        number, named = match.group(1), match.group(2)
        if number and named and int(number) != int(named):
            return None, (f"contradiction: number {number} is not "
                          f"{battery.items[int(named) - 1].text!r}")
        index = int(number or named)
        if not 1 <= index <= len(battery.items):
            return None, f"unknown item {index} (the list has 1-{len(battery.items)})"
        chosen.add(index)
    if not chosen:
        return None, "nothing parseable"
    if len(chosen) > battery.max_choices:
        return None, f"{len(chosen)} qualities chosen, at most {battery.max_choices} allowed"
    return {q.id: MENTIONED if i in chosen else NOT_MENTIONED for i, q in enumerate(battery.items, start=1)}, None
