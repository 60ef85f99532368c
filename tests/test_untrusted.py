"""Untrusted text (model output, user files, flags) never breaks an artifact, the report or the user's folders.

Property tests: arbitrary unicode round-trips through every JSONL record type; no raw HTML from data reaches
report.html; every parser of model output returns a value or a failure with a reason, never raises.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clca.evaluation.personas import Persona
from clca.evaluation.runner import EvalRecord
from clca.intents.schema import ConversationIntents, TurnIntent
from clca.jsonl import JsonlStore
from clca.judge.schema import Judgement, Verdict
from clca.llm.base import ModelIdentity
from clca.records import Failure, PromptRef, Provenance
from clca.roleplay.schema import Conversation, Turn
from clca.scenarios.schema import Participant, Scenario

# Characters that line splitters other than "\n" break on, plus control characters, mixed into arbitrary unicode.
_BREAKERS = "\u2028\u2029\u0085\u001c\u001d\u001e\u000b\u000c\r\n\ufeff\x00\"\\"
# Lone surrogates are not text (see test_lone_surrogates_from_a_server_never_crash_a_write).
TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(_BREAKERS)), max_size=40)
NONEMPTY = TEXT.filter(lambda s: s != "")


def _provenance(t: str) -> Provenance:
    return Provenance(model=ModelIdentity(backend="openai", model=t), prompts=[PromptRef(name=t, sha256=t)],
                      sampling={t: t})


def _scenario(t: str, u: str) -> Scenario:
    people = tuple(Participant(first_name=u, last_name=t, background=t, secret=t, goal=u, occupation=t)
                   for _ in range(2))
    return Scenario(id=u, culture=t, domain=t, setting=u, participants=people, source="adapted",
                    source_scenario_id=t, norm=t, provenance=_provenance(t))


def _records(t: str, u: str) -> list[tuple[type, object]]:
    """One record of every JSONL record type clca writes, each text field holding `t` (or non-empty `u`)."""
    scenario = _scenario(t, u)
    conversation = Conversation(
        id=u, scenario=scenario, sample_index=0, seed=1, termination="leave", error=t,
        turns=[Turn(index=0, speaker=0, speaker_name=t, action="speak", text=t, raw=t, parse_error=t)],
        agent_provenance=(_provenance(t), _provenance(t)))
    verdict = Verdict(label=t, confidence="confident", reason=t)
    judgement = Judgement(id=u, conversation_id=t, culture=t, quality=verdict, cultural_alignment=verdict,
                          meta=verdict, failures={t: t}, raw={t: t}, keep=True, keep_reason=t,
                          provenance=_provenance(t))
    intents = ConversationIntents(id=u, conversation_id=t, culture=t, provenance=_provenance(t), intents=[
        TurnIntent(turn_index=0, speaker=1, intent=t, kind="cultural", error=t, raw=t)])
    failure = Failure(id=u, stage=t, reason=t, raw=t, provenance=_provenance(t))
    record = EvalRecord(id=u, persona_id=t, question=t, country=t, strategy=t, mode="generate", country_only=False,
                        prompt_hash=t, raw_output=t, invalid_reason=t, option_probs={t: 0.5})
    persona = Persona(id=u, country=t, country_name=t, country_only=True, fields={t: t})
    return [(Scenario, scenario), (Conversation, conversation), (Judgement, judgement),
            (ConversationIntents, intents), (Failure, failure), (EvalRecord, record), (Persona, persona)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=TEXT, u=NONEMPTY, other=NONEMPTY)
def test_every_record_type_round_trips_arbitrary_unicode(tmp_path: Path, t: str, u: str, other: str) -> None:
    for i, (model, rec) in enumerate(_records(t, u)):
        path = tmp_path / f"{model.__name__}-{i}.jsonl"
        path.unlink(missing_ok=True)
        store = JsonlStore(path, model)
        second = rec.model_copy(update={"id": u + other})
        store.append([rec])
        store.write_all([rec, second])
        store.append([rec])
        assert list(store.iter()) == [rec, second, rec]  # every line read back exactly
        assert store.read() == [rec, second]  # one record per id (a duplicate from an older file is dropped)
        # No line-break character other than the record separator reaches the file (other tools split on them).
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) == 3


def test_u2028_in_a_reply_does_not_poison_the_file(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "f.jsonl", Failure)
    rec = Failure(id="a", stage="s", reason="x", raw="before\u2028after\x85\x0c")
    store.append([rec])
    store.append([rec.model_copy(update={"id": "b"})])
    assert [r.raw for r in store.read()] == [rec.raw, rec.raw]


def test_a_file_written_raw_with_u2028_still_reads(tmp_path: Path) -> None:
    """Files written before the escaping (raw U+2028 inside a JSON string) read back: split on "\\n" only."""
    path = tmp_path / "f.jsonl"
    line = json.dumps({"id": "a", "stage": "s", "reason": "r\u2028\u0085x"}, ensure_ascii=False)
    path.write_text(line + "\n" + line.replace('"a"', '"b"') + "\n", encoding="utf-8")
    assert [r.reason for r in JsonlStore(path, Failure).read()] == ["r\u2028\u0085x"] * 2


def test_user_file_whose_last_line_lacks_a_newline_keeps_that_record(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text('{"id": "a", "stage": "s", "reason": "r"}\n{"id": "b", "stage": "s", "reason": "r"}',
                    encoding="utf-8")
    store = JsonlStore(path, Failure)
    assert [r.id for r in store.read()] == ["a", "b"]
    store.append([Failure(id="c", stage="s", reason="r")])  # appending ends the user's line instead of cutting it
    assert [r.id for r in store.read()] == ["a", "b", "c"]


def test_torn_tail_from_a_crash_is_still_dropped(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text('{"id": "a", "stage": "s", "reason": "r"}\n{"id": "b", "stage": "s", "rea', encoding="utf-8")
    store = JsonlStore(path, Failure)
    assert [r.id for r in store.read()] == ["a"]
    store.append([Failure(id="c", stage="s", reason="r")])
    assert [r.id for r in store.read()] == ["a", "c"]


def test_utf8_bom_is_handled(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "stage": "s", "reason": "r"}\r\n{"id": "b", "stage": "s", "reason": "r"}')
    assert [r.id for r in JsonlStore(path, Failure).read()] == ["a", "b"]


# ---------------------------------------------------------------------------------------------------------- report

_PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
             "![p](../../secret.png)", "&lt;script&gt;", "`<b>`", "a | b", "<!-- c -->", "</td></tr><script>",
             '"><svg onload=alert(1)>', "<https://evil.example>", "*x* _y_ \\<script>"]
HOSTILE = st.lists(st.one_of(st.sampled_from(_PAYLOADS), TEXT), min_size=1, max_size=4).map("".join)


class _Tags(__import__("html.parser").parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _report(s: str):
    from clca.report.model import (
        CultureDataStats,
        Estimate,
        ReportData,
        ResultRow,
        SampleConversation,
        SampleTurn,
    )

    est = Estimate(value=0.5, ci_low=0.4, ci_high=0.6)
    return ReportData(
        run_name=s, created_at=s, cultures=[s, "DEU"], models={s: s}, notes=[s],
        data_stats=[CultureDataStats(culture=s, scenarios=1, conversations=1, kept=1, kept_ratio=1.0, avg_turns=2.0,
                                     avg_words_per_turn=3.0, cultural_intent_share=0.5, judge_breakdown={s: 1})],
        results=[ResultRow(culture=s, variant=s, kl=est, jsd=est, emd=est, accuracy=est, skipped_questions=[s])],
        sample=SampleConversation(conversation_id=s, culture=s, setting=s, turns=[
            SampleTurn(speaker=s, action="speak", text=s, intent=s, intent_kind="cultural")]))


_ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "em", "strong", "table",
                 "thead", "tbody", "tr", "th", "td", "ul", "li", "code"}


@settings(max_examples=50, deadline=None)
@given(s=HOSTILE)
def test_no_markup_from_data_survives_into_report_html(s: str) -> None:
    from clca.report.render import render_html

    page = render_html(_report(s), Path("."))
    parser = _Tags()
    parser.feed(page)
    assert {tag for tag, _ in parser.tags} <= _ALLOWED_TAGS, page
    assert not any(attrs for tag, attrs in parser.tags if tag not in {"meta", "th", "td"}), page
    assert "<script" not in page.lower()
    # The data is shown literally: the turn's text (whitespace collapsed; CommonMark turns NUL into U+FFFD) is the
    # text of a table cell.
    expected = " ".join(s.replace("\x00", "\ufffd").split())
    assert expected in [" ".join(t.split()) for t in parser.text] or not expected


def test_report_escapes_the_issue_payloads() -> None:
    from clca.report.render import render_html, render_markdown

    data = _report("<script>alert(1)</script><img src=x onerror=alert(1)>")
    page = render_html(data, Path("."))
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in render_markdown(data).replace("\\<script", "")


# ---------------------------------------------------------------------------------------- output-folder ownership

def _user_folder(root: Path) -> dict[Path, bytes]:
    """A folder a user owns, with files named like clca's outputs (data/, manifest.json, README.md, loss.csv)."""
    files = {root / "data" / "survey_2024.csv": b"id,q\n1,2\n", root / "manifest.json": b'{"mine": true}\n',
             root / "README.md": b"# my notes\n", root / "loss.csv": b"step,loss\n"}
    for path, blob in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    return files


def _cli(monkeypatch, capsys, cwd: Path, *args: str) -> tuple[int, str]:
    from test_hostile_input import clca_in_process

    monkeypatch.chdir(cwd)
    return clca_in_process(monkeypatch, capsys, *args)


def test_dataset_build_refuses_a_users_folder(tmp_path, monkeypatch, capsys) -> None:
    from builders_dataset import write_inputs
    from test_hostile_input import assert_one_line

    (tmp_path / "in").mkdir()
    inputs = write_inputs(tmp_path / "in", n=2, dropped=0)
    user = tmp_path / "mine"
    files = _user_folder(user)
    code, err = _cli(monkeypatch, capsys, user, "dataset", "build", "--conversations", str(inputs["conversations"]),
                     "--data", "unfiltered", "--tasks", "dialogue", "--out", ".")
    assert_one_line(code, err, "non-empty folder that clca did not create")
    assert {p: p.read_bytes() for p in files} == files and sorted(p.name for p in user.iterdir()) == \
        ["README.md", "data", "loss.csv", "manifest.json"]


def test_train_refuses_a_users_folder(tmp_path, monkeypatch, capsys) -> None:
    from test_hostile_input import assert_one_line

    files = _user_folder(tmp_path)
    code, err = _cli(monkeypatch, capsys, tmp_path, "train", "--dataset", "nowhere", "--out", ".")
    assert_one_line(code, err, "non-empty folder that clca did not create")
    assert {p: p.read_bytes() for p in files} == files


def test_claimed_folder_is_reused_and_files_are_refused(tmp_path) -> None:
    from clca.errors import ConfigError
    from clca.outdir import MARKER, claim_output_dir

    out = claim_output_dir(tmp_path / "new" / "eval", "evaluation")
    assert (out / MARKER).is_file()
    (out / "records.jsonl").write_text("x")
    assert claim_output_dir(out, "evaluation") == out  # a rerun resumes in its own folder
    (tmp_path / "empty").mkdir()
    assert claim_output_dir(tmp_path / "empty", "dataset").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        claim_output_dir(tmp_path / "f", "dataset")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "notes.txt").write_text("mine")
    (tmp_path / "linked" / MARKER).symlink_to(out / MARKER)  # a link to a marker elsewhere does not count
    with pytest.raises(ConfigError, match="did not create"):
        claim_output_dir(tmp_path / "linked", "dataset")


def test_evaluation_refuses_a_users_folder(tmp_path) -> None:
    from clca.errors import ConfigError
    from clca.evaluation.runner import EvalConfig, run_evaluation

    files = _user_folder(tmp_path)
    with pytest.raises(ConfigError, match="did not create"):
        run_evaluation(None, EvalConfig(culture="DEU"), tmp_path)  # type: ignore[arg-type]
    assert {p: p.read_bytes() for p in files} == files


# ------------------------------------------------------------------------------------------ parsers of model output

def test_deeply_nested_json_is_a_scenario_parse_failure() -> None:
    from clca.scenarios.parsing import ScenarioParseError, parse_scenario_answer

    for raw in ("[" * 100_000 + "]" * 100_000, '{"setting": ' + "[" * 50_000, '{"a":' * 20_000 + "1" + "}" * 20_000):
        with pytest.raises(ScenarioParseError, match="nested too deeply|invalid JSON|no JSON"):
            parse_scenario_answer(raw)


def test_duplicate_scenario_keys_are_rejected() -> None:
    from clca.scenarios.parsing import ScenarioParseError, extract_json_object

    with pytest.raises(ScenarioParseError, match="duplicate key 'setting'"):
        extract_json_object('{"setting": "a", "setting": "b"}')


@pytest.mark.parametrize(("raw", "reasoning", "why"), [
    ("Definitely not 1", False, "not stated as the answer"),
    ("I am 2 years old in spirit", False, "not stated as the answer"),
    ("Answer: 2 or 3", False, "ambiguous"),
    ("I will not answer 3. Final: 2", False, "ambiguous"),
    ("I will not answer 3. Final: 2", True, "no 'Answer: N'"),
    ("Let me think.\nAnswer: 2 or 3", True, "ambiguous"),
    ("Answer: 3-4", True, "ambiguous"),
])
def test_survey_parser_never_guesses(raw: str, reasoning: bool, why: str) -> None:
    from clca.evaluation.strategies import parse_answer

    code, reason = parse_answer(raw, [1, 2, 3, 4], reasoning=reasoning)
    assert code is None and why in reason


@pytest.mark.parametrize(("raw", "reasoning", "code"), [
    ("3", False, 3), ("3.", False, 3), ("Answer: 3", False, 3), ("**3** Agree", False, 3),
    ("The answer is 2", False, 2), ("4. Not at all important", False, 4), ("(2) Rather important", False, 2),
    ("It matters.\nAnswer: **4**", True, 4), ("Answer: 1\nOn reflection:\nAnswer: 2", True, 2),
])
def test_survey_parser_still_reads_plain_answers(raw: str, reasoning: bool, code: int) -> None:
    from clca.evaluation.strategies import parse_answer

    assert parse_answer(raw, [1, 2, 3, 4], reasoning=reasoning) == (code, None)


@pytest.mark.parametrize(("raw", "part", "why"), [
    ("LABEL: not bad\nCONFIDENCE: confident", "quality", "unrecognised quality label 'not bad'"),
    ("LABEL: good\nCONFIDENCE: confident\nLABEL: bad", "quality", "contradicting quality labels"),
    ('{"label": "good", "confidence": "confident", "label": "bad"}', "quality", "duplicate key 'label'"),
    ('{"label": "good", "verdict": "bad", "confidence": "confident"}', "quality", "contradicting"),
    ("LABEL: partially aligned\nCONFIDENCE: confident", "cultural_alignment", "unrecognised"),
    ("LABEL: good\nCONFIDENCE: not at all confident", "quality", "unrecognised confidence"),
    ("LABEL: good\nCONFIDENCE: confident\nCONFIDENCE: not sure", "quality", "contradicting confidences"),
    ("It is not bad. I am confident.", "quality", "no quality label"),
])
def test_judge_parser_never_guesses(raw: str, part: str, why: str) -> None:
    from clca.judge.parsing import parse_verdict

    verdict, reason = parse_verdict(raw, part)  # type: ignore[arg-type]
    assert verdict is None and why in reason, reason


def test_judge_parser_agreeing_restatements_are_fine() -> None:
    from clca.judge.parsing import parse_verdict

    verdict, _ = parse_verdict("LABEL: Good\nCONFIDENCE: confident\nREASON: ok.\nLABEL: good.", "quality")
    assert (verdict.label, verdict.confidence) == ("good", "confident")


def _nested(depth: int, kind: str) -> str:
    opener, closer = {"obj": ('{"a":', "}"), "list": ("[", "]"), "mixed": ('{"setting":[', "]}")}[kind]
    return opener * depth + "1" + closer * depth


HOSTILE_REPLY = st.one_of(
    TEXT,
    st.builds(_nested, st.integers(min_value=1, max_value=5000), st.sampled_from(["obj", "list", "mixed"])),
    st.builds(lambda a, b, c: a + "{" + b + "}" + c, TEXT, TEXT, TEXT),
    st.lists(st.sampled_from(["LABEL:", "CONFIDENCE:", "ACTION:", "Answer:", "{", "}", "not", "good", "bad",
                              "aligned", "speak", "2", "99999999999999999999999", "\n", "\u2028", "```", '"label"',
                              "NaN", "Infinity", "-1", "1e999", ":", ","]), max_size=30).map(" ".join),
)


@settings(max_examples=120, deadline=None)
@given(raw=HOSTILE_REPLY, codes=st.lists(st.integers(-5, 10), min_size=1, max_size=6, unique=True),
       flag=st.booleans(), part=st.sampled_from(["quality", "cultural_alignment", "meta"]))
def test_every_output_parser_returns_a_value_or_a_reason(raw: str, codes: list[int], flag: bool, part: str) -> None:
    from clca.evaluation.strategies import parse_answer
    from clca.judge.parsing import parse_verdict
    from clca.roleplay.parsing import parse_turn
    from clca.scenarios.parsing import ScenarioParseError, parse_scenario_answer

    code, reason = parse_answer(raw, codes, reasoning=flag)
    assert (code is None) != (reason is None) and (code is None or code in codes)
    verdict, why = parse_verdict(raw, part)  # type: ignore[arg-type]
    assert (verdict is None) != (why is None)
    turn = parse_turn(raw, "Anna", "Anna Li", "Bo", "Bo Chen")
    assert turn.action in ("none", "non-verbal", "speak", "leave")
    try:
        parsed = parse_scenario_answer(raw, need_relationship=flag)
    except ScenarioParseError as exc:
        assert str(exc)
    else:
        assert parsed["setting"]


# ---------------------------------------------------------------------------------------------------- configs

_BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


def _run_config(tmp_path: Path, extra: str) -> Path:
    import yaml

    from test_hostile_input import GOOD_CONFIG

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(GOOD_CONFIG) + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(("extra", "needle"), [
    (_BOMB.replace("i: &i", "roleplay:\n  setting_hint: &i"), "aliases expand"),
    ("roleplay:\n  max_turns: 8\n  max_turns: 9\n", "duplicate key 'max_turns'"),
    ("roleplay:\n  max_turns: true\n", "got a boolean"),
    ("judge:\n  temperature: .inf\n", "finite"),
    ("judge:\n  retry_temperature: .nan\n", "finite"),
    ("roleplay:\n  max_turns: " + "[" * 1100 + "\n", "nested too deeply"),
], ids=["alias-bomb", "duplicate-key", "bool-as-int", "inf", "nan", "deep-nesting"])
def test_hostile_config_files_are_short_one_line_errors(tmp_path, monkeypatch, capsys, extra, needle) -> None:
    import tracemalloc

    from test_hostile_input import assert_one_line, clca_in_process

    monkeypatch.chdir(tmp_path)
    measure = needle == "aliases expand"  # tracemalloc slows the parser of the deeply nested case tenfold
    if measure:
        tracemalloc.start()
    code, err = clca_in_process(monkeypatch, capsys, "run", "--config", str(_run_config(tmp_path, extra)))
    if measure:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 200e6, peak
    assert_one_line(code, err, needle)
    assert len(err) < 600, len(err)


def test_long_set_value_gives_a_short_error(tmp_path, monkeypatch, capsys) -> None:
    from test_hostile_input import assert_one_line, clca_in_process

    monkeypatch.chdir(tmp_path)
    path = _run_config(tmp_path, "")
    levels = ["&a [" + ",".join("x" * 9) + "]"] + [f"&{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdef", "bcdefg", strict=True)]
    value = "[" + ",".join(levels) + "]"  # about 240 characters that expand to 9**7 values
    assert len(value) <= 250
    for setting in (f"roleplay.max_turns={value}", f"roleplay.max_turns=[{'[' * 60}{'*b,' * 50}]", "x" * 240,
                    "roleplay.max_turns=" + "9x" * 120):
        code, err = clca_in_process(monkeypatch, capsys, "run", "--config", str(path), "--set", setting)
        assert_one_line(code, err)
        assert len(err) < 600, len(err)


def test_bounded_yaml_keeps_ordinary_aliases() -> None:
    from clca.config import safe_load_bounded, short_repr

    assert safe_load_bounded("x: &x {a: 1}\ny: *x\n") == {"x": {"a": 1}, "y": {"a": 1}}
    assert len(short_repr("x" * 10_000)) <= 201 and len(short_repr([list(range(1000))] * 1000)) <= 201


# ------------------------------------------------------------------------------------------ servers and secrets

def _ask(text: str):
    from clca.llm import GenerationRequest, Message

    return GenerationRequest(messages=[Message(role="user", content=text)])


def test_response_cache_is_keyed_on_the_server(monkeypatch, tmp_path) -> None:
    from clca.llm import load_backend
    from clca.testing import OpenAICompatServer

    monkeypatch.setenv("CLCA_CACHE_DIR", str(tmp_path))
    with OpenAICompatServer(responder=lambda body: "from A") as a, OpenAICompatServer(responder=lambda body: "from B") as b:
        first = load_backend(f"openai:same-name@{a.base_url}", retry_backoff_s=0.01)
        [ra] = first.generate([_ask("q")])
        second = load_backend(f"openai:same-name@{b.base_url}", retry_backoff_s=0.01)
        [rb] = second.generate([_ask("q")])
        again = load_backend(f"openai:same-name@{a.base_url}/", retry_backoff_s=0.01)
        [ra2] = again.generate([_ask("q")])
        for backend in (first, second, again):
            backend.close()
        assert (ra.text, rb.text, ra2.text) == ("from A", "from B", "from A")
        assert b.calls == 1 and a.calls == 1 and ra2.cached  # B was asked; A's answer came back from the cache
        assert second.identity.server == b.base_url.rstrip("/") and first.identity.server != second.identity.server


def test_server_identity_drops_credentials_and_is_order_free() -> None:
    from clca.llm.spec import server_identity

    assert server_identity(["https://u:pw@Api.Example.com:8443/v1/?k=1", "http://127.0.0.1:9/v1"]) == \
        server_identity(["http://127.0.0.1:9/v1/", "https://api.example.com:8443/v1"]) == \
        "http://127.0.0.1:9/v1,https://api.example.com:8443/v1"


KEY = "sk-proj-Zq8Vt2Lm9Xr4Kp7Wn3Jd6Hs1Fb5Gc0Ya"


@pytest.mark.parametrize("value", [KEY, "Zq8Vt2Lm9Xr4Kp7Wn3Jd6Hs1Fb5Gc0Ya", "hf_Zq8Vt2Lm9Xr4Kp7", "AKIAIOSFODNN7EXAMPLE",
                                   "my key", "A" * 80])
def test_api_key_env_given_the_key_is_one_line_that_does_not_echo_it(tmp_path, monkeypatch, capsys, value) -> None:
    from test_hostile_input import assert_one_line, clca_in_process

    monkeypatch.chdir(tmp_path)
    code, err = clca_in_process(monkeypatch, capsys, "scenarios", "adapt", "--culture", "DEU", "--model",
                                "openai:m@http://127.0.0.1:9/v1", "--api-key-env", value, "--out", "x.jsonl")
    assert_one_line(code, err, "api_key_env", "NAME of an environment variable")
    assert value not in err and value[:12] not in err
    assert not list(tmp_path.rglob("*.json*"))


def test_api_key_env_in_a_run_config_never_reaches_the_manifest(tmp_path, monkeypatch, capsys) -> None:
    import yaml

    from test_hostile_input import GOOD_CONFIG, assert_one_line, clca_in_process

    monkeypatch.chdir(tmp_path)
    config = {**GOOD_CONFIG, "models": {"default": {"spec": "openai:m@http://127.0.0.1:9/v1", "api_key_env": KEY}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    code, err = clca_in_process(monkeypatch, capsys, "run", "--config", "run.yaml")
    assert_one_line(code, err, "api_key_env")
    assert KEY not in err
    assert all(KEY.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "run.yaml")


@pytest.mark.parametrize("variant", [
    KEY, KEY.upper(), KEY[:-1], KEY[1:], __import__("base64").b64encode(KEY.encode()).decode(),
    __import__("base64").b64encode(f"Bearer {KEY}".encode()).decode(), "".join(f"&#{ord(c)};" for c in KEY),
    "".join(f"&#x{ord(c):x};" for c in KEY), __import__("urllib.parse").parse.quote(KEY, safe=""),
    "%" + "%".join(f"{b:02X}" for b in KEY.encode()),
])
def test_redaction_catches_encoded_and_altered_keys(variant: str) -> None:
    from clca.llm.redact import leaks, redact

    text = f"error: Incorrect API key provided: {variant}. Check your settings."
    assert leaks(text, KEY)
    cleaned = redact(text, KEY)
    assert not leaks(cleaned, KEY) and KEY.lower()[3:20] not in cleaned.lower()
    assert redact("nothing to see here: sk-proj-other", KEY) == "nothing to see here: sk-proj-other"


def test_a_200_reply_echoing_the_key_is_never_recorded(monkeypatch, tmp_path) -> None:
    import base64

    from clca.errors import BackendError
    from clca.llm import load_backend
    from clca.testing import OpenAICompatServer

    monkeypatch.setenv("CLCA_TEST_KEY", KEY)
    monkeypatch.setenv("CLCA_CACHE_DIR", str(tmp_path))
    echoed = f"Your headers: Authorization: Basic {base64.b64encode(('Bearer ' + KEY).encode()).decode()}"
    with OpenAICompatServer(responder=lambda body: echoed) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", api_key_env="CLCA_TEST_KEY", retry_backoff_s=0.01)
        with pytest.raises(BackendError, match="echoes the API key") as raised:
            backend.generate([_ask("x")])
        backend.close()
    assert KEY not in str(raised.value)
    cache_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("responses.sqlite*"))
    assert KEY.encode() not in cache_bytes and base64.b64encode(("Bearer " + KEY).encode()) not in cache_bytes


def test_key_read_from_a_crlf_file_is_stripped(monkeypatch) -> None:
    from clca.errors import BackendError
    from clca.llm import load_backend
    from clca.testing import OpenAICompatServer

    monkeypatch.setenv("CLCA_TEST_KEY", KEY + "\r\n")
    with OpenAICompatServer(responder=lambda body: "ok") as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", api_key_env="CLCA_TEST_KEY", cache=False)
        [result] = backend.generate([_ask("x")])
        backend.close()
        assert result.ok and srv.requests[0].authorization == f"Bearer {KEY}"
    monkeypatch.setenv("CLCA_TEST_KEY", "sk-a\r\nX-Injected: 1")
    with pytest.raises(BackendError, match="control characters") as raised:
        load_backend("openai:m@http://127.0.0.1:9/v1", api_key_env="CLCA_TEST_KEY", cache=False)
    assert "sk-a" not in str(raised.value)


# ----------------------------------------------------------------------------------------------- terminal output

def test_markup_and_escape_sequences_in_messages_print_literally(tmp_path, monkeypatch, capsys) -> None:
    from test_hostile_input import assert_one_line, clca_in_process

    folder = tmp_path / "a[/]b [bold magenta]c[/] [link=http://evil]d"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("x")
    code, err = clca_in_process(monkeypatch, capsys, "train", "--dataset", "nowhere", "--out", str(folder))
    assert_one_line(code, err, str(folder))


def test_control_sequences_are_stripped_from_printed_text() -> None:
    from clca.cli.main import plain

    hostile = "HTTP 400: \x1b[2J\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \x1b]0;title\x1b\\ \u202eevil\x9b1m"
    assert plain(hostile) == "HTTP 400: red link  evil"


@settings(max_examples=100, deadline=None)
@given(s=st.text(alphabet=st.one_of(st.characters(), st.sampled_from("\x1b[]\x07\x9b;/\\")), max_size=60))
def test_printed_text_never_holds_a_control_character(s: str) -> None:
    import unicodedata

    from clca.cli.main import plain

    assert not any(unicodedata.category(c) == "Cc" and c not in "\t\n" for c in plain(s))
    assert not set(plain(s)) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_sigterm_prints_the_resume_hint(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from clca.testing import OpenAICompatServer

    env = {**os.environ, "CLCA_PROGRESS": "0", "CLCA_CACHE_DIR": str(tmp_path / "cache")}
    with OpenAICompatServer(responder=lambda body: "{}", latency_s=2.0) as server:
        proc = subprocess.Popen([sys.executable, "-m", "clca.cli.main", "scenarios", "adapt", "--culture", "DEU",
                                 "--out", str(tmp_path / "s.jsonl"), "--model", f"openai:m@{server.base_url}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while server.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in stderr, stderr
    assert "terminated (SIGTERM) — rerun the same command to resume" in stderr


def test_a_run_name_with_a_trailing_newline_is_refused() -> None:
    from clca.errors import ConfigError
    from clca.layout import safe_component

    assert safe_component("run-1", "name") == "run-1"
    with pytest.raises(ConfigError, match="not a safe name"):
        safe_component("run-1\n", "name")


def test_lone_surrogates_from_a_server_never_crash_a_write(tmp_path, monkeypatch) -> None:
    """A reply's JSON may escape a lone surrogate ("\\ud800"): not text, stored as U+FFFD (a pair is joined)."""
    from clca.llm import load_backend
    from clca.testing import OpenAICompatServer

    store = JsonlStore(tmp_path / "f.jsonl", Failure)
    store.append([Failure(id="a", stage="s", reason="x\ud800y\ud83d\ude00")])
    assert store.read()[0].reason == "x\ufffdy\U0001f600"
    monkeypatch.setenv("CLCA_CACHE_DIR", str(tmp_path))
    with OpenAICompatServer(responder=lambda body: "a\ud800b") as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", retry_backoff_s=0.01)
        [result] = backend.generate([_ask("x")])
        backend.close()
    assert result.ok and result.text == "a\ufffdb"
