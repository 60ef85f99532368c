"""Native-language evaluation: the bundled translations, language resolution, native prompts and answer parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clca.evaluation import personas as en
from clca.evaluation.language import (
    TRANSLATIONS_DIR,
    TranslationError,
    bundled_languages,
    load_translation,
    native_prompt_refs,
    native_question_prompt,
    native_system_prompt,
    normalise_reply,
    parse_native_answer,
    resolve_language,
    translate_persona,
    translate_question,
)
from clca.evaluation.personas import country_only_persona, persona_from_respondent
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import Respondent

LANGUAGES = {"de": "DEU", "es-MX": "MEX", "zh-Hans": "CHN", "ja": "JPN"}
BANK = load_question_bank()
REQUIRED = [*BANK.sets["social-values"], *BANK.sets["q50"]]
FULL_DEMOGRAPHICS = {"H_SETTLEMENT": 1, "Q260": 2, "Q262": 37, "Q263": 2, "Q273": 2, "Q270": 3, "Q275": 6,
                     "Q281": 5, "Q279": 1, "Q287": 3}


# ------------------------------------------------------------------------------------------------ the data


def test_the_four_languages_are_bundled() -> None:
    assert bundled_languages() == sorted(LANGUAGES)


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_item_is_translated_with_the_english_codes_and_reviewed_provenance(tag: str) -> None:
    t = load_translation(tag)
    for qid in REQUIRED:
        question = BANK.get(qid)
        translated = translate_question(question, t)
        assert list(translated.options) == question.codes  # same count, same numbering, same order
        assert translated.text and translated.stem and translated.text != question.text or qid in ("Q4", "Q6")
    for name, item in t.items():
        assert item.provenance.reviewed and not item.provenance.flags, name
        assert item.provenance.method == "written-for-clca", name
        assert item.provenance.checked_against == "WVS-7 master questionnaire (English)", name
    assert t.unreviewed() == []


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_demographic_label_has_a_translation(tag: str) -> None:
    labels = load_translation(tag).labels
    for table, english in [("SEX", en.SEX), ("BORN", en.BORN), ("MARITAL", en.MARITAL), ("EDUCATION", en.EDUCATION),
                           ("EMPLOYMENT", en.EMPLOYMENT), ("PROFESSION", en.PROFESSION),
                           ("SOCIAL_CLASS", en.SOCIAL_CLASS), ("SETTLEMENT", en.SETTLEMENT),
                           ("URBAN_RURAL", en.URBAN_RURAL), ("AGE_BAND", en.AGE_BAND)]:
        assert set(getattr(labels, table)) == set(english), table


@pytest.mark.parametrize("tag", LANGUAGES)
def test_translations_were_written_in_the_language_not_left_in_english(tag: str) -> None:
    t = load_translation(tag)
    same = [qid for qid in REQUIRED if translate_question(BANK.get(qid), t).text == BANK.get(qid).text]
    assert same in ([], ["Q6"], ["Q4", "Q6"])  # "Religion" / "Politik"-like cognates only
    if tag in ("zh-Hans", "ja"):  # every item text carries CJK characters
        assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", t.questions[q].text) for q in REQUIRED)


def test_simplified_chinese_uses_simplified_characters() -> None:
    text = TRANSLATIONS_DIR.joinpath("zh-Hans.yaml").read_text(encoding="utf-8")
    traditional = "們這個會來說對國時與為還經過麼樣選擇關學問題響應"  # common traditional-only forms
    assert [c for c in traditional if c in text] == []


def test_mexican_spanish_uses_mexican_conventions() -> None:
    text = TRANSLATIONS_DIR.joinpath("es-MX.yaml").read_text(encoding="utf-8")
    body = text.split("\n", 8)[-1]  # past the header comment, which names the conventions
    for peninsular in ("vosotros", "ordenador", "conducir", "autobús", "camarera", "bachiller superior"):
        assert peninsular not in body
    assert "colonia" in body and "licenciatura" in body and "usted" in body


# ------------------------------------------------------------------------------------------------ loader checks


def _copy_of(tag: str, tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(TRANSLATIONS_DIR.joinpath(f"{tag}.yaml").read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / f"{tag}-edited.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_a_scale_with_another_option_count_is_refused(tmp_path) -> None:
    path = _copy_of("de", tmp_path, lambda raw: raw["scales"]["importance4"]["options"].pop(4))
    with pytest.raises(TranslationError, match=r"questions.Q1: option codes \[1, 2, 3\] differ"):
        load_translation(path)


def test_an_answer_form_of_two_options_is_refused(tmp_path) -> None:
    path = _copy_of("de", tmp_path, lambda raw: raw["scales"]["agree4"]["aliases"].update({2: ["Stimme voll zu"]}))
    with pytest.raises(TranslationError, match="scales.agree4: 'stimme voll zu' is an answer form of both"):
        load_translation(path)


def test_an_unreviewed_item_is_refused_unless_allowed(tmp_path) -> None:
    def unreview(raw: dict) -> None:
        raw["questions"]["Q5"]["provenance"] = {"method": "machine-translated", "reviewed": False}
    path = _copy_of("ja", tmp_path, unreview)
    with pytest.raises(TranslationError, match=r"1 translated items are unreviewed or flagged \(e.g. questions.Q5\)"):
        load_translation(path)
    assert load_translation(path, allow_unreviewed=True).unreviewed() == ["questions.Q5"]


def test_unknown_language_names_the_bundled_ones() -> None:
    with pytest.raises(TranslationError, match="no bundled translation .*de, es-MX, ja, zh-Hans"):
        load_translation("fr")


# ------------------------------------------------------------------------------------------------ resolution


@pytest.mark.parametrize(("language", "culture", "tag"), [
    ("native", "DEU", "de"), ("native", "JPN", "ja"), ("native", "CHN", "zh-Hans"), ("native", "MEX", "es-MX"),
    ("native", "USA", "en"), ("native", "GBR", "en"), ("en", "JPN", "en"), ("ja", "DEU", "ja"), ("fr", "DEU", "fr"),
])
def test_language_resolution(language: str, culture: str, tag: str) -> None:
    assert resolve_language(language, culture) == tag


def test_primary_subtag_finds_the_bundled_variety() -> None:
    assert load_translation("zh").language == "zh-Hans"
    assert load_translation("es").language == "es-MX"


# ------------------------------------------------------------------------------------------------ prompts


def test_german_persona_prompt_is_fully_german() -> None:
    persona = persona_from_respondent(Respondent(id="r1", country="DEU", answers={}, demographics=FULL_DEMOGRAPHICS))
    prompt = native_system_prompt(persona, load_translation("de"))
    assert prompt == (
        "Stellen Sie sich vor, Sie sind eine Person mit folgendem Hintergrund:\n"
        "- Land: Deutschland\n- Wohnort: die Hauptstadt\n- Geschlecht: weiblich\n- Alter: 37 Jahre alt\n"
        "- Herkunft: in dieses Land eingewandert (im Ausland geboren)\n"
        "- Familienstand: lebt mit Partner(in) wie verheiratet zusammen\n- Haushaltsgröße: 3 Personen\n"
        "- Bildung: Bachelor oder gleichwertiger Abschluss\n"
        "- Beruf: Dienstleistung (z. B. Restaurantbesitzer, Polizist, Kellnerin, Friseur, Hausmeister)\n"
        "- Erwerbsstatus: Vollzeit erwerbstätig (30 Stunden pro Woche oder mehr)\n"
        "- Soziale Schicht: untere Mittelschicht\n"
        "Beantworten Sie die folgende Umfragefrage so, wie diese Person es tun würde.")


@pytest.mark.parametrize("tag", LANGUAGES)
def test_no_english_demographic_value_is_left_in_a_native_persona(tag: str) -> None:
    t = load_translation(tag)
    for code in range(0, 11):  # every code of every table, one respondent per code
        demographics = {k: code for k in ("Q260", "Q263", "Q273", "Q275", "Q281", "Q279", "Q287", "H_SETTLEMENT")}
        persona = persona_from_respondent(Respondent(id="r", country=LANGUAGES[tag], answers={},
                                                     demographics={**demographics, "X003R": max(code, 1)}))
        prompt = native_system_prompt(persona, t)
        for words in persona.fields.values():
            assert words not in prompt
        assert translate_persona(persona, t).country_name == t.countries[LANGUAGES[tag]].name


def test_japanese_question_prompt_and_country_only_persona() -> None:
    t = load_translation("ja")
    assert native_question_prompt(BANK.get("Q1"), t) == (
        "次のそれぞれについて、あなたの生活においてどのくらい重要かをお答えください。非常に重要、やや重要、あまり重要ではない、"
        "まったく重要ではない、のうちどれにあたりますか。\n家族\n1. 非常に重要\n2. やや重要\n3. あまり重要ではない\n"
        "4. まったく重要ではない\n選択肢の番号（1, 2, 3, 4）のうち一つだけを数字で答えてください。説明は不要です。")
    assert native_system_prompt(country_only_persona("JPN"), t) == (
        "あなたは日本に住んでいる人物だと想像してください。それ以外のことは何もわかっていません。\n"
        "この人物になったつもりで、次の調査の質問に答えてください。")
    assert native_system_prompt(country_only_persona("JPN"), t, "cultural").startswith("あなたは日本で生まれ、日本に住んで")


def test_native_prompt_refs_carry_the_translation_hash() -> None:
    t = load_translation("es-MX")
    refs = native_prompt_refs(t, "persona", reasoning=True)
    assert [r.name for r in refs] == ["eval_persona_system_native.v1", "eval_question_reasoning_native.v1",
                                      "translation:es-MX"]
    assert len(refs[2].sha256) == 64 and refs[2].sha256 == t.sha256


def test_a_country_without_a_name_in_the_language_is_an_error() -> None:
    with pytest.raises(TranslationError, match="no name for country BRA"):
        native_system_prompt(country_only_persona("BRA"), load_translation("de"))


# ------------------------------------------------------------------------------------------------ parsing: examples


@pytest.mark.parametrize(("tag", "qid", "reply", "code"), [
    ("de", "Q27", "stimme voll zu", 1), ("de", "Q27", "Ich stimme überhaupt nicht zu.", 4),
    ("de", "Q1", "Nicht sehr wichtig", 3), ("de", "Q1", "3. Nicht sehr wichtig", 3), ("de", "Q122", "0", 0),
    ("de", "Q33", "Antwort: ５", 5), ("de", "Q43", "Eine gute Sache", 1),
    ("ja", "Q1", "非常に重要", 1), ("ja", "Q1", "あまり重要ではないです。", 3), ("ja", "Q1", "三", 3),
    ("ja", "Q1", "回答：３番です", 3), ("ja", "Q33", "どちらともいえない", 3), ("ja", "Q158", "十", 10),
    ("zh-Hans", "Q1", "一点也不重要", 4), ("zh-Hans", "Q27", "我选择第二个", 2), ("zh-Hans", "Q33", "答案：既不同意也不反对", 3),
    ("zh-Hans", "Q158", "七", 7), ("zh-Hans", "Q122", "很难说", 1),
    ("es-MX", "Q1", "muy importante", 1), ("es-MX", "Q1", "Nada importante.", 4), ("es-MX", "Q27", "Estoy de acuerdo", 2),
    ("es-MX", "Q224", "Poco seguido", 3), ("es-MX", "Q122", "Respuesta: 2", 2),
])
def test_native_replies_parse(tag: str, qid: str, reply: str, code: int) -> None:
    assert parse_native_answer(reply, BANK.get(qid), load_translation(tag)) == (code, None)


@pytest.mark.parametrize(("tag", "qid", "reply", "reason"), [
    ("de", "Q1", "Ich weiß nicht", "refused"), ("de", "Q1", "Keine Angabe", "refused"),
    ("de", "Q1", "1 oder 2", "several numbers"), ("de", "Q1", "3 – sehr wichtig", "both appear"),
    ("de", "Q1", "wichtig", "no option"), ("de", "Q27", "Stimme zu oder stimme nicht zu", "no option"),
    ("ja", "Q1", "わかりません", "refused"), ("ja", "Q1", "重要", "no option"), ("ja", "Q1", "三か四", "no option"),
    ("zh-Hans", "Q1", "不知道", "refused"), ("zh-Hans", "Q1", "作为人工智能，我没有个人观点", "refused"),
    ("zh-Hans", "Q27", "同意或不同意", "no option"), ("zh-Hans", "Q1", "重要", "no option"),
    ("es-MX", "Q1", "No sé", "refused"), ("es-MX", "Q1", "Prefiero no responder", "refused"),
    ("es-MX", "Q1", "1 o 2", "several numbers"), ("es-MX", "Q1", "5", "not an option"),
])
def test_unclear_native_replies_are_invalid_with_a_reason(tag: str, qid: str, reply: str, reason: str) -> None:
    code, why = parse_native_answer(reply, BANK.get(qid), load_translation(tag))
    assert code is None and reason in why


def test_reasoning_replies_read_the_last_answer_line() -> None:
    t = load_translation("de")
    reply = "Als Person mit Familie ... Antwort: 3 wäre möglich, aber\nAntwort: 1"
    assert parse_native_answer(reply, BANK.get("Q1"), t, reasoning=True) == (1, None)
    assert parse_native_answer("Ich denke nach. 2", BANK.get("Q1"), t, reasoning=True)[0] is None
    assert parse_native_answer("Ich weiß nicht genau, aber Familie zählt.\nAntwort: 2", BANK.get("Q1"), t,
                               reasoning=True) == (2, None)
    assert parse_native_answer("Ich weiß nicht.", BANK.get("Q1"), t, reasoning=True)[1] == "refused ('weiss nicht')"
    assert parse_native_answer("Hmm.\nAntwort: keine Angabe", BANK.get("Q1"), t, reasoning=True)[1].startswith("refused")
    assert parse_native_answer("考えます。\n回答：非常に重要", BANK.get("Q1"), load_translation("ja"), reasoning=True) == (1, None)


# ------------------------------------------------------------------------------------------------ parsing: properties

_CJK_DIGITS = "〇一二三四五六七八九十"
QIDS = ["Q1", "Q7", "Q27", "Q33", "Q43", "Q122", "Q132", "Q158", "Q196", "Q224"]  # one per scale


def _forms(t, qid: str) -> dict[int, list[str]]:
    scale = t.scales[t.questions[qid].scale]
    forms = {code: [label] for code, label in scale.options.items() if not label.isdigit()}
    for code, aliases in scale.aliases.items():
        forms[code] += aliases
    return forms


@st.composite
def rendering(draw, tag: str, qid: str, code: int) -> str:
    """Any way a model might write option `code` in the language: number forms, words, both, with decoration."""
    t = load_translation(tag)
    words = _forms(t, qid).get(code, [])
    numbers = [str(code), "".join(chr(ord(c) + 0xFEE0) for c in str(code))]
    if tag in ("zh-Hans", "ja") and code <= 10:
        numeral = _CJK_DIGITS[code]
        numbers += [numeral, f"第{numeral}", f"{numeral}番", f"第{numeral}个" if tag == "zh-Hans" else f"{numeral}番目"]
    choices = numbers + words + [f"{n}. {w}" for n in numbers[:2] for w in words]
    core = draw(st.sampled_from(choices))
    if draw(st.booleans()) and core.isascii():
        core = core.upper()
    elif draw(st.booleans()):
        core = core.lower()
    prefix = draw(st.sampled_from(["", *t.parsing.prefixes]))
    suffix = draw(st.sampled_from(["", *t.parsing.suffixes]))
    edge = draw(st.sampled_from(["", ".", "!", "**", " ", "\n", "。", "「"]))
    return f"{edge}{prefix} {core}{suffix}{edge.replace('「', '」')}"


@pytest.mark.parametrize("tag", LANGUAGES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_rendering_of_an_option_parses_to_its_code(tag: str, data) -> None:
    qid = data.draw(st.sampled_from(QIDS))
    code = data.draw(st.sampled_from(BANK.get(qid).codes))
    reply = data.draw(rendering(tag, qid, code))
    assert parse_native_answer(reply, BANK.get(qid), load_translation(tag)) == (code, None), reply


@pytest.mark.parametrize("tag", LANGUAGES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_two_different_options_never_parse(tag: str, data) -> None:
    qid = data.draw(st.sampled_from(QIDS))
    a, b = data.draw(st.lists(st.sampled_from(BANK.get(qid).codes), min_size=2, max_size=2, unique=True))
    joiner = data.draw(st.sampled_from([" oder ", " o ", "还是", "か", " / ", ", ", "\n"]))
    reply = data.draw(rendering(tag, qid, a)) + joiner + data.draw(rendering(tag, qid, b))
    assert parse_native_answer(reply, BANK.get(qid), load_translation(tag))[0] is None, reply


@pytest.mark.parametrize("tag", LANGUAGES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_text_without_an_option_never_parses(tag: str, data) -> None:
    t = load_translation(tag)
    qid = data.draw(st.sampled_from(QIDS))
    forms = {normalise_reply(f) for found in _forms(t, qid).values() for f in found}
    forms |= {normalise_reply(label) for label in BANK.get(qid).options.values()}
    # Characters of the language's own option words and stems make near misses likely.
    alphabet = sorted(({c for f in forms for c in f} | set(t.stems["agree"].text) | set(" ,."))
                      - set(_CJK_DIGITS + "两零0123456789"))
    reply = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=40))
    assume(not any(f in normalise_reply(reply) for f in forms))
    assert parse_native_answer(reply, BANK.get(qid), t)[0] is None, reply


@pytest.mark.parametrize("tag", LANGUAGES)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_a_refusal_with_an_option_is_invalid(tag: str, data) -> None:
    t = load_translation(tag)
    qid = data.draw(st.sampled_from(QIDS))
    code = data.draw(st.sampled_from(BANK.get(qid).codes))
    refusal = data.draw(st.sampled_from(t.parsing.refusals))
    reply = f"{refusal}. {data.draw(rendering(tag, qid, code))}"
    code, why = parse_native_answer(reply, BANK.get(qid), t)
    assert code is None and why.startswith("refused"), reply


# ------------------------------------------------------------------------------------------------ a real model


@pytest.mark.parametrize("tag", ["de", "ja"])
def test_the_embedded_model_answers_native_prompts_and_every_reply_is_parsed_or_has_a_reason(
        tag: str, embedded_backend) -> None:
    from clca.llm import GenerationRequest, Message, OptionScoringRequest

    t = load_translation(tag)
    persona = persona_from_respondent(Respondent(id="r", country=LANGUAGES[tag], answers={},
                                                 demographics=FULL_DEMOGRAPHICS))
    questions = [BANK.get(q) for q in ("Q1", "Q27", "Q33", "Q43")]
    conversations = [[Message(role="system", content=native_system_prompt(persona, t)),
                      Message(role="user", content=native_question_prompt(q, t))] for q in questions]
    assert all(t.persona.closing in c[0].content and t.questions[q.id].text in c[1].content
               for c, q in zip(conversations, questions, strict=True))
    replies = embedded_backend.generate([GenerationRequest(messages=c, max_tokens=12) for c in conversations])
    for reply, question in zip(replies, questions, strict=True):
        code, reason = parse_native_answer(reply.text, question, t)
        assert (code in question.codes and reason is None) or (code is None and reason), reply.text
    scores = embedded_backend.score_options([OptionScoringRequest(messages=c, options=[str(x) for x in q.codes])
                                             for c, q in zip(conversations, questions, strict=True)])
    assert [len(s) for s in scores] == [len(q.codes) for q in questions]


def test_an_edited_file_is_reloaded_and_a_missing_one_is_one_clear_error(tmp_path) -> None:
    path = _copy_of("de", tmp_path, lambda raw: None)
    assert load_translation(path).questions["Q1"].text == "Familie"
    path.write_text(path.read_text(encoding="utf-8").replace("text: Familie", "text: Die Familie"), encoding="utf-8")
    assert load_translation(path).questions["Q1"].text == "Die Familie"
    with pytest.raises(TranslationError, match="cannot read"):
        load_translation(tmp_path / "missing.yaml")


@pytest.mark.parametrize("tag", LANGUAGES)
@settings(max_examples=200, deadline=None)
@given(raw=st.text(max_size=200), qid=st.sampled_from(QIDS), reasoning=st.booleans())
def test_no_string_crashes_the_native_parser(tag: str, raw: str, qid: str, reasoning: bool) -> None:
    code, reason = parse_native_answer(raw, BANK.get(qid), load_translation(tag), reasoning=reasoning)
    assert (code is None) != (reason is None)
    assert code is None or code in BANK.get(qid).codes
