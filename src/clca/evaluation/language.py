"""Native-language evaluation: translation files, language resolution, native prompts and answer parsing.

A translation file (`clca/data/wvs/translations/<BCP-47 tag>.yaml`, or one made by `clca translate`) holds, for
one language, the option labels of each scale, the battery stems, every question's item text, the persona
sentences, the demographic value labels, the answer instruction and the parser's words (prefixes, refusals).
Every item records its provenance; a file with unreviewed or flagged items is refused unless the caller passes
`allow_unreviewed=True`. Loading checks each translated question against the English bank: the same codes in the
same order, so a translated option can never shift a code.

API for the evaluation (the runner/strategies wire these in):
- `resolve_language(language, culture)` → "en" or a tag with a translation ("native" = the culture card's first).
- `load_translation(tag_or_path, allow_unreviewed=False)` → `Translation`.
- `translate_question(question, translation)` → the same `Question` with stem, text and option labels translated.
- `translate_persona(persona, translation)` → the same `Persona` with labels and demographic values translated.
- `native_system_prompt(...)`, `native_question_prompt(...)`, `native_prompt_refs(...)` → what the model reads.
- `parse_native_answer(text, question, translation, reasoning=False)` → (code, None) or (None, reason).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clca.errors import ConfigError
from clca.evaluation import personas as en
from clca.evaluation.personas import Persona
from clca.evaluation.questions import Question, load_question_bank
from clca.llm.base import ModelIdentity
from clca.paths import PACKAGE_DATA_DIR
from clca.prompts import load_template
from clca.records import PromptRef

TRANSLATIONS_DIR = PACKAGE_DATA_DIR / "wvs" / "translations"
ENGLISH = "en"
SYSTEM_TEMPLATES = {"persona": "eval_persona_system_native.v1", "cultural": "eval_cultural_system_native.v1"}
QUESTION_TEMPLATES = {False: "eval_question_native.v1", True: "eval_question_reasoning_native.v1"}


class TranslationError(ConfigError):
    """A translation file is missing, malformed, inconsistent with the question bank, or not reviewed."""


# ----------------------------------------------------------------------------------------------- schema


class ItemProvenance(BaseModel):
    """How one translated item was produced and checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: str  # "written-for-clca" | "machine-translated" (clca translate)
    checked_against: str | None = None
    reviewed: bool = False  # a person checked it against the English master wording
    notes: str | None = None
    model: ModelIdentity | None = None  # the teacher model, for machine translations
    prompts: list[PromptRef] = Field(default_factory=list)
    back_translation: str | None = None
    round_trip: float | None = None  # chrF-style similarity of the back-translation to the English original
    flags: list[str] = Field(default_factory=list)  # automatic-check findings that need a reviewer


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    provenance: ItemProvenance


class TranslatedText(_Item):
    text: str


class TranslatedScale(_Item):
    options: dict[int, str]
    aliases: dict[int, list[str]] = Field(default_factory=dict)  # other renderings the parser accepts


class TranslatedQuestion(_Item):
    stem: str  # key into `Translation.stems`
    scale: str  # key into `Translation.scales`
    text: str


class AnswerInstruction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    direct: TranslatedText  # "{codes}" is replaced by the option codes
    reasoning: TranslatedText
    answer_word: str  # the word of the final "Answer: N" line


class PersonaText(_Item):
    separator: str  # between a field label and its value (": " or "：")
    background_intro: str
    country_only: str  # "{in_country}" placeholder
    closing: str
    cultural: str  # "{in_country}" placeholder
    age: str  # "{age}" placeholder
    household_one: str
    household_other: str  # "{n}" placeholder
    fields: dict[str, str]  # English field label (personas.py) -> label in the language


class CountryName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str
    in_country: str = Field(alias="in")  # the locative phrase ("in Deutschland", "en México", "日本")


class DemographicLabels(_Item):
    SEX: dict[int, str]
    BORN: dict[int, str]
    MARITAL: dict[int, str]
    EDUCATION: dict[int, str]
    EMPLOYMENT: dict[int, str]
    PROFESSION: dict[int, str]
    SOCIAL_CLASS: dict[int, str]
    SETTLEMENT: dict[int, str]
    URBAN_RURAL: dict[int, str]
    AGE_BAND: dict[int, str]


class ParsingRules(_Item):
    prefixes: list[str] = Field(default_factory=list)  # stripped before matching ("Antwort:", "我选")
    suffixes: list[str] = Field(default_factory=list)  # stripped after ("です", "。")
    refusals: list[str] = Field(default_factory=list)  # any of these in a reply makes it invalid


class Translation(BaseModel):
    """One language's translation file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: str  # BCP-47 tag
    name: str
    english_name: str
    answer_instruction: AnswerInstruction
    scales: dict[str, TranslatedScale]
    stems: dict[str, TranslatedText]
    questions: dict[str, TranslatedQuestion]
    persona: PersonaText
    countries: dict[str, CountryName]
    labels: DemographicLabels
    parsing: ParsingRules
    source: str = ""  # file path it was loaded from
    sha256: str = ""  # of the file's bytes: recorded in every prompt's provenance

    def items(self) -> list[tuple[str, _Item]]:
        """Every item with provenance, named as in the file (`questions.Q1`, `scales.agree4`, …)."""
        found: list[tuple[str, _Item]] = [("answer_instruction.direct", self.answer_instruction.direct),
                                          ("answer_instruction.reasoning", self.answer_instruction.reasoning),
                                          ("persona", self.persona), ("labels", self.labels),
                                          ("parsing", self.parsing)]
        for section in ("scales", "stems", "questions"):
            found += [(f"{section}.{key}", item) for key, item in getattr(self, section).items()]
        return found

    def unreviewed(self) -> list[str]:
        """Names of items not reviewed by a person or flagged by an automatic check."""
        return [name for name, item in self.items() if not item.provenance.reviewed or item.provenance.flags]


# ----------------------------------------------------------------------------------------------- loading


def bundled_languages() -> list[str]:
    """Tags of the translations shipped with clca."""
    return sorted(p.stem for p in TRANSLATIONS_DIR.glob("*.yaml"))


def _bundled_path(tag: str) -> Path | None:
    """The bundled file for a tag: exact (case-insensitive) or the only one with that primary subtag (`zh`)."""
    tags = bundled_languages()
    exact = [t for t in tags if t.lower() == tag.lower()]
    prefix = [t for t in tags if t.split("-")[0].lower() == tag.split("-")[0].lower()]
    if exact:
        return TRANSLATIONS_DIR / f"{exact[0]}.yaml"
    if "-" not in tag and len(prefix) == 1:
        return TRANSLATIONS_DIR / f"{prefix[0]}.yaml"
    return None


def load_translation(language: str | Path, allow_unreviewed: bool = False) -> Translation:
    """Load and check a translation: a bundled tag (`de`, `zh-Hans`, `zh`) or a path to a YAML file.

    Args:
        language: a BCP-47 tag of a bundled translation, or the path of a translation file.
        allow_unreviewed: accept items that are unreviewed or flagged by `clca translate`'s checks.

    Returns:
        The translation, checked against the English question bank.

    Raises:
        TranslationError: unknown language, malformed file, codes that differ from the English scale, or
            unreviewed/flagged items without `allow_unreviewed`.
    """
    path = Path(language) if str(language).endswith((".yaml", ".yml")) else _bundled_path(str(language))
    if path is None:
        raise TranslationError(f"language {language!r}: no bundled translation (bundled: "
                               f"{', '.join(bundled_languages())}); make one with `clca translate` and pass its path")
    try:
        stat = path.stat()
    except OSError as exc:
        raise TranslationError(f"translation {path}: cannot read ({exc.strerror})") from None
    translation = _load_file(path, stat.st_mtime_ns, stat.st_size)
    pending = translation.unreviewed()
    if pending and not allow_unreviewed:
        raise TranslationError(
            f"{path}: {len(pending)} translated items are unreviewed or flagged (e.g. {', '.join(pending[:3])}); "
            "review them and set `reviewed: true`, or pass allow_unreviewed / --allow-unreviewed-translation")
    return translation


@lru_cache(maxsize=16)
def _load_file(path: Path, mtime_ns: int, size: int) -> Translation:
    """Parse and check once per file version (the stat values are the cache key, so an edited file reloads)."""
    try:
        raw_bytes = path.read_bytes()
        raw = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TranslationError(f"translation {path}: cannot read ({exc})") from None
    if not isinstance(raw, dict):
        raise TranslationError(f"translation {path}: not a YAML mapping")
    raw.pop("ok", None)  # the file's YAML anchor for the common provenance record
    try:
        translation = Translation(**raw, source=str(path), sha256=hashlib.sha256(raw_bytes).hexdigest())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TranslationError(f"translation {path}: {where}: {first['msg']}") from None
    check_translation(translation)
    return translation


def check_translation(translation: Translation) -> None:
    """Check a translation against the English bank: codes per question, references, unique answer forms.

    Raises:
        TranslationError: on the first inconsistency, naming the item.
    """
    where = translation.source or translation.language
    bank = load_question_bank()
    for qid, item in translation.questions.items():
        if item.scale not in translation.scales or item.stem not in translation.stems:
            raise TranslationError(f"translation {where}: questions.{qid} names an unknown scale or stem")
        scale = translation.scales[item.scale]
        if not item.text.strip() or not translation.stems[item.stem].text.strip() or not all(scale.options.values()):
            raise TranslationError(f"translation {where}: questions.{qid} has an empty text, stem or option "
                                   "(a failed translation); fill it in or rerun `clca translate`")
        codes = list(scale.options)
        if codes != bank.get(qid).codes:
            raise TranslationError(f"translation {where}: questions.{qid}: option codes {codes} differ from the "
                                   f"English scale's {bank.get(qid).codes}")
    for name, scale in translation.scales.items():
        seen: dict[str, int] = {}
        for code, forms in _scale_forms(scale, translation.parsing).items():
            for form in forms:
                if seen.setdefault(form, code) != code:
                    raise TranslationError(f"translation {where}: scales.{name}: {form!r} is an answer form of "
                                           f"both {seen[form]} and {code}")


# ----------------------------------------------------------------------------------------------- resolution


def resolve_language(language: str, culture: str) -> str:
    """The language to evaluate a culture in: "en", or the tag of a translation to load.

    Args:
        language: `en`, `native` (the culture card's first language) or a BCP-47 tag.
        culture: ISO 3166 alpha-3 code of the culture being evaluated.

    Returns:
        "en", or a BCP-47 tag (for `native`, the card's tag; bundled files also match by primary subtag).

    Raises:
        TranslationError: `native` for a culture without a card language tag.
    """
    value = language.strip()
    if value.lower() in ("en", "english") or value.lower().startswith("en-"):
        return ENGLISH
    if value.lower() != "native":
        return value
    from clca.cultures.cards import get_culture  # below the stages: cards are data, imported only when needed

    tags = get_culture(culture).language_tags
    if not tags:
        raise TranslationError(f"language native: the culture card of {culture} names no language; "
                               "set language to a BCP-47 tag such as de")
    return ENGLISH if tags[0].split("-")[0] == "en" else tags[0]


def resolve_languages(languages: list[str], culture: str) -> list[str]:
    """Several configured languages resolved for a culture: English first, each once (`[en, native]` → `[en, de]`)."""
    resolved = [resolve_language(language, culture) for language in languages]
    return sorted(set(resolved), key=lambda tag: (tag != ENGLISH, resolved.index(tag)))


# ----------------------------------------------------------------------------------------------- prompts


def translate_question(question: Question, translation: Translation) -> Question:
    """The question with its stem, item text and option labels in the translation's language.

    Args:
        question: a question from the English bank.
        translation: a loaded translation.

    Returns:
        A copy with the same id, codes, scale type and direction.

    Raises:
        TranslationError: the question is not in the translation.
    """
    item = translation.questions.get(question.id)
    if item is None:
        raise TranslationError(f"translation {translation.language}: question {question.id} is not translated")
    scale = translation.scales[item.scale]
    return question.model_copy(update={"stem": translation.stems[item.stem].text, "text": item.text,
                                       "options": dict(scale.options)})


_FIELD_TABLES: dict[str, tuple[str, dict[int, str]]] = {
    "sex": ("SEX", en.SEX), "born in country": ("BORN", en.BORN), "marital status": ("MARITAL", en.MARITAL),
    "education": ("EDUCATION", en.EDUCATION), "employment": ("EMPLOYMENT", en.EMPLOYMENT),
    "profession": ("PROFESSION", en.PROFESSION), "social class": ("SOCIAL_CLASS", en.SOCIAL_CLASS),
}


def _translate_value(field: str, words: str, translation: Translation) -> str:
    """One persona value in the language, looked up by its WVS code (never left in English)."""
    labels = translation.labels
    if field in _FIELD_TABLES:
        table_name, english = _FIELD_TABLES[field]
        codes = [code for code, label in english.items() if label == words]
        if codes:
            return getattr(labels, table_name)[codes[0]]
    elif field == "settlement":
        for table_name, english in (("SETTLEMENT", en.SETTLEMENT), ("URBAN_RURAL", en.URBAN_RURAL)):
            codes = [code for code, label in english.items() if label == words]
            if codes:
                return getattr(labels, table_name)[codes[0]]
    elif field == "age" and words.endswith(" years old"):
        value = words.removesuffix(" years old")
        bands = [code for code, band in en.AGE_BAND.items() if band == value]
        return translation.persona.age.format(age=labels.AGE_BAND[bands[0]] if bands else value)
    elif field == "household size":
        n = int(words.split()[0])
        return translation.persona.household_one if n == 1 else translation.persona.household_other.format(n=n)
    raise TranslationError(f"translation {translation.language}: no translation for persona {field} {words!r}")


def _country(iso3: str, translation: Translation) -> CountryName:
    try:
        return translation.countries[iso3]
    except KeyError:
        raise TranslationError(f"translation {translation.language}: no name for country {iso3}; add it under "
                               "`countries:` in the translation file") from None


def translate_persona(persona: Persona, translation: Translation) -> Persona:
    """The persona with its field labels, country name and demographic values in the translation's language.

    Args:
        persona: an English persona from `clca.evaluation.personas`.
        translation: a loaded translation.

    Returns:
        A copy whose `fields` map translated labels to translated values, in the same order.

    Raises:
        TranslationError: a label, value or the country has no translation (nothing is left in English).
    """
    country = _country(persona.country, translation)
    fields: dict[str, str] = {}
    for field, words in persona.fields.items():
        label = translation.persona.fields.get(field)
        if label is None:
            raise TranslationError(f"translation {translation.language}: no label for persona field {field!r}")
        fields[label] = country.name if field == "country" else _translate_value(field, words, translation)
    return persona.model_copy(update={"country_name": country.name, "fields": fields})


def native_system_prompt(persona: Persona, translation: Translation, strategy: str = "persona") -> str:
    """The system prompt in the language: the `persona` (demographics) or `cultural` (country only) form.

    Args:
        persona: the English persona (translated here).
        translation: a loaded translation.
        strategy: `persona` or `cultural`.

    Returns:
        The rendered system prompt.
    """
    if strategy not in SYSTEM_TEMPLATES:
        raise ConfigError(f"strategy {strategy!r} has no native-language template ({', '.join(SYSTEM_TEMPLATES)})")
    text = translation.persona
    in_country = _country(persona.country, translation).in_country
    sentences = {"background_intro": text.background_intro, "closing": text.closing, "separator": text.separator,
                 "country_only": text.country_only.format(in_country=in_country),
                 "cultural": text.cultural.format(in_country=in_country)}
    return load_template(SYSTEM_TEMPLATES[strategy]).render(persona=translate_persona(persona, translation),
                                                          text=sentences)


def native_question_prompt(question: Question, translation: Translation, reasoning: bool = False) -> str:
    """The user prompt in the language: stem, item, numbered options and the answer instruction.

    Args:
        question: the English bank question.
        translation: a loaded translation.
        reasoning: the "reason, then Answer: N" form instead of a bare number.

    Returns:
        The rendered prompt.
    """
    instruction = translation.answer_instruction.reasoning if reasoning else translation.answer_instruction.direct
    codes = ", ".join(str(c) for c in question.codes)
    return load_template(QUESTION_TEMPLATES[reasoning]).render(
        question=translate_question(question, translation), instruction=instruction.text.format(codes=codes))


def native_prompt_refs(translation: Translation, strategy: str = "persona", reasoning: bool = False) -> list[PromptRef]:
    """Provenance of native prompts: both templates and the translation file's hash."""
    names = (SYSTEM_TEMPLATES[strategy], QUESTION_TEMPLATES[reasoning])
    return [*(PromptRef(**load_template(n).provenance()) for n in names),
            PromptRef(name=f"translation:{translation.language}", sha256=translation.sha256)]


# ----------------------------------------------------------------------------------------------- parsing

_CJK_NUMERALS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                 "八": 8, "九": 9, "十": 10}
_CJK_CHAR = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_COUNTERS = "番号項项个"
# A numeral run counts as a number only when it is not part of a word: after the start, a non-CJK char or 第,
# and before the end, a non-CJK char or a counter (番, 号, 项 …); "一点也不重要" keeps its 一.
_CJK_NUMBER = re.compile(
    rf"(?:(?<=第)|(?<![{_CJK_CHAR}]))([{''.join(_CJK_NUMERALS)}]+)(?=[{_COUNTERS}]|[^{_CJK_CHAR}]|$)")
_LATIN = "0-9a-z\u00df-\u024f"  # word characters of the Latin-script languages, case-folded
_INTEGER = re.compile(r"(?<![\d.])-?\d+(?![\d]|\.\d)")
_EDGES = " \t\n.,;:!?。、，；：！？\"'“”„«»「」『』()（）[]【】-–—…*#>"


def _cjk_value(run: str) -> int | None:
    """Value of a CJK numeral run up to 99 ("三" 3, "十" 10, "十二" 12, "二十" 20); None if not a number."""
    if "十" not in run:
        return _CJK_NUMERALS[run] if len(run) == 1 else None
    tens, _, units = run.partition("十")
    if len(tens) > 1 or len(units) > 1 or "十" in units:
        return None
    return (_CJK_NUMERALS[tens] if tens else 1) * 10 + (_CJK_NUMERALS[units] if units else 0)


def normalise_reply(text: str) -> str:
    """NFKC (full-width ３ → 3, ： → :), case-folded, markdown emphasis dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("**", "").replace("`", "")
    return " ".join(folded.split())


def _scale_forms(scale: TranslatedScale, rules: ParsingRules) -> dict[int, set[str]]:
    """Every accepted rendering of each option: its label and aliases (numeric labels excluded), normalised and
    stripped of the language's answer prefixes/suffixes exactly as replies are."""
    forms = {code: {label} for code, label in scale.options.items() if not label.isdigit()}
    for code, aliases in scale.aliases.items():
        forms.setdefault(code, set()).update(aliases)
    return {code: {_strip_affixes(normalise_reply(f), rules) for f in found} for code, found in forms.items()}


def _strip_affixes(text: str, rules: ParsingRules) -> str:
    """Drop answer prefixes/suffixes and edge punctuation until nothing changes."""
    prefixes = sorted((normalise_reply(p) for p in rules.prefixes), key=len, reverse=True)
    suffixes = sorted((normalise_reply(s) for s in rules.suffixes), key=len, reverse=True)
    previous = None
    while previous != text:
        previous, text = text, text.strip(_EDGES)
        for p in prefixes:
            rest = text[len(p):]
            if text.startswith(p) and (not p[-1].isalnum() or not rest[:1].isalnum() or _is_cjk(p[-1])):
                text = rest
                break
        for s in suffixes:
            if s and text.endswith(s):
                text = text[: -len(s)]
                break
    return text


def _is_cjk(char: str) -> bool:
    return bool(re.match(f"[{_CJK_CHAR}]", char))


def _refusal(text: str, rules: ParsingRules) -> str | None:
    for marker in (normalise_reply(m) for m in rules.refusals):
        boundary = r"\b" if marker[:1].isascii() and marker[:1].isalnum() else ""
        if re.search(f"{boundary}{re.escape(marker)}{boundary if marker[-1:].isalnum() else ''}", text):
            return marker
    return None


def _form_code(text: str, forms: dict[int, set[str]]) -> int | None:
    return next((code for code, found in forms.items() if text in found), None)


def parse_native_answer(text: str, question: Question, translation: Translation,
                        reasoning: bool = False) -> tuple[int | None, str | None]:
    """Read a reply in the translation's language: (code, None) for one clear option, else (None, reason).

    Accepted: one number (ASCII, full-width ３ or a CJK numeral 三/第三/三番), optionally with its own option
    words; or, with no number, exactly one option's words in the language or in English ("stimme voll zu",
    "非常に重要", "muy importante") after the language's answer prefixes/suffixes. Refusals in the language,
    several numbers, a number with another option's words, or words that are not exactly an option → invalid.

    Args:
        text: the model's reply.
        question: the English bank question (its codes are the valid answers).
        translation: the translation the question was asked in.
        reasoning: the reply reasons first and ends with "<answer word>: N" (the last such line is read).

    Returns:
        (code, None) or (None, reason).
    """
    rules, stripped = translation.parsing, normalise_reply(text)
    if not stripped:
        return None, "empty answer"
    if reasoning:  # only the final answer line counts; the reasoning may say "I don't know exactly, but …"
        word = re.escape(normalise_reply(translation.answer_instruction.answer_word))
        found = re.findall(rf"(?:{word}|answer)\s*(?:is)?\s*[:：]\s*([^\n]+)", unicodedata.normalize("NFKC", text)
                           .casefold())
        if not found:
            marker = _refusal(stripped, rules)
            return None, f"refused ({marker!r})" if marker else \
                f"no '{translation.answer_instruction.answer_word}: N' line"
        stripped = normalise_reply(found[-1])
    if marker := _refusal(stripped, rules):
        return None, f"refused ({marker!r})"
    scale = translation.scales[translation.questions[question.id].scale] if question.id in translation.questions \
        else None
    forms = _scale_forms(scale, rules) if scale else {}
    for code, label in question.options.items():  # the English labels are exact answers too
        if not label.isdigit():
            forms.setdefault(code, set()).add(_strip_affixes(normalise_reply(label), rules))
    return _parse_core(_strip_affixes(stripped, rules), question.codes, forms, rules)


def _parse_core(core: str, codes: list[int], forms: dict[int, set[str]],
                rules: ParsingRules) -> tuple[int | None, str | None]:
    """Number first (one only), checked against any words; else the words must be exactly one option."""
    numbered = _CJK_NUMBER.sub(lambda m: f" {v} " if (v := _cjk_value(m.group(1))) is not None else m.group(1),
                               core)
    integers = {int(x) for x in _INTEGER.findall(numbered)}
    if len(integers) > 1:
        return None, f"ambiguous: several numbers {sorted(integers)}"
    if not integers:
        code = _form_code(core, forms)
        return (code, None) if code is not None else (None, "no option number or option words in the answer")
    value = integers.pop()
    if value not in codes:
        return None, f"{value} is not an option ({', '.join(map(str, codes))})"
    rest = _strip_affixes(_INTEGER.sub(" ", numbered).replace("第", " ").strip(f"{_EDGES}{_COUNTERS}"), rules)
    others = _mentioned_codes(rest.strip(f"{_EDGES}{_COUNTERS}"), forms) - {value}
    if others:
        return None, f"the number {value} and the words for option {min(others)} both appear"
    leftover = rest
    for form in sorted((f for found in forms.values() for f in found), key=len, reverse=True):
        leftover = leftover.replace(form, " ")
    if numeral := re.search(f"[{''.join(_CJK_NUMERALS)}]", leftover):  # "一还是2": a second, unbounded number
        return None, f"unclear: the numeral {numeral.group()!r} besides the number {value}"
    return value, None


def _mentioned_codes(text: str, forms: dict[int, set[str]]) -> set[int]:
    """Options whose words occur in the text; a match inside a longer match ("sehr wichtig" inside
    "nicht sehr wichtig") does not count, so negated labels are not read as their positive neighbour."""
    spans = []
    for code, found in forms.items():
        for form in found:
            edge = f"(?<![{_LATIN}])" if not _is_cjk(form[:1]) else ""
            tail = f"(?![{_LATIN}])" if not _is_cjk(form[-1:]) else ""
            spans += [(m.start(), m.end(), code) for m in re.finditer(f"{edge}{re.escape(form)}{tail}", text)]
    return {code for start, end, code in spans
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)}

