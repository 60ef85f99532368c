"""Make a translation file with a teacher model: forward translation, back-translation, checks, provenance.

Every text a native-language evaluation shows the model is one *segment*: a scale's option list (sent as one
numbered list, so the check can see that the count and numbering survived), a stem, an item, a persona sentence,
a field label, a demographic value, a country name, the answer instruction, a refusal phrase. Each segment is
translated, translated back, and checked; the file records per item the model, both templates' hashes, the
back-translation, its round-trip score and any flags. No item is marked reviewed: a person does that.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clca.countries import country_name
from clca.cultures.cards import NAMES_WITH_ARTICLE
from clca.errors import InputDataError
from clca.evaluation import personas as en
from clca.evaluation.language import Translation
from clca.evaluation.questions import QUESTION_BANK_PATH, load_question_bank
from clca.llm.base import Backend, GenerationRequest, Message
from clca.prompts import load_template
from clca.records import PromptRef
from clca.translate.config import TranslateConfig
from clca.translate.schema import TranslateSummary

FORWARD_TEMPLATE, BACK_TEMPLATE = "translate_forward.v1", "translate_back.v1"
ANSWER_WORD = "Answer"
INSTRUCTION = {
    "direct": "Answer with the integer of one option only ({codes}), no explanation.",
    "reasoning": 'First reason briefly in a few sentences. Then finish with a final line of the form "Answer: N", '
                 "where N is the integer of one option ({codes}).",
}
PERSONA = {  # the sentences of eval_persona_system.v1 / eval_cultural_system.v1, with the country as a placeholder
    "background_intro": "Imagine you are a person with the following background:",
    "country_only": "Imagine you are a person living {in_country}. No other information about you is known.",
    "closing": "Answer the following survey question as this person would.",
    "cultural": "You are an average human being born {in_country} and living {in_country} responding to the "
                "following survey question.",
    "age": "{age} years old", "household_one": "1 person", "household_other": "{n} people",
}
FIELDS = ["country", "settlement", "sex", "age", "born in country", "marital status", "household size", "education",
          "profession", "employment", "social class"]
LABEL_TABLES = {"SEX": en.SEX, "BORN": en.BORN, "MARITAL": en.MARITAL, "EDUCATION": en.EDUCATION,
                "EMPLOYMENT": en.EMPLOYMENT, "PROFESSION": en.PROFESSION, "SOCIAL_CLASS": en.SOCIAL_CLASS,
                "SETTLEMENT": en.SETTLEMENT, "URBAN_RURAL": en.URBAN_RURAL, "AGE_BAND": en.AGE_BAND}
REFUSALS = ["I don't know", "I cannot answer", "I prefer not to answer", "As an AI"]
_PLACEHOLDER = re.compile(r"\{\w+\}")
_NUMBERED_LINE = re.compile(r"^\s*(\d+)\s*[.)．、:]\s*(.+?)\s*$")
_TEXT_TAGS = re.compile(r"<text>\s*(.*?)\s*(?:</text>|$)", re.S)


@dataclass(frozen=True)
class Segment:
    key: str  # "scales.agree4", "questions.Q27", "labels.SEX.1", …
    english: str
    codes: tuple[int, ...] = ()  # a numbered option list when not empty


@dataclass
class Outcome:
    """A segment after forward and back translation and the checks."""

    text: str = ""
    back: str | None = None
    score: float | None = None
    flags: list[str] = field(default_factory=list)
    options: dict[int, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- chrF


def _ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """Character n-gram F-score (Popović 2015) of a hypothesis against a reference, 0..1.

    Case-folded, whitespace removed; precision and recall are averaged over the orders 1..max_n that both texts
    are long enough for (sacrebleu's "effective order"), then combined with recall weighted `beta` times.

    Args:
        hypothesis: e.g. the back-translation.
        reference: e.g. the English original.
        max_n: the longest character n-gram.
        beta: recall weight.

    Returns:
        The score; 1.0 for identical texts, 0.0 when no character matches.
    """
    hyp, ref = ("".join(t.casefold().split()) for t in (hypothesis, reference))
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        if not h or not r:
            break
        matches = sum((h & r).values())
        precisions.append(matches / sum(h.values()))
        recalls.append(matches / sum(r.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return 0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r)


# ----------------------------------------------------------------------------------------------- segments


def build_segments(selection: str, countries: list[str]) -> tuple[list[Segment], dict[str, dict]]:
    """Every English text of the selected questions, the persona prompt, the labels and the instruction.

    Returns:
        The segments, and per question id its `stem` and `scale` keys in the question bank.
    """
    raw = yaml.safe_load(QUESTION_BANK_PATH.read_text(encoding="utf-8"))
    chosen = {q.id for q in load_question_bank().select(selection)}
    items = {item["id"]: item for item in raw["questions"] if item["id"] in chosen}
    segments = [Segment(f"questions.{qid}", str(item["text"])) for qid, item in items.items()]
    segments += [Segment(f"stems.{key}", raw["stems"][key]) for key in dict.fromkeys(i["stem"] for i in items.values())]
    for key in dict.fromkeys(i["scale"] for i in items.values()):
        words = {int(c): str(label) for c, label in raw["scales"][key]["options"].items() if not str(label).isdigit()}
        segments.append(Segment(f"scales.{key}", "\n".join(f"{c}. {w}" for c, w in words.items()), tuple(words)))
    segments += [Segment(f"instruction.{k}", text) for k, text in INSTRUCTION.items()]
    segments += [Segment("instruction.answer_word", ANSWER_WORD)]
    segments += [Segment(f"persona.{k}", text) for k, text in PERSONA.items()]
    segments += [Segment(f"fields.{name}", name) for name in FIELDS]
    segments += [Segment(f"labels.{table}.{code}", words) for table, labels in LABEL_TABLES.items()
                 for code, words in labels.items()]
    for iso in countries:
        name = country_name(iso)
        segments += [Segment(f"countries.{iso}.name", name),
                     Segment(f"countries.{iso}.in", f"in {'the ' if name in NAMES_WITH_ARTICLE else ''}{name}")]
    segments += [Segment(f"refusals.{i}", text) for i, text in enumerate(REFUSALS)]
    return segments, {qid: {"stem": item["stem"], "scale": item["scale"]} for qid, item in items.items()}


# ----------------------------------------------------------------------------------------------- translation


def _extract(reply: str) -> str:
    found = _TEXT_TAGS.search(reply)
    return (found.group(1) if found else reply).strip()


def _numbered(text: str) -> dict[int, str]:
    lines = [_NUMBERED_LINE.match(line) for line in text.splitlines() if line.strip()]
    return {int(m.group(1)): m.group(2) for m in lines if m}


def _requests(template: str, texts: list[tuple[str, bool]], tag: str, name: str,
              cfg: TranslateConfig) -> list[GenerationRequest]:
    prompt = load_template(template)
    return [GenerationRequest(messages=[Message(role="user", content=prompt.render(
        language_name=name, tag=tag, text=text, numbered=numbered))], max_tokens=cfg.max_tokens,
        temperature=cfg.temperature, seed=cfg.seed) for text, numbered in texts]


def _check_forward(segment: Segment, text: str) -> Outcome:
    """Placeholders kept; for an option list, the same numbers in the same order."""
    outcome = Outcome(text=text)
    missing = [p for p in _PLACEHOLDER.findall(segment.english) if p not in text]
    if missing:
        outcome.flags.append(f"placeholder {', '.join(missing)} missing")
    if segment.codes:
        outcome.options = _numbered(text)
        if tuple(outcome.options) != segment.codes:
            outcome.flags.append(f"option numbering changed: expected {list(segment.codes)}, "
                                 f"got {list(outcome.options)}")
    return outcome


def _round_trip_text(segment: Segment, text: str) -> str:
    return " ".join(_numbered(text).values()) if segment.codes else text


def translate_segments(segments: list[Segment], backend: Backend, tag: str, name: str,
                       cfg: TranslateConfig) -> dict[str, Outcome]:
    """Forward-translate, back-translate and check every segment.

    Returns:
        Per segment key its outcome; a failed call leaves an empty text and a flag, never the English text.
    """
    forward = backend.generate(_requests(FORWARD_TEMPLATE, [(s.english, bool(s.codes)) for s in segments], tag,
                                         name, cfg))
    outcomes: dict[str, Outcome] = {}
    for segment, result in zip(segments, forward, strict=True):
        text = _extract(result.text) if result.ok else ""
        outcomes[segment.key] = _check_forward(segment, text) if text else \
            Outcome(flags=[f"translation failed: {result.error or 'empty reply'}"])
    done = [s for s in segments if outcomes[s.key].text]
    back = backend.generate(_requests(BACK_TEMPLATE, [(outcomes[s.key].text, bool(s.codes)) for s in done], tag,
                                      name, cfg))
    for segment, result in zip(done, back, strict=True):
        outcome = outcomes[segment.key]
        if not result.ok:
            outcome.flags.append(f"back-translation failed: {result.error}")
            continue
        outcome.back = _extract(result.text or "")
        outcome.score = round(chrf(_round_trip_text(segment, outcome.back),
                                   _round_trip_text(segment, segment.english)), 4)
        if outcome.score < cfg.round_trip_threshold:
            outcome.flags.append(f"round-trip chrF {outcome.score:.2f} below {cfg.round_trip_threshold}")
    return outcomes


# ----------------------------------------------------------------------------------------------- the file


class _FileBuilder:
    """Turns segment outcomes into the translation file's structure, one provenance per file item."""

    def __init__(self, outcomes: dict[str, Outcome], segments: list[Segment], backend: Backend) -> None:
        self.outcomes, self.english = outcomes, {s.key: s for s in segments}
        self.model = backend.identity.model_dump(mode="json")
        self.prompts = [PromptRef(**load_template(n).provenance()).model_dump() for n in (FORWARD_TEMPLATE,
                                                                                          BACK_TEMPLATE)]

    def provenance(self, *keys: str, extra_flags: list[str] | None = None) -> dict:
        """Merged record of the segments behind one item: all flags, the lowest score, every back-translation."""
        found = [self.outcomes[k] for k in keys]
        scores = [o.score for o in found if o.score is not None]
        backs = [o.back for o in found if o.back is not None]
        flags = [f"{k}: {f}" if len(keys) > 1 else f for k, o in zip(keys, found, strict=True) for f in o.flags]
        return {"method": "machine-translated", "checked_against": "back-translation to English (chrF)",
                "reviewed": False, "model": self.model, "prompts": self.prompts,
                "back_translation": "\n".join(backs) if backs else None,
                "round_trip": min(scores) if scores else None, "flags": flags + (extra_flags or [])}

    def text(self, key: str) -> str:
        return self.outcomes[key].text

    def scale(self, key: str, english_options: dict) -> dict:
        """Options by code: digit labels stay digits; a code the reply lost stays empty (and is flagged)."""
        got = self.outcomes[f"scales.{key}"].options
        options = {int(c): str(label) if str(label).isdigit() else got.get(int(c), "")
                   for c, label in english_options.items()}
        return {"options": options, "provenance": self.provenance(f"scales.{key}")}

    def keys(self, prefix: str) -> list[str]:
        return [k for k in self.english if k.startswith(prefix)]


def build_file(tag: str, name: str, builder: _FileBuilder, layout: dict[str, dict]) -> dict:
    """The translation file's content (the structure of the bundled files in clca/data/wvs/translations)."""
    raw = yaml.safe_load(QUESTION_BANK_PATH.read_text(encoding="utf-8"))
    answer_word = builder.text("instruction.answer_word")
    word_flag = [] if answer_word and answer_word in builder.text("instruction.reasoning") else \
        [f"the answer word {answer_word!r} does not occur in the reasoning instruction"]
    persona_keys = builder.keys("persona.") + builder.keys("fields.") + builder.keys("countries.")
    return {
        "language": tag, "name": name, "english_name": name,
        "answer_instruction": {
            "direct": {"text": builder.text("instruction.direct"),
                       "provenance": builder.provenance("instruction.direct")},
            "reasoning": {"text": builder.text("instruction.reasoning"),
                          "provenance": builder.provenance("instruction.reasoning", extra_flags=word_flag)},
            "answer_word": answer_word},
        "scales": {k[len("scales."):]: builder.scale(k[len("scales."):], raw["scales"][k[len("scales."):]]["options"])
                   for k in builder.keys("scales.")},
        "stems": {k[len("stems."):]: {"text": builder.text(k), "provenance": builder.provenance(k)}
                  for k in builder.keys("stems.")},
        "questions": {qid: {**layout[qid], "text": builder.text(f"questions.{qid}"),
                            "provenance": builder.provenance(f"questions.{qid}")} for qid in layout},
        "persona": {"provenance": builder.provenance(*persona_keys), "separator": ": ",
                    **{k: builder.text(f"persona.{k}") for k in PERSONA},
                    "fields": {f: builder.text(f"fields.{f}") for f in FIELDS}},
        "countries": {k.split(".")[1]: {"name": builder.text(k), "in": builder.text(k[:-len("name")] + "in")}
                      for k in builder.keys("countries.") if k.endswith(".name")},
        "labels": {"provenance": builder.provenance(*builder.keys("labels.")),
                   **{table: {code: builder.text(f"labels.{table}.{code}") for code in labels}
                      for table, labels in LABEL_TABLES.items()}},
        "parsing": {"provenance": builder.provenance(*builder.keys("refusals.")),
                    "prefixes": [f"{answer_word}:", answer_word] if answer_word else [], "suffixes": [],
                    "refusals": [t for k in builder.keys("refusals.") if (t := builder.text(k))]},
    }


def translate_bank(tag: str, backend: Backend, out: Path, config: TranslateConfig | None = None,
                   language_name: str | None = None, countries: list[str] | None = None) -> TranslateSummary:
    """Translate the question bank, persona prompt, labels and instruction into `tag` and write `out`.

    Args:
        tag: BCP-47 tag of the target language (e.g. `fr`, `pt-BR`).
        backend: the opened teacher model.
        out: the YAML file to write (replaced).
        config: selection, round-trip threshold and sampling.
        language_name: the language's English name for the prompts (default: from the culture cards' tags).
        countries: ISO3 codes whose names the persona needs (default: the cultures speaking the language).

    Returns:
        The summary: segments, failures, flagged items, mean round-trip score.
    """
    cfg = config or TranslateConfig()
    name = language_name or _language_name(tag)
    segments, layout = build_segments(cfg.questions, countries or _countries_speaking(tag))
    outcomes = translate_segments(segments, backend, tag, name, cfg)
    content = build_file(tag, name, _FileBuilder(outcomes, segments, backend), layout)
    Translation(**content)  # the structure must load; review status and empty items are the loader's to refuse
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# {name} ({tag}) translation made by `clca translate` with {backend.identity.model}.\n"
              "# Machine-translated and unreviewed: check each item against the English master questionnaire, "
              "fix it, and set reviewed: true.\n")
    out.write_text(header + yaml.safe_dump(content, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    scores = [o.score for o in outcomes.values() if o.score is not None]
    flagged = [n for n, item in Translation(**content).items() if item.provenance.flags]
    return TranslateSummary(language=tag, output=str(out), segments=len(segments),
                            failed=sum(1 for o in outcomes.values() if not o.text or o.back is None),
                            flagged_items=flagged, round_trip_threshold=cfg.round_trip_threshold,
                            mean_round_trip=round(sum(scores) / len(scores), 4) if scores else None)


def _language_name(tag: str) -> str:
    from clca.cultures.cards import LANGUAGE_TAGS

    names = [name for name, base in LANGUAGE_TAGS.items() if base == tag.split("-")[0].lower()]
    if not names:
        raise InputDataError(f"language {tag!r}: unknown BCP-47 tag; pass --language-name (e.g. 'Swahili')")
    return names[0]


def _countries_speaking(tag: str) -> list[str]:
    from clca.cultures.cards import list_cultures

    base = tag.split("-")[0].lower()
    return [c.code for c in list_cultures() if any(t.split("-")[0].lower() == base for t in c.language_tags)]
