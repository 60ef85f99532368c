"""`clca translate` against the local OpenAI-compatible server: forward and back translation, the checks that flag
items, provenance per item, and the loader refusing the unreviewed file."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from clca.cli import main as cli_main
from clca.evaluation.language import TranslationError, load_translation, native_question_prompt, parse_native_answer
from clca.evaluation.questions import load_question_bank
from clca.llm import load_backend
from clca.prompts import load_template
from clca.testing import OpenAICompatServer
from clca.translate.config import TranslateConfig
from clca.translate.run import chrf, translate_bank

BANK = load_question_bank()


def _mirror(text: str) -> str:
    """The fake language "Mirrorish": every word spelled backwards; numbers and {placeholders} kept."""
    parts = re.split(r"(\{\w+\})", text)
    return "".join(p if p.startswith("{") else re.sub(r"[^\W\d_]+", lambda m: m.group()[::-1], p) for p in parts)


class Teacher:
    """Translates into Mirrorish and back; mistranslates 'Work' back, and drops option 4 of the importance list
    when `drop_option`."""

    def __init__(self, drop_option: bool = True) -> None:
        self.drop_option = drop_option

    def __call__(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        text = re.search(r"<text>\n(.*)\n</text>", prompt, re.S).group(1)
        if prompt.startswith("Translate the following text from an international survey"):
            if self.drop_option and text.startswith("1. Very important"):
                text = "\n".join(text.splitlines()[:3])
            return f"<text>{_mirror(text)}</text>"
        back = _mirror(text)
        return "<text>Labour union</text>" if back == "Work" else f"Sure! <text>\n{back}\n</text>"


def test_mirror_is_its_own_inverse() -> None:
    for text in ["Answer with the integer of one option only ({codes}), no explanation.", "1. Agree\n2. Disagree",
                 "a person living {in_country}."]:
        assert _mirror(text) != text and _mirror(_mirror(text)) == text
    assert _mirror("living {in_country}.") == "gnivil {in_country}."


def test_chrf_on_hand_computed_examples() -> None:
    assert chrf("Very important", "very important") == 1.0  # case and whitespace are ignored
    assert chrf("xyz", "abc") == 0.0
    # "ab" vs "ac": 1-grams P = R = 1/2, 2-grams 0/1; average P = R = 1/4 → F = 1/4.
    assert chrf("ab", "ac") == pytest.approx(0.25)
    # "abc" vs "abd": 1-grams 2/3, 2-grams 1/2, 3-grams 0 → P = R = (2/3 + 1/2 + 0) / 3 = 7/18.
    assert chrf("abc", "abd") == pytest.approx(7 / 18)
    # Recall weighs 2x: "ab" vs "abab" has P = 1, R = (1/2 + 1/3) / 2 = 5/12 → F = 5·(5/12) / (4 + 5/12) = 25/53;
    # swapped, P = 5/12 and R = 1 → F = 5·(5/12) / (4·5/12 + 1) = 25/32.
    assert chrf("ab", "abab") == pytest.approx(25 / 53)
    assert chrf("abab", "ab") == pytest.approx(25 / 32)
    assert chrf("Labour union", "Work") < TranslateConfig().round_trip_threshold < chrf("Work.", "Work")


def test_translate_flags_a_lost_option_and_a_bad_round_trip_and_the_loader_refuses_the_file(tmp_path) -> None:
    out = tmp_path / "xx.yaml"
    with OpenAICompatServer(responder=Teacher()) as server:
        backend = load_backend(f"openai:teacher-7b@{server.base_url}", cache=False, retry_backoff_s=0.01)
        cfg = TranslateConfig(questions="Q1,Q5,Q27,Q33")
        summary = translate_bank("xx", backend, out, cfg, language_name="Mirrorish", countries=["DEU"])
        calls = server.calls
    assert summary.failed == 0 and summary.segments == calls // 2  # one forward and one back call per segment
    assert summary.flagged_items == ["scales.importance4", "questions.Q5"]
    raw = yaml.safe_load(out.read_text(encoding="utf-8"))
    flags = raw["scales"]["importance4"]["provenance"]["flags"]
    assert flags == ["option numbering changed: expected [1, 2, 3, 4], got [1, 2, 3]"]
    assert raw["scales"]["importance4"]["options"] == {1: "yreV tnatropmi", 2: "rehtaR tnatropmi",
                                                       3: "toN yrev tnatropmi", 4: ""}
    q5 = raw["questions"]["Q5"]["provenance"]
    assert q5["back_translation"] == "Labour union" and q5["round_trip"] < 0.5
    assert q5["flags"] == [f"round-trip chrF {q5['round_trip']:.2f} below 0.5"]
    q27 = raw["questions"]["Q27"]
    assert q27["text"] == _mirror(BANK.get("Q27").text) and q27["provenance"]["round_trip"] == 1.0
    assert q27["provenance"]["model"]["model"] == "teacher-7b" and q27["provenance"]["reviewed"] is False
    assert [p["sha256"] for p in q27["provenance"]["prompts"]] == [
        load_template("translate_forward.v1").sha256, load_template("translate_back.v1").sha256]
    assert raw["answer_instruction"]["direct"]["text"] == _mirror(
        "Answer with the integer of one option only ({codes}), no explanation.")
    for allow in (False, True):  # the lost option is a hole: never evaluated, even when unreviewed is allowed
        with pytest.raises(TranslationError, match="questions.Q1 has an empty text, stem or option"):
            load_translation(out, allow_unreviewed=allow)


def test_a_flagged_item_is_refused_unless_allowed(tmp_path) -> None:
    out = tmp_path / "xx.yaml"
    with OpenAICompatServer(responder=Teacher(drop_option=False)) as server:
        backend = load_backend(f"openai:teacher-7b@{server.base_url}", cache=False)
        summary = translate_bank("xx", backend, out, TranslateConfig(questions="Q5"), "Mirrorish", ["DEU"])
    assert summary.flagged_items == ["questions.Q5"]
    with pytest.raises(TranslationError, match="unreviewed or flagged"):
        load_translation(out)
    t = load_translation(out, allow_unreviewed=True)
    assert t.questions["Q5"].provenance.flags and t.questions["Q5"].provenance.back_translation == "Labour union"


def test_a_clean_machine_translation_loads_only_when_allowed_and_is_usable(tmp_path) -> None:
    out = tmp_path / "xx.yaml"
    with OpenAICompatServer(responder=Teacher()) as server:
        backend = load_backend(f"openai:teacher-7b@{server.base_url}", cache=False)
        summary = translate_bank("xx", backend, out, TranslateConfig(questions="Q27,Q33"), "Mirrorish", ["DEU"])
    assert summary.flagged_items == [] and summary.mean_round_trip == 1.0
    with pytest.raises(TranslationError, match="unreviewed"):
        load_translation(out)
    t = load_translation(out, allow_unreviewed=True)
    prompt = native_question_prompt(BANK.get("Q33"), t)
    assert "1. eergA ylgnorts" in prompt and prompt.endswith(_mirror("Answer with the integer of one option only "
                                                                     "(1, 2, 3, 4, 5), no explanation."))
    assert parse_native_answer("eergA ylgnorts", BANK.get("Q33"), t) == (1, None)
    assert parse_native_answer("rewsnA: 4", BANK.get("Q33"), t) == (4, None)


def test_cli_writes_the_file_and_prints_the_summary(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "xx.yaml"
    with OpenAICompatServer(responder=Teacher()) as server:
        monkeypatch.setattr(sys, "argv", ["clca", "translate", "--language", "xx", "--language-name", "Mirrorish",
                                          "--model", f"openai:teacher@{server.base_url}", "--out", str(out),
                                          "--countries", "DEU", "--set", "questions=Q5"])
        monkeypatch.setenv("CLCA_PROGRESS", "0")
        with pytest.raises(SystemExit) as exited:
            cli_main.main()
    assert exited.value.code in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert summary["flagged_items"] == ["scales.importance4", "questions.Q5"] and summary["output"] == str(out) and out.is_file()


def test_unknown_language_without_a_name_is_one_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["clca", "translate", "--language", "xq", "--model", "openai:m@http://127.0.0.1:9/v1",
                                      "--out", "/tmp/never.yaml"])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err and "pass --language-name" in err
